"""``cnncli train MODEL|SPEC [--data NAME|PATH]``: train a network in NumPy, epoch by epoch."""

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from cnncli.cli import options as opt
from cnncli.cli.main import app
from cnncli.cli.train_loop import ROW, Run, finish, run_epochs

TRAIN_PANEL = "Training"


@app.command(
    rich_help_panel="Whole networks",
    epilog=opt.examples(
        "cnncli train lenet5 --epochs 1",
        "cnncli train lenet5 --epochs 1 --optimizer adam --lr 0.002 --schedule cosine",
    ),
)
def train(
    model: opt.ModelArg,
    data: opt.DataOpt = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Passes over the data.")] = 10,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Images per step.", rich_help_panel=TRAIN_PANEL)
    ] = 64,
    lr: Annotated[
        float, typer.Option("--lr", min=0.0, help="Learning rate.", rich_help_panel=TRAIN_PANEL)
    ] = 0.05,
    optimizer: Annotated[
        Literal["sgd", "adam", "adamw"],
        typer.Option("--optimizer", help="torch.optim's SGD, Adam or AdamW.", rich_help_panel=TRAIN_PANEL),
    ] = "sgd",
    momentum: Annotated[
        float, typer.Option("--momentum", min=0.0, help="SGD's momentum.", rich_help_panel=TRAIN_PANEL)
    ] = 0.9,
    nesterov: Annotated[
        bool, typer.Option("--nesterov", help="SGD with Nesterov momentum.", rich_help_panel=TRAIN_PANEL)
    ] = False,
    weight_decay: Annotated[
        float | None,
        typer.Option(
            "--weight-decay", min=0.0, help="Weight decay (default: 0; AdamW 0.01).",
            rich_help_panel=TRAIN_PANEL, show_default=False,
        ),
    ] = None,
    schedule: Annotated[
        Literal["none", "step", "cosine"],
        typer.Option(
            "--schedule", help="Learning-rate schedule: StepLR (x0.1 every third of the epochs) "
            "or CosineAnnealingLR over the epochs.", rich_help_panel=TRAIN_PANEL,
        ),
    ] = "none",
    label_smoothing: Annotated[
        float, typer.Option("--label-smoothing", min=0.0, max=0.99, rich_help_panel=TRAIN_PANEL,
                            help="Cross-entropy's label smoothing.")
    ] = 0.0,
    val: Annotated[
        str | None,
        typer.Option("--val", help="A separate validation set (instead of --val-split)."),
    ] = None,
    key_x: opt.KeyXOpt = "x",
    key_y: opt.KeyYOpt = "y",
    label_column: opt.LabelColumnOpt = "last",
    skip_bad: opt.SkipBadOpt = False,
    val_split: Annotated[
        float, typer.Option("--val-split", help="Hold out this fraction of every class.")
    ] = 0.1,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of weights, split and order.")] = 0,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Save the trained weights (.npz or .safetensors, state_dict names).",
                     rich_help_panel=opt.OUTPUT_PANEL),
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="Write DIR/checkpoint.npz at the end of each epoch "
                     "(weights, optimizer, schedule, generators, history).",
                     rich_help_panel=opt.OUTPUT_PANEL),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="Continue the run checkpointed in DIR up to --epochs, "
                     "exactly as if it had not stopped."),
    ] = None,
    betas: Annotated[
        str | None,
        typer.Option("--betas", help="Adam's and AdamW's (beta1, beta2).  \\[default: 0.9,0.999]",
                     rich_help_panel=TRAIN_PANEL, show_default=False),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write the loss and accuracy curves as a PNG.",
                     rich_help_panel=opt.OUTPUT_PANEL),
    ] = None,
    filters: Annotated[
        Path | None,
        typer.Option("--filters", help="Write the first convolution's learned kernels as a PNG.",
                     rich_help_panel=opt.OUTPUT_PANEL),
    ] = None,
    max_memory: opt.MaxMemoryOpt = None,
    as_json: opt.JsonOpt = False,
) -> None:  # fmt: skip
    """Train a network on real images and show it learn: loss and accuracy per epoch."""
    import numpy as np

    from cnncli.errors import ShapeError
    from cnncli.io.datasets import stratified_split
    from cnncli.nn import checkpoint as ckpt
    from cnncli.nn import optim
    from cnncli.nn.spec import load_model

    _check_outputs(output, plot, filters, [model, data])
    net, declared = load_model(model)
    first_conv = _first_conv(net, model) if filters is not None else None
    how = (key_x, key_y, label_column, skip_bad)
    dataset = dataset_for(model, declared, data, *how)
    held_out = dataset_for(model, declared, val, *how) if val else None
    assert declared is not None  # dataset_for refuses a model without an input size
    classes = len(dataset.classes)
    if held_out is not None:
        _index_by_name(held_out, dataset)
    out_shape = net.output_shape((1, *declared))
    if out_shape[-1] < classes:
        raise ShapeError(f"{model} has {out_shape[-1]} outputs, the data has {classes} classes")
    _guard_memory(net, declared, min(batch_size, len(dataset.y)), optimizer, momentum, max_memory)
    net.reset_parameters(np.random.default_rng(seed))
    if held_out is None:
        train_idx, val_idx = stratified_split(dataset.y, val_split, seed)
        x_tr, y_tr = dataset.x[train_idx], dataset.y[train_idx]
        x_va, y_va = dataset.x[val_idx], dataset.y[val_idx]
    else:
        x_tr, y_tr, x_va, y_va = dataset.x, dataset.y, held_out.x, held_out.y
    opt_ = _optimizer(optim, net, optimizer, lr, momentum, nesterov, weight_decay, betas)
    sched = (
        optim.StepLR(opt_, max(1, epochs // 3)) if schedule == "step"
        else optim.CosineAnnealingLR(opt_, epochs) if schedule == "cosine" else None
    )  # fmt: skip
    run = Run(net, opt_, sched, np.random.default_rng(seed), [], (x_tr, y_tr, x_va, y_va),
               batch_size, label_smoothing, checkpoint,
               {"model": model, "data": dataset.name, "seed": seed, "batch_size": batch_size,
                "schedule": schedule, "epochs_planned": epochs})  # fmt: skip
    first, partial = 1, None
    if resume is not None:
        meta, saved, saved_optim = ckpt.load(resume)
        _check_resumable(meta, resume, model, epochs, batch_size)
        try:
            ckpt.restore(meta, saved, saved_optim, net, opt_, sched, run.rng)
        except (KeyError, TypeError, ValueError) as exc:
            _does_not_fit(resume, exc)
        run.history, first, partial = (
            list(meta["history"]),
            int(meta["epoch"]) + 1,
            meta.get("partial"),
        )
    console = _console()
    if not as_json:
        _say_plan(console, run, dataset, held_out, val_split, lr, schedule, seed)
        if first > 1 or partial:
            where = (
                f"step {partial['state']['step']} of epoch {partial['epoch']}"
                if partial
                else f"epoch {first - 1}"
            )
            console.print(f"resumed from {resume} after {where}", highlight=False)
        console.print(
            ROW.format("epoch", "train loss", "train acc", "val loss", "val acc", "lr", "time")
        )
    pred = run_epochs(run, first, epochs, partial, console, as_json)
    counts = finish(run, pred, classes, output, plot, filters, first_conv)
    if as_json:
        import json

        typer.echo(
            json.dumps(
                {
                    "model": net.title,
                    "data": dataset.name,
                    "notes": dataset.notes + (held_out.notes if held_out else []),
                    "classes": dataset.classes,
                    "history": run.history,
                    "confusion": counts.tolist(),
                },
                indent=2,
            )
        )
        return
    console.print(confusion_table(counts, dataset.classes, "held-out images"))
    if len(run.history) > 1:
        from cnncli.render.curves import training_curves

        console.print(training_curves(run.history, console.width))


def _check_outputs(output: Path | None, plot: Path | None, filters: Path | None,
                   inputs: list[str | None]) -> None:  # fmt: skip
    """Refuse a bad output name before any work."""
    from cnncli.errors import ParameterError
    from cnncli.io import check_output_path

    for path, suffixes, name in (
        (output, (".npz", ".safetensors"), "-o"),
        (plot, (".png",), "--plot"),
        (filters, (".png",), "--filters"),
    ):
        if path is None:
            continue
        check_output_path(path, inputs)
        if path.suffix.lower() not in suffixes:
            raise ParameterError(f"{name} must end in {' or '.join(suffixes)}, got {path.name!r}")
    named = [p for p in (output, plot, filters) if p is not None]
    if len({str(p) for p in named}) < len(named):
        raise ParameterError("-o, --plot and --filters must name different files")


def _first_conv(net: Any, model: str) -> str:
    """The name of the network's first Conv2d (its kernels are what --filters draws)."""
    from cnncli.errors import ParameterError
    from cnncli.nn.layers import Conv2d

    for name, layer in net.named_modules():
        if isinstance(layer, Conv2d):
            return name
    raise ParameterError(f"--filters: {model} has no Conv2d layer to draw")


def _index_by_name(held_out: Any, dataset: Any) -> None:
    """Relabel a separate validation set by the training set's class names."""
    import numpy as np

    from cnncli.errors import ShapeError

    if held_out.classes == dataset.classes[: len(held_out.classes)]:
        return
    unknown = [c for c in held_out.classes if c not in dataset.classes]
    if unknown:
        raise ShapeError(
            f"{held_out.name}: classes {', '.join(unknown[:3])} are not classes of "
            f"{dataset.name} ({', '.join(dataset.classes[:10])})"
        )
    index = np.array([dataset.classes.index(c) for c in held_out.classes])
    held_out.y = index[held_out.y]


def _guard_memory(net: Any, chw: Any, batch: int, optimizer: str, momentum: float,
                  max_memory: str | None) -> None:  # fmt: skip
    """Refuse a training step estimated above --max-memory, before allocating it."""
    from cnncli.nn import resources
    from cnncli.nn.summary import summarize

    limit = resources.parse_size(max_memory) if max_memory else resources.default_limit()
    summary = summarize(net, tuple(chw), batch=batch)
    slots = (1 if momentum else 0) if optimizer == "sgd" else 2
    needed = resources.training_estimate(net, summary, slots)
    resources.check_memory(needed, limit, f"a training step at batch {batch}")


def _check_resumable(
    meta: dict[str, Any], resume: Path, model: str, epochs: int, batch_size: int
) -> None:
    from cnncli.errors import ParameterError

    if meta["settings"].get("model") != model:
        raise ParameterError(
            f"{resume}: the checkpoint is of {meta['settings'].get('model')}, not {model}"
        )
    if meta["epoch"] >= epochs:
        raise ParameterError(
            f"{resume}: already trained {meta['epoch']} epochs; ask for more with --epochs"
        )
    partial = meta.get("partial")
    if partial is not None:
        try:
            ok = int(partial["epoch"]) == meta["epoch"] + 1 and int(partial["state"]["step"]) >= 0
            float(partial["seconds"]), dict(partial["rng"])
        except (KeyError, TypeError, ValueError) as exc:
            _does_not_fit(resume, exc)
        if not ok:
            _does_not_fit(resume, ValueError("its stopped epoch does not follow its last"))
        saved = meta["settings"].get("batch_size")
        if saved != batch_size:  # the steps taken count batches of the saved size
            raise ParameterError(
                f"{resume}: the run stopped inside epoch {partial['epoch']} at batch size "
                f"{saved}; resume it with --batch-size {saved}"
            )


def _does_not_fit(resume: Path, exc: Exception) -> None:
    from cnncli.errors import InputFileError

    raise InputFileError(f"{resume}: the checkpoint does not fit this run ({exc})") from None


def _say_plan(console: Any, run: Run, dataset: Any, held_out: Any, val_split: float, lr: float,
              schedule: str, seed: int) -> None:  # fmt: skip
    n_train, n_val = len(run.data[1]), len(run.data[3])
    console.print(
        f"train {run.net.title} on {dataset.name}: {n_train:,} images, {n_val:,} held out "
        f"({held_out.name if held_out else f'{val_split:g} of each class'}), "
        f"{len(dataset.classes)} classes, {'x'.join(map(str, dataset.image_shape))}",
        highlight=False,
    )
    for note in dataset.notes + (held_out.notes if held_out else []):
        console.print(f"note: {note}", highlight=False)
    settings = ", ".join(
        f"{k.replace('_', ' ')} {v}"
        for k, v in run.opt.hyperparameters().items()
        if k != "optimizer"
    )
    console.print(
        f"{type(run.opt).__name__} (lr {lr:g}, {settings}), schedule {schedule}, "
        f"batch {run.batch_size}, seed {seed}",
        highlight=False,
    )


def dataset_for(
    model: str,
    declared: Any,
    data: str | None,
    key_x: str = "x",
    key_y: str = "y",
    label_column: str = "last",
    skip_bad: bool = False,
) -> Any:
    """The dataset ``--data`` names (default mnist-5k for 1x28x28 models), checked to fit."""
    from cnncli.errors import ParameterError, ShapeError
    from cnncli.io.datasets import load_dataset

    if declared is None:
        raise ParameterError(f"{model}: no input size; put input = [C, H, W] in the spec")
    if data is None:
        if tuple(declared) != (1, 28, 28):
            raise ParameterError(
                f"{model} takes {'x'.join(map(str, declared))} images; give --data",
                hint="a built-in dataset (cnncli datasets) or a folder or file of your own",
            )
        data = "mnist-5k"
    shape = (int(declared[0]), int(declared[1]), int(declared[2]))
    dataset = load_dataset(data, key_x, key_y, label_column, shape, skip_bad)
    if dataset.image_shape != shape:
        raise ShapeError(
            f"{dataset.name}: images are {'x'.join(map(str, dataset.image_shape))}, but {model} "
            f"takes {'x'.join(map(str, shape))}"
        )
    return dataset


def _optimizer(
    optim: Any,
    net: Any,
    name: str,
    lr: float,
    momentum: float,
    nesterov: bool,
    weight_decay: float | None,
    betas: str | None,
) -> Any:
    from cnncli.errors import ParameterError

    if name == "sgd" and betas is not None:
        raise ParameterError("--betas is Adam's and AdamW's; SGD has none",
                             hint="give --optimizer adam or adamw, or leave --betas out")  # fmt: skip
    if name == "sgd":
        return optim.SGD(
            net, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay or 0.0
        )
    try:
        pair = tuple(float(b) for b in (betas or "0.9,0.999").split(","))
    except ValueError:
        pair = ()
    if len(pair) != 2:
        raise ParameterError(f"--betas must be two numbers such as 0.9,0.999, got {betas!r}")
    if name == "adam":
        return optim.Adam(net, lr=lr, betas=pair, weight_decay=weight_decay or 0.0)
    return optim.AdamW(
        net, lr=lr, betas=pair, weight_decay=1e-2 if weight_decay is None else weight_decay
    )


def _console() -> Any:
    from cnncli.render.console import make_console

    return make_console()


def confusion_table(counts: Any, classes: list[str], what: str) -> Any:
    """The confusion matrix as a Rich table, with each class's accuracy."""
    from rich.table import Table

    table = Table(title=f"{what}: true class (rows) by predicted class",
                  title_justify="left")  # fmt: skip
    table.add_column("true", justify="right", style="bold")
    for name in classes:
        table.add_column(name, justify="right")
    table.add_column("accuracy", justify="right")
    for t, name in enumerate(classes):
        row = counts[t]
        total = int(row.sum())
        cells = [f"[bold]{v}[/]" if i == t else (str(v) if v else "·") for i, v in enumerate(row)]
        table.add_row(name, *cells, f"{row[t] / total:.1%}" if total else "-")
    return table
