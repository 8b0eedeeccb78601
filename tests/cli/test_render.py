"""The render layer on arrays made here: formatting, tables, heat maps, width, colour."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

from cnncli.render import format as fm
from cnncli.render.maps import heatmap, map_table, render_maps, stats_line, table_fits


def _text(renderable: object, width: int = 100, color: bool | str = False) -> str:
    """``renderable`` as printed: plain (False), true colour (True) or ``"256"`` colours.

    Every setting Rich would read from the environment (NO_COLOR, FORCE_COLOR, the
    terminal) is given here, so that the caller's environment changes nothing.
    """
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


def test_integers_print_as_integers_and_floats_line_up() -> None:
    assert fm.fmt_values(np.array([1.0, -2.0, 30.0])) == ["1", "-2", "30"]
    assert fm.fmt_values(np.array([0.25, 1.5])) == ["0.2500", "1.5000"]
    assert fm.fmt_values(np.array([123.456, 1.0])) == ["123.46", "1.00"]
    assert fm.fmt_values(np.array([1e-5, 2e-5])) == ["1.000e-05", "2.000e-05"]
    assert fm.fmt_values(np.array([np.nan, np.inf, -np.inf, 1.0])) == ["nan", "inf", "-inf", "1"]


def test_color_scale_diverges_around_zero_only_for_mixed_signs() -> None:
    assert fm.ColorScale(-1, 1).diverging
    assert not fm.ColorScale(0, 1).diverging
    s = fm.ColorScale(-2, 4)
    assert s.fraction(0) == 0.5 and s.fraction(4) == 1.0
    assert fm.ColorScale(3, 3).fraction(3) == 0.5  # a constant map does not divide by zero


def test_map_table_has_row_and_column_indices_and_the_values() -> None:
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    text = _text(map_table(values))
    lines = [ln.split() for ln in text.splitlines() if ln.strip() and "─" not in ln]
    assert lines[0] == ["0", "1", "2"]
    assert lines[1] == ["0", "0", "1", "2"]
    assert lines[2] == ["1", "3", "4", "5"]


def test_table_fits_measures_the_real_width() -> None:
    small = map_table(np.zeros((3, 3)))
    big = map_table(np.random.default_rng(0).normal(size=(4, 40)))
    assert table_fits(small, 100)
    assert not table_fits(big, 100)
    assert max(len(ln) for ln in _text(small).splitlines()) <= 100


def test_large_map_becomes_a_heat_map_within_the_width() -> None:
    values = np.random.default_rng(0).normal(size=(1, 1, 300, 500))
    for width in (40, 100):
        text = _text(render_maps(values, "output", "auto", width, False), width=width)
        assert "heat map of 300×500" in text
        assert max(len(ln) for ln in text.splitlines()) <= width


def test_heat_map_uses_true_colour_half_blocks_with_colour_and_ascii_without() -> None:
    values = np.linspace(-1, 1, 64).reshape(8, 8)
    coloured = _text(heatmap(values, 100, True), color=True)
    assert "▀" in coloured and "\x1b[38;2;" in coloured and "48;2;" in coloured
    plain = _text(heatmap(values, 100, False))
    assert "\x1b[" not in plain and "▀" not in plain
    assert "@" in plain  # the top of the ASCII ramp marks the maximum


def test_heat_map_says_how_many_values_one_character_holds() -> None:
    values = np.zeros((4, 400))
    text = _text(heatmap(values, 100, False))
    assert "1 character = 5×5 values" in text


def test_statistics_line() -> None:
    text = stats_line(np.array([[0.0, 2.0], [4.0, 0.0]])).plain
    assert "min 0" in text and "max 4" in text and "mean 1.5" in text
    assert "zeros 50.0% (2 of 4)" in text
    assert "non-finite 1" in stats_line(np.array([np.nan, 1.0])).plain


def test_many_maps_show_the_first_few_with_a_note_and_picks_choose_others() -> None:
    values = np.arange(2 * 6 * 2 * 2, dtype=np.float32).reshape(2, 6, 2, 2)
    text = _text(render_maps(values, "output", "auto", 100, False))
    assert "output[0, 3]" in text and "output[0, 4]" not in text
    assert "showing 4 of 12 maps" in text
    picked = _text(render_maps(values, "output", "auto", 100, False, [(None, 5), (1, 0)]))
    assert "output[0, 5]" in picked and "output[1, 5]" in picked and "output[1, 0]" in picked
    assert "output[0, 0]" not in picked and "showing" not in picked


def test_small_plain_heat_map_uses_two_characters_per_value() -> None:
    values = np.arange(64, dtype=np.float64).reshape(8, 8)
    text = _text(heatmap(values, 100, False))
    rows = text.splitlines()[:8]
    assert all(len(r) == 16 for r in rows)
    assert rows[0].startswith("  ") and rows[7].endswith(
        "@@"
    )  # minimum top left, maximum bottom right
    assert "2 characters = 1 value" in text


@pytest.mark.parametrize("band_bytes", [1, 200, 10**9])
def test_block_means_made_in_bands_equal_the_whole_map_at_once(band_bytes: int) -> None:
    """Bands of block rows (the memory bound of large heat maps) change no block mean."""
    from cnncli.render.maps import _block_mean

    rng = np.random.default_rng(6)
    values = rng.standard_normal((23, 17)).astype(np.float32)
    values[4, 5] = np.nan
    fy, fx = 3, 4
    padded = np.full((24, 20), np.nan)
    padded[:23, :17] = values
    with np.errstate(invalid="ignore"):
        expected = np.nanmean(padded.reshape(8, 3, 5, 4), axis=(1, 3))
    np.testing.assert_allclose(_block_mean(values, fy, fx, band_bytes), expected, rtol=1e-15)


@pytest.mark.parametrize("bad", [None, np.nan, np.inf])
def test_stats_line_reads_the_map_in_place_or_skips_non_finite(bad: float | None) -> None:
    from cnncli.render.maps import stats_line

    values = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 0.0]], dtype=np.float32)
    if bad is not None:
        values[0, 1] = bad
    text = stats_line(values).plain
    finite = values[np.isfinite(values)].astype(np.float64)
    assert f"min {finite.min():g}" in text and f"max {finite.max():g}" in text
    assert f"mean {finite.mean():.4g}" in text and f"std {finite.std():.4g}" in text
    assert ("non-finite 1" in text) == (bad is not None)


def test_render_tests_ignore_the_callers_colour_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 15 item 17: NO_COLOR (or FORCE_COLOR) where pytest runs changes no render test."""
    values = np.linspace(-1, 1, 64).reshape(8, 8)
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[38;2;" in _text(heatmap(values, 100, True), color=True)
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" not in _text(heatmap(values, 100, False))
