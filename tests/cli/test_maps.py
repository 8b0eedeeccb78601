"""The maps a person looks at (issue 15 items 1, 2, 16): edges that survive downsampling,
a clipped colour scale that says so, 256-colour levels, tables cut to the terminal with
their row labels, ``--region``, and plain text without trailing spaces."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from rich.console import Console

from cnncli.render import format as fm
from cnncli.render.console import NoTrailingSpaces
from cnncli.render.maps import (
    MapView,
    _block_mean,
    downsample,
    heat_scale,
    heatmap,
    render_map,
    table_corner,
)


def _text(renderable: object, width: int = 100, color: bool | str = False) -> str:
    """Printed plain (False), in true colour (True) or in 256 colours, whatever the environment."""
    buf = io.StringIO()
    system = None if not color else "256" if color == "256" else "truecolor"
    console = Console(
        file=buf,
        width=width,
        force_terminal=bool(color),
        color_system=system,  # type: ignore[arg-type]
        no_color=False,
        legacy_windows=False,
    )
    console.print(renderable)
    return buf.getvalue()


def _edge_map() -> np.ndarray:
    """A 300×600 zero map with one vertical edge: +100 at column 301, −100 at column 302."""
    values = np.zeros((300, 600), dtype=np.float32)
    values[:, 301] = 100.0
    values[:, 302] = -100.0
    return values


# ------------------------------------------------------------ item 1: edges ---


def test_a_thin_signed_edge_survives_downsampling_where_a_block_mean_cancels_it() -> None:
    values = _edge_map()
    small = downsample(values, 10, 10)
    assert small.shape == (30, 60)
    assert np.all(small[:, 30] == 100.0)  # the block holding both columns keeps the larger
    assert np.count_nonzero(small) == 30  # and nothing else lights up
    assert np.allclose(_block_mean(values, 10, 10)[:, 30], 0.0)  # what the mean made of it


def test_downsampling_keeps_the_sign_of_the_largest_magnitude_and_ignores_nan() -> None:
    values = np.array([[-7.0, 3.0, 1.0, 2.0], [0.0, 1.0, np.nan, 5.0], [np.nan, np.nan, 4.0, -4.0]])
    small = downsample(values, 2, 2)
    assert small[0, 0] == -7.0 and small[0, 1] == 5.0
    assert np.isnan(small[1, 0])  # an all-NaN block (partial: one row)
    assert small[1, 1] == 4.0  # a tie keeps the positive value
    unsigned = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(downsample(unsigned, 2, 2), [[5.0, 7.0], [13.0, 15.0]])


@pytest.mark.parametrize("band_bytes", [1, 200, 10**9])
def test_downsampling_in_bands_equals_the_whole_map_at_once(band_bytes: int) -> None:
    rng = np.random.default_rng(3)
    values = rng.standard_normal((23, 17)).astype(np.float32)
    padded = np.full((24, 20), np.nan)
    padded[:23, :17] = values
    blocks = padded.reshape(8, 3, 5, 4).transpose(0, 2, 1, 3).reshape(8, 5, 12)
    expected = np.take_along_axis(blocks, np.nanargmax(np.abs(blocks), axis=2)[..., None], axis=2)[
        ..., 0
    ]
    np.testing.assert_array_equal(downsample(values, 3, 4, band_bytes), expected)


@pytest.mark.parametrize("color", [False, True, "256"])
def test_the_edge_shows_in_every_heat_map_kind(color: bool | str) -> None:
    palette = "256" if color == "256" else "truecolor"
    text = _text(heatmap(_edge_map(), 100, bool(color), palette=palette), color=color)
    lines = text.splitlines()
    assert "1 half-block = 7×7 values" in text or "1 character = 14×7 values" in text
    assert "values (largest |value|, sign kept)" in text
    rows = lines[: next(k for k, ln in enumerate(lines) if "heat map of" in ln)]
    assert len(rows) == 22  # 43 block rows: 22 lines, in colour (2 per line) or not (14 per line)
    if not color:
        assert all(ln.strip() == "@" for ln in rows)  # one column of '@', blank around
        assert {ln.index("@") for ln in rows} == {301 // 7}
    else:
        # every line: 86 half-blocks of one colour, but the edge's block column
        for ln in rows:
            styles = re.findall(r"\x1b\[([0-9;]*)m▀", ln)
            assert len(styles) == 86 and len(set(styles)) == 2
            assert [k for k, s in enumerate(styles) if s != styles[0]] == [301 // 7]


def test_the_colour_scale_is_clipped_at_percentiles_and_the_legend_says_so() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(0, 10, size=(40, 40))
    values[5, 5] = -2774.0
    values[6, 6] = 2596.0
    scale, note = heat_scale(values)
    bound = float(np.percentile(np.abs(values), 99))
    assert scale.vmax == pytest.approx(bound) and scale.vmin == pytest.approx(-bound)
    assert bound < 100  # not the outliers
    assert note is not None
    assert f"scale clipped at ±{bound:.4g} (99th percentile of |value|)" in note
    assert "true min -2774, max 2596" in note
    # most cells are not the middle colour any more: a value of 10 is a quarter of the way out
    assert scale.fraction(10.0) > 0.6
    text = _text(heatmap(values, 100, True), color=True)
    assert "scale clipped at ±" in text and "true min -2774, max 2596" in text


def test_an_unsigned_scale_clips_at_the_1st_and_99th_percentiles() -> None:
    values = np.linspace(0.0, 1.0, 400).reshape(20, 20)
    values[0, 0] = 1000.0
    scale, note = heat_scale(values)
    assert not scale.diverging
    assert scale.vmax < 2 and scale.vmin > 0
    assert note is not None and "1st/99th percentile" in note and "max 1000" in note


def test_no_clipping_note_for_few_cells_or_a_sparse_map() -> None:
    scale, note = heat_scale(np.array([[-2.0, 1.0, 0.5], [0.0, 1.875, 0.25]]))
    assert note is None and scale.vmin == -2 and scale.vmax == 2  # 6 cells: the full range
    sparse = np.zeros((50, 50))
    sparse[3, 4] = -5.0
    sparse[10, 10] = 9.0
    scale, note = heat_scale(sparse)  # the 99th percentile of |value| is 0: use the full range
    assert note is None and scale.vmax == 9


def test_a_256_colour_console_keeps_distinct_levels() -> None:
    """Each level is an exact palette entry, so Rich's 256-colour rounding merges none."""
    for values, levels in (
        (np.linspace(-1, 1, 13 * 40).reshape(13, 40), 13),
        (np.linspace(0, 1, 9 * 40).reshape(9, 40), 9),
    ):
        text = _text(heatmap(values, 100, True, palette="256"), color="256")
        body = "\n".join(text.splitlines()[:-3])  # the map's lines only
        used = set(re.findall(r"(?:38|48);5;(\d+)", body))
        assert len(used) == levels
        assert "38;2;" not in text


def _runs(codes: list[int]) -> list[int]:
    """``codes`` with consecutive repeats collapsed: [1, 1, 2, 1] → [1, 2, 1]."""
    return [c for k, c in enumerate(codes) if k == 0 or c != codes[k - 1]]


@pytest.mark.parametrize(("vmin", "levels"), [(-1.0, 13), (0.0, 9)])
def test_256_colour_levels_are_ordered_and_never_shared_by_two_signs(
    vmin: float, levels: int
) -> None:
    """Rich's own rounding of the continuous scale to 256 colours gives zero's grey to small
    values of both signs and one entry to -0.15 and +0.1; the 256 palette does neither."""
    from rich.color import Color, ColorSystem

    def codes(palette: str) -> list[int]:
        scale = fm.ColorScale(vmin, 1.0, palette)
        values = np.linspace(vmin, 1.0, 201).tolist()
        out = [
            Color.from_rgb(*scale.rgb(v)).downgrade(ColorSystem.EIGHT_BIT).number for v in values
        ]
        return [int(c) for c in out if c is not None]

    runs = _runs(codes("256"))
    assert len(runs) == levels and len(set(runs)) == levels  # each level one contiguous run
    if vmin < 0:
        continuous = _runs(codes("truecolor"))
        assert len(set(continuous)) < len(continuous)  # a colour comes back: signs confused


def test_plain_text_ramps_the_magnitude_of_a_signed_map() -> None:
    scale = fm.ColorScale(-4, 4)
    assert scale.char(0) == " " and scale.char(4) == "@" and scale.char(-4) == "@"
    assert scale.char(-100) == "@"  # clipped, not an index error
    assert fm.ColorScale(0, 4).char(-1) == " "  # below the clipped scale: its first character
    legend = _text(heatmap(np.linspace(-1, 1, 64).reshape(8, 8), 100, False))
    assert "scale |value| 0 ' .:-=+*#%@' 1  (the size of a value, not its sign)" in legend


# ---------------------------------------------------- item 2: cut tables ---


def test_a_table_too_big_shows_its_corner_with_row_labels_and_how_to_see_more() -> None:
    values = np.random.default_rng(1).normal(size=(100, 60)) * 1000
    text = _text(render_map(MapView("output[0, 0]", values), "table", 80, False, max_rows=20), 80)
    lines = text.splitlines()
    assert all(len(ln) <= 80 for ln in lines)
    body = lines[3:22]
    assert [ln.split()[0] for ln in body] == [str(i) for i in range(19)]  # every row labelled
    assert all(ln.rstrip().endswith("…") for ln in body)  # cut on the right
    assert lines[22].split()[0] == "⋮" and lines[22].rstrip().endswith("⋱")
    header = lines[1].split()
    cols = int(header[-2]) + 1  # the last column index shown, before '…'
    assert header[:-1] == [str(j) for j in range(cols)] and header[-1] == "…"
    note = " ".join(ln.strip() for ln in lines[23:25])
    assert f"showing rows 0:19, cols 0:{cols} of 100×60" in note
    assert f"--region ROWS,COLS shows another window, e.g. --region 0:19,{cols}:{2 * cols}" in note
    # no cell cut short: every value shown is a whole formatted value
    cells = [c for ln in body for c in ln.split()[1:-1]]
    assert not any("…" in c or c.endswith("...") for c in cells)
    assert len(cells) == 19 * cols


def test_a_table_that_fits_is_whole_and_has_no_note() -> None:
    view = MapView("m", np.arange(12.0).reshape(3, 4))
    table, note = table_corner(view, 80, 20)
    assert note is None
    text = _text(table)
    assert "…" not in text and "⋮" not in text and "11" in text


def test_a_window_is_labelled_with_its_own_rows_and_columns() -> None:
    values = np.arange(20 * 30, dtype=np.float64).reshape(20, 30)
    view = MapView("m", values[5:8, 10:14], origin=(5, 10), full=(20, 30))
    text = _text(render_map(view, "table", 100, False))
    assert "m  rows 5:8, cols 10:14 of 20×30" in text
    lines = [ln.split() for ln in text.splitlines()]
    assert lines[1] == ["10", "11", "12", "13"]
    assert lines[3] == ["5", "160", "161", "162", "163"]


# ------------------------------------------------------- --region (CLI) ---


def test_region_selects_exactly_the_cells_asked_for(cli, npy) -> None:
    x = np.arange(12 * 20, dtype=np.float32).reshape(12, 20)
    r = cli("pad", npy(x), "-p", "0", "--region", "2:4,3:6")
    assert r.code == 0, r.stderr
    assert "output[0, 0]  rows 2:4, cols 3:6 of 12×20" in r.stdout
    lines = [ln.split() for ln in r.stdout.splitlines()]
    start = lines.index(["3", "4", "5"])
    assert lines[start + 2] == ["2", "43", "44", "45"]
    assert lines[start + 3] == ["3", "63", "64", "65"]
    assert "min 43  max 65" in r.stdout  # the statistics are the window's
    # Python slice syntax: open ends and negative indices
    r = cli("pad", npy(x), "-p", "0", "--region", "-1:,:2")
    assert "rows 11:12, cols 0:2 of 12×20" in r.stdout and "min 220  max 221" in r.stdout


def test_region_applies_to_heat_maps_and_says_which_window(cli, npy) -> None:
    x = np.zeros((200, 300), dtype=np.float32)
    x[150, 250] = 7.0
    r = cli("pad", npy(x), "-p", "0", "--region", "100:200,200:300", "--show", "heatmap")
    assert r.code == 0, r.stderr
    assert "heat map of rows 100:200, cols 200:300 of 200×300" in r.stdout
    assert "max 7" in r.stdout and "zeros 99.99% " not in r.stdout


@pytest.mark.parametrize(
    ("region", "message"),
    [
        ("100:112,0:5", "rows 100:112 are not inside the output maps of 12×20 (rows 0:12)"),
        ("0:5,18:25", "cols 18:25 are not inside the output maps of 12×20 (cols 0:20)"),
        ("5:5,0:3", "rows 5:5 is empty"),
        ("0:4:2,0:3", "'0:4:2' has a step"),
        ("0:5", "--region takes ROWS,COLS as Python slices"),
        ("a:b,0:1", "--region takes ROWS,COLS as Python slices"),
    ],
)
def test_a_bad_region_is_one_error_line_and_exit_2(cli, npy, region: str, message: str) -> None:
    x = np.zeros((12, 20), dtype=np.float32)
    r = cli("pad", npy(x), "-p", "0", "--region", region)
    assert r.code == 2
    assert r.stderr.splitlines() == [r.stderr.splitlines()[0]]
    assert r.stderr.startswith("error: ") and message in r.stderr
    assert r.stdout == ""


def test_region_is_offered_by_every_command_that_shows_maps(cli) -> None:
    for command in ("conv", "pool", "pad", "act", "dropout", "flatten", "linear"):
        r = cli(command, "--help", env={"COLUMNS": "200"})
        assert "--region" in r.stdout, command
    for command, size in (("conv", "26×26"), ("pool", "2×2"), ("act", "4×4"), ("dropout", "4×4")):
        r = cli(command, "--region", "0:1,0:2")
        assert r.code == 0, r.stderr
        assert f"[0, 0]  rows 0:1, cols 0:2 of {size}" in r.stdout, command


# ------------------------------------------------- item 16: plain text ---


def test_piped_output_has_no_trailing_spaces_and_one_output_line(cli, npy) -> None:
    x = np.random.default_rng(2).normal(size=(1, 3, 60, 200)).astype(np.float32)
    for width in ("80", "120"):
        for show in ("auto", "table"):
            r = cli("conv", npy(x), "-k", "sobel", "--show", show, env={"COLUMNS": width})
            assert r.code == 0, r.stderr
            lines = r.stdout.splitlines()
            assert [ln for ln in lines if ln != ln.rstrip()] == []
            assert len([ln for ln in lines if re.match(r"output +\(", ln)]) == 1
            assert all(len(ln) <= int(width) for ln in lines)


def test_no_trailing_spaces_survives_writes_split_anywhere() -> None:
    out = io.StringIO()
    stream = NoTrailingSpaces(out)  # type: ignore[arg-type]
    for chunk in ("ab  ", "  \ncd", " e  ", "", "\n  \n", "f "):
        stream.write(chunk)
    assert out.getvalue() == "ab\ncd e\n\nf"
    assert stream.getvalue() == out.getvalue()  # other attributes are the stream's
