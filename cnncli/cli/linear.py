"""``cnncli linear``: the seed's fully connected layer, Y = W·X + b, on a flattened input."""

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cnncli.cli import common as cm
from cnncli.cli.main import app
from cnncli.errors import ParameterError, ShapeError

if TYPE_CHECKING:
    import numpy as np

#: A 1-D bias/weight .npy larger than this is refused before reading.
MAX_VECTOR_BYTES = 64 * 1024 * 1024


@app.command(rich_help_panel="Tensor ops")
def linear(
    input: cm.InputArg = None,
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
    """Flatten the input and apply a fully connected layer: Y = W·X + b."""
    import numpy as np

    from cnncli import engine
    from cnncli.render.format import fmt_shape
    from cnncli.render.header import Header

    out = cm.Output(
        show, channels, json_, output, png_scale, inputs=[input or "", weight or "", bias or ""]
    )
    loaded, x4, notes = cm.load_input(
        input, default="seed", layout=layout, key=key, gray=gray, scale=scale,
        dtype=dtype, allow_nonfinite=allow_nonfinite,
    )  # fmt: skip
    N = x4.shape[0]
    X = engine.flatten(x4, 1, -1)  # (N, D)
    D = X.shape[1]
    if weight is not None:
        if out_features is not None:
            raise ParameterError("give either -w FILE or --out N, not both")
        w = _load_matrix(weight, "weight", x4.dtype, notes)
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
        cm.check_memory(F * D + F + N * F, x4.itemsize, max_memory, "this linear layer")
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(D)
        w = rng.uniform(-bound, bound, size=(F, D)).astype(x4.dtype)
        b = rng.uniform(-bound, bound, size=(F,)).astype(x4.dtype)
        origin = f"random, seed {seed}: W, b ~ U(−1/√{D}, 1/√{D}) (PyTorch's default init)"
    F = w.shape[0]
    if bias is not None:
        values = (
            np.asarray(cm.parse_floats(bias, "--bias"))
            if cm.looks_numeric(bias)
            else _load_matrix(bias, "bias", x4.dtype, notes).ravel()
        )
        if values.size not in (1, F):
            raise ShapeError(f"bias has {values.size} values but the layer has {F} outputs")
        b = np.broadcast_to(values, (F,)).astype(x4.dtype)
    y = engine.linear(X, w, b)

    header = Header(notes=notes)
    header.add("input", cm.describe_input(loaded, x4))
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
        "input": {"source": str(loaded.source), "shape": x4.shape, "flattened": X.shape},
        "weight": w,
        "bias": b,
        "output": {"shape": y.shape, "values": y},
    }
    save: Any = y
    if grad is not None:
        dy = cm.load_grad(grad, y.shape, x4.dtype, input, notes)
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


def _load_matrix(path: str, what: str, dtype: Any, notes: list[str]) -> "np.ndarray":
    """A weight (out, in) or bias file; a 1-D .npy vector (PyTorch's bias) is accepted too.

    Conversions (integers, bools, float64) are appended to ``notes``.
    """
    import numpy as np

    from cnncli import io as cio
    from cnncli.errors import InputFileError
    from cnncli.io.common import to_float

    name = np.dtype(dtype).name
    try:
        converted: list[str] = []
        arr = np.asarray(cio.load_kernel_file(path, dtype=name, notes=converted))
        notes += [f"{what} {os.path.basename(path)}: {n}" for n in converted]
        return arr
    except InputFileError as exc:
        if not (path.lower().endswith(".npy") and "1-D array" in exc.message):
            raise
    # io refuses 1-D arrays (no image is 1-D); read this one without pickles, size-checked.
    if os.path.getsize(path) > MAX_VECTOR_BYTES:
        raise InputFileError(f"{path}: larger than {MAX_VECTOR_BYTES:,} bytes for a {what} vector")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read the {what}: {exc}") from None
    if arr.dtype.kind not in "fiub" or arr.ndim != 1 or arr.size == 0:
        raise InputFileError(f"{path}: the {what} must be numbers, got {arr.dtype} {arr.shape}")
    converted = []
    out = to_float(arr, np.dtype(name), path, converted)
    notes += [f"{what} {os.path.basename(path)}: {n}" for n in converted]
    if not np.isfinite(out).all():
        raise InputFileError(f"{path}: the {what} holds NaN or infinity")
    return out
