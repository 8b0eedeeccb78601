"""``cnncli dropout``: inverted dropout (train) or the identity (eval), as PyTorch."""

from typing import Annotated, Any

import typer

from cnncli.cli import common as cm
from cnncli.cli.main import app
from cnncli.errors import ParameterError


@app.command(rich_help_panel="Tensor ops")
def dropout(
    input: cm.InputArg = None,
    p: Annotated[
        float, typer.Option("-p", "--p", help="Probability that a unit is dropped.")
    ] = 0.5,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the random mask.")] = 0,
    train: Annotated[
        bool, typer.Option("--train/--eval", help="Train mode drops units; eval passes through.")
    ] = True,
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
    """Drop units at random with probability p and scale the rest by 1/(1−p)."""
    import numpy as np

    from cnncli import engine
    from cnncli.render.format import fmt_shape
    from cnncli.render.header import Header

    if not 0.0 <= p <= 1.0:
        raise ParameterError(f"-p must be between 0 and 1, got {p}")
    out = cm.Output(show, channels, json_, output, png_scale, inputs=[input or ""])
    loaded, x, notes = cm.load_input(
        input, default="seed", layout=layout, key=key, gray=gray, scale=scale,
        dtype=dtype, allow_nonfinite=allow_nonfinite,
    )  # fmt: skip
    gen = np.random.default_rng(seed)
    y, mask = engine.dropout(x, p=p, training=train, generator=gen, return_mask=True)
    kept = np.ones(x.shape, dtype=bool) if mask is None else np.asarray(mask).astype(bool)
    header = Header(notes=notes)
    header.add("input", cm.describe_input(loaded, x))
    if train:
        dropped = int(kept.size - kept.sum())
        factor = "0 (every unit dropped)" if p >= 1 else f"1/(1 − {p:g}) = {1 / (1 - p):.6g}"
        header.add(
            "op",
            f"dropout  p {p:g}  train mode  seed {seed}",
            f"P(unit → 0) = {p:g}; kept units × {factor}",
        )
        header.add(
            "output",
            f"{fmt_shape(y.shape)}  dropped {dropped} of {kept.size} units "
            f"({100.0 * dropped / kept.size:.1f}%)",
        )
    else:
        header.add("op", f"dropout  p {p:g}  eval mode: the input passes through unchanged")
        header.add("output", f"{fmt_shape(y.shape)} (equal to the input)")
    sections: list[Any] = []
    if train:
        sections.append(out.maps(kept.astype(x.dtype), "kept (1) / dropped (0)"))
    sections.append(out.maps(y, "output"))
    payload: dict[str, Any] = {
        "op": "dropout",
        "parameters": {"p": p, "training": train, "seed": seed},
        "input": {"source": str(loaded.source), "shape": x.shape},
        "output": {"shape": y.shape, "values": y},
        "mask": kept.astype(np.int8),
    }
    out.finish(header, sections, payload, y)
