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
    show_layer: Annotated[
        list[str] | None,
        typer.Option(
            "--show-layer",
            metavar="NAME",
            help="Show this layer's output maps (a name from the layer table, e.g. features.0; "
            "repeat or comma-separate for several), as conv shows its maps. --show, --channels "
            "and --region apply to them.",
            rich_help_panel=opt.OUTPUT_PANEL,
            show_default=False,
        ),
    ] = None,
    show: opt.ShowOpt = None,
    channels: opt.ChannelsOpt = None,
    region: opt.RegionOpt = None,
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
    from cnncli.nn.spec import load_model
    from cnncli.nn.summary import summarize

    if normalize not in files.NORMALIZE:
        raise ParameterError(f"--normalize must be imagenet or none, got {normalize!r}")
    kinds = _map_kinds(maps_layers)
    inputs = [source, weights, labels, model]
    if output is not None:
        check_output_path(output, inputs)
    limit = resources.parse_size(max_memory) if max_memory else resources.default_limit()
    override = _input_size(input_size, model) if input_size else None
    wanted = _wanted_layers(show_layer)
    maps_out = _maps_output(wanted, show, channels, region, as_json, max_memory)
    net, declared = load_model(model, override)
    _check_layer_names(wanted, net)
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
            source, chw, normalize, limit, resize_to=resize_to, crop_to=crop_to,
            digit=_prepares(model) == "mnist-digit",
        )  # fmt: skip
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
    if weights is None and (weights := _packaged(model)) is not None:  # a trained zoo entry
        notes.append(f"weights: the trained ones shipped with cnncli ({weights.name})")
    weight_note = _set_weights(net, weights, seed, limit, notes)
    if x is None:
        x = np.random.default_rng([seed, 1]).standard_normal(shape, dtype=np.float32)
        notes.append(f"input: random normal {shape}, float32, seed {seed} (as torch.randn)")
    net.eval()
    result = run_forward(net, x, blocks=set(wanted))
    out = result.output
    is_prob = result.is_probability
    top_rows = top_k(out, top, is_prob) if out.ndim == 2 and out.shape[1] > 1 and top > 0 else []
    shown = _pick_records(wanted, x, [*result.records, *result.blocks.values()], net.title)
    # Drawn before anything is printed or written: a --channels or --region that does not
    # fit a layer is one error, not half an output.
    sections = [_layer_maps(maps_out, r) for r in shown] if maps_out is not None else []
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
        if wanted:
            data["shown_layers"] = [
                {"name": r.name, "type": r.type, "shape": list(r.output.shape), "values": r.output}
                for r in shown
            ]
        typer.echo(json.dumps(jsonable(data), indent=2, allow_nan=False))
    else:
        _show(
            net,
            x,
            result,
            notes,
            weight_note if weights is None and not getattr(net, "weights_source", None) else None,
            top_rows,
            label_names,
            sections,
        )
        sys.stdout.flush()
    for path, what in written:
        say_wrote(path, what)


def _input_size(text: str, model: str) -> tuple[int, int, int]:
    """``--input CxHxW`` → (C, H, W); a file name there gets told where a file goes."""
    import os
    import re
    import shlex

    from cnncli.errors import ParameterError
    from cnncli.nn.spec import parse_input_shape

    try:
        return parse_input_shape(text)
    except ParameterError:
        looks_like_file = (
            text == "-"
            or "/" in text
            or "\\" in text
            or re.search(r"\.[A-Za-z][A-Za-z0-9]*$", text.strip()) is not None
            or os.path.exists(text)
        )
        if not looks_like_file:
            raise
        raise ParameterError(
            "--input takes a size such as 3x224x224; give the image as the first argument: "
            f"cnncli forward {shlex.quote(text)} -m {shlex.quote(model)}"
        ) from None


def _wanted_layers(texts: list[str] | None) -> list[str]:
    """``--show-layer a --show-layer b,c`` → [a, b, c], each once, in the order given."""
    from cnncli.errors import ParameterError

    names: list[str] = []
    for text in texts or []:
        words = [w.strip() for w in text.split(",")]
        if not any(words):
            raise ParameterError(
                f"--show-layer takes layer names from the layer table, e.g. features.0, "
                f"got {text!r}"
            )
        names += [w for w in words if w]
    return list(dict.fromkeys(names))


def _maps_output(
    wanted: list[str],
    show: str | None,
    channels: str | None,
    region: str | None,
    as_json: bool,
    max_memory: str | None,
) -> Any:
    """The :class:`Output` that draws the --show-layer maps (None without --show-layer)."""
    import sys

    from cnncli.cli.argtypes import parse_channels
    from cnncli.cli.output import Output
    from cnncli.errors import ParameterError

    if not wanted:
        given = [
            flag
            for flag, value in (("--show", show), ("--channels", channels), ("--region", region))
            if value is not None
        ]
        if given:
            verb = "chooses" if len(given) == 1 else "choose"
            raise ParameterError(
                f"{' and '.join(given)} {verb} how --show-layer draws a layer's maps; "
                "give --show-layer NAME too (a name from the layer table, e.g. features.0)"
            )
        return None
    if channels is not None:  # the syntax now; each index against each layer when drawn
        parse_channels(channels, sys.maxsize, sys.maxsize)
    out = Output(show, channels, as_json, max_memory=max_memory)
    out.set_region(region)
    return out


def _leaf_names(net: Any) -> list[str]:
    """The names :func:`cnncli.nn.run.run_forward` gives the layers it records."""
    return [path or layer.type_name for path, layer in net.named_modules() if layer.is_leaf]


def _check_layer_names(wanted: list[str], net: Any) -> None:
    """Refuse, before the forward pass, a --show-layer name the network does not have.

    ``NAME#2`` (a layer's second call, as torchvision's BasicBlock's ``relu``) is
    checked against the records after the pass. A block that joins parallel paths (a
    Concat, a Fire module, a residual block) may be named: its output is shown.
    """
    if not wanted:
        return
    leaves = _leaf_names(net)
    known = {"input", *leaves}
    blocks = {path: layer for path, layer in net.named_modules() if path and not layer.is_leaf}
    for name in wanted:
        base = name.split("#", 1)[0] if "#" in name else name
        if base in known:
            continue
        if name in blocks:
            from cnncli.errors import ParameterError
            from cnncli.nn.layers.flow import Block, first_join

            block = blocks[name]
            if isinstance(block, Block) and first_join(block.graph):
                continue  # its output (a concatenation, a sum, a product) is no layer's: shown
            inner = [n for n in leaves if n.startswith(name + ".")]
            raise ParameterError(
                f"--show-layer {name} is a block of {len(inner)} layers, not one layer; "
                f"give one of them: {_some(inner)}",
                hint="the last layer of a Sequential block gives the block's output",
            )
        raise _unknown_layer(name, ["input", *leaves], net.title)


def _pick_records(wanted: list[str], x: Any, records: list[Any], title: str) -> list[Any]:
    """The records of the --show-layer names, in the order given (``input``: the input)."""
    from cnncli.nn.run import ForwardRecord

    by_name = {"input": ForwardRecord("input", "", x, 0.0), **{r.name: r for r in records}}
    missing = [n for n in wanted if n not in by_name]
    if missing:
        raise _unknown_layer(missing[0], list(by_name), title)
    return [by_name[n] for n in wanted]


def _unknown_layer(name: str, names: list[str], title: str) -> Exception:
    """``--show-layer NAME: no such layer`` with the closest names (difflib)."""
    import difflib

    from cnncli.errors import ParameterError, one_line

    close = difflib.get_close_matches(name, names, n=4, cutoff=0.6)
    if not close:  # a near miss in case only ("Features.0") is still a near miss
        lower = {n.lower(): n for n in names}
        close = [lower[c] for c in difflib.get_close_matches(name.lower(), list(lower), n=4)]
    if close:
        return ParameterError(
            f"--show-layer {name}: no such layer in {one_line(title)}; closest: {', '.join(close)}"
        )
    return ParameterError(
        f"--show-layer {name}: no such layer in {one_line(title)}; its layers: {_some(names)}",
        hint="the names are the first column of forward's layer table (state_dict names)",
    )


def _some(names: list[str], limit: int = 6) -> str:
    """The first few ``names``, then how many in all."""
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[: limit - 1]) + f", …, {names[-1]} ({len(names)} in all)"


def _layer_maps(out: Any, record: Any) -> Any:
    """One layer's output as --show asks: maps (4-D) or vectors, as conv shows its output."""
    from cnncli.errors import CnncliError

    try:
        return out.maps(record.output, record.name)
    except CnncliError as exc:  # say which layer a --channels or --region did not fit
        if record.name in exc.message:
            raise
        raise type(exc)(f"{exc.message} (layer {record.name})", hint=exc.hint) from None


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


def _prepares(model: str) -> str | None:
    """How a trained zoo entry wants its image input prepared (None: as any other)."""
    from cnncli.nn import zoo
    from cnncli.nn.spec import is_spec_path

    entry = None if is_spec_path(model) else zoo.ZOO.get(model.lower())
    return entry.prepare if entry is not None else None


def _packaged(model: str) -> Path | None:
    from cnncli.nn import zoo
    from cnncli.nn.spec import is_spec_path

    return None if is_spec_path(model) else zoo.packaged_weights(model)


def _set_weights(net: Any, weights: Path | None, seed: int, limit: int, notes: list[str]) -> str:
    """Load ``-w`` into the network, or initialise it from ``seed``; say which."""
    if weights is None and getattr(net, "weights_source", None):  # an ONNX file brings its own
        notes.append(f"weights: the ones in {net.weights_source}")
        return f"weights from {net.weights_source}"
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
    sections: list[Any],
) -> None:
    """Notes on stderr; the architecture, the layer table, the --show-layer maps, the output
    and top classes on stdout."""
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
    drawn = [s for s in sections if s is not None]
    blank = False  # one empty line between the table, each layer's maps and the output
    for section in drawn:
        if not blank:
            console.print()
        console.print(section)
        blank = _ends_blank(section)
    if drawn and not blank:
        console.print()
    console.print(Text(f"output shape: {tuple(result.output.shape)}", style="bold"))
    console.print(Text(f"total time: {1000 * result.seconds:.1f} ms"))
    if top_rows:
        console.print(topk_table(top_rows, label_names, result.is_probability))


def _ends_blank(renderable: Any) -> bool:
    """Whether a (nested) Group of the map renderer ends with an empty line already."""
    from rich.console import Group
    from rich.text import Text

    while isinstance(renderable, Group) and renderable.renderables:
        renderable = renderable.renderables[-1]
    return isinstance(renderable, Text) and not renderable.plain.strip()
