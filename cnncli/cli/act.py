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
    "relu6": "y = min(max(0, x), 6)",
    "hardtanh": "y = min(max(x, min_val), max_val)",
    "silu": "y = x · sigmoid(x) = x / (1 + e^(−x))",
    "gelu": "y = x · Φ(x) = x/2 · (1 + erf(x / √2))",
    "gelu-tanh": "y = x/2 · (1 + tanh(√(2/π) · (x + 0.044715·x³)))",
    "hardswish": "y = x · min(max(0, x + 3), 6) / 6",
    "hardsigmoid": "y = min(max(0, x + 3), 6) / 6",
    "elu": "y = x if x > 0 else alpha·(e^x − 1)",
    "mish": "y = x · tanh(log(1 + e^x))",
}


@app.command(
    rich_help_panel="Tensor ops",
    epilog=opt.examples(
        "cnncli act -f softmax --dim 3  # softmax along each row",
        "cnncli act samples/sobel_x.csv -f leaky-relu --slope 0.1",
        "cnncli act -f gelu --approximate tanh --grad ones",
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
    min_val: Annotated[float, typer.Option("--min-val", help="Lower end of hardtanh.")] = -1.0,
    max_val: Annotated[float, typer.Option("--max-val", help="Upper end of hardtanh.")] = 1.0,
    alpha: Annotated[float, typer.Option("--alpha", help="Scale of elu's negative side.")] = 1.0,
    approximate: Annotated[
        opt.GeluApproximation,
        typer.Option("--approximate", help="gelu exactly (none) or by tanh."),
    ] = "none",
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
    """Apply an activation (relu, leaky-relu, sigmoid, tanh, softmax, log-softmax, relu6,
    hardtanh, silu, gelu, hardswish, hardsigmoid, elu, mish) and show the maps."""
    from cnncli.engine._checks import normalize_dim
    from cnncli.engine.activations import ActivationArgs, named_activation
    from cnncli.render.format import fmt_shape

    run = begin(ctx)
    x, out = run.x, run.out
    run.out.keeps_channels = True  # a .png of an RGB image's result stays in colour
    run.out.pixel_values = fn in ("relu", "leaky-relu")  # sigmoid's 0.5–1 are not pixels
    f = named_activation(fn)
    if "dim" in f.parameters:
        dim = normalize_dim(dim, x.ndim, "--dim")
        if x.shape[dim] == 1:
            run.notes.append(
                f"dim {dim} has size 1, so {fn} gives {'1' if fn == 'softmax' else '0'} everywhere; "
                "try --dim 3 (along rows)"
            )
    args = ActivationArgs(slope, dim, min_val, max_val, alpha, approximate)
    y = f.forward(x, args)
    formula = FORMULAS["gelu-tanh" if fn == "gelu" and approximate == "tanh" else fn]
    run.header.add("op", f"{f.text(args)}  {formula}")
    run.header.add("output", f"{fmt_shape(y.shape)} (same shape as the input)")
    sections: list[Any] = [out.maps(y, "output")]
    parameters = {
        "negative_slope": slope if "negative_slope" in f.parameters else None,
        "dim": dim if "dim" in f.parameters else None,
        **{p: getattr(args, p) for p in f.parameters if p not in ("negative_slope", "dim")},
    }
    payload = run.base_payload(fn.replace("-", "_"), parameters, y)
    save: Any = y
    if grad is not None:
        dx = f.backward(run.grad(grad, y.shape), x, y, args)
        sections.append(out.maps(dx, "dL/dX"))
        payload["grad"] = {"grad_input": dx}
        save = {"output": y, "grad_input": dx}
    out.finish(run.header, sections, payload, save)
