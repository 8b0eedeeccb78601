"""``cnncli act``: an activation function applied element-wise (or over a dim)."""

from typing import Annotated, Any

import typer

from cnncli.cli import options as opt
from cnncli.cli.core import begin
from cnncli.cli.main import app

FORMULAS = {
    "relu": "y = max(0, x)",
    "leaky-relu": "y = x if x > 0 else negative_slope·x",
    "sigmoid": "y = 1 / (1 + e^(−x))",
    "tanh": "y = (e^x − e^(−x)) / (e^x + e^(−x))",
    "softmax": "y_i = e^(x_i) / Σ_j e^(x_j)",
    "log-softmax": "y_i = x_i − log Σ_j e^(x_j)",
}


@app.command(
    rich_help_panel="Tensor ops",
    epilog=opt.examples(
        "cnncli act -f softmax --dim 3  # softmax along each row",
        "cnncli act samples/sobel_x.csv -f leaky-relu --slope 0.1",
        "cnncli act samples/shapes.png -f sigmoid --scale unit --show stats",
    ),
)
def act(
    ctx: typer.Context,
    input: opt.InputArg = None,
    fn: Annotated[opt.Activation, typer.Option("-f", "--fn", help="The activation.")] = "relu",
    slope: Annotated[float, typer.Option("--slope", help="Negative slope of leaky-relu.")] = 0.01,
    dim: Annotated[
        int, typer.Option("--dim", help="Axis of softmax/log-softmax (0 N, 1 C, 2 H, 3 W).")
    ] = 1,
    grad: opt.GradOpt = None,
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
    png_mode: opt.PngModeOpt = "auto",
) -> None:
    """Apply relu, leaky-relu, sigmoid, tanh, softmax or log-softmax and show the maps."""
    from cnncli.engine._checks import normalize_dim
    from cnncli.engine.activations import named_activation
    from cnncli.render.format import fmt_shape

    run = begin(ctx)
    x, out = run.x, run.out
    run.out.keeps_channels = True  # a .png of an RGB image's result stays in colour
    run.out.pixel_values = fn in ("relu", "leaky-relu")  # sigmoid's 0.5–1 are not pixels
    f = named_activation(fn)
    if f.parameter == "dim":
        dim = normalize_dim(dim, x.ndim, "--dim")
        if x.shape[dim] == 1:
            run.notes.append(
                f"dim {dim} has size 1, so {fn} gives {'1' if fn == 'softmax' else '0'} everywhere; "
                "try --dim 3 (along rows)"
            )
    y = f.forward(x, slope, dim)
    run.header.add("op", f"{f.text(slope, dim)}  {FORMULAS[fn]}")
    run.header.add("output", f"{fmt_shape(y.shape)} (same shape as the input)")
    sections: list[Any] = [out.maps(y, "output")]
    parameters = {
        "negative_slope": slope if f.parameter == "negative_slope" else None,
        "dim": dim if f.parameter == "dim" else None,
    }
    payload = run.base_payload(fn.replace("-", "_"), parameters, y)
    save: Any = y
    if grad is not None:
        dx = f.backward(run.grad(grad, y.shape), x, y, slope, dim)
        sections.append(out.maps(dx, "dL/dX"))
        payload["grad"] = {"grad_input": dx}
        save = {"output": y, "grad_input": dx}
    out.finish(run.header, sections, payload, save)
