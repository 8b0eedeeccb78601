"""``cnncli train MODEL|SPEC [--data NAME|PATH]``: train a network in NumPy, epoch by epoch."""

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from cnncli.cli import options as opt
from cnncli.cli.main import app

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
        typer.Option("-o", "--output", help="Save the trained weights (.npz, state_dict names).",
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
    as_json: opt.JsonOpt = False,
) -> None:  # fmt: skip
    """Train a network on real images and show it learn: loss and accuracy per epoch."""
    import json
    import time

    import numpy as np

    from cnncli.errors import ParameterError, ShapeError
    from cnncli.io import check_output_path
    from cnncli.io.datasets import stratified_split
    from cnncli.nn import checkpoint as ckpt
    from cnncli.nn import optim
    from cnncli.nn.spec import load_model
    from cnncli.nn.train import confusion_matrix, evaluate, train_epoch

    if output is not None:
        check_output_path(output, [model, data or ""])
        if output.suffix.lower() != ".npz":
            raise ParameterError(f"-o must end in .npz, got {output.name!r}")
    net, declared = load_model(model)
    how = (key_x, key_y, label_column, skip_bad)
    dataset = dataset_for(model, declared, data, *how)
    held_out = dataset_for(model, declared, val, *how) if val else None
    assert declared is not None  # dataset_for refuses a model without an input size
    classes = len(dataset.classes)
    if held_out is not None and held_out.classes != dataset.classes[: len(held_out.classes)]:
        # Class names (an image folder's subfolders) index the training set's classes by name.
        unknown = [c for c in held_out.classes if c not in dataset.classes]
        if unknown:
            raise ShapeError(
                f"{held_out.name}: classes {', '.join(unknown[:3])} are not classes of "
                f"{dataset.name} ({', '.join(dataset.classes[:10])})"
            )
        index = np.array([dataset.classes.index(c) for c in held_out.classes])
        held_out.y = index[held_out.y]
    out_shape = net.output_shape((1, *declared))
    if out_shape[-1] < classes:
        raise ShapeError(f"{model} has {out_shape[-1]} outputs, the data has {classes} classes")
    net.reset_parameters(np.random.default_rng(seed))
    if held_out is None:
        train_idx, val_idx = stratified_split(dataset.y, val_split, seed)
        x_tr, y_tr = dataset.x[train_idx], dataset.y[train_idx]
        x_va, y_va = dataset.x[val_idx], dataset.y[val_idx]
    else:
        x_tr, y_tr, x_va, y_va = dataset.x, dataset.y, held_out.x, held_out.y
    opt_ = _optimizer(optim, net, optimizer, lr, momentum, nesterov, weight_decay)
    sched = (
        optim.StepLR(opt_, max(1, epochs // 3)) if schedule == "step"
        else optim.CosineAnnealingLR(opt_, epochs) if schedule == "cosine" else None
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    history: list[dict[str, Any]] = []
    run_settings = {"model": model, "data": dataset.name, "seed": seed, "batch_size": batch_size,
                "schedule": schedule, "epochs_planned": epochs}  # fmt: skip
    first = 1
    if resume is not None:
        meta, saved, saved_optim = ckpt.load(resume)
        if meta["settings"].get("model") != model:
            raise ParameterError(
                f"{resume}: the checkpoint is of {meta['settings'].get('model')}, not {model}"
            )
        if meta["epoch"] >= epochs:
            raise ParameterError(
                f"{resume}: already trained {meta['epoch']} epochs; ask for more with --epochs"
            )
        try:
            ckpt.restore(meta, saved, saved_optim, net, opt_, sched, rng)
        except (KeyError, TypeError, ValueError) as exc:
            from cnncli.errors import InputFileError

            raise InputFileError(
                f"{resume}: the checkpoint does not fit this run ({exc})"
            ) from None
        history, first = list(meta["history"]), int(meta["epoch"]) + 1
    console = _console()
    if not as_json:
        console.print(
            f"train {net.title} on {dataset.name}: {len(y_tr):,} images, {len(y_va):,} held out "
            f"({held_out.name if held_out else f'{val_split:g} of each class'}), {classes} classes, "
            f"{'x'.join(map(str, dataset.image_shape))}",
            highlight=False,
        )
        for note in dataset.notes + (held_out.notes if held_out else []):
            console.print(f"note: {note}", highlight=False)
        settings = ", ".join(
            f"{k.replace('_', ' ')} {v}"
            for k, v in opt_.hyperparameters().items()
            if k != "optimizer"
        )
        console.print(
            f"{type(opt_).__name__} (lr {lr:g}, {settings}), schedule {schedule}, "
            f"batch {batch_size}, seed {seed}",
            highlight=False,
        )
        if first > 1:
            console.print(f"resumed from {resume} after epoch {first - 1}", highlight=False)
        console.print(
            _ROW.format("epoch", "train loss", "train acc", "val loss", "val acc", "lr", "time")
        )
    for epoch in range(first, epochs + 1):
        start, lr_now = time.perf_counter(), opt_.lr
        with _progress(console, epoch, as_json) as on_step, _said_on_interrupt(epoch, checkpoint):
            loss, acc = train_epoch(net, opt_, x_tr, y_tr, batch_size, rng, epoch=epoch,
                                    label_smoothing=label_smoothing, on_step=on_step)  # fmt: skip
        val_loss, val_acc, pred = evaluate(net, x_va, y_va)
        seconds = time.perf_counter() - start
        history.append({"epoch": epoch, "train_loss": loss, "train_acc": acc,
                        "val_loss": val_loss, "val_acc": val_acc, "lr": lr_now,
                        "seconds": seconds})  # fmt: skip
        if not as_json:
            console.print(_ROW.format(epoch, f"{loss:.4f}", f"{acc:.2%}", f"{val_loss:.4f}",
                                      f"{val_acc:.2%}", f"{lr_now:.3g}", f"{seconds:.1f} s"))  # fmt: skip
        if sched is not None:
            sched.step()
        if checkpoint is not None:
            ckpt.save(checkpoint, net, opt_, sched, rng, epoch, history, run_settings)
    counts = confusion_matrix(y_va, pred, classes)  # the last epoch's predictions
    if output is not None:
        from cnncli.cli.output import say_wrote
        from cnncli.io.write import atomic_write_bytes, npz_bytes

        state = net.state_dict()
        atomic_write_bytes(output, npz_bytes(state))
        say_wrote(output, f"weights of {net.title}, {len(state)} arrays, state_dict names")
    if as_json:
        typer.echo(json.dumps({"model": net.title, "data": dataset.name, "classes": dataset.classes,
                               "history": history, "confusion": counts.tolist()}, indent=2))  # fmt: skip
        return
    console.print(confusion_table(counts, dataset.classes, "held-out images"))


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


_ROW = "{:>5}  {:>10}  {:>9}  {:>9}  {:>8}  {:>8}  {:>7}"


def _optimizer(
    optim: Any,
    net: Any,
    name: str,
    lr: float,
    momentum: float,
    nesterov: bool,
    weight_decay: float | None,
) -> Any:

    if name == "sgd":
        return optim.SGD(
            net, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay or 0.0
        )
    if name == "adam":
        return optim.Adam(net, lr=lr, weight_decay=weight_decay or 0.0)
    return optim.AdamW(net, lr=lr, weight_decay=1e-2 if weight_decay is None else weight_decay)


class _said_on_interrupt:  # noqa: N801 (a context manager used like a function)
    """On Ctrl-C, say on stderr which checkpoint is kept, then let the interrupt through."""

    def __init__(self, epoch: int, checkpoint: Path | None) -> None:
        self.epoch, self.checkpoint = epoch, checkpoint

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *rest: object) -> None:
        import sys

        if kind is not KeyboardInterrupt:
            return
        if self.checkpoint is None:
            kept = "no checkpoint was kept (give --checkpoint DIR to keep one)"
        elif self.epoch > 1:
            kept = f"{self.checkpoint / 'checkpoint.npz'} holds epoch {self.epoch - 1}; --resume {self.checkpoint} continues"
        else:
            kept = "no epoch had ended, so no checkpoint was written"
        sys.stderr.write(f"stopped in epoch {self.epoch}: {kept}\n")


def _console() -> Any:
    from cnncli.render.console import make_console

    return make_console()


class _progress:  # noqa: N801 (a context manager used like a function)
    """A transient Rich progress bar for one epoch on a terminal; nothing otherwise."""

    def __init__(self, console: Any, epoch: int, quiet: bool) -> None:
        self.console, self.epoch, self.quiet = console, epoch, quiet
        self.bar: Any = None

    def __enter__(self) -> Any:
        if self.quiet or not self.console.is_terminal:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn(f"epoch {self.epoch}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]:.4f}"), TimeRemainingColumn(),
            console=self.console, transient=True,
        )  # fmt: skip
        self.bar.__enter__()
        task = self.bar.add_task("train", total=None, loss=float("nan"))

        def on_step(info: Any) -> None:
            self.bar.update(task, completed=info.step, total=info.steps, loss=info.loss)

        return on_step

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


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
