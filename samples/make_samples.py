"""Regenerate every file in samples/ (and the package's built-in digit 8), deterministically.

Run from the repository root::

    python samples/make_samples.py            # writes samples/ and cnncli/data/
    python samples/make_samples.py --out DIR  # writes everything into DIR (used by the tests)

Each sample is drawn or computed here, never downloaded: the digit 8 is two
stroked ellipses with a slight slant, drawn 4× larger and box-filtered down (so
its edges are anti-aliased), white on black as in MNIST.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cnncli.examples import SEED_POOL_INPUT, seed_multichannel  # noqa: E402
from cnncli.io.write import atomic_write_bytes, csv_text, npy_bytes, npz_bytes  # noqa: E402

SOBEL_X = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
SOBEL_Y = [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
LAPLACIAN = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
OUTLINE = [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]


def _png(img: Image.Image) -> bytes:
    import io

    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def digit8_image() -> Image.Image:
    """A 28×28 mode-L handwritten-style 8: two stroked ellipses, slanted, anti-aliased."""
    s = 4  # supersampling factor
    big = Image.new("L", (28 * s, 28 * s), 0)
    draw = ImageDraw.Draw(big)
    stroke = round(2.4 * s)
    # top loop (smaller) and bottom loop (larger), in 28-pixel units
    draw.ellipse([9.5 * s, 4.0 * s, 18.5 * s, 13.5 * s], outline=255, width=stroke)
    draw.ellipse([8.0 * s, 12.5 * s, 20.0 * s, 24.5 * s], outline=255, width=stroke)
    # slant: the top leans right; output (x, y) samples input (x + k·(y − cy), y)
    k, cy = 0.18, 14 * s
    slanted = big.transform(
        big.size,
        Image.Transform.AFFINE,
        (1, k, -k * cy, 0, 1, 0),
        resample=Image.Resampling.BILINEAR,
    )
    return slanted.resize((28, 28), Image.Resampling.BOX)


def shapes_image() -> Image.Image:
    """A 96×64 RGB image with hard edges: a rectangle, a circle and a triangle on white."""
    img = Image.new("RGB", (96, 64), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle([6, 8, 30, 40], fill=(220, 40, 40))
    draw.ellipse([38, 10, 66, 38], fill=(40, 160, 60))
    draw.polygon([(72, 52), (90, 52), (81, 20)], fill=(40, 70, 200))
    draw.rectangle([14, 46, 58, 56], fill=(250, 200, 30))
    return img


def binary_image() -> Image.Image:
    """A 16×16 mode-1 image (pixels 0 or 255): a frame and a plus sign."""
    img = Image.new("1", (16, 16), 0)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, 15, 15], outline=1)
    draw.rectangle([7, 3, 8, 12], fill=1)
    draw.rectangle([3, 7, 12, 8], fill=1)
    return img


def rgb_hwc() -> np.ndarray:
    """An 8×8×3 uint8 array stored channels-last: red rises left→right, green top→bottom."""
    y, x = np.mgrid[0:8, 0:8]
    return np.stack([x * 32 + 31, y * 32 + 31, 255 - (x + y) * 16], axis=-1).astype(np.uint8)


def samples() -> dict[str, bytes]:
    """Every sample file by name."""
    x, weight, bias = seed_multichannel()
    bank = np.array([[SOBEL_X], [SOBEL_Y], [LAPLACIAN], [OUTLINE]], dtype=np.float32)
    return {
        "digit8.png": _png(digit8_image()),
        "shapes.png": _png(shapes_image()),
        "binary.png": _png(binary_image()),
        "seed_pool.csv": (
            "# the seed's 4×4 pooling example (max 2×2 → [[9, 7], [8, 8]])\n"
            + csv_text(SEED_POOL_INPUT)
        ).encode("utf-8"),
        "seed_multichannel.npz": npz_bytes({"x": x, "weight": weight, "bias": bias}),
        "sobel_x.csv": csv_text(np.array(SOBEL_X, dtype=np.float32)).encode("utf-8"),
        "laplacian.json": (str(LAPLACIAN) + "\n").encode("utf-8"),
        "edge_bank.npy": npy_bytes(bank),
        "rgb_hwc.npy": npy_bytes(rgb_hwc()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write every file here instead")
    args = parser.parse_args(argv)
    out = args.out or ROOT / "samples"
    data_dir = args.out or ROOT / "cnncli" / "data"
    files = samples()
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    atomic_write_bytes(data_dir / "digit8.png", files["digit8.png"])
    total = sum(len(d) for d in files.values())
    print(f"wrote {len(files)} samples ({total:,} bytes) to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
