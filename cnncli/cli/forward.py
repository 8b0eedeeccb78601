"""``cnncli forward [INPUT] -m MODEL|SPEC``: run a whole network, layer by layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cnncli.cli.main import app


@app.command(rich_help_panel="Whole networks")
def forward(
    source: str | None = typer.Argument(
        None, metavar="[INPUT]", help="An image or a .npy tensor (default: a seeded random normal input)."
    ),
    model: str = typer.Option(..., "--model", "-m", help="A built-in model or a .toml/.json spec."),
    input_size: str | None = typer.Option(
        None, "--input", "-i", help="Input size CxHxW (default: the model's own)."
    ),
    batch: int = typer.Option(1, "--batch", "-b", min=1, help="Batch size of the random input."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of the random input and of the initial weights."),
    weights: Path | None = typer.Option(
        None, "--weights", "-w", help="Weights: .npz or .safetensors keyed by PyTorch state_dict names."
    ),
    normalize: str = typer.Option(
        "none", "--normalize", help="Normalise an image input: imagenet (mean/std) or none."
    ),
    top: int = typer.Option(5, "--top", "-k", min=0, help="Show the top K classes (0: none)."),
    labels: Path | None = typer.Option(None, "--labels", help="A text file with one class name per line."),
    save_maps: Path | None = typer.Option(
        None, "--save-maps", help="Write every conv and pool layer's feature maps as PNG grids here."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="FILE.npy: the final output; FILE.npz: every layer's output."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    max_memory: str | None = typer.Option(
        None, "--max-memory", help="Refuse runs that would need more memory (default: half of what is free)."
    ),
) -> None:
    """Run a network forward and show every layer's output (shape, range, zeros, time)."""
    import json

    import numpy as np

    from cnncli.errors import ParameterError, ShapeError, SpecError
    from cnncli.nn import resources
    from cnncli.nn.layers import initialize
    from cnncli.nn.run import run_forward
    from cnncli.nn.spec import load_model, parse_input_shape
    from cnncli.nn.summary import summarize
    from cnncli.render.console import make_console

    if normalize not in ("imagenet", "none"):
        raise ParameterError(f"--normalize must be imagenet or none, got {normalize!r}")
    limit = resources.parse_size(max_memory) if max_memory else resources.default_limit()
    override = parse_input_shape(input_size) if input_size else None
    net, declared = load_model(model, override)
    chw = override or declared
    notes: list[str] = []
    x: Any = None
    if source is not None:
        if chw is None:
            raise SpecError(f"{model}: no input size; give --input CxHxW or input = [C, H, W] in the spec")
        x, notes = _load_input(source, chw, normalize, limit)
        shape = tuple(int(s) for s in x.shape)
    else:
        if chw is None:
            raise SpecError(f"{model}: no input size; give --input CxHxW or input = [C, H, W] in the spec")
        shape = (batch, *chw)
    # Everything above is shape arithmetic: refuse what would not fit before allocating.
    summary = summarize(net, shape)
    resources.check_memory(resources.estimate(net, summary), limit, f"{net.title} on input {shape}")
    if summary.failure is not None:
        f = summary.failure
        raise ShapeError(
            f"layer {f.name} ({f.type}) does not fit its input {tuple(f.input_shape)}: {f.message}",
            hint="; ".join(f.formulas) or f.hint,
        )
    if weights is not None:
        from cnncli.nn.weights import load_weights

        net.load_state_dict(load_weights(weights, limit))
        weight_note = f"weights from {weights.name}"
    else:
        initialize(net, seed)
        weight_note = (
            f"weights are random (PyTorch's default initialisation, seed {seed}): "
            "the outputs are not predictions; load trained ones with -w FILE.npz"
        )
    if x is None:
        rng = np.random.default_rng([seed, 1])
        x = rng.standard_normal(shape, dtype=np.float32)
        notes.append(f"input: random normal {shape}, float32, seed {seed} (as torch.randn)")
    net.eval()
    result = run_forward(net, x)
    out = result.output
    label_names = _read_labels(labels) if labels is not None else None
    top_rows = _top_k(out, top) if out.ndim == 2 and out.shape[1] > 1 and top > 0 else []

    if output is not None:
        _save_output(output, result, source)
    if save_maps is not None:
        _save_maps(save_maps, result)

    if as_json:
        data = {
            "model": net.title,
            "input_shape": list(shape),
            "output_shape": list(out.shape),
            "weights": weight_note,
            "notes": notes,
            "seconds": result.seconds,
            "layers": [
                {"name": r.name, "type": r.type, "output_shape": list(r.output.shape), **r.stats, "seconds": r.seconds}
                for r in result.records
            ],
            "top": [
                [
                    {"index": i, "probability": p, **({"label": label_names[i]} if label_names and i < len(label_names) else {})}
                    for i, p in rows
                ]
                for rows in top_rows
            ],
        }
        typer.echo(json.dumps(data, indent=2, allow_nan=False, default=_json_default))
        return

    from rich.text import Text

    from cnncli.render.network import architecture, forward_table, topk_table

    console = make_console()
    err = make_console(stderr=True)
    for note in notes:
        err.print(Text(f"note: {note}"))
    if weights is None:
        err.print(Text(f"note: {weight_note}", style="yellow"))
    console.print(architecture(net))
    console.print(forward_table(result.records, f"Forward pass of {net.title}, eval mode"))
    console.print(Text(f"output shape: {tuple(out.shape)}", style="bold"))
    console.print(Text(f"total time: {1000 * result.seconds:.1f} ms"))
    if top_rows:
        console.print(topk_table(top_rows, label_names))


def _json_default(value: object) -> object:
    return None


def _top_k(out: Any, k: int) -> list[list[tuple[int, float]]]:
    from cnncli.engine.activations import softmax

    probs = softmax(out.astype("float64"), 1)
    k = min(k, out.shape[1])
    rows = []
    for n in range(out.shape[0]):
        order = sorted(range(out.shape[1]), key=lambda i: (-probs[n, i], i))[:k]
        rows.append([(int(i), float(probs[n, i])) for i in order])
    return rows


def _read_labels(path: Path) -> list[str]:
    from cnncli.errors import InputFileError

    try:
        if path.stat().st_size > 10_000_000:
            raise InputFileError(f"labels file {path.name!r} is larger than 10 MB")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputFileError(f"cannot read labels {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputFileError(f"labels file {path.name!r} is not UTF-8 text") from None
    return [line.strip() for line in text.splitlines()]


def _load_input(source: str, chw: tuple[int, int, int], normalize: str, limit: int) -> tuple[Any, list[str]]:
    """Load an image (converted, resized, scaled, normalised) or a .npy tensor as NCHW float32."""
    raise NotImplementedError  # replaced once cnncli.io lands


def _save_output(path: Path, result: Any, source: str | None) -> None:
    raise NotImplementedError  # replaced once cnncli.io lands


def _save_maps(folder: Path, result: Any) -> None:
    raise NotImplementedError  # replaced once cnncli.io lands
