"""``cnncli pad``: F.pad on the height and width of an image or matrix."""

from typing import Annotated, Any, Literal

import typer

from cnncli.cli import common as cm
from cnncli.cli.main import app
from cnncli.errors import ParameterError


@app.command(rich_help_panel="Tensor ops")
def pad(
    input: cm.InputArg = None,
    padding: Annotated[
        str,
        typer.Option(
            "-p", "--padding", help="N | H,W | L,R,T,B (F.pad's order: left, right, top, bottom)."
        ),
    ] = "1",
    mode: Annotated[
        Literal["zeros", "constant", "reflect", "symmetric", "replicate", "circular"],
        typer.Option("-m", "--mode", help="How the border is filled."),
    ] = "zeros",
    value: Annotated[
        float | None, typer.Option("--value", help="Fill value for constant mode (default 0).")
    ] = None,
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
    """Pad the border of each map (zeros, a constant, reflection, replication, wrap-around)."""
    import math

    from cnncli import engine
    from cnncli.render.format import fmt_shape
    from cnncli.render.header import Header, padding_by_name

    out = cm.Output(show, channels, json_, output, png_scale, inputs=[input or ""])
    loaded, x, notes = cm.load_input(
        input, default="seed", layout=layout, key=key, gray=gray, scale=scale,
        dtype=dtype, allow_nonfinite=allow_nonfinite,
    )  # fmt: skip
    N, C, H, W = x.shape
    pd = cm.parse_padding(padding, words=False)
    assert not isinstance(pd, str)
    lrtb = cm.lrtb(pd)
    if value is not None and mode not in ("zeros", "constant"):
        raise ParameterError(f"--value is for --mode constant, not {mode}")
    if value is not None and not math.isfinite(value):
        raise ParameterError(f"--value must be a finite number, got {value}")
    if mode == "zeros" and value not in (None, 0.0):
        mode = "constant"
    fill = 0.0 if value is None else value
    left, right, top, bottom = lrtb
    cm.check_memory(
        N * C * (H + top + bottom) * (W + left + right), x.itemsize, max_memory, "this padding"
    )
    y = engine.pad(x, lrtb, mode=mode, value=fill)
    header = Header(notes=notes)
    header.add("input", cm.describe_input(loaded, x))
    header.add(
        "op",
        f"pad  {padding_by_name(lrtb)}  (F.pad order {lrtb})  mode {mode}"
        + (f"  value {fill:g}" if mode in ("zeros", "constant") else ""),
    )
    header.add(
        "output",
        fmt_shape(y.shape),
        f"H_out = {H} + {top} + {bottom} = {y.shape[2]}",
        f"W_out = {W} + {left} + {right} = {y.shape[3]}",
    )
    payload: dict[str, Any] = {
        "op": "pad",
        "parameters": {
            "pad": lrtb,
            "pad_order": "left,right,top,bottom",
            "mode": mode,
            "value": fill,
        },
        "input": {"source": str(loaded.source), "shape": x.shape},
        "output": {"shape": y.shape, "values": y},
    }
    out.finish(header, [out.maps(y, "output")], payload, y)
