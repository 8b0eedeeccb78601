"""Issue 15, item 12: drawing any shape is bounded by what the terminal can show.

A 10×819,840 weight (``linear photo.jpg --out 10``) or a 1×200,000 map is reduced to
blocks of the screen's size before Rich objects are built, and --max-memory
covers the drawing too.  The assertions are on what is built (cells, lines), not time.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

from cnncli.render import bounded


def _plain(group: object) -> str:
    console = Console(width=100, file=io.StringIO(), color_system=None, record=True)
    console.print(group)
    return console.export_text()


def test_a_huge_map_keeps_a_thin_edge_by_the_heat_maps_rule() -> None:
    """Blocks show their value of largest magnitude (maps.downsample), not their mean: a
    one-row edge of 5 outshines a thick band of 1, which a block mean would reverse."""
    from cnncli.render import maps

    values = np.zeros((2400, 500), dtype=np.float32)  # 1.2 M values: huge
    values[600] = 5.0  # one row
    values[1200:1800] = 1.0  # a thick band
    assert bounded.is_huge(values.shape, 100)
    fy, fx = bounded.factors(values.shape, bounded.MAX_ROWS, 98)
    small = maps.downsample(values, fy, fx)
    assert small.max() == 5.0 and small[600 // fy].min() == 5.0
    assert np.all(small[1200 // fy + 1 : 1800 // fy] == 1.0)
    text = _plain(bounded.huge_map(values, "edge", 100, color=False))
    assert "each its largest |value|" in text


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
    if color:  # one half-block for each pair of blocks: at most 24 lines of 98
        assert sum(line.count("▀") for line in lines) == ow * -(-oh // 2)
    assert f"{shape[0]}×{shape[1]}" in text
    assert f"of {shape[0] * shape[1]})" in text  # the statistics are of the whole map


def test_linear_of_a_photo_with_ten_outputs_draws_its_weight(cli, npy) -> None:
    x = np.random.default_rng(1).integers(0, 256, size=(1, 3, 427, 640)).astype(np.float32)
    r = cli("linear", npy(x), "--out", "10")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "weight W[0, 0]  10×819840" in r.stdout
    assert "too large to draw whole: 10×98 blocks of 1×8366" in r.stdout
    assert len(lines) < 60 and max(len(line) for line in lines) <= 100
    assert "of 8198400)" in r.stdout  # stats of all the weights


def test_a_very_wide_map_is_one_strip_and_its_statistics(cli, npy) -> None:
    x = np.random.default_rng(2).standard_normal((1, 200_000)).astype(np.float32)
    r = cli("act", npy(x))
    assert r.code == 0, r.stderr
    assert "too large to draw whole: 1×98 blocks of 1×2041" in r.stdout
    assert "of 200000)" in r.stdout
    assert len(r.stdout.splitlines()) < 20


def test_a_long_vector_shows_its_ends_and_a_strip(cli, npy) -> None:
    x = np.arange(100_000, dtype=np.float32).reshape(1, 1, 100, 1000)
    r = cli("flatten", npy(x))
    assert r.code == 0, r.stderr
    assert "first 6: 0, 1, 2, 3, 4, 5  …  last 6: 99994, 99995" in r.stdout
    assert "1×98 blocks of 1×1021" in r.stdout


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
