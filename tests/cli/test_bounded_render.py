"""Issue 15, item 12: drawing any shape is bounded by what the terminal can show.

A 10×819,840 weight (``linear photo.jpg --out 10``) or a 1×200,000 map is reduced to
block means of the screen's size before Rich objects are built, and --max-memory
covers the drawing too.  The assertions are on what is built (cells, lines), not time.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from rich.console import Console

from cnncli.render import bounded


def _reference_means(values: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """NaN-padded blocks and np.nanmean: the plain way, with a copy of the whole map."""
    H, W = values.shape
    oh, ow = -(-H // fy), -(-W // fx)
    padded = np.full((oh * fy, ow * fx), np.nan)
    padded[:H, :W] = np.where(np.isfinite(values), values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a block of NaN only: mean NaN
        return np.nanmean(padded.reshape(oh, fy, ow, fx), axis=(1, 3))


@pytest.mark.parametrize(
    ("shape", "fy", "fx", "chunk"),
    [
        ((7, 11), 2, 3, 1 << 18),  # partial blocks at the bottom and right
        ((7, 11), 2, 3, 5),  # tiny chunks: many row and column pieces
        ((1, 1000), 1, 37, 64),
        ((50, 3), 7, 1, 4),
        ((9, 9), 9, 9, 2),  # one block bigger than a chunk
    ],
)
def test_block_means_equal_the_padded_nanmean(
    monkeypatch: pytest.MonkeyPatch, shape: tuple[int, int], fy: int, fx: int, chunk: int
) -> None:
    monkeypatch.setattr(bounded, "CHUNK_VALUES", chunk)
    rng = np.random.default_rng(sum(shape) + fy)
    values = rng.normal(size=shape).astype(np.float32)
    values.flat[::5] = np.nan
    values.flat[1::7] = np.inf
    got = bounded.block_means(values, fy, fx)
    np.testing.assert_allclose(got, _reference_means(values.astype(np.float64), fy, fx))


def test_block_means_of_a_block_without_finite_values_is_nan() -> None:
    values = np.ones((2, 4), dtype=np.float32)
    values[:, 2:] = np.nan
    np.testing.assert_array_equal(bounded.block_means(values, 2, 2), [[1.0, np.nan]])


def test_which_maps_are_huge() -> None:
    assert bounded.is_huge((10, 819_840), 100)
    assert bounded.is_huge((1, 200_000), 100)
    assert bounded.is_huge((300_000, 1), 100)
    assert bounded.is_huge((2000, 2000), 100)  # 4 million values
    assert not bounded.is_huge((427, 640), 100)  # a photo: drawn as before
    assert not bounded.is_huge((1, 90), 100)  # a short row fits the width
    assert not bounded.is_huge((28, 28), 100)


@pytest.mark.parametrize("color", [True, False])
@pytest.mark.parametrize("shape", [(10, 819_840), (1, 200_000), (300_000, 1), (1500, 1500)])
def test_a_huge_map_is_drawn_in_the_screen_size(shape: tuple[int, int], color: bool) -> None:
    values = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    group = bounded.huge_map(values, "m", 100, color)
    console = Console(
        width=100, file=io.StringIO(), color_system="truecolor" if color else None, record=True
    )
    console.print(group)
    text = console.export_text()
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    fy, fx = bounded.factors(shape, bounded.MAX_ROWS, 98)
    oh, ow = -(-shape[0] // fy), -(-shape[1] // fx)
    assert oh <= bounded.MAX_ROWS and ow <= 98
    assert len(lines) <= bounded.MAX_ROWS + 8
    if color:  # one half-block for each pair of block means: at most 24 lines of 98
        assert sum(line.count("▀") for line in lines) == ow * -(-oh // 2)
    assert f"{shape[0]}×{shape[1]}" in text
    assert f"of {shape[0] * shape[1]})" in text  # the statistics are of the whole map


def test_linear_of_a_photo_with_ten_outputs_draws_its_weight(cli, npy) -> None:
    x = np.random.default_rng(1).integers(0, 256, size=(1, 3, 427, 640)).astype(np.float32)
    r = cli("linear", npy(x), "--out", "10")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "weight W[0, 0]  10×819840" in r.stdout
    assert "too large to draw whole: 10×98 block means of 1×8366 values" in r.stdout
    assert len(lines) < 60 and max(len(line) for line in lines) <= 100
    assert "of 8198400)" in r.stdout  # stats of all the weights


def test_a_very_wide_map_is_one_strip_and_its_statistics(cli, npy) -> None:
    x = np.random.default_rng(2).standard_normal((1, 200_000)).astype(np.float32)
    r = cli("act", npy(x))
    assert r.code == 0, r.stderr
    assert "too large to draw whole: 1×98 block means of 1×2041 values" in r.stdout
    assert "of 200000)" in r.stdout
    assert len(r.stdout.splitlines()) < 20


def test_a_long_vector_shows_its_ends_and_a_strip(cli, npy) -> None:
    x = np.arange(100_000, dtype=np.float32).reshape(1, 1, 100, 1000)
    r = cli("flatten", npy(x))
    assert r.code == 0, r.stderr
    assert "first 6: 0, 1, 2, 3, 4, 5  …  last 6: 99994, 99995" in r.stdout
    assert "1×98 block means of 1×1021 values" in r.stdout


def test_show_table_of_a_huge_map_says_why_it_is_a_heat_map(cli, npy) -> None:
    x = np.zeros((1, 1, 2, 100_000), dtype=np.float32)
    r = cli("pad", npy(x), "-p", "0", "--show", "table")
    assert r.code == 0, r.stderr
    assert "; too large for a table" in r.stdout


def test_the_memory_guard_covers_the_drawing(cli, npy) -> None:
    """300×300 float32: padding needs 360 kB, drawing the map about 1.5 MB."""
    x = np.zeros((1, 1, 300, 300), dtype=np.float32)
    r = cli("pad", npy(x), "-p", "0", "--max-memory", "1M")
    assert r.code == 2
    assert r.stderr.startswith("error: drawing output would need about")
    assert len(r.stderr.splitlines()) == 2 and r.stderr.splitlines()[1].startswith("hint:")
    assert cli("pad", npy(x), "-p", "0", "--max-memory", "1M", "--show", "none").code == 0
    assert cli("pad", npy(x), "-p", "0", "--max-memory", "2M").code == 0
