"""``cnncli flatten``: (N, C, H, W) → (N, C·H·W) in PyTorch's or Keras' order."""

from typing import Annotated, Any, Literal

import typer

from cnncli.cli import options as opt
from cnncli.cli.core import begin
from cnncli.cli.main import app

#: Positions listed at each end of the flattened vector.
ENDS = 5


@app.command(
    rich_help_panel="Tensor ops",
    epilog=opt.examples(
        "cnncli flatten  # the seed's 4×4 matrix → 1×16",
        "cnncli flatten samples/seed_multichannel.npz --key x --order hwc",
    ),
)
def flatten(
    ctx: typer.Context,
    input: opt.InputArg = None,
    order: Annotated[
        Literal["chw", "hwc"],
        typer.Option(
            "--order",
            help="chw: PyTorch's view (channel by channel); hwc: channels last (Keras, the "
            "seed's 7×7×3 → 1×147).",
        ),
    ] = "chw",
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
) -> None:
    """Flatten each item to a vector and show where its first and last values come from."""
    import numpy as np
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from cnncli import engine
    from cnncli.render.format import fmt_number, fmt_shape

    run = begin(ctx)
    x, header = run.x, run.header
    N, C, H, W = x.shape
    D = C * H * W
    if order == "chw":
        y = engine.flatten(x, 1, -1)
        rule = "k = (c·H + h)·W + w"
    else:
        y = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(N, D)
        rule = "k = (h·W + w)·C + c"
    ks = list(range(min(ENDS, D))) + [k for k in range(max(ENDS, D - ENDS), D)]
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    table.add_column("k", justify="right")
    table.add_column("from x[n, c, h, w]")
    table.add_column("value", justify="right")
    sources = []
    for k in ks:
        if order == "chw":
            c, h, w = k // (H * W), (k // W) % H, k % W
        else:
            c, h, w = k % C, k // (W * C), (k // C) % W
        sources.append({"k": k, "c": c, "h": h, "w": w, "value": y[0, k]})
        table.add_row(str(k), f"x[0, {c}, {h}, {w}]", fmt_number(y[0, k]))
        if k == ENDS - 1 and D > 2 * ENDS:
            table.add_row("…", "…", "…")
    header.add("op", f"flatten  order {order}  ({rule})")
    header.add(
        "output", f"{fmt_shape(x.shape)} → (N, C·H·W) = ({N}, {C}·{H}·{W}) = {fmt_shape(y.shape)}"
    )
    sections: list[Any] = [
        Text("first and last positions of item 0", style="bold underline"),
        table,
        Text(""),
        run.out.maps(y, "output"),
    ]
    payload = run.base_payload("flatten", {"order": order, "start_dim": 1, "end_dim": -1}, y)
    payload["positions"] = sources
    run.out.finish(header, sections, payload, y)
