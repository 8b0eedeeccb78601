"""The training loop of ``cnncli train``: epochs, the progress bar, Ctrl-C, what is written.

The first Ctrl-C lets the current step finish; the run then keeps a checkpoint (with
``--checkpoint``), says where, and exits 130.  A second Ctrl-C stops at once.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnncli.cli.status import Interrupted

ROW = "{:>5}  {:>10}  {:>9}  {:>9}  {:>8}  {:>8}  {:>7}"  # the epoch table's columns


@dataclass
class Run:
    """One training run: the network, its optimizer and schedule, the data, what happened."""

    net: Any
    opt: Any
    sched: Any
    rng: Any
    history: list[dict[str, Any]]
    data: tuple[Any, Any, Any, Any]  # x_train, y_train, x_held_out, y_held_out
    batch_size: int
    label_smoothing: float
    checkpoint: Path | None
    settings: dict[str, Any]

    def save(self, epoch: int, partial: dict[str, Any] | None = None) -> Path | None:
        """Write the checkpoint after ``epoch`` (and ``partial``'s steps) if one is kept."""
        from cnncli.nn import checkpoint as ckpt

        if self.checkpoint is None:
            return None
        return ckpt.save(self.checkpoint, self.net, self.opt, self.sched, self.rng, epoch,
                         self.history, self.settings, partial)  # fmt: skip


def run_epochs(
    run: Run, first: int, last: int, partial: dict[str, Any] | None, console: Any, quiet: bool
) -> Any:
    """Train epochs first..last; return the last epoch's held-out predictions.

    The first Ctrl-C lets the current step finish, then keeps a checkpoint (with
    ``--checkpoint``) and exits 130; a second one stops at once.
    """
    import time
    from dataclasses import asdict

    from cnncli.nn.data_parallel import helper_for
    from cnncli.nn.train import EpochState, Stopped, evaluate, train_epoch

    x_tr, y_tr, x_va, y_va = run.data
    pred = None
    with _CtrlC() as stop, helper_for(run.net, x_tr, run.batch_size) as helper:
        for epoch in range(first, last + 1):
            began, state, before = run.rng.bit_generator.state, None, 0.0
            if partial is not None and int(partial["epoch"]) == epoch:
                began, state = partial["rng"], EpochState(**partial["state"])
                run.rng.bit_generator.state, before = began, float(partial["seconds"])
            start, lr_now = time.perf_counter(), run.opt.lr
            try:
                with (
                    _progress(console, epoch, quiet) as on_step,
                    _said_on_interrupt(epoch, run.checkpoint),
                ):
                    loss, acc = train_epoch(
                        run.net,
                        run.opt,
                        x_tr,
                        y_tr,
                        run.batch_size,
                        run.rng,
                        epoch=epoch,
                        label_smoothing=run.label_smoothing,
                        on_step=on_step,
                        stop=stop,
                        state=state,
                        helper=helper,
                    )
            except Stopped as halt:
                seconds = before + time.perf_counter() - start
                kept = run.save(epoch - 1, {"epoch": epoch, "rng": began, "seconds": seconds,
                                            "state": asdict(halt.state)})  # fmt: skip
                _say_stopped(str(halt), kept, run.checkpoint)
            val_loss, val_acc, pred = evaluate(run.net, x_va, y_va)
            seconds = before + time.perf_counter() - start
            run.history.append(
                {
                    "epoch": epoch,
                    "train_loss": loss,
                    "train_acc": acc,
                    "val_loss": val_loss,
                    "val_acc": val_acc,
                    "lr": lr_now,
                    "seconds": seconds,
                }
            )
            if not quiet:
                console.print(
                    ROW.format(
                        epoch,
                        f"{loss:.4f}",
                        f"{acc:.2%}",
                        f"{val_loss:.4f}",
                        f"{val_acc:.2%}",
                        f"{lr_now:.3g}",
                        f"{seconds:.1f} s",
                    )
                )
            if run.sched is not None:
                run.sched.step()
            kept = run.save(epoch)
            if stop() and epoch < last:
                _say_stopped(f"stopped after epoch {epoch}", kept, run.checkpoint)
    return pred


def finish(
    run: Run,
    pred: Any,
    classes: int,
    output: Path | None,
    plot: Path | None,
    filters: Path | None,
    first_conv: str | None,
) -> Any:
    """Write what was asked for (weights, curves, filters); return the confusion counts."""
    from cnncli.cli.output import say_wrote
    from cnncli.io.write import atomic_write_bytes
    from cnncli.nn.train import confusion_matrix

    counts = confusion_matrix(run.data[3], pred, classes)  # the last epoch's predictions
    if output is not None:
        from cnncli.io.write import npz_bytes, safetensors_bytes

        state = run.net.state_dict()
        encode = safetensors_bytes if output.suffix.lower() == ".safetensors" else npz_bytes
        atomic_write_bytes(output, encode(state))
        say_wrote(output, f"weights of {run.net.title}, {len(state)} arrays, state_dict names")
    if plot is not None:
        from cnncli.io.charts import curves_png

        atomic_write_bytes(plot, curves_png(run.history, run.net.title))
        say_wrote(plot, f"PNG of loss and accuracy over {len(run.history)} epochs")
    if filters is not None and first_conv is not None:
        from cnncli.io.charts import filters_png

        name = first_conv
        weight = run.net.state_dict()[f"{name}.weight"]
        atomic_write_bytes(
            filters,
            filters_png(
                weight, f"{run.net.title}: {name}.weight, {'x'.join(map(str, weight.shape))}"
            ),
        )
        say_wrote(filters, f"PNG of {name}'s {weight.shape[0]} learned kernels")
    return counts


def _say_stopped(what: str, kept: Path | None, checkpoint: Path | None) -> None:
    """Stop the command (exit 130), saying what was kept."""
    if kept is not None:
        where = f"wrote {kept}; --resume {checkpoint} continues from there"
    else:
        where = "no checkpoint was kept (give --checkpoint DIR to keep one)"
    raise Interrupted(f"{what}: {where}")


class _said_on_interrupt:  # noqa: N801 (a context manager used like a function)
    """On Ctrl-C, say on stderr which checkpoint is kept, then let the interrupt through."""

    def __init__(self, epoch: int, checkpoint: Path | None) -> None:
        self.epoch, self.checkpoint = epoch, checkpoint

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *rest: object) -> None:
        if kind is not KeyboardInterrupt:
            return
        if self.checkpoint is None:
            kept = "no checkpoint was kept (give --checkpoint DIR to keep one)"
        elif self.epoch > 1:
            kept = f"{self.checkpoint / 'checkpoint.npz'} holds epoch {self.epoch - 1}; --resume {self.checkpoint} continues"
        else:
            kept = "no epoch had ended, so no checkpoint was written"
        sys.stderr.write(f"stopped in epoch {self.epoch}: {kept}\n")


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
            TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[rate]:,.0f} img/s"),
            TimeRemainingColumn(), console=self.console, transient=True,
        )  # fmt: skip
        self.bar.__enter__()
        task = self.bar.add_task("train", total=None, loss=float("nan"), rate=0.0)
        start, first_seen = 0.0, -1

        def on_step(info: Any) -> None:
            nonlocal start, first_seen
            now = time.perf_counter()
            if first_seen < 0:  # the rate counts from the first step seen (resumed: mid-epoch)
                start, first_seen = now, info.seen
            rate = (info.seen - first_seen) / (now - start) if now > start else 0.0
            self.bar.update(
                task, completed=info.step, total=info.steps, loss=info.mean_loss, rate=rate
            )

        return on_step

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


class _CtrlC:
    """While active, the first Ctrl-C (SIGINT) only asks training to stop after this step;
    calling the object says whether it was asked.  A second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.pressed = False
        self.previous: Any = None

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
        sys.stderr.write("\nCtrl-C: stopping after this step (press again to stop at once)\n")

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def __call__(self) -> bool:
        return self.pressed
