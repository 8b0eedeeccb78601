"""Issue 6, determinism: the same command, inputs and seed write byte-identical files.

The commands run in two separate processes with different hash seeds (so set and
dict ordering, timestamps and anything else that varies between processes would
show), each writing into its own folder; the folders must be identical byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.hostile import helpers as h

SCRIPT = """
import json, sys
from cnncli.cli.main import main
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    if code != 0:
        sys.exit(f"{argv}: exit {code}")
"""


def _commands(src: Path, out: Path) -> list[list[str]]:
    x = str(src / "x.npy")
    img = str(src / "img.png")
    cmds: list[list[str]] = []
    for ext in (".npy", ".npz", ".csv", ".json", ".png"):
        cmds.append(
            [
                "conv",
                img,
                "-k",
                "sobel",
                "-k",
                "gaussian3",
                "--show",
                "none",
                "-o",
                f"{out}/conv{ext}",
            ]
        )
        cmds.append(
            ["dropout", x, "--p", "0.4", "--seed", "7", "--show", "none", "-o", f"{out}/drop{ext}"]
        )
        cmds.append(
            ["linear", x, "--out", "5", "--seed", "3", "--show", "none", "-o", f"{out}/lin{ext}"]
        )
    cmds += [
        [
            "dropout",
            x,
            "--p",
            "0.4",
            "--seed",
            "8",
            "--show",
            "none",
            "-o",
            f"{out}/drop_seed8.npy",
        ],
        ["linear", x, "--out", "5", "--seed", "4", "--show", "none", "-o", f"{out}/lin_seed4.npy"],
        ["conv", x, "-k", "laplacian", "--grad", "ones", "--show", "none", "-o", f"{out}/grad.npz"],
        [
            "forward",
            "-m",
            "lenet5",
            "--seed",
            "5",
            "--batch",
            "2",
            "--top",
            "0",
            "-o",
            f"{out}/fwd.npy",
        ],
        [
            "forward",
            "-m",
            "lenet5",
            "--seed",
            "5",
            "--top",
            "0",
            "-o",
            f"{out}/fwd.npz",
            "--save-maps",
            f"{out}/maps",
        ],
        [
            "forward",
            "-m",
            "lenet5",
            "--seed",
            "6",
            "--batch",
            "2",
            "--top",
            "0",
            "-o",
            f"{out}/fwd_seed6.npy",
        ],
        ["shapes", "samples/resnet_mini.toml", "-o", f"{out}/shapes.json"],
        ["shapes", "samples/resnet_mini.toml", "-o", f"{out}/shapes.csv"],
    ]
    return cmds


def _run_all(src: Path, out: Path, hash_seed: str) -> None:
    out.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "NO_COLOR": "1", "PYTHONPATH": str(h.ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(_commands(src, out))],
        cwd=h.ROOT,
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_same_inputs_and_seed_give_byte_identical_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(0)
    np.save(src / "x.npy", rng.standard_normal((2, 3, 6, 5)).astype(np.float32))
    pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    (src / "img.png").write_bytes(h.png_bytes(pixels, "RGB"))
    _run_all(src, tmp_path / "a", "1")
    _run_all(src, tmp_path / "b", "2")
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(a) == sorted(b)
    assert len(a) >= 26 and any(k.startswith("maps/") for k in a)
    different = [k for k in a if a[k] != b[k]]
    assert different == [], different
    # the seed matters (so the equality above is not about outputs that ignore it)
    assert a["drop.npy"] != a["drop_seed8.npy"]
    assert a["lin.npy"] != a["lin_seed4.npy"]
    assert a["fwd.npy"] != a["fwd_seed6.npy"]
