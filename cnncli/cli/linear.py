"""``cnncli linear``: the seed's fully connected layer, Y = W·X + b, on a flattened input."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cnncli.cli import options as opt
from cnncli.cli.argtypes import looks_numeric, parse_floats
from cnncli.cli.core import begin, check_memory
from cnncli.cli.main import app
from cnncli.errors import ParameterError, ShapeError

if TYPE_CHECKING:
    import numpy as np

    from cnncli.render.header import Header


@app.command(
    rich_help_panel="Tensor ops",
    epilog=opt.examples(
        "cnncli linear --out 3 --seed 0  # a seeded random layer, 16 → 3",
        "cnncli linear samples/seed_pool.csv --out 2 -b 0.5,-0.5 --grad ones",
    ),
)
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
    region: opt.RegionOpt = None,
    json_: opt.JsonOpt = False,
    output: opt.OutputOpt = None,
    png_scale: opt.PngScaleOpt = "minmax",
) -> None:
    """Flatten the input and apply a fully connected layer: Y = W·X + b."""
    import numpy as np

    from cnncli import engine

    run = begin(ctx, files=[weight, bias])
    x4, out, notes = run.x, run.out, run.notes
    X = engine.flatten(x4, 1, -1)  # (N, D)
    if weight is not None:
        if out_features is not None:
            raise ParameterError("give either -w FILE or --out N, not both")
        w, b, origin = _file_weight(weight, X, notes), None, f"weight from {weight}"
    else:
        w, b, origin = _random_layer(out_features, seed, X, notes, max_memory)
    if bias is not None:
        b = _bias(bias, w.shape[0], x4.dtype, notes)
    y = engine.linear(X, w, b)
    _describe(run.header, x4.shape, X.shape, w.shape, b, origin, y.shape)
    sections: list[Any] = [
        out.maps(w[None, None], "weight W", follow_picks=False),
        out.maps(np.asarray(b), "bias b") if b is not None else None,
        out.maps(y, "output Y"),
    ]
    parameters = {
        "in_features": X.shape[1],
        "out_features": w.shape[0],
        "bias": b is not None,
        "seed": None if weight is not None else seed,
    }
    payload = run.base_payload("linear", parameters, y, weight=w, bias=b)
    payload["input"]["flattened"] = X.shape
    save: Any = y
    if grad is not None:
        dX, dw, db = engine.linear_backward(run.grad(grad, y.shape), X, w, bias=b is not None)
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
    out.finish(run.header, sections, payload, save)


def _file_weight(path: str, X: "np.ndarray", notes: list[str]) -> "np.ndarray":
    """``-w FILE``: a weight (out, in) whose ``in`` is the flattened input's D."""
    from cnncli.io.inputs import load_matrix

    D = X.shape[1]
    w = load_matrix(path, "weight", X.dtype, notes)
    if w.ndim == 1:
        w = w[None]
    if w.ndim != 2 or w.shape[1] != D:
        raise ShapeError(
            f"weight {path} has shape {w.shape} but the flattened input needs (out, {D})"
        )
    return w


def _random_layer(
    out_features: int | None, seed: int, X: "np.ndarray", notes: list[str], max_memory: str | None
) -> "tuple[np.ndarray, np.ndarray, str]":
    """A seeded layer as PyTorch initialises one: W, b ~ U(−1/√D, 1/√D); and where it came from."""
    import numpy as np

    N, D = X.shape
    F = 3 if out_features is None else out_features
    if F < 1:
        raise ParameterError(f"--out must be at least 1, got {F}")
    if out_features is None:
        notes.append(f"no -w given: a random layer with --out {F} --seed {seed}")
    # W (F, D), b (F,) and Y (N, F), refused before the weight is drawn
    check_memory((F * D + F + N * F) * X.itemsize, max_memory, "this linear layer")
    rng = np.random.default_rng(seed)
    bound = 1.0 / np.sqrt(D)
    w = rng.uniform(-bound, bound, size=(F, D)).astype(X.dtype)
    b = rng.uniform(-bound, bound, size=(F,)).astype(X.dtype)
    return w, b, f"random, seed {seed}: W, b ~ U(−1/√{D}, 1/√{D}) (PyTorch's default init)"


def _bias(text: str, F: int, dtype: Any, notes: list[str]) -> "np.ndarray":
    """``-b``: values ('0.1,-0.2') or a file, one value for every output or one per output."""
    import numpy as np

    from cnncli.io.inputs import load_matrix

    values = (
        np.asarray(parse_floats(text, "--bias"))
        if looks_numeric(text)
        else load_matrix(text, "bias", dtype, notes).ravel()
    )
    if values.size not in (1, F):
        raise ShapeError(f"bias has {values.size} values but the layer has {F} outputs")
    return np.broadcast_to(values, (F,)).astype(dtype)


def _describe(
    header: "Header",
    x_shape: tuple[int, ...],
    X_shape: tuple[int, ...],
    w_shape: tuple[int, ...],
    b: "np.ndarray | None",
    origin: str,
    y_shape: tuple[int, ...],
) -> None:
    """The header's op lines (flatten, then Y = W·X + b) and output line."""
    from cnncli.render.format import fmt_shape

    N, D = X_shape
    F = w_shape[0]
    header.add(
        "op",
        f"flatten {fmt_shape(x_shape)} → X {fmt_shape(X_shape)}, then linear: Y = X·Wᵀ + b "
        f"(per item: Y = W·X + b)",
        f"W {fmt_shape(w_shape)} (out, in), {origin}",
        f"b {'none' if b is None else fmt_shape(b.shape)}",
    )
    header.add(
        "output",
        f"Y {fmt_shape(y_shape)}: W ({F}×{D}) · X ({D}) "
        + ("" if b is None else f"+ b ({F}) ")
        + f"= Y ({F}) for each of {N} item(s)",
    )
