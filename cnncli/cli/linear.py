"""``cnncli linear``: the seed's fully connected layer, Y = W·X + b, on a flattened input."""

from typing import Annotated, Any

import typer

from cnncli.cli import options as opt
from cnncli.cli.argtypes import looks_numeric, parse_floats
from cnncli.cli.core import begin, check_memory
from cnncli.cli.main import app
from cnncli.errors import ParameterError, ShapeError


@app.command(rich_help_panel="Tensor ops")
def linear(
    ctx: typer.Context,
    input: opt.InputArg = None,
    weight: Annotated[
        str | None,
        typer.Option("-w", "--weight", help="Weight file (out, in): .npy .csv .txt .json."),
    ] = None,
    bias: Annotated[
        str | None,
        typer.Option("-b", "--bias", help="Bias file (out,) or values '0.1,-0.2'."),
    ] = None,
    out_features: Annotated[
        int | None,
        typer.Option("--out", help="Without -w: a seeded random layer with this many outputs (3)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the random layer.")] = 0,
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
    json_: opt.JsonOpt = False,
    output: opt.OutputOpt = None,
    png_scale: opt.PngScaleOpt = "minmax",
) -> None:
    """Flatten the input and apply a fully connected layer: Y = W·X + b."""
    import numpy as np

    from cnncli import engine
    from cnncli.io.inputs import load_matrix
    from cnncli.render.format import fmt_shape

    run = begin(ctx, files=[weight, bias])
    x4, out, header, notes = run.x, run.out, run.header, run.notes
    N = x4.shape[0]
    X = engine.flatten(x4, 1, -1)  # (N, D)
    D = X.shape[1]
    if weight is not None:
        if out_features is not None:
            raise ParameterError("give either -w FILE or --out N, not both")
        w = load_matrix(weight, "weight", x4.dtype, notes)
        if w.ndim == 1:
            w = w[None]
        if w.ndim != 2 or w.shape[1] != D:
            raise ShapeError(
                f"weight {weight} has shape {w.shape} but the flattened input needs (out, {D})"
            )
        b = None
        origin = f"weight from {weight}"
    else:
        F = 3 if out_features is None else out_features
        if F < 1:
            raise ParameterError(f"--out must be at least 1, got {F}")
        if out_features is None:
            notes.append(f"no -w given: a random layer with --out {F} --seed {seed}")
        # W (F, D), b (F,) and Y (N, F), refused before the weight is drawn
        check_memory(F * D + F + N * F, x4.itemsize, max_memory, "this linear layer")
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(D)
        w = rng.uniform(-bound, bound, size=(F, D)).astype(x4.dtype)
        b = rng.uniform(-bound, bound, size=(F,)).astype(x4.dtype)
        origin = f"random, seed {seed}: W, b ~ U(−1/√{D}, 1/√{D}) (PyTorch's default init)"
    F = w.shape[0]
    if bias is not None:
        values = (
            np.asarray(parse_floats(bias, "--bias"))
            if looks_numeric(bias)
            else load_matrix(bias, "bias", x4.dtype, notes).ravel()
        )
        if values.size not in (1, F):
            raise ShapeError(f"bias has {values.size} values but the layer has {F} outputs")
        b = np.broadcast_to(values, (F,)).astype(x4.dtype)
    y = engine.linear(X, w, b)

    header.add(
        "op",
        f"flatten {fmt_shape(x4.shape)} → X {fmt_shape(X.shape)}, then linear: Y = X·Wᵀ + b "
        f"(per item: Y = W·X + b)",
        f"W {fmt_shape(w.shape)} (out, in), {origin}",
        f"b {'none' if b is None else fmt_shape(b.shape)}",
    )
    header.add(
        "output",
        f"Y {fmt_shape(y.shape)}: W ({F}×{D}) · X ({D}) "
        + ("" if b is None else f"+ b ({F}) ")
        + f"= Y ({F}) for each of {N} item(s)",
    )
    sections: list[Any] = [
        out.maps(w[None, None], "weight W", follow_picks=False),
        out.maps(np.asarray(b), "bias b") if b is not None else None,
        out.maps(y, "output Y"),
    ]
    payload: dict[str, Any] = {
        "op": "linear",
        "parameters": {
            "in_features": D,
            "out_features": F,
            "bias": b is not None,
            "seed": None if weight is not None else seed,
        },
        "input": {"source": str(run.loaded.source), "shape": x4.shape, "flattened": X.shape},
        "weight": w,
        "bias": b,
        "output": {"shape": y.shape, "values": y},
    }
    save: Any = y
    if grad is not None:
        dy = run.grad(grad, y.shape)
        dX, dw, db = engine.linear_backward(dy, X, w, bias=b is not None)
        dx = dX.reshape(x4.shape)
        sections += [
            out.maps(dx, "dL/dX"),
            out.maps(dw[None, None], "dL/dW", follow_picks=False),
            out.maps(np.asarray(db), "dL/db") if db is not None else None,
        ]
        payload["grad"] = {"grad_input": dx, "grad_weight": dw, "grad_bias": db}
        save = {"output": y, "grad_input": dx, "grad_weight": dw}
        if db is not None:
            save["grad_bias"] = db
    out.finish(header, sections, payload, save)
