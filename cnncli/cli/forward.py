"""``cnncli forward [INPUT] -m MODEL|SPEC``: run a whole network, layer by layer."""

from pathlib import Path
from typing import Annotated, Any

import typer

from cnncli.cli import options as opt
from cnncli.cli.main import app
from cnncli.cli.output import jsonable


@app.command(
    rich_help_panel="Whole networks",
    epilog=opt.examples(
        "cnncli forward -m lenet5  # a seeded random input, random weights",
        "cnncli forward samples/digit8.png -m lenet5 --top 3",
        "cnncli forward -m samples/tinyvgg.toml --batch 2",
    ),
)
def forward(
    model: opt.ModelOpt,
    source: Annotated[
        str | None,
        typer.Argument(
            metavar="INPUT",
            help="An image or a .npy tensor (default: a seeded random normal input).",
        ),
    ] = None,
    input_size: opt.InputSizeOpt = None,
    batch: opt.BatchOpt = 1,
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, help="Seed of the random input and of the initial weights."),
    ] = 0,
    weights: opt.WeightsOpt = None,
    normalize: Annotated[
        str,
        typer.Option("--normalize", help="Normalise an image input: imagenet (mean/std) or none."),
    ] = "none",
    resize_to: Annotated[
        int | None,
        typer.Option(
            "--resize",
            min=0,
            help="Resize an image's shorter side to N, keeping its aspect ratio, as torchvision's "
            "Resize(N); 0: off. Default: 256 for models with 3x224x224 inputs, else off.",
        ),
    ] = None,
    crop_to: Annotated[
        int | None,
        typer.Option(
            "--crop",
            min=0,
            help="Cut the central NxN of an image (after --resize), as torchvision's "
            "CenterCrop(N); 0: off. Default: 224 for models with 3x224x224 inputs, else off.",
        ),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="Show the top K classes (0: none).")] = 5,
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="A text file with one class name per line."),
    ] = None,
    save_maps: Annotated[
        Path | None,
        typer.Option(
            "--save-maps",
            help="Write each conv and pool layer's feature maps (sample 0) as a titled PNG "
            "grid here, plus index.json.",
            rich_help_panel=opt.OUTPUT_PANEL,
        ),
    ] = None,
    max_channels: Annotated[
        int | None,
        typer.Option(
            "--max-channels",
            min=1,
            help="--save-maps: draw the first N channels of each layer.  \\[default: all, "
            "at most 512]",
            rich_help_panel=opt.OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    maps_layers: Annotated[
        str,
        typer.Option(
            "--maps-layers",
            help="--save-maps: the layer kinds to draw, from conv, pool, act (ReLU, …), "
            "norm, or all.",
            rich_help_panel=opt.OUTPUT_PANEL,
        ),
    ] = "conv,pool",
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="FILE.npy: the final output; FILE.npz: every layer's output.",
            rich_help_panel=opt.OUTPUT_PANEL,
        ),
    ] = None,
    as_json: opt.JsonOpt = False,
    max_memory: opt.MaxMemoryOpt = None,
) -> None:
    """Run a network forward and show every layer's output (shape, range, zeros, time)."""
    import json
    import sys

    import numpy as np

    from cnncli.errors import ParameterError, ShapeError, SpecError
    from cnncli.io import check_output_path
    from cnncli.io import network as files
    from cnncli.nn import resources
    from cnncli.nn.run import run_forward, top_k
    from cnncli.nn.spec import load_model, parse_input_shape
    from cnncli.nn.summary import summarize

    if normalize not in files.NORMALIZE:
        raise ParameterError(f"--normalize must be imagenet or none, got {normalize!r}")
    kinds = _map_kinds(maps_layers)
    inputs = [source, weights, labels, model]
    if output is not None:
        check_output_path(output, inputs)
    limit = resources.parse_size(max_memory) if max_memory else resources.default_limit()
    override = parse_input_shape(input_size) if input_size else None
    net, declared = load_model(model, override)
    chw = override or declared
    if chw is None:
        raise SpecError(
            f"{model}: no input size; give --input CxHxW or input = [C, H, W] in the spec"
        )
    notes: list[str] = []
    x: Any = None
    shape: tuple[int, ...] = (batch, *chw)
    if source is not None:
        x, notes = files.load_model_input(
            source, chw, normalize, limit, resize_to=resize_to, crop_to=crop_to
        )
        shape = tuple(int(s) for s in x.shape)
        if batch != 1:
            notes.append(f"--batch {batch} is ignored: the input file sets the batch ({shape[0]})")
    # Everything above is shape arithmetic: refuse what would not fit before allocating.
    summary = summarize(net, shape)
    resources.check_memory(resources.estimate(net, summary), limit, f"{net.title} on input {shape}")
    if summary.failure is not None:
        f = summary.failure
        raise ShapeError(
            f"layer {f.name} ({f.type}) does not fit its input {tuple(f.input_shape)}: {f.message}",
            hint="; ".join(f.formulas) or f.hint,
        )
    label_names = None
    if labels is not None:
        label_names = files.read_labels(labels)
        classes = summary.output_shape
        if classes is not None and len(classes) == 2 and len(label_names) != classes[1]:
            raise ParameterError(
                f"--labels {labels.name}: {len(label_names)} lines (class names) "
                f"but the model has {classes[1]} classes",
                hint="give one class name per line, in the order of the model's outputs",
            )
    weight_note = _set_weights(net, weights, seed, limit, notes)
    if x is None:
        x = np.random.default_rng([seed, 1]).standard_normal(shape, dtype=np.float32)
        notes.append(f"input: random normal {shape}, float32, seed {seed} (as torch.randn)")
    net.eval()
    result = run_forward(net, x)
    out = result.output
    is_prob = result.is_probability
    top_rows = top_k(out, top, is_prob) if out.ndim == 2 and out.shape[1] > 1 and top > 0 else []
    from cnncli.cli.output import say_wrote

    written: list[tuple[Any, str]] = []  # said last, after the result
    if output is not None:
        written.append((output, files.save_outputs(output, out, result.records, inputs)))
    if save_maps is not None:
        written += files.save_maps(save_maps, result.records, max_channels, kinds)
        cut = [
            r.name
            for r in result.records
            if r.output.ndim == 4
            and files.map_kinds(r.type) & set(kinds)
            and r.output.shape[1] > (max_channels or files.DEFAULT_MAX_CHANNELS)
        ]
        if cut:
            notes.append(
                f"--save-maps drew the first {max_channels or files.DEFAULT_MAX_CHANNELS} "
                f"channels of {len(cut)} layer(s) with more ({', '.join(cut[:3])}"
                f"{', …' if len(cut) > 3 else ''}); --max-channels N chooses how many"
            )
    if as_json:
        data = _json(net, shape, weight_note, notes, result, top_rows, label_names)
        typer.echo(json.dumps(jsonable(data), indent=2, allow_nan=False))
    else:
        _show(
            net, x, result, notes, weight_note if weights is None else None, top_rows, label_names
        )
        sys.stdout.flush()
    for path, what in written:
        say_wrote(path, what)


def _map_kinds(text: str) -> tuple[str, ...]:
    """``--maps-layers conv,pool,act`` → the kinds; ``all`` is every kind."""
    from cnncli.errors import ParameterError
    from cnncli.io.network import MAP_KINDS

    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    if "all" in words:
        return tuple(MAP_KINDS)
    bad = [w for w in words if w not in MAP_KINDS]
    if bad or not words:
        raise ParameterError(
            f"--maps-layers takes {', '.join(MAP_KINDS)} or all (comma-separated), got {text!r}"
        )
    return tuple(dict.fromkeys(words))


def _set_weights(net: Any, weights: Path | None, seed: int, limit: int, notes: list[str]) -> str:
    """Load ``-w`` into the network, or initialise it from ``seed``; say which."""
    if weights is None:
        from cnncli.nn.layers import initialize

        initialize(net, seed)
        return (
            f"weights are random (PyTorch's default initialisation, seed {seed}): "
            "the outputs are not predictions; load trained ones with -w FILE.npz"
        )
    from cnncli.nn.weights import load_weights

    state = load_weights(weights, limit)
    net.load_state_dict(state)
    kinds = sorted(
        {str(v.dtype) for k, v in state.items() if not k.endswith("num_batches_tracked")}
    )
    if kinds != ["float32"]:
        notes.append(f"weights converted from {', '.join(kinds)} to float32")
    return f"weights from {weights.name}"


def _json(
    net: Any,
    shape: tuple[int, ...],
    weight_note: str,
    notes: list[str],
    result: Any,
    top_rows: list[list[tuple[int, float]]],
    label_names: list[str] | None,
) -> dict[str, Any]:
    """The ``--json`` object: the model, every layer's statistics and the top classes."""
    from cnncli.render.network import TOPK_SOURCE

    return {
        "model": net.title,
        "input_shape": list(shape),
        "output_shape": list(result.output.shape),
        "architecture": repr(net),
        "weights": weight_note,
        "notes": notes,
        "seconds": result.seconds,
        "layers": [
            {
                "name": r.name,
                "type": r.type,
                "output_shape": list(r.output.shape),
                **r.stats,
                "seconds": r.seconds,
            }
            for r in result.records
        ],
        "top_values": TOPK_SOURCE[result.is_probability],
        "top": [
            [
                {
                    "index": i,
                    "probability": p,
                    **({"label": label_names[i]} if label_names and i < len(label_names) else {}),
                }
                for i, p in rows
            ]
            for rows in top_rows
        ],
    }


def _show(
    net: Any,
    x: Any,
    result: Any,
    notes: list[str],
    random_weights: str | None,
    top_rows: list[list[tuple[int, float]]],
    label_names: list[str] | None,
) -> None:
    """Notes on stderr; the architecture, the layer table, the output and top classes on stdout."""
    from rich.markup import escape
    from rich.text import Text

    from cnncli.errors import one_line
    from cnncli.nn.run import ForwardRecord
    from cnncli.render.console import make_console
    from cnncli.render.network import architecture, forward_table, topk_table

    console = make_console()
    err = make_console(stderr=True)
    for note in notes:
        err.print(Text(f"note: {note}"))
    if random_weights is not None:
        err.print(Text(f"note: {random_weights}", style="yellow"))
    console.print(architecture(net))
    rows = [ForwardRecord("input", "", x, 0.0), *result.records]
    title = f"Forward pass of {escape(one_line(net.title))}, eval mode"  # the spec's name is text
    console.print(forward_table(rows, title, console.width))
    console.print(Text(f"output shape: {tuple(result.output.shape)}", style="bold"))
    console.print(Text(f"total time: {1000 * result.seconds:.1f} ms"))
    if top_rows:
        console.print(topk_table(top_rows, label_names, result.is_probability))
