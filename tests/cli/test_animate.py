"""``--animate FILE.gif`` and ``--fps`` of conv, pool and pad, read back from the GIF.

Each cell's colour is read from the decoded GIF at the cell's place (the layout
depends on the grid shapes only, :meth:`Layout.plan`).  A cell's colour is the
most common colour inside its grid lines, so the value written in it does not
count; the expected cells come from the output-size formula and the window
arithmetic written out here, not from cnncli.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from cnncli.cli import animation
from cnncli.render import animate as ra
from cnncli.render.animate import PALETTE, Animation, Layout, render_frames

INPUT, PADDING, TAP, TAP_PADDING = (
    PALETTE["input"],
    PALETTE["padding"],
    PALETTE["tap"],
    PALETTE["tap_padding"],
)
OUTSIDE = PALETTE["outside"]
DONE, CURRENT, EMPTY = PALETTE["output_done"], PALETTE["output_current"], PALETTE["output_empty"]
TEXT = (PALETTE["text"], PALETTE["text_light"])
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "seed_multichannel.npz"


def _frames(path: Path | str) -> list[Image.Image]:
    with Image.open(path) as im:
        return [f.convert("RGB") for f in ImageSequence.Iterator(im)]


def _durations(path: Path | str) -> list[int]:
    with Image.open(path) as im:
        return [f.info["duration"] for f in ImageSequence.Iterator(im)]


def _fill(img: Image.Image, box: tuple[int, int, int, int]) -> tuple[int, int, int]:
    """The most common colour inside a cell's grid lines."""
    x0, y0, x1, y1 = box
    crop = img.crop((x0 + 1, y0 + 1, x1, y1))
    colours = crop.getcolors(maxcolors=crop.width * crop.height)
    assert colours
    return max(colours)[1]


def _has_text(img: Image.Image, box: tuple[int, int, int, int]) -> bool:
    x0, y0, x1, y1 = box
    crop = img.crop((x0 + 1, y0 + 1, x1, y1))
    return any(c in TEXT for _, c in crop.getcolors(maxcolors=crop.width * crop.height) or [])


def _out_size(size: int, before: int, after: int, k: int, s: int, d: int) -> int:
    return (size + before + after - d * (k - 1) - 1) // s + 1


def _wrote(stderr: str) -> tuple[str, int, int, int]:
    m = re.search(r"^wrote (.+) \(GIF, (\d+) frames, (\d+)×(\d+)\)$", stderr, re.M)
    assert m, stderr
    return m[1], int(m[2]), int(m[3]), int(m[4])


@pytest.mark.parametrize(
    ("stride", "padding", "dilation"),
    [("1", "0", "1"), ("2", "1", "2"), ("3", "2", "1"), ("1", "1,0,2,0", "1"), ("2", "0", "3")],
)
def test_conv_frame_count_is_one_per_output_cell_and_one_more(
    cli: Callable, npy: Callable, tmp_path: Path, stride: str, padding: str, dilation: str
) -> None:
    x = npy(np.arange(49, dtype=np.float32).reshape(7, 7))
    gif = tmp_path / "a.gif"
    r = cli("conv", x, "-k", "sobel-x", "-s", stride, "-p", padding, "-d", dilation,
            "--animate", str(gif), "--show", "none")  # fmt: skip
    assert r.code == 0, r.stderr
    pads = [int(v) for v in padding.split(",")]
    left, right, top, bottom = pads * 4 if len(pads) == 1 else pads
    s, d = int(stride), int(dilation)
    OH, OW = _out_size(7, top, bottom, 3, s, d), _out_size(7, left, right, 3, s, d)
    frames = _frames(gif)
    assert len(frames) == OH * OW + 1
    name, count, w, h = _wrote(r.stderr)
    assert (name, count, (w, h)) == (str(gif), len(frames), frames[0].size)


def test_conv_window_covers_exactly_the_taps_of_each_output_cell(
    cli: Callable, npy: Callable, tmp_path: Path
) -> None:
    """7×7 input, padding 1, stride 2, dilation 2: taps 2 apart, padding in its own colour."""
    x = npy(np.arange(49, dtype=np.float32).reshape(7, 7))
    gif = tmp_path / "d.gif"
    r = cli("conv", x, "-k", "sobel-x", "-p", "1", "-s", "2", "-d", "2",
            "--animate", str(gif), "--show", "none")  # fmt: skip
    assert r.code == 0, r.stderr
    frames = _frames(gif)
    lay = Layout.plan((9, 9), (3, 3))
    for k, img in enumerate(frames):
        i, j = divmod(k, 3)
        taps = set() if k == 9 else {(2 * i + 2 * a, 2 * j + 2 * b) for a in range(3) for b in range(3)}  # fmt: skip
        for r_ in range(9):
            for c in range(9):
                padding = r_ in (0, 8) or c in (0, 8)
                if (r_, c) in taps:
                    want = TAP_PADDING if padding else TAP
                else:
                    want = PADDING if padding else INPUT
                assert _fill(img, lay.grid_box(r_, c)) == want, (k, r_, c)
        for n in range(9):
            want = DONE if n < k else CURRENT if n == k else EMPTY
            assert _fill(img, lay.output_box(*divmod(n, 3))) == want, (k, n)


def test_pool_ceil_mode_overhang_is_drawn_outside_the_padding(
    cli: Callable, tmp_path: Path
) -> None:
    """The seed 4×4, window 3, stride 2, padding 1, ceil_mode: output 3×3, grid 7×7 (6 + overhang)."""
    gif = tmp_path / "p.gif"
    r = cli("pool", "-k", "3", "-s", "2", "-p", "1", "--ceil-mode", "--animate", str(gif),
            "--show", "none")  # fmt: skip
    assert r.code == 0, r.stderr
    frames = _frames(gif)
    assert len(frames) == 3 * 3 + 1
    lay = Layout.plan((7, 7), (3, 3))
    last_window = frames[8]  # output (2, 2): rows and columns 4..6 of the grid
    for r_ in range(7):
        for c in range(7):
            outside = r_ == 6 or c == 6
            padding = not outside and (r_ in (0, 5) or c in (0, 5))
            tapped = r_ >= 4 and c >= 4 and not outside
            want = (
                OUTSIDE if outside
                else (TAP_PADDING if padding else TAP) if tapped
                else PADDING if padding
                else INPUT
            )  # fmt: skip
            assert _fill(last_window, lay.grid_box(r_, c)) == want, (r_, c)


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "replicate", "circular", "constant"])
def test_pad_highlights_each_output_cells_source(
    cli: Callable, npy: Callable, tmp_path: Path, mode: str
) -> None:
    """pad 3×4 by (left 2, right 1, top 1, bottom 2): frame k highlights the cell output k copies."""
    H, W, (left, right, top, bottom) = 3, 4, (2, 1, 1, 2)
    x = npy(np.arange(H * W, dtype=np.float32).reshape(H, W) + 10)
    gif = tmp_path / "pad.gif"
    args = ["--value", "7"] if mode == "constant" else []
    r = cli("pad", x, "-p", f"{left},{right},{top},{bottom}", "--mode", mode, *args,
            "--animate", str(gif), "--show", "none")  # fmt: skip
    assert r.code == 0, r.stderr
    GH, GW = H + top + bottom, W + left + right
    numpy_mode = {"replicate": "edge", "circular": "wrap"}.get(mode, mode)
    kw = {"constant_values": -1} if mode == "constant" else {}
    numbers = np.arange(H * W).reshape(H, W)
    source = np.pad(numbers, ((top, bottom), (left, right)), numpy_mode, **kw)
    frames = _frames(gif)
    assert len(frames) == GH * GW + 1
    lay = Layout.plan((GH, GW), (GH, GW))
    for k in (0, 1, GW + left, GH * GW - 1, 2 * GW + 3):
        i, j = divmod(k, GW)
        s = int(source[i, j])
        want = (i, j) if s < 0 else (s // W + top, s % W + left)
        highlighted = {
            (r_, c)
            for r_ in range(GH)
            for c in range(GW)
            if _fill(frames[k], lay.grid_box(r_, c)) in (TAP, TAP_PADDING)
        }
        assert highlighted == {want}, (mode, k)


def test_values_are_written_while_they_fit(cli: Callable, npy: Callable, tmp_path: Path) -> None:
    """Big cells (4×4 seed): every cell has its value; 100×100 cells of 8 px: none has text."""
    small = tmp_path / "small.gif"
    assert cli("pool", "--animate", str(small), "--show", "none").code == 0
    first = _frames(small)[0]
    lay = Layout.plan((4, 4), (2, 2))
    assert lay.cell >= 40
    assert all(_has_text(first, lay.grid_box(r, c)) for r in range(4) for c in range(4))
    assert _has_text(first, lay.output_box(0, 0))  # the current cell shows its value
    assert not _has_text(first, lay.output_box(0, 1))  # not computed yet: empty

    x = npy(np.full((100, 100), 12345.678, dtype=np.float32))
    big = tmp_path / "big.gif"
    r = cli("pool", x, "-k", "40", "-s", "30", "--animate", str(big), "--show", "none")
    assert r.code == 0, r.stderr
    frame = _frames(big)[-1]
    lay = Layout.plan((100, 100), (3, 3))
    assert lay.cell < 12
    assert not any(_has_text(frame, lay.grid_box(r, c)) for r in range(100) for c in range(100))


def test_text_fits_by_the_fonts_metrics() -> None:
    """Cells of 14 px: '1' fits at the smallest font size, '-12345.7' does not; the drawing agrees.

    The fit is measured here with Pillow's own metrics of the default font.
    """
    from PIL import ImageFont

    lay = Layout.plan((40, 8), (1, 1))
    assert lay.cell == 14
    smallest = ImageFont.load_default(size=ra.MIN_TEXT_SIZE)
    for value, text in ((1.0, "1"), (-12345.67, "-12345.7")):
        left, _, right, _ = smallest.getbbox(text)
        fits = right - left <= lay.cell - 4
        assert fits is (value == 1.0)
        anim = Animation(
            title="t", note="", grid=np.full((40, 8), value), kinds=np.zeros((40, 8), np.uint8),
            output=np.zeros((1, 1)), windows=[[(0, 0)]], captions=["c"], final_caption="f",
        )  # fmt: skip
        frames, _ = render_frames(anim, "fewer")
        img = frames[-1].convert("RGB")
        assert all(_has_text(img, lay.grid_box(r, 5)) is fits for r in range(40))


def test_a_panel_shows_all_its_values_or_none() -> None:
    """One value too wide for its cell: no cell of that panel shows text (no half-written grid)."""
    x = np.zeros((40, 8), np.float32)
    x[3, 3] = -12345.67  # '0' fits a 14 px cell, '-12345.7' does not
    lay = Layout.plan((40, 8), (1, 1))
    anim = Animation(
        title="t", note="", grid=x.astype(np.float64), kinds=np.zeros((40, 8), np.uint8),
        output=np.zeros((1, 1)), windows=[[(0, 0)]], captions=["c"], final_caption="f",
    )  # fmt: skip
    img = render_frames(anim, "fewer")[0][-1].convert("RGB")
    assert not any(_has_text(img, lay.grid_box(r, c)) for r in range(40) for c in range(8))
    x[3, 3] = 5
    anim = Animation(
        title="t", note="", grid=x.astype(np.float64), kinds=np.zeros((40, 8), np.uint8),
        output=np.zeros((1, 1)), windows=[[(0, 0)]], captions=["c"], final_caption="f",
    )  # fmt: skip
    img = render_frames(anim, "fewer")[0][-1].convert("RGB")
    assert all(_has_text(img, lay.grid_box(r, c)) for r in range(40) for c in range(8))


def test_too_many_frames_is_one_error_line_and_exit_2(
    cli: Callable, npy: Callable, tmp_path: Path
) -> None:
    x = npy(np.zeros((28, 28), np.float32))
    gif = tmp_path / "a.gif"
    r = cli("conv", x, "-k", "sobel-x", "--animate", str(gif))
    assert r.code == 2
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: ")
    assert "677 frames" in lines[0] and f"limit is {ra.MAX_FRAMES}" in lines[0]
    assert lines[1] == "hint: use a smaller input or a larger stride (one frame per output cell)"
    assert r.stdout == ""  # refused before anything is printed
    assert list(tmp_path.iterdir()) == [Path(x)]  # no GIF, no temporary file


def test_pad_past_the_frame_bound_says_less_padding(
    cli: Callable, npy: Callable, tmp_path: Path
) -> None:
    x = npy(np.zeros((18, 18), np.float32))
    r = cli("pad", x, "-p", "1", "--animate", str(tmp_path / "a.gif"))
    assert r.code == 2
    assert "401 frames" in r.stderr  # (18 + 2)² + 1
    assert (
        r.stderr.splitlines()[1]
        == "hint: use a smaller input or less padding (one frame per output cell)"
    )


def test_too_large_a_picture_is_refused(cli: Callable, npy: Callable, tmp_path: Path) -> None:
    x = npy(np.zeros((10, 700), np.float32))
    r = cli("conv", x, "-k", "sobel-x", "-s", "4,200", "--animate", str(tmp_path / "a.gif"))
    assert r.code == 2
    assert r.stderr.startswith("error: --animate would draw")
    assert f"limit is {ra.MAX_SIDE} px a side" in r.stderr
    assert "Traceback" not in r.stderr


def test_pixel_budget_over_all_frames() -> None:
    lay = Layout.plan((450, 450), (19, 19))
    assert max(lay.width, lay.height) <= ra.MAX_SIDE
    assert ra.MAX_FRAMES >= 19 * 19 + 1
    with pytest.raises(ra.ResourceLimitError, match="million pixels over all frames"):
        ra.check_bounds(19 * 19 + 1, lay, "fewer")
    ra.check_bounds(2, lay, "fewer")  # few frames of the same size pass


@pytest.mark.parametrize(("fps", "ms"), [(None, 500), ("4", 250), ("0.5", 2000)])
def test_fps_sets_the_frame_duration(
    cli: Callable, tmp_path: Path, fps: str | None, ms: int
) -> None:
    gif = tmp_path / "p.gif"
    extra = [] if fps is None else ["--fps", fps]
    assert cli("pool", "--animate", str(gif), *extra, "--show", "none").code == 0
    durations = _durations(gif)
    assert durations == [ms] * 4 + [4 * ms]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fps", "3"], "--fps sets the speed of --animate"),
        (["--animate", "x.png"], "--animate writes a GIF"),
        (["--animate", "no/such/folder/x.gif"], "does not exist"),
        (["--animate", "a.gif", "--fps", "0"], "--fps"),
    ],
)
def test_bad_animate_options(
    cli: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for command in ("conv", "pool", "pad"):
        r = cli(command, *args)
        assert r.code == 2, (command, r.stderr)
        assert r.stderr.startswith("error: ") and message in r.stderr.splitlines()[0]
    assert list(tmp_path.iterdir()) == []


def test_animate_refuses_to_overwrite_the_input(cli: Callable, tmp_path: Path) -> None:
    gif = tmp_path / "in.gif"
    Image.new("L", (4, 4), 9).save(gif)
    before = gif.read_bytes()
    r = cli("pad", str(gif), "--animate", str(gif))
    assert r.code == 2 and "refusing to overwrite" in r.stderr.splitlines()[0]
    assert gif.read_bytes() == before
    assert cli("pad", str(gif), "--animate", str(tmp_path / "out.gif")).code == 0


def test_json_output_and_the_wrote_line_go_to_their_own_streams(
    cli: Callable, tmp_path: Path
) -> None:
    import json

    gif = tmp_path / "a.gif"
    r = cli("pad", "-p", "1", "--json", "--animate", str(gif))
    assert r.code == 0
    assert json.loads(r.stdout)["op"] == "pad"
    assert _wrote(r.stderr)[1] == 6 * 6 + 1


def test_multichannel_conv_shows_output_channel_0_over_input_channel_0(
    cli: Callable, tmp_path: Path
) -> None:
    """The seed's RGB convolution: the grid holds input channel 0, the output map channel 0."""
    data = np.load(SAMPLE)
    gif = tmp_path / "a.gif"
    r = cli("conv", str(SAMPLE), "--key", "x", "-k", f"{SAMPLE}:weight", "-s", "2", "--animate", str(gif),
            "--show", "none")  # fmt: skip
    assert r.code == 0, r.stderr
    assert len(_frames(gif)) == 3 * 3 + 1
    from cnncli import engine
    from cnncli.engine import shapes

    x, w = data["x"], data["weight"]
    geo = shapes.conv2d_geometry(x.shape, w.shape, 2, 0, 1, 1)
    y = engine.conv2d(x, w, None, 2)
    anim = animation.conv(x, y, w, geo, "zeros")
    assert np.array_equal(anim.grid, x[0, 0])
    assert np.array_equal(anim.output, y[0, 0])
    assert "output channel 0 of 2 over input channel 0" in anim.note
    assert "sums 3 input channels" in anim.note


def test_conv_padding_cells_hold_the_values_the_mode_reads() -> None:
    """--pad-mode reflect: the grid is the input reflected (NumPy's 'reflect', the same rule)."""
    from cnncli import engine
    from cnncli.engine import shapes

    x = np.arange(20, dtype=np.float32).reshape(1, 1, 4, 5)
    w = np.ones((1, 1, 3, 3), np.float32)
    geo = shapes.conv2d_geometry(x.shape, w.shape, 1, 2, 1, 1)
    y = engine.conv2d(x, w, None, 1, 2, 1, 1, "reflect")
    anim = animation.conv(x, y, w, geo, "reflect")
    assert np.array_equal(anim.grid, np.pad(x[0, 0], 2, mode="reflect"))
    assert (anim.kinds == ra.PADDING).sum() == 8 * 9 - 4 * 5


def test_adaptive_pool_windows_are_pytorchs_bins() -> None:
    """Bin i of n over size L: rows floor(i·L/n) .. ceil((i+1)·L/n) − 1."""
    from cnncli import engine

    x = np.arange(35, dtype=np.float32).reshape(1, 1, 5, 7)
    y = engine.adaptive_max_pool2d(x, (3, 2))
    anim = animation.adaptive_pool(x, y, "max")
    assert len(anim.windows) == 6
    for k, window in enumerate(anim.windows):
        i, j = divmod(k, 2)
        rows = range(i * 5 // 3, -(-(i + 1) * 5 // 3))
        cols = range(j * 7 // 2, -(-(j + 1) * 7 // 2))
        assert sorted(window) == [(r, c) for r in rows for c in cols]
        assert max(x[0, 0][r, c] for r, c in window) == y[0, 0][i, j]


def test_a_smaller_output_gets_larger_cells_but_is_no_taller_than_the_input() -> None:
    lay = Layout.plan((28, 28), (13, 13))  # an MNIST digit, 3×3 kernel, stride 2
    assert lay.out_cell > lay.cell
    assert 13 * lay.out_cell <= 28 * lay.cell
    assert lay.output_box(0, 0)[0] > lay.grid_box(0, 27)[2]  # the output right of the input
    same = Layout.plan((6, 6), (6, 6))
    assert same.out_cell == same.cell


def test_cells_shrink_to_keep_the_most_frames_within_the_pixel_budget(
    cli: Callable, npy: Callable, tmp_path: Path
) -> None:
    """38×42 pooled 2×2: 19×21 cells + 1 = 400 frames, the most allowed, drawn in smaller cells."""
    lay = Layout.plan((38, 42), (19, 21))
    assert 400 * lay.width * lay.height <= ra.MAX_PIXELS
    larger = Layout._make((38, 42), (19, 21), lay.cell + 1, lay.cell + 1)
    assert 400 * larger.width * larger.height > ra.MAX_PIXELS  # the largest cells that fit
    x = npy(np.random.default_rng(0).standard_normal((38, 42)).astype(np.float32))
    gif = tmp_path / "a.gif"
    r = cli("pool", x, "--animate", str(gif), "--show", "none")
    assert r.code == 0, r.stderr
    assert _wrote(r.stderr)[1:] == (ra.MAX_FRAMES, lay.width, lay.height)


def test_depthwise_conv_names_its_groups_and_shows_channel_0() -> None:
    from cnncli import engine
    from cnncli.engine import shapes

    x = np.arange(3 * 5 * 5, dtype=np.float32).reshape(1, 3, 5, 5)
    w = np.ones((3, 1, 3, 3), np.float32)
    geo = shapes.conv2d_geometry(x.shape, w.shape, 1, 1, 1, 3)
    y = engine.conv2d(x, w, None, 1, 1, 1, 3)
    anim = animation.conv(x, y, w, geo, "zeros")
    assert "groups 3" in anim.title
    assert "output channel 0 of 3 over input channel 0" in anim.note
    assert "sums" not in anim.note  # one input channel per group
    assert np.array_equal(anim.grid[1:-1, 1:-1], x[0, 0])
