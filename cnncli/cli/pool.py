"""``cnncli pool``: max or average pooling (PyTorch's rules) with its work shown."""

from typing import Annotated, Any, Literal

import typer

from cnncli.cli import common as cm
from cnncli.cli.main import app
from cnncli.errors import ParameterError


@app.command(rich_help_panel="Tensor ops")
def pool(
    input: cm.InputArg = None,
    mode: Annotated[
        Literal["max", "avg"], typer.Option("-m", "--mode", help="Max or average.")
    ] = "max",
    size: Annotated[str, typer.Option("-k", "--size", help="Window: N or H,W.")] = "2",
    stride: Annotated[
        str | None, typer.Option("-s", "--stride", help="N or H,W (default: the window size).")
    ] = None,
    padding: Annotated[
        str, typer.Option("-p", "--padding", help="N or H,W (at most half the window).")
    ] = "0",
    dilation: Annotated[str, typer.Option("--dilation", help="N or H,W (max pooling only).")] = "1",
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
    grad: cm.GradOpt = None,
    max_memory: cm.MaxMemoryOpt = None,
    layout: cm.LayoutOpt = None,
    key: cm.KeyOpt = None,
    gray: cm.GrayOpt = False,
    scale: cm.ScaleOpt = "raw",
    dtype: cm.DtypeOpt = "float32",
    allow_nonfinite: cm.NonfiniteOpt = False,
    show: cm.ShowOpt = None,
    channels: cm.ChannelsOpt = None,
    json_: cm.JsonOpt = False,
    output: cm.OutputOpt = None,
    png_scale: cm.PngScaleOpt = "minmax",
) -> None:
    """Pool each channel with a window (max or average) and show the maps."""
    from cnncli import engine
    from cnncli.engine import shapes
    from cnncli.render.format import fmt_shape
    from cnncli.render.header import Header

    out = cm.Output(show, channels, json_, output, png_scale, inputs=[input or ""])
    loaded, x, notes = cm.load_input(
        input, default="seed", layout=layout, key=key, gray=gray, scale=scale,
        dtype=dtype, allow_nonfinite=allow_nonfinite,
    )  # fmt: skip
    N, C, H, W = x.shape
    if global_ and adaptive is not None:
        raise ParameterError("--global and --adaptive both choose the output size; give one")
    if global_:
        k, st, pd, dl = (H, W), (1, 1), (0, 0), (1, 1)
    else:
        k = _as_pair(cm.parse_pair(size, "--size"))
        st = k if stride is None else _as_pair(cm.parse_pair(stride, "stride"))
        pd = _as_pair(cm.parse_pair(padding, "padding"))
        dl = _as_pair(cm.parse_pair(dilation, "dilation"))
    if mode == "avg" and dl != (1, 1):
        raise ParameterError(
            "--dilation is for max pooling only (avg_pool2d has none, as in PyTorch)"
        )
    if divisor_override is not None and (mode != "avg" or divisor_override < 1):
        raise ParameterError("--divisor-override needs --mode avg and a value of at least 1")
    fwd: dict[str, Any] = {}
    formulas: list[str] = []
    if adaptive is not None:
        osize = _as_pair(cm.parse_pair(adaptive, "--adaptive"))
        if min(osize) < 1:
            raise ParameterError(f"--adaptive output size must be at least 1, got {adaptive}")
        bins = (shapes.adaptive_bins(H, osize[0]), shapes.adaptive_bins(W, osize[1]))
        widest = max(b - a for a, b in bins[0]) * max(b - a for a, b in bins[1])
        cm.check_memory(
            2 * N * C * osize[0] * osize[1] * widest, x.itemsize, max_memory, "this pooling"
        )
        fwd = {"output_size": osize}
        y = (engine.adaptive_max_pool2d if mode == "max" else engine.adaptive_avg_pool2d)(x, osize)
        op = f"adaptive_{mode}_pool2d"
        params = f"output_size {_p(osize)}"
        formulas = [
            f"{ax} bins [start, end): start = ⌊i·{size_}/{o}⌋, end = ⌈(i+1)·{size_}/{o}⌉: "
            + " ".join(f"[{a},{b})" for a, b in axis_bins[:8])
            + (" …" if len(axis_bins) > 8 else "")
            for ax, size_, o, axis_bins in (
                ("H", H, osize[0], bins[0]),
                ("W", W, osize[1], bins[1]),
            )
        ]
    else:
        geo = shapes.pool2d_geometry(x.shape, k, st, pd, dl, ceil_mode)
        padded = N * C * (H + 2 * pd[0]) * (W + 2 * pd[1])
        windows = N * C * geo.OH * geo.OW * k[0] * k[1]
        cm.check_memory(2 * (padded + windows), x.itemsize, max_memory, "this pooling")
        if global_:
            y = engine.global_max_pool2d(x) if mode == "max" else engine.global_avg_pool2d(x)
            op = f"global_{mode}_pool2d"
            params = "over the whole map"
        else:
            if mode == "max":
                fwd = {"kernel_size": k, "stride": st, "padding": pd, "dilation": dl,
                       "ceil_mode": ceil_mode}  # fmt: skip
                y = engine.max_pool2d(x, **fwd)
            else:
                fwd = {"kernel_size": k, "stride": st, "padding": pd, "ceil_mode": ceil_mode,
                       "count_include_pad": count_include_pad,
                       "divisor_override": divisor_override}  # fmt: skip
                y = engine.avg_pool2d(x, **fwd)
            op = f"{mode}_pool2d"
            params = (
                f"kernel_size {_p(k)}  stride {_p(st)}  padding {_p(pd)}"
                + (f"  dilation {_p(dl)}" if mode == "max" else "")
                + f"  ceil_mode {ceil_mode}"
                + (f"  count_include_pad {count_include_pad}" if mode == "avg" else "")
                + (f"  divisor_override {divisor_override}" if divisor_override else "")
            )
            formulas = [
                shapes.pool_size_formula(H, k[0], st[0], pd[0], dl[0], ceil_mode, "H"),
                shapes.pool_size_formula(W, k[1], st[1], pd[1], dl[1], ceil_mode, "W"),
            ]

    header = Header(notes=notes)
    header.add("input", cm.describe_input(loaded, x))
    header.add("op", f"{op}  {params}")
    header.add("output", fmt_shape(y.shape), *formulas)
    sections: list[Any] = [out.maps(y, "output")]
    payload: dict[str, Any] = {
        "op": op,
        "parameters": {
            "mode": mode,
            "global": global_,
            "adaptive": None if adaptive is None else fwd.get("output_size"),
            "kernel_size": k,
            "stride": st,
            "padding": pd,
            "dilation": dl,
            "ceil_mode": ceil_mode,
            "count_include_pad": count_include_pad,
            "divisor_override": divisor_override,
        },
        "input": {"source": str(loaded.source), "shape": x.shape},
        "output": {"shape": y.shape, "values": y},
    }
    save: Any = y
    if explain is not None:
        from cnncli.cli.explain import adaptive_pool_cell, pool_cell
        from cnncli.render.explain import pool_explanation

        idx = cm.parse_index(explain, y.shape)
        if adaptive is not None:
            cell = adaptive_pool_cell(x, y, idx, mode)
        else:
            cell = pool_cell(x, y, idx, mode, k, st, pd, dl, count_include_pad, divisor_override)
        sections.append(pool_explanation(cell, H, W))
        payload["explain"] = {
            "index": idx, "rows": cell.rows, "cols": cell.cols, "window": cell.window,
            "chosen": cell.chosen, "sum": cell.total, "divisor": cell.divisor, "value": cell.engine_value,
        }  # fmt: skip
    if grad is not None:
        dy = cm.load_grad(grad, y.shape, x.dtype, input, notes)
        if adaptive is not None:
            back = (
                engine.adaptive_max_pool2d_backward
                if mode == "max"
                else engine.adaptive_avg_pool2d_backward
            )
            dx = back(dy, x)
        elif global_:
            back = (
                engine.global_max_pool2d_backward
                if mode == "max"
                else engine.global_avg_pool2d_backward
            )
            dx = back(dy, x)
        elif mode == "max":
            dx = engine.max_pool2d_backward(dy, x, **fwd)
        else:
            dx = engine.avg_pool2d_backward(dy, x, **fwd)
        sections.append(out.maps(dx, "dL/dX"))
        payload["grad"] = {"grad_input": dx}
        save = {"output": y, "grad_input": dx}
    out.finish(header, sections, payload, save)


def _as_pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else v


def _p(v: tuple[int, int]) -> str:
    return str(v[0]) if v[0] == v[1] else f"{v[0]},{v[1]}"
