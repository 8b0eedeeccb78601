"""``--animate FILE.gif`` of ``conv``, ``pool`` and ``pad``: the animation of the op that ran.

The command computes the op; this module takes batch 0 and one channel pair
(output channel 0 over input channel 0: for ``conv`` the first input channel of
the first group, for ``pool`` and ``pad`` the same channel), lays out the input
with the padding the op read (filled by :func:`cnncli.engine.pad`, as the op
fills it), lists the grid cells each output cell reads, and hands that to
:mod:`cnncli.render.animate`; the GIF is written whole or not at all by
:func:`cnncli.io.write.save_gif`.  :func:`announce` prints
``wrote PATH (GIF, N frames, W×H)`` on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnncli.errors import OutputFileError, ParameterError

if TYPE_CHECKING:
    import numpy as np

    from cnncli.render.animate import Animation

#: Frames per second when --fps is not given.
DEFAULT_FPS = 2.0
#: The last frame (the whole output) stays this many frame durations.
LAST_FRAME_HOLD = 4


def check_options(path: str | None, fps: float | None, inputs: Sequence[str | None]) -> None:
    """Refuse, before any work, a GIF path that cannot be written, or --fps without --animate.

    ``inputs`` are the command's input files, which the GIF must not overwrite.
    """
    from cnncli.io.common import display_name
    from cnncli.io.write import check_output_path

    if path is None:
        if fps is not None:
            raise ParameterError("--fps sets the speed of --animate; give --animate FILE.gif too")
        return
    name = display_name(path)
    if Path(path).suffix.lower() != ".gif":
        raise OutputFileError(f"{name}: --animate writes a GIF; give a file name ending in .gif")
    folder = Path(path).parent
    if not folder.is_dir():
        raise OutputFileError(f"{name}: the folder {display_name(folder)} does not exist")
    check_output_path(path, [p for p in inputs if p])


#: How to get fewer output cells, by command (the hint past MAX_FRAMES).
FEWER = {
    "conv": "use a smaller input or a larger stride",
    "pool": "use a smaller input, a larger stride or --adaptive with a smaller size",
    "pad": "use a smaller input or less padding",
}


def _precheck(grid: tuple[int, int], out: tuple[int, int], command: str) -> None:
    """Refuse too many frames or too large a picture from the shapes alone, before listing taps."""
    from cnncli.render.animate import Layout, check_bounds

    check_bounds(out[0] * out[1] + 1, Layout.plan(grid, out), FEWER[command])


def _kinds(shape: tuple[int, int], top: int, left: int, H: int, W: int) -> np.ndarray:
    """PADDING everywhere but the input's own H×W cells at (top, left)."""
    import numpy as np

    from cnncli.render.animate import INPUT, PADDING

    kinds = np.full(shape, PADDING, dtype=np.uint8)
    kinds[top : top + H, left : left + W] = INPUT
    return kinds


def _pair(p: Sequence[int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]},{p[1]}"


def _sides(pad: Sequence[int]) -> str:
    """F.pad-ordered (left, right, top, bottom) padding, short: ``1`` or ``1,2,0,0``."""
    return str(pad[0]) if len(set(pad)) == 1 else ",".join(str(p) for p in pad)


def _channel_note(x: np.ndarray, extra: str = "") -> str:
    """Which map is shown (channel 0, batch 0) when there is a choice, then ``extra``."""
    N, C = x.shape[:2]
    parts = [f"channel 0 of {C}"] * (C > 1) + [f"batch 0 of {N}"] * (N > 1)
    shown = ["shown: " + ", ".join(parts)] if parts else []
    return "; ".join(shown + [extra] * bool(extra))


def conv(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, geo: Any, pad_mode: str, after: str = ""
) -> Animation:
    """Output channel 0 of conv2d over input channel 0; ``y`` is the convolution's own output."""
    import numpy as np

    from cnncli import engine
    from cnncli.render.animate import Animation, window_taps
    from cnncli.render.format import fmt_number

    left, right, top, bottom = geo.padding
    grid_shape = (geo.H + top + bottom, geo.W + left + right)
    _precheck(grid_shape, (geo.OH, geo.OW), "conv")
    grid = engine.pad(x[:1, :1].astype(np.float64), geo.padding, mode=pad_mode)[0, 0]
    (sh, sw), out = geo.stride, y[0, 0]
    captions = [
        f"output[{i}, {j}] = {fmt_number(out[i, j])}    "
        f"window's first tap at input[{i * sh - top}, {j * sw - left}]"
        for i in range(geo.OH)
        for j in range(geo.OW)
    ]
    Cg, N = weight.shape[1], x.shape[0]
    sums = f"; output channel 0 sums {Cg} input channels" if Cg > 1 else ""
    batch = f", batch 0 of {N}" if N > 1 else ""
    note = f"shown: output channel 0 of {geo.F} over input channel 0{batch}{sums}{after}"
    title = (
        f"conv2d  kernel {geo.KH}×{geo.KW}  stride {_pair(geo.stride)}  padding "
        f"{_sides(geo.padding)} ({pad_mode})  dilation {_pair(geo.dilation)}"
        + (f"  groups {geo.groups}" if geo.groups > 1 else "")
    )
    return Animation(
        title=title,
        note=note,
        grid=grid,
        kinds=_kinds(grid_shape, top, left, geo.H, geo.W),
        output=out.astype(np.float64),
        windows=window_taps((geo.OH, geo.OW), (geo.KH, geo.KW), geo.stride, geo.dilation),
        captions=captions,
        final_caption=f"output channel 0: all {geo.OH}×{geo.OW} cells",
        grid_label=f"input {geo.H}×{geo.W}" + (" + padding" if max(geo.padding) else ""),
        output_label=f"output {geo.OH}×{geo.OW}",
    )


def pool(
    x: np.ndarray,
    y: np.ndarray,
    mode: str,
    k: tuple[int, int],
    st: tuple[int, int],
    pd: tuple[int, int],
    dl: tuple[int, int],
    ceil_mode: bool,
    op: str,
) -> Animation:
    """Channel 0 of max or average pooling with a window (global pooling too: ``op`` names it).

    The padding reads −∞ for max and 0 for avg, as the op reads it; a ceil_mode
    window's part past the padding is drawn outside the grid's padding (never read).
    """
    import numpy as np

    from cnncli.render.animate import OUTSIDE, Animation, window_taps
    from cnncli.render.format import fmt_number

    H, W = x.shape[2:]
    OH, OW = y.shape[2:]
    reach = [
        (o - 1) * s + (kk - 1) * d + 1 for o, s, kk, d in zip((OH, OW), st, k, dl, strict=True)
    ]
    grid_shape = (max(H + 2 * pd[0], reach[0]), max(W + 2 * pd[1], reach[1]))
    _precheck(grid_shape, (OH, OW), "pool")
    kinds = _kinds(grid_shape, pd[0], pd[1], H, W)
    kinds[H + 2 * pd[0] :, :] = OUTSIDE
    kinds[:, W + 2 * pd[1] :] = OUTSIDE
    grid = np.full(grid_shape, -np.inf if mode == "max" else 0.0)
    grid[kinds == OUTSIDE] = np.nan
    grid[pd[0] : pd[0] + H, pd[1] : pd[1] + W] = x[0, 0]
    out = y[0, 0].astype(np.float64)
    what = "max" if mode == "max" else "mean"
    captions = [
        f"output[{i}, {j}] = {what} of its window = {fmt_number(out[i, j])}    "
        f"first tap at input[{i * st[0] - pd[0]}, {j * st[1] - pd[1]}]"
        for i in range(OH)
        for j in range(OW)
    ]
    fill = "-inf (never the max)" if mode == "max" else "0"
    title = (
        f"{op}  kernel {_pair(k)}  stride {_pair(st)}  padding {_pair(pd)}"
        + (f"  dilation {_pair(dl)}" if mode == "max" else "")
        + ("  ceil_mode" if ceil_mode else "")
    )
    return Animation(
        title=title,
        note=_channel_note(x, f"padding reads {fill}" if max(pd) else ""),
        grid=grid,
        kinds=kinds,
        output=out,
        windows=window_taps((OH, OW), k, st, dl),
        captions=captions,
        final_caption=f"output channel 0: all {OH}×{OW} cells",
        grid_label=f"input {H}×{W}" + (" + padding" if max(pd) else ""),
        output_label=f"output {OH}×{OW}",
    )


def adaptive_pool(x: np.ndarray, y: np.ndarray, mode: str) -> Animation:
    """Channel 0 of adaptive pooling: each output cell reads its bin of rows × columns."""
    import numpy as np

    from cnncli.engine import shapes
    from cnncli.render.animate import Animation
    from cnncli.render.format import fmt_number

    H, W = x.shape[2:]
    OH, OW = y.shape[2:]
    _precheck((H, W), (OH, OW), "pool")
    rows, cols = shapes.adaptive_bins(H, OH), shapes.adaptive_bins(W, OW)
    out = y[0, 0].astype(np.float64)
    windows = [
        [(r, c) for r in range(*rows[i]) for c in range(*cols[j])]
        for i in range(OH)
        for j in range(OW)
    ]
    what = "max" if mode == "max" else "mean"
    captions = [
        f"output[{i}, {j}] = {what} of rows [{rows[i][0]},{rows[i][1]}) "
        f"cols [{cols[j][0]},{cols[j][1]}) = {fmt_number(out[i, j])}"
        for i in range(OH)
        for j in range(OW)
    ]
    return Animation(
        title=f"adaptive_{mode}_pool2d  output_size {OH},{OW}",
        note=_channel_note(x),
        grid=x[0, 0].astype(np.float64),
        kinds=_kinds((H, W), 0, 0, H, W),
        output=out,
        windows=windows,
        captions=captions,
        final_caption=f"output channel 0: all {OH}×{OW} cells",
        grid_label=f"input {H}×{W}",
        output_label=f"output {OH}×{OW}",
    )


def pad(
    x: np.ndarray, y: np.ndarray, sides: tuple[int, int, int, int], mode: str, fill: float
) -> Animation:
    """Channel 0 of F.pad: each output cell's source, an input cell or the constant.

    The sources come from padding the input's cell numbers with the same mode, so
    they are the engine's own answer for every mode.
    """
    import numpy as np

    from cnncli import engine
    from cnncli.render.animate import Animation
    from cnncli.render.format import fmt_number

    left, right, top, bottom = sides
    H, W = x.shape[2:]
    grid_shape = (H + top + bottom, W + left + right)
    _precheck(grid_shape, grid_shape, "pad")
    constant = mode in ("zeros", "constant")
    numbers = np.arange(H * W, dtype=np.float64).reshape(1, 1, H, W)
    source = engine.pad(numbers, sides, mode="constant" if constant else mode, value=-1.0)[0, 0]
    kinds = _kinds(grid_shape, top, left, H, W)
    grid = np.full(grid_shape, fill if constant else np.nan)
    grid[top : top + H, left : left + W] = x[0, 0]
    out = y[0, 0].astype(np.float64)
    windows, captions = [], []
    for i in range(grid_shape[0]):
        for j in range(grid_shape[1]):
            s = int(source[i, j])
            v = fmt_number(out[i, j])
            if s < 0:
                windows.append([(i, j)])
                captions.append(f"output[{i}, {j}] = {v}    the fill value ({mode} padding)")
            else:
                r, c = divmod(s, W)
                windows.append([(r + top, c + left)])
                where = "inside" if (i - top, j - left) == (r, c) else f"{mode} padding"
                captions.append(f"output[{i}, {j}] = input[{r}, {c}] = {v}    ({where})")
    return Animation(
        title=f"pad  left {left}, right {right}, top {top}, bottom {bottom}  mode {mode}",
        note=_channel_note(x, "each output cell copies the highlighted cell"),
        grid=grid,
        kinds=kinds,
        output=out,
        windows=windows,
        captions=captions,
        final_caption=f"output channel 0: all {grid_shape[0]}×{grid_shape[1]} cells",
        grid_label=f"input {H}×{W} + padding",
        output_label=f"output {grid_shape[0]}×{grid_shape[1]}",
        output_kinds=kinds,
    )


def write(path: str, anim: Animation, fps: float | None, command: str) -> str:
    """Draw and write the GIF; return the line :func:`announce` prints."""
    from cnncli.io.common import display_name
    from cnncli.io.write import save_gif
    from cnncli.render.animate import render_frames

    frames, (w, h) = render_frames(anim, FEWER[command])
    duration = round(1000 / (DEFAULT_FPS if fps is None else fps))
    save_gif(path, frames, duration, LAST_FRAME_HOLD * duration)
    return f"wrote {display_name(path)} (GIF, {len(frames)} frames, {w}×{h})"


def announce(line: str | None) -> None:
    """Print the ``wrote …`` line on stderr (after the command's own output)."""
    if line:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
