"""``cnncli forward [INPUT] -m MODEL|SPEC``: run a whole network, layer by layer."""

import re
from pathlib import Path
from typing import Any

import typer

from cnncli.cli.main import app


@app.command(rich_help_panel="Whole networks")
def forward(
    source: str | None = typer.Argument(
        None,
        metavar="INPUT",
        help="An image or a .npy tensor (default: a seeded random normal input).",
    ),
    model: str = typer.Option(..., "--model", "-m", help="A built-in model or a .toml/.json spec."),
    input_size: str | None = typer.Option(
        None, "--input", "-i", help="Input size CxHxW (default: the model's own)."
    ),
    batch: int = typer.Option(1, "--batch", "-b", min=1, help="Batch size of the random input."),
    seed: int = typer.Option(
        0, "--seed", "-s", min=0, help="Seed of the random input and of the initial weights."
    ),
    weights: Path | None = typer.Option(
        None,
        "--weights",
        "-w",
        help="Weights: .npz or .safetensors keyed by PyTorch state_dict names.",
    ),
    normalize: str = typer.Option(
        "none", "--normalize", help="Normalise an image input: imagenet (mean/std) or none."
    ),
    top: int = typer.Option(5, "--top", "-k", min=0, help="Show the top K classes (0: none)."),
    labels: Path | None = typer.Option(
        None, "--labels", help="A text file with one class name per line."
    ),
    save_maps: Path | None = typer.Option(
        None,
        "--save-maps",
        help="Write every conv and pool layer's feature maps as PNG grids here.",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="FILE.npy: the final output; FILE.npz: every layer's output."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    max_memory: str | None = typer.Option(
        None,
        "--max-memory",
        help="Refuse runs that would need more memory (default: half of what is free).",
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
    if output is not None:
        from cnncli.io import check_output_path

        check_output_path(output, [source, weights, labels, model])
    limit = resources.parse_size(max_memory) if max_memory else resources.default_limit()
    override = parse_input_shape(input_size) if input_size else None
    net, declared = load_model(model, override)
    chw = override or declared
    notes: list[str] = []
    x: Any = None
    if source is not None:
        if chw is None:
            raise SpecError(
                f"{model}: no input size; give --input CxHxW or input = [C, H, W] in the spec"
            )
        x, notes = _load_input(source, chw, normalize, limit)
        shape = tuple(int(s) for s in x.shape)
        if batch != 1:
            notes.append(f"--batch {batch} is ignored: the input file sets the batch ({shape[0]})")
    else:
        if chw is None:
            raise SpecError(
                f"{model}: no input size; give --input CxHxW or input = [C, H, W] in the spec"
            )
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

        state = load_weights(weights, limit)
        net.load_state_dict(state)
        kinds = sorted(
            {str(v.dtype) for k, v in state.items() if not k.endswith("num_batches_tracked")}
        )
        if kinds != ["float32"]:
            notes.append(f"weights converted from {', '.join(kinds)} to float32")
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
        _save_output(output, result, [source, weights, labels, model])
    if save_maps is not None:
        _save_maps(save_maps, result)

    if as_json:
        data = {
            "model": net.title,
            "input_shape": list(shape),
            "output_shape": list(out.shape),
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
            "top": [
                [
                    {
                        "index": i,
                        "probability": p,
                        **(
                            {"label": label_names[i]}
                            if label_names and i < len(label_names)
                            else {}
                        ),
                    }
                    for i, p in rows
                ]
                for rows in top_rows
            ],
        }
        typer.echo(json.dumps(_finite(data), indent=2, allow_nan=False))
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
    from cnncli.nn.run import ForwardRecord

    rows = [ForwardRecord("input", "", x, 0.0), *result.records]
    from rich.markup import escape

    from cnncli.errors import one_line

    title = f"Forward pass of {escape(one_line(net.title))}, eval mode"  # the spec's name is text
    console.print(forward_table(rows, title))
    console.print(Text(f"output shape: {tuple(out.shape)}", style="bold"))
    console.print(Text(f"total time: {1000 * result.seconds:.1f} ms"))
    if top_rows:
        console.print(topk_table(top_rows, label_names))


def _finite(value: Any) -> Any:
    """NaN and ±inf (a diverging network) become null, so the JSON stays standard."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


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


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _load_input(
    source: str, chw: tuple[int, int, int], normalize: str, limit: int
) -> tuple[Any, list[str]]:
    """An image (channels converted, resized, scaled to 0–1, normalised) or a .npy tensor.

    Returns the NCHW float32 array and a note per step, to be printed.
    """
    import numpy as np

    from cnncli.errors import ParameterError
    from cnncli.io import load_tensor
    from cnncli.io.images import IMAGE_EXTENSIONS

    C, H, W = chw
    is_image = Path(source).suffix.lower() in IMAGE_EXTENSIONS
    if not is_image:
        loaded = load_tensor(source, scale="raw", dtype="float32", max_bytes=limit)
        notes = [f"input: {loaded.description or loaded.source}, used as it is: {loaded.shape}"]
        if normalize != "none":
            notes.append("--normalize applies to images only; the tensor is used as it is")
        return loaded.array, notes + list(loaded.notes)
    loaded = load_tensor(source, scale="unit", dtype="float32", gray=C == 1, max_bytes=limit)
    x = loaded.array
    notes = [f"input: {loaded.description or loaded.source} {loaded.shape}", *loaded.notes]
    if x.shape[1] != C:
        if x.shape[1] == 1:
            x = np.repeat(x, C, axis=1)
            notes.append(f"grey channel repeated {C} times for the model's {C} channels")
        else:
            raise ParameterError(
                f"the image has {x.shape[1]} channels but the model takes {C}",
            )
    if x.shape[2:] != (H, W):
        x = _resize(x, H, W)
        notes.append(f"resized from {loaded.shape[2]}x{loaded.shape[3]} to {H}x{W} (bilinear)")
    notes.append("scaled to 0–1 (pixel / 255)")
    if normalize == "imagenet":
        if C != 3:
            raise ParameterError(f"--normalize imagenet needs 3 channels, the model takes {C}")
        mean = np.array(IMAGENET_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
        std = np.array(IMAGENET_STD, dtype=np.float32).reshape(1, 3, 1, 1)
        x = (x - mean) / std
        notes.append(f"normalised: (x − mean) / std, mean {IMAGENET_MEAN}, std {IMAGENET_STD}")
    return np.ascontiguousarray(x, dtype=np.float32), notes


def _resize(x: Any, H: int, W: int) -> Any:
    """Bilinear resize of every (n, c) plane with Pillow's float mode."""
    import numpy as np
    from PIL import Image

    N, C = x.shape[:2]
    out = np.empty((N, C, H, W), dtype=np.float32)
    for n in range(N):
        for c in range(C):
            plane = Image.fromarray(np.ascontiguousarray(x[n, c], dtype=np.float32), mode="F")
            out[n, c] = np.asarray(
                plane.resize((W, H), Image.Resampling.BILINEAR), dtype=np.float32
            )
    return out


def _save_output(path: Path, result: Any, inputs: list[Any]) -> None:
    """-o FILE.npy: the final output; FILE.npz: every layer's output under its name."""
    from cnncli.errors import OutputFileError
    from cnncli.io import check_output_path, save_result

    check_output_path(path, inputs)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        save_result(path, result.output)
    elif suffix == ".npz":
        arrays = {rec.name: rec.output for rec in result.records}
        arrays["output"] = result.output
        save_result(path, arrays)
    else:
        raise OutputFileError(f"-o must end in .npy or .npz, got {path.name!r}")


#: Feature maps per PNG grid at most (the first ones); the index says when more exist.
MAX_MAPS = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_.#-]+")


def safe_file_name(name: str) -> str:
    """A layer name as a file name: no separators, no '..', no leading dot, not empty."""
    text = _UNSAFE.sub("_", name).replace("..", "_").lstrip(".")
    return text[:80] or "layer"


def _save_maps(folder: Path, result: Any) -> None:
    """Each conv/pool layer's maps (sample 0) as a labelled PNG grid, plus index.json."""
    import json

    from cnncli.errors import OutputFileError
    from cnncli.io import atomic_write_bytes, save_result

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFileError(f"cannot create {str(folder)!r}: {exc.strerror or exc}") from None
    root = folder.resolve()
    index = []
    for i, rec in enumerate(result.records):
        if ("Conv" not in rec.type and "Pool" not in rec.type) or rec.output.ndim != 4:
            continue
        maps = rec.output[0, :MAX_MAPS]
        file_name = f"{i:03d}_{safe_file_name(rec.name)}.png"
        target = (root / file_name).resolve()
        if target.parent != root:  # never outside the chosen folder
            raise OutputFileError(f"refusing to write {file_name!r} outside {str(folder)!r}")
        labels = [f"{rec.name[:16]} ch{c}" for c in range(maps.shape[0])]
        save_result(target, maps, labels=labels)
        index.append(
            {
                "file": file_name,
                "layer": rec.name,
                "type": rec.type,
                "output_shape": list(rec.output.shape),
                "maps_shown": int(maps.shape[0]),
                "sample": 0,
            }
        )
    atomic_write_bytes(root / "index.json", (json.dumps(index, indent=2) + "\n").encode())
