"""``cnncli act``: an activation function applied element-wise (or over a dim)."""

from typing import Annotated, Any

import typer

from cnncli.cli import common as cm
from cnncli.cli.main import app

FORMULAS = {
    "relu": "y = max(0, x)",
    "leaky-relu": "y = x if x > 0 else negative_slope·x",
    "sigmoid": "y = 1 / (1 + e^(−x))",
    "tanh": "y = (e^x − e^(−x)) / (e^x + e^(−x))",
    "softmax": "y_i = e^(x_i) / Σ_j e^(x_j)",
    "log-softmax": "y_i = x_i − log Σ_j e^(x_j)",
}


@app.command(rich_help_panel="Tensor ops")
def act(
    input: cm.InputArg = None,
    fn: Annotated[cm.Activation, typer.Option("-f", "--fn", help="The activation.")] = "relu",
    slope: Annotated[float, typer.Option("--slope", help="Negative slope of leaky-relu.")] = 0.01,
    dim: Annotated[
        int, typer.Option("--dim", help="Axis of softmax/log-softmax (0 N, 1 C, 2 H, 3 W).")
    ] = 1,
    grad: cm.GradOpt = None,
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
    """Apply relu, leaky-relu, sigmoid, tanh, softmax or log-softmax and show the maps."""
    from cnncli.engine._checks import normalize_dim
    from cnncli.render.format import fmt_shape
    from cnncli.render.header import Header

    out = cm.Output(show, channels, json_, output, png_scale, inputs=[input or ""])
    loaded, x, notes = cm.load_input(
        input, default="seed", layout=layout, key=key, gray=gray, scale=scale,
        dtype=dtype, allow_nonfinite=allow_nonfinite,
    )  # fmt: skip
    if fn in ("softmax", "log-softmax"):
        dim = normalize_dim(dim, x.ndim, "--dim")
        if x.shape[dim] == 1:
            notes.append(
                f"dim {dim} has size 1, so {fn} gives {'1' if fn == 'softmax' else '0'} everywhere; "
                "try --dim 3 (along rows)"
            )
    y = cm.activation_forward(fn, x, slope, dim)
    header = Header(notes=notes)
    header.add("input", cm.describe_input(loaded, x))
    header.add("op", f"{cm.activation_text(fn, slope, dim)}  {FORMULAS[fn]}")
    header.add("output", f"{fmt_shape(y.shape)} (same shape as the input)")
    sections: list[Any] = [out.maps(y, "output")]
    payload: dict[str, Any] = {
        "op": fn.replace("-", "_"),
        "parameters": {
            "negative_slope": slope if fn == "leaky-relu" else None,
            "dim": dim if fn in ("softmax", "log-softmax") else None,
        },
        "input": {"source": str(loaded.source), "shape": x.shape},
        "output": {"shape": y.shape, "values": y},
    }
    save: Any = y
    if grad is not None:
        dy = cm.load_grad(grad, y.shape, x.dtype, input, notes)
        dx = cm.activation_backward(fn, dy, x, y, slope, dim)
        sections.append(out.maps(dx, "dL/dX"))
        payload["grad"] = {"grad_input": dx}
        save = {"output": y, "grad_input": dx}
    out.finish(header, sections, payload, save)
