"""``cnncli dropout``: inverted dropout (train) or the identity (eval), as PyTorch."""

from typing import Annotated, Any

import typer

from cnncli.cli import options as opt
from cnncli.cli.core import begin
from cnncli.cli.main import app
from cnncli.errors import ParameterError


@app.command(
    rich_help_panel="Tensor ops",
    epilog=opt.examples(
        "cnncli dropout --p 0.5 --seed 1  # which units are dropped, the scale",
        "cnncli dropout samples/digit8.png --p 0.2 --show stats",
        "cnncli dropout --eval  # eval mode passes the input through",
    ),
)
def dropout(
    ctx: typer.Context,
    input: opt.InputArg = None,
    p: Annotated[float, typer.Option("--p", help="Probability that a unit is dropped.")] = 0.5,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the random mask.")] = 0,
    train: Annotated[
        bool, typer.Option("--train/--eval", help="Train mode drops units; eval passes through.")
    ] = True,
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
    """Drop units at random with probability p and scale the rest by 1/(1−p)."""
    import numpy as np

    from cnncli import engine
    from cnncli.render.format import fmt_shape

    if not 0.0 <= p <= 1.0:
        raise ParameterError(f"--p must be between 0 and 1, got {p}")
    run = begin(ctx)
    x, out, header = run.x, run.out, run.header
    run.out.keeps_channels = True  # a .png of an RGB image's result stays in colour
    gen = np.random.default_rng(seed)
    y, mask = engine.dropout(x, p=p, training=train, generator=gen, return_mask=True)
    kept = np.ones(x.shape, dtype=bool) if mask is None else np.asarray(mask).astype(bool)
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
    payload = run.base_payload("dropout", {"p": p, "training": train, "seed": seed}, y)
    payload["mask"] = kept.astype(np.int8)
    out.finish(header, sections, payload, y)
