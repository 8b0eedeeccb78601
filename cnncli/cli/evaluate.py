"""``cnncli evaluate MODEL|SPEC -w WEIGHTS [--data NAME|PATH]``: how well trained weights do."""

from pathlib import Path
from typing import Annotated, Any

import typer

from cnncli.cli import options as opt
from cnncli.cli.main import app


@app.command(
    rich_help_panel="Whole networks",
    epilog=opt.examples(
        "cnncli evaluate lenet5 -w w.npz  # w.npz from: cnncli train lenet5 -o w.npz",
        "cnncli evaluate lenet5 -w w.npz --worst worst.png --json",
        "cnncli evaluate lenet5-mnist --held-out 0.1  # the 500 digits it never saw",
    ),
)
def evaluate(
    model: opt.ModelArg,
    weights: Annotated[
        Path | None,
        typer.Option("-w", "--weights", help="Trained weights (.npz or .safetensors); a trained "
                     "zoo model (lenet5-mnist) has its own.", show_default=False),
    ] = None,
    data: opt.DataOpt = None,
    key_x: opt.KeyXOpt = "x",
    key_y: opt.KeyYOpt = "y",
    label_column: opt.LabelColumnOpt = "last",
    skip_bad: opt.SkipBadOpt = False,
    worst: Annotated[
        Path | None,
        typer.Option("--worst", help="Save the most confidently wrong images as a PNG grid, "
                     "with their true and predicted classes.", rich_help_panel=opt.OUTPUT_PANEL),
    ] = None,
    held_out: Annotated[
        float | None,
        typer.Option("--held-out", min=0.0, max=0.9, show_default=False,
                     help="Only the part `cnncli train --val-split F --seed S` held out of "
                     "the data (F here; the training's --seed below)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="The training's --seed.")] = 0,
    as_json: opt.JsonOpt = False,
) -> None:  # fmt: skip
    """Accuracy, mean loss, per-class accuracy and the confusion matrix of trained weights."""
    import json

    import numpy as np

    from cnncli.cli.train import dataset_for
    from cnncli.engine.activations import softmax
    from cnncli.errors import ParameterError
    from cnncli.io import check_output_path
    from cnncli.nn.spec import load_model
    from cnncli.nn.train import confusion_matrix
    from cnncli.nn.train import evaluate as run_eval
    from cnncli.nn.weights import load_weights

    if worst is not None:
        check_output_path(worst, [model, weights, data])
        if worst.suffix.lower() != ".png":
            raise ParameterError(f"--worst must end in .png, got {worst.name!r}")
    net, declared = load_model(model)
    own = weights is None and getattr(net, "weights_source", None)  # an ONNX file's weights
    if weights is None and not own:
        from cnncli.nn import zoo
        from cnncli.nn.spec import is_spec_path

        weights = None if is_spec_path(model) else zoo.packaged_weights(model)
        if weights is None:
            raise ParameterError(
                f"{model} has no trained weights of its own; give them with -w FILE",
                hint=f"make some with: cnncli train {model} -o w.npz",
            )
    dataset = dataset_for(model, declared, data, key_x, key_y, label_column, skip_bad)
    if held_out is not None:
        from cnncli.io.datasets import stratified_split

        keep = stratified_split(dataset.y, held_out, seed)[1]
        dataset.x, dataset.y = dataset.x[keep], dataset.y[keep]
        dataset.name = f"{dataset.name} (held out: {held_out:g} of each class, seed {seed})"
    if weights is not None:
        net.load_state_dict(load_weights(weights))
    weights_name = weights.name if weights is not None else str(own)
    loss, accuracy, pred = run_eval(net, dataset.x, dataset.y)
    classes = len(dataset.classes)
    counts = confusion_matrix(dataset.y, pred, max(classes, int(pred.max()) + 1))[
        :classes, :classes
    ]
    if as_json:
        typer.echo(json.dumps({"model": net.title, "weights": weights_name, "data": dataset.name,
                               "images": len(dataset.y), "loss": loss, "accuracy": accuracy,
                               "classes": dataset.classes, "confusion": counts.tolist()}, indent=2))  # fmt: skip
    else:
        _show(net.title, weights_name, dataset, accuracy, loss, counts)
    if worst is not None:  # said after the result, as every written file is
        batches = range(0, len(dataset.y), 256)
        probs = np.concatenate([softmax(net(dataset.x[i : i + 256]), 1) for i in batches])
        wrong = np.flatnonzero(pred != dataset.y)
        order = wrong[np.argsort(-probs[wrong, pred[wrong]], kind="stable")][:36]
        _save_worst(worst, dataset, order, pred, probs)


def _show(
    title: str, weights: str, dataset: Any, accuracy: float, loss: float, counts: Any
) -> None:
    from cnncli.cli.train import confusion_table
    from cnncli.render.console import make_console

    console = make_console()
    console.print(
        f"evaluate {title} with {weights} on {dataset.name}: {len(dataset.y):,} images, "
        f"accuracy {accuracy:.2%}, mean loss {loss:.4f}",
        highlight=False,
    )
    for note in dataset.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(confusion_table(counts, dataset.classes, "images"))


def _save_worst(path: Path, dataset: Any, order: Any, pred: Any, probs: Any) -> None:
    """A grid of the most confidently wrong images, each titled true → predicted (p)."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    from cnncli.cli.output import say_wrote
    from cnncli.io.write import atomic_write_bytes

    C, H, W = dataset.image_shape
    zoom = max(1, 64 // max(H, W))
    tile_w, tile_h, label = max(W * zoom, 72), H * zoom, 24
    cols = max(1, min(6, len(order)))
    rows = max(1, -(-len(order) // cols))
    canvas = Image.new("RGB", (cols * (tile_w + 6) + 6, rows * (tile_h + label + 6) + 6), "white")
    draw = ImageDraw.Draw(canvas)
    for n, i in enumerate(order):
        x0, y0 = 6 + (n % cols) * (tile_w + 6), 6 + (n // cols) * (tile_h + label + 6)
        pixels = np.clip(dataset.x[i] * 255, 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels[0] if C == 1 else pixels.transpose(1, 2, 0))
        canvas.paste(image.resize((W * zoom, H * zoom), Image.Resampling.NEAREST), (x0, y0))
        true = dataset.classes[dataset.y[i]]
        guess = dataset.classes[pred[i]] if pred[i] < len(dataset.classes) else str(pred[i])
        draw.text((x0, y0 + tile_h + 2), f"{true} -> {guess}", fill=(20, 20, 20))
        draw.text((x0, y0 + tile_h + 12), f"p {probs[i, pred[i]]:.2f}", fill=(120, 20, 20))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    say_wrote(
        path, f"PNG grid of the {len(order)} most confidently wrong images, true -> predicted"
    )
