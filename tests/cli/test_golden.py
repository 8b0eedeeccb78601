"""Rendered output at a fixed width (COLUMNS=100, NO_COLOR=1) against golden files.

Regenerate after an intended change: ``CNNCLI_REGEN_GOLDEN=1 python -m pytest tests/cli -k golden``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnncli.examples import SEED_POOL_INPUT, seed_multichannel
from tests.cli.conftest import check_golden

CASES: dict[str, list[str]] = {
    "pool_max": ["pool"],
    "pool_avg_explain": ["pool", "--mode", "avg", "--explain", "1,0"],
    "pool_padded_explain": [
        "pool",
        "seed.npy",
        "-k",
        "3",
        "-s",
        "2",
        "-p",
        "1",
        "--explain",
        "0,0",
    ],
    "pad_reflect": ["pad", "seed.npy", "-p", "1,2,0,1", "--mode", "reflect"],
    "flatten_hwc": ["flatten", "rgb.npy", "--order", "hwc"],
    "act_leaky": ["act", "centred.npy", "-f", "leaky-relu", "--slope", "0.1"],
    "conv_seed_explain": [
        "conv",
        "rgb.npy",
        "-k",
        "w.npy",
        "-b",
        "1,0",
        "-s",
        "2",
        "--explain",
        "1,1,1",
    ],
    "conv_grad": ["conv", "seed.npy", "-k", "laplacian", "-p", "1", "--grad", "ones"],
    "conv_transpose_explain": [
        "conv",
        "seed.npy",
        "--transpose",
        "-k",
        "1,2;3,4",
        "-s",
        "2",
        "-p",
        "1",
        "--output-padding",
        "1",
        "-b",
        "0.5",
        "--explain",
        "2,3",
    ],
    "conv_heatmap": ["conv", "big.npy", "-k", "sobel-x", "--show", "heatmap"],
    "linear_file": ["linear", "seed.npy", "-w", "lw.npy", "-b", "0.5,-0.5"],
    "kernels_sobel": ["kernels", "sobel"],
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fixed file names in a temporary folder, so the header reads the same on every run."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNCLI_ENGINE", "fast")  # --explain names the path in its output
    x, w, _ = seed_multichannel()
    np.save("seed.npy", SEED_POOL_INPUT)
    np.save("centred.npy", SEED_POOL_INPUT - 5)
    np.save("rgb.npy", x)
    np.save("w.npy", w)
    yy, xx = np.mgrid[0:40, 0:120]
    np.save("big.npy", ((xx // 10 + yy // 10) % 2 * 255).astype(np.float32))
    np.save("lw.npy", (np.arange(32, dtype=np.float32).reshape(2, 16) - 16) / 8)
    return tmp_path


@pytest.mark.parametrize("name", list(CASES))
def test_golden(cli, workdir: Path, name: str) -> None:
    r = cli(*CASES[name])
    assert r.code == 0, r.stderr
    check_golden(name, r.stdout)
