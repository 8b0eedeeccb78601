"""``cnncli pad``: F.pad on the height and width of an image or matrix."""

from typing import Annotated

import typer

from cnncli.cli import options as opt
from cnncli.cli.argtypes import lrtb, parse_padding
from cnncli.cli.core import begin, check_memory
from cnncli.cli.main import app
from cnncli.errors import ParameterError


@app.command(
    rich_help_panel="Tensor ops",
    epilog=opt.examples(
        "cnncli pad -p 1 --mode reflect",
        "cnncli pad samples/seed_pool.csv -p 1,2,0,0 --mode circular  # left 1, right 2",
        "cnncli pad samples/digit8.png -p 2 --mode constant --value 255",
    ),
)
def pad(
    ctx: typer.Context,
    input: opt.InputArg = None,
    padding: Annotated[
        str,
        typer.Option(
            "-p", "--padding", help="N | H,W | L,R,T,B (F.pad's order: left, right, top, bottom)."
        ),
    ] = "1",
    mode: Annotated[
        opt.PadMode, typer.Option("--mode", help="How the border is filled.")
    ] = "zeros",
    value: Annotated[
        float | None, typer.Option("--value", help="Fill value for constant mode (default 0).")
    ] = None,
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
    """Pad the border of each map (zeros, a constant, reflection, replication, wrap-around)."""
    import math

    from cnncli import engine
    from cnncli.cli import animation
    from cnncli.render.format import fmt_shape
    from cnncli.render.header import padding_by_name

    animation.check_options(animate, fps, [input])
    run = begin(ctx)
    x, header = run.x, run.header
    run.out.keeps_channels = True  # a .png of an RGB image's result stays in colour
    N, C, H, W = x.shape
    pd = parse_padding(padding, words=False)
    assert not isinstance(pd, str)
    sides = lrtb(pd)
    if value is not None and mode not in ("zeros", "constant"):
        raise ParameterError(f"--value is for --mode constant, not {mode}")
    if value is not None and not math.isfinite(value):
        raise ParameterError(f"--value must be a finite number, got {value}")
    if mode == "zeros" and value not in (None, 0.0):
        mode = "constant"
    fill = 0.0 if value is None else value
    left, right, top, bottom = sides
    padded = N * C * (H + top + bottom) * (W + left + right)
    check_memory(padded * x.itemsize, max_memory, "this padding")
    y = engine.pad(x, sides, mode=mode, value=fill)
    header.add(
        "op",
        f"pad  {padding_by_name(sides)}  (F.pad order {sides})  mode {mode}"
        + (f"  value {fill:g}" if mode in ("zeros", "constant") else ""),
    )
    header.add(
        "output",
        fmt_shape(y.shape),
        f"H_out = {H} + {top} + {bottom} = {y.shape[2]}",
        f"W_out = {W} + {left} + {right} = {y.shape[3]}",
    )
    parameters = {"pad": sides, "pad_order": "left,right,top,bottom", "mode": mode, "value": fill}
    payload = run.base_payload("pad", parameters, y)
    wrote = None
    if animate is not None:
        anim = animation.pad(x, y, sides, mode, fill)
        wrote = animation.write(animate, anim, fps, "pad")
    run.out.finish(header, [run.out.maps(y, "output")], payload, y)
    animation.announce(wrote)
