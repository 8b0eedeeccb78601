"""``cnncli pool``: max or average pooling (PyTorch's rules) with its work shown."""

from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from cnncli.cli import options as opt
from cnncli.cli.argtypes import as_pair, parse_index, parse_pair
from cnncli.cli.core import begin, check_memory
from cnncli.cli.main import app
from cnncli.errors import ParameterError

if TYPE_CHECKING:
    import numpy as np

Pair = tuple[int, int]


@app.command(
    rich_help_panel="Tensor ops",
    epilog=opt.examples(
        "cnncli pool  # max pooling of the seed's 4×4 example",
        "cnncli pool --mode avg --explain 1,0  # one output cell step by step",
        "cnncli pool samples/shapes.png -k 3 -s 2 -p 1 --ceil-mode",
    ),
)
def pool(
    ctx: typer.Context,
    input: opt.InputArg = None,
    mode: Annotated[Literal["max", "avg"], typer.Option("--mode", help="Max or average.")] = "max",
    kernel_size: Annotated[
        str,
        typer.Option("-k", "--kernel-size", help="The window (PyTorch's kernel_size): N or H,W."),
    ] = "2",
    stride: Annotated[
        str | None, typer.Option("-s", "--stride", help="N or H,W (default: the window size).")
    ] = None,
    padding: Annotated[
        str, typer.Option("-p", "--padding", help="N or H,W (at most half the window).")
    ] = "0",
    dilation: Annotated[
        str, typer.Option("-d", "--dilation", help="N or H,W (max pooling only).")
    ] = "1",
    ceil_mode: Annotated[
        bool, typer.Option("--ceil-mode", help="Round the output size up (keep a partial window).")
    ] = False,
    count_include_pad: Annotated[
        bool,
        typer.Option(
            "--count-include-pad/--no-count-include-pad",
            help="Average: count padded zeros in the divisor.",
        ),
    ] = True,
    divisor_override: Annotated[
        int | None, typer.Option("--divisor-override", help="Average: divide by this instead.")
    ] = None,
    global_: Annotated[
        bool, typer.Option("--global", help="One value per channel over the whole map.")
    ] = False,
    adaptive: Annotated[
        str | None,
        typer.Option("--adaptive", help="Adaptive pooling to this output size: N or H,W."),
    ] = None,
    explain: Annotated[
        str | None, typer.Option("--explain", help="Show one output cell: I,J or C,I,J.")
    ] = None,
    grad: opt.GradOpt = None,
    max_memory: opt.MaxMemoryOpt = None,
    layout: opt.LayoutOpt = None,
    key: opt.KeyOpt = None,
    gray: opt.GrayOpt = False,
    scale: opt.ScaleOpt = "raw",
    dtype: opt.DtypeOpt = "float32",
    allow_nonfinite: opt.NonfiniteOpt = False,
    show: opt.ShowOpt = None,
    channels: opt.ChannelsOpt = None,
    region: opt.RegionOpt = None,
    json_: opt.JsonOpt = False,
    output: opt.OutputOpt = None,
    png_scale: opt.PngScaleOpt = "minmax",
    animate: opt.AnimateOpt = None,
    fps: opt.FpsOpt = None,
    png_mode: opt.PngModeOpt = "auto",
) -> None:
    """Pool each channel with a window (max or average) and show the maps."""
    from cnncli.cli import animation
    from cnncli.render.format import fmt_shape

    animation.check_options(animate, fps, [input])
    run = begin(ctx)
    x = run.x
    run.out.keeps_channels = True  # a .png of an RGB image's result stays in colour
    H, W = x.shape[2:]
    if global_ and adaptive is not None:
        raise ParameterError("--global and --adaptive both choose the output size; give one")
    if global_:
        k, st, pd, dl = (H, W), (1, 1), (0, 0), (1, 1)
    else:
        k = as_pair(parse_pair(kernel_size, "--kernel-size"))
        st = k if stride is None else as_pair(parse_pair(stride, "stride"))
        pd = as_pair(parse_pair(padding, "padding"))
        dl = as_pair(parse_pair(dilation, "dilation"))
    if mode == "avg" and dl != (1, 1):
        raise ParameterError(
            "--dilation is for max pooling only (avg_pool2d has none, as in PyTorch)"
        )
    if divisor_override is not None and (mode != "avg" or divisor_override < 1):
        raise ParameterError("--divisor-override needs --mode avg and a value of at least 1")
    if adaptive is not None:
        osize = as_pair(parse_pair(adaptive, "--adaptive"))
        y, op, params, formulas = _adaptive(x, mode, osize, adaptive, max_memory)
        fwd: dict[str, Any] = {"output_size": osize}
    else:
        fwd = _window_args(mode, k, st, pd, dl, ceil_mode, count_include_pad, divisor_override)
        y, op, params, formulas = _windowed(x, mode, global_, fwd, max_memory)
    run.header.add("op", f"{op}  {params}")
    run.header.add("output", fmt_shape(y.shape), *formulas)
    sections: list[Any] = [run.out.maps(y, "output")]
    parameters = {
        "mode": mode, "global": global_, "adaptive": fwd.get("output_size"),
        "kernel_size": k, "stride": st, "padding": pd, "dilation": dl, "ceil_mode": ceil_mode,
        "count_include_pad": count_include_pad, "divisor_override": divisor_override,
    }  # fmt: skip
    payload = run.base_payload(op, parameters, y)
    save: Any = y
    if explain is not None:
        from cnncli.engine import pool2d_method
        from cnncli.nn.explain import adaptive_pool_cell, pool_cell
        from cnncli.render.explain import pool_explanation

        idx = parse_index(explain, y.shape)
        if adaptive is not None:
            cell = adaptive_pool_cell(x, y, idx, mode)
        else:
            cell = pool_cell(x, y, idx, mode, k, st, pd, dl, count_include_pad, divisor_override)
        method = pool2d_method(op)
        sections.append(pool_explanation(cell, H, W, method=method))
        payload["explain"] = {
            "index": idx, "rows": cell.rows, "cols": cell.cols, "window": cell.window,
            "chosen": cell.chosen, "sum": cell.total, "divisor": cell.divisor, "value": cell.engine_value,
            "engine_path": method,
        }  # fmt: skip
    if grad is not None:
        dx = _backward(run.grad(grad, y.shape), x, mode, adaptive is not None, global_, fwd)
        sections.append(run.out.maps(dx, "dL/dX"))
        payload["grad"] = {"grad_input": dx}
        save = {"output": y, "grad_input": dx}
    wrote = None
    if animate is not None:
        if adaptive is not None:
            anim = animation.adaptive_pool(x, y, mode)
        else:
            anim = animation.pool(x, y, mode, k, st, pd, dl, ceil_mode, op)
        wrote = animation.write(animate, anim, fps, "pool")
    run.out.finish(run.header, sections, payload, save)
    animation.announce(wrote)


def _window_args(
    mode: str,
    k: Pair,
    st: Pair,
    pd: Pair,
    dl: Pair,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
) -> dict[str, Any]:
    """The keyword arguments of max_pool2d or avg_pool2d (and of their backwards)."""
    if mode == "max":
        return {"kernel_size": k, "stride": st, "padding": pd, "dilation": dl,
                "ceil_mode": ceil_mode}  # fmt: skip
    return {"kernel_size": k, "stride": st, "padding": pd, "ceil_mode": ceil_mode,
            "count_include_pad": count_include_pad,
            "divisor_override": divisor_override}  # fmt: skip


def _adaptive(
    x: "np.ndarray", mode: str, osize: Pair, text: str, max_memory: str | None
) -> "tuple[np.ndarray, str, str, list[str]]":
    """Adaptive pooling to ``osize``: the output, op name, parameters and the bins."""
    from cnncli import engine
    from cnncli.engine import shapes

    N, C, H, W = x.shape
    if min(osize) < 1:
        raise ParameterError(f"--adaptive output size must be at least 1, got {text}")
    bins = (shapes.adaptive_bins(H, osize[0]), shapes.adaptive_bins(W, osize[1]))
    widest = max(b - a for a, b in bins[0]) * max(b - a for a, b in bins[1])
    check_memory(2 * N * C * osize[0] * osize[1] * widest * x.itemsize, max_memory, "this pooling")
    y = (engine.adaptive_max_pool2d if mode == "max" else engine.adaptive_avg_pool2d)(x, osize)
    formulas = [
        f"{ax} bins [start, end): start = ⌊i·{size_}/{o}⌋, end = ⌈(i+1)·{size_}/{o}⌉: "
        + " ".join(f"[{a},{b})" for a, b in axis_bins[:8])
        + (" …" if len(axis_bins) > 8 else "")
        for ax, size_, o, axis_bins in (
            ("H", H, osize[0], bins[0]),
            ("W", W, osize[1], bins[1]),
        )
    ]
    return y, f"adaptive_{mode}_pool2d", f"output_size {_p(osize)}", formulas


def _windowed(
    x: "np.ndarray", mode: str, global_: bool, fwd: dict[str, Any], max_memory: str | None
) -> "tuple[np.ndarray, str, str, list[str]]":
    """Pooling with a window (or over the whole map): the output, op name, parameters, formulas."""
    from cnncli import engine
    from cnncli.engine import shapes

    N, C, H, W = x.shape
    k, st, pd = fwd["kernel_size"], fwd["stride"], fwd["padding"]
    dl, ceil_mode = fwd.get("dilation", (1, 1)), fwd["ceil_mode"]
    geo = shapes.pool2d_geometry(x.shape, k, st, pd, dl, ceil_mode)
    padded = N * C * (H + 2 * pd[0]) * (W + 2 * pd[1])
    windows = N * C * geo.OH * geo.OW * k[0] * k[1]
    check_memory(2 * (padded + windows) * x.itemsize, max_memory, "this pooling")
    if global_:
        y = engine.global_max_pool2d(x) if mode == "max" else engine.global_avg_pool2d(x)
        return y, f"global_{mode}_pool2d", "over the whole map", []
    y = engine.max_pool2d(x, **fwd) if mode == "max" else engine.avg_pool2d(x, **fwd)
    divisor_override = fwd.get("divisor_override")
    params = (
        f"kernel_size {_p(k)}  stride {_p(st)}  padding {_p(pd)}"
        + (f"  dilation {_p(dl)}" if mode == "max" else "")
        + f"  ceil_mode {ceil_mode}"
        + (f"  count_include_pad {fwd['count_include_pad']}" if mode == "avg" else "")
        + (f"  divisor_override {divisor_override}" if divisor_override else "")
    )
    formulas = [
        shapes.pool_size_formula(H, k[0], st[0], pd[0], dl[0], ceil_mode, "H"),
        shapes.pool_size_formula(W, k[1], st[1], pd[1], dl[1], ceil_mode, "W"),
    ]
    return y, f"{mode}_pool2d", params, formulas


def _backward(
    dy: "np.ndarray", x: "np.ndarray", mode: str, adaptive: bool, global_: bool, fwd: dict[str, Any]
) -> "np.ndarray":
    """dL/dX of the pooling that ran."""
    from cnncli import engine

    if adaptive:
        if mode == "max":
            return engine.adaptive_max_pool2d_backward(dy, x)
        return engine.adaptive_avg_pool2d_backward(dy, x)
    if global_:
        if mode == "max":
            return engine.global_max_pool2d_backward(dy, x)
        return engine.global_avg_pool2d_backward(dy, x)
    if mode == "max":
        return engine.max_pool2d_backward(dy, x, **fwd)
    return engine.avg_pool2d_backward(dy, x, **fwd)


def _p(v: Pair) -> str:
    return str(v[0]) if v[0] == v[1] else f"{v[0]},{v[1]}"
