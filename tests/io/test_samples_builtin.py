"""samples/ regenerate byte for byte, load as documented, and the built-in examples work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnncli.examples import SEED_POOL_INPUT, seed_multichannel
from cnncli.io import digit8, load_kernel_file, load_tensor, seed_pool_matrix

# A warning printed by a loader or writer would be an extra stderr line in the CLI.
pytestmark = pytest.mark.filterwarnings("error")

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
EXPECTED = {
    "digit8.png",
    "shapes.png",
    "binary.png",
    "seed_pool.csv",
    "seed_multichannel.npz",
    "sobel_x.csv",
    "laplacian.json",
    "edge_bank.npy",
    "rgb_hwc.npy",
}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    subprocess.run(
        [sys.executable, str(SAMPLES / "make_samples.py"), "--out", str(out)],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return out


def test_every_sample_is_committed_and_small() -> None:
    present = {p.name for p in SAMPLES.iterdir() if p.is_file()}
    assert present >= EXPECTED
    total = sum((SAMPLES / name).stat().st_size for name in EXPECTED)
    assert total < 200_000


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_script_reproduces_committed_samples(regenerated: Path, name: str) -> None:
    new = (regenerated / name).read_bytes()
    old = (SAMPLES / name).read_bytes()
    if name.endswith(".png"):
        # PNG bytes depend on the zlib build; the decoded pixels must be identical
        with Image.open(regenerated / name) as a, Image.open(SAMPLES / name) as b:
            assert a.mode == b.mode and a.size == b.size
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    else:
        assert new == old


def test_package_digit8_is_the_sample(regenerated: Path) -> None:
    pkg = ROOT / "cnncli" / "data" / "digit8.png"
    with Image.open(pkg) as a, Image.open(regenerated / "digit8.png") as b:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_digit8_looks_like_an_mnist_eight() -> None:
    loaded = digit8()
    img = loaded.array[0, 0]
    assert loaded.array.shape == (1, 1, 28, 28) and loaded.array.dtype == np.float32
    assert loaded.notes[0].startswith("no INPUT given: using the built-in")
    assert img.min() == 0 and img.max() == 255
    # white strokes on black: the border is black, and anti-aliasing leaves grey edge pixels
    assert img[0].max() == 0 and img[-1].max() == 0 and img[:, 0].max() == 0
    grey = (img > 0) & (img < 255)
    assert grey.sum() > 20
    # an 8 is one stroke with two holes: the background splits into 3 regions
    ink = img > 127
    assert _regions(ink) == 1
    assert _regions(~ink) == 3
    unit = digit8(scale="unit", dtype="float64")
    np.testing.assert_allclose(unit.array, loaded.array / 255.0, atol=1e-7)


def _regions(mask: np.ndarray) -> int:
    """Count 4-connected regions of True pixels (a small flood fill)."""
    seen = np.zeros_like(mask, dtype=bool)
    count = 0
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        count += 1
        stack = [start]
        seen[start] = True
        while stack:
            r, c = stack.pop()
            for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                inside = 0 <= nr < mask.shape[0] and 0 <= nc < mask.shape[1]
                if inside and mask[nr, nc] and not seen[nr, nc]:
                    seen[nr, nc] = True
                    stack.append((nr, nc))
    return count


def test_seed_pool_matrix() -> None:
    loaded = seed_pool_matrix()
    assert loaded.array.shape == (1, 1, 4, 4) and loaded.array.dtype == np.float32
    np.testing.assert_array_equal(loaded.array[0, 0], SEED_POOL_INPUT)
    assert "no INPUT given" in loaded.notes[0]
    assert seed_pool_matrix(dtype="float64").array.dtype == np.float64
    loaded.array[0, 0, 0, 0] = -1  # a copy: the module constant stays intact
    assert SEED_POOL_INPUT[0, 0] == 2


def test_samples_load_as_documented() -> None:
    pool = load_tensor(SAMPLES / "seed_pool.csv")
    np.testing.assert_array_equal(pool.array[0, 0], SEED_POOL_INPUT)
    x, weight, bias = seed_multichannel()
    for key, expected in (("x", x), ("weight", weight)):
        np.testing.assert_array_equal(
            load_tensor(SAMPLES / "seed_multichannel.npz", key=key).array, expected
        )
    with np.load(SAMPLES / "seed_multichannel.npz", allow_pickle=False) as z:
        np.testing.assert_array_equal(z["bias"], bias)
    shapes = load_tensor(SAMPLES / "shapes.png")
    assert shapes.array.shape == (1, 3, 64, 96)
    # plain white background, and hard (non anti-aliased) edges: few distinct colours
    assert (shapes.array[0, :, 0, 0] == 255).all()
    colours = np.unique(shapes.array[0].reshape(3, -1).T, axis=0)
    assert len(colours) <= 6
    binary = load_tensor(SAMPLES / "binary.png")
    assert set(np.unique(binary.array)) == {0.0, 255.0}
    with Image.open(SAMPLES / "binary.png") as img:
        assert img.mode == "1"
    rgb = load_tensor(SAMPLES / "rgb_hwc.npy", layout="hwc")
    assert rgb.array.shape == (1, 3, 8, 8)
    assert any("uint8" in n for n in rgb.notes)
    sobel = load_kernel_file(SAMPLES / "sobel_x.csv")
    np.testing.assert_array_equal(sobel, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    lap = load_kernel_file(SAMPLES / "laplacian.json")
    np.testing.assert_array_equal(lap, [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    bank = load_kernel_file(SAMPLES / "edge_bank.npy")
    assert bank.shape == (4, 1, 3, 3)
    np.testing.assert_array_equal(bank[0, 0], sobel)
    np.testing.assert_array_equal(bank.sum(axis=(2, 3)), 0)  # every edge kernel sums to zero
