"""``cnncli flatten``: (N, C, H, W) → (N, C·H·W) in PyTorch's or Keras' order."""

from typing import Annotated, Any, Literal

import typer

from cnncli.cli import common as cm
from cnncli.cli.main import app

#: Positions listed at each end of the flattened vector.
ENDS = 5


@app.command(rich_help_panel="Tensor ops")
def flatten(
    input: cm.InputArg = None,
    order: Annotated[
        Literal["chw", "hwc"],
        typer.Option(
            "--order",
            help="chw: PyTorch's view (channel by channel); hwc: channels last (Keras, the "
            "seed's 7×7×3 → 1×147).",
        ),
    ] = "chw",
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
    """Flatten each item to a vector and show where its first and last values come from."""
    import numpy as np
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from cnncli import engine
    from cnncli.render.format import fmt_number, fmt_shape
    from cnncli.render.header import Header

    out = cm.Output(show, channels, json_, output, png_scale, inputs=[input or ""])
    loaded, x, notes = cm.load_input(
        input, default="seed", layout=layout, key=key, gray=gray, scale=scale,
        dtype=dtype, allow_nonfinite=allow_nonfinite,
    )  # fmt: skip
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
    header = Header(notes=notes)
    header.add("input", cm.describe_input(loaded, x))
    header.add("op", f"flatten  order {order}  ({rule})")
    header.add(
        "output", f"{fmt_shape(x.shape)} → (N, C·H·W) = ({N}, {C}·{H}·{W}) = {fmt_shape(y.shape)}"
    )
    sections: list[Any] = [
        Text("first and last positions of item 0", style="bold underline"),
        table,
        Text(""),
        out.maps(y, "output"),
    ]
    payload: dict[str, Any] = {
        "op": "flatten",
        "parameters": {"order": order, "start_dim": 1, "end_dim": -1},
        "input": {"source": str(loaded.source), "shape": x.shape},
        "output": {"shape": y.shape, "values": y},
        "positions": sources,
    }
    out.finish(header, sections, payload, y)
