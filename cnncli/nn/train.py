"""Training and evaluation loops: mini-batches of (x, y) through a model, its backward, a step.

One training step, with L the mean cross-entropy over a batch of B images::

    logits = model(x)                          (B, K)
    L = −1/B · Σ_b log softmax(logits_b)[y_b]
    dL/dlogits = (softmax(logits) − onehot(y)) / B
    model.backward(dL/dlogits)                 every layer's dL/dW, dL/db (the seed's formulas)
    optimizer.step(); optimizer.zero_grad()    see :mod:`cnncli.nn.optim`

An epoch visits every training image once, in an order drawn from a seeded generator.
Evaluation runs the model in eval mode (dropout off, BatchNorm's running statistics).

A run can stop between two steps (``stop()`` says so, e.g. after Ctrl-C): the epoch then
raises :class:`Stopped` holding its :class:`EpochState`, and an epoch started again from the
same generator state with that ``state`` continues at the next step as if never stopped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnncli.engine.fast import blas
from cnncli.engine.loss import cross_entropy, cross_entropy_with_grad
from cnncli.engine.switch import fast_enabled
from cnncli.errors import CnncliError, TrainingError
from cnncli.nn.layers.base import Layer
from cnncli.nn.optim import Optimizer

if TYPE_CHECKING:
    from cnncli.nn.data_parallel import Helper

#: A network whose largest layer takes at most this many multiply-adds per image trains with
#: OpenBLAS on one thread (LeNet-5 0.24M, TinyVGG 3.2M; AlexNet's and VGG's first layers
#: 87-105M): its products are small and between them NumPy's passes run on one thread,
#: beside OpenBLAS workers that would spin (:mod:`cnncli.engine.fast.blas`; benchmarks/README.md,
#: decision table).
ONE_THREAD_SAMPLE_MACS = 2**23


@dataclass
class StepInfo:
    """What a training step reports to a progress display."""

    step: int
    steps: int
    loss: float  # this step's loss
    seen: int
    mean_loss: float  # the mean over the epoch's images so far


@dataclass
class EpochState:
    """How far an epoch got: steps done and the sums its mean loss and accuracy come from."""

    step: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0


class Stopped(Exception):  # noqa: N818 (a request to stop, not an error)
    """Training stopped between two steps because ``stop()`` said so; ``state`` is how far."""

    def __init__(self, epoch: int, steps: int, state: EpochState) -> None:
        super().__init__(f"stopped in epoch {epoch} after step {state.step} of {steps}")
        self.epoch, self.steps, self.state = epoch, steps, state


def batches(n: int, batch_size: int, rng: np.random.Generator | None) -> Iterator[np.ndarray]:
    """Index batches covering range(n): shuffled by ``rng``, in order without one."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def train_epoch(
    model: Layer,
    optimizer: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    rng: np.random.Generator | None,
    *,
    epoch: int = 1,
    label_smoothing: float = 0.0,
    on_step: Callable[[StepInfo], None] | None = None,
    stop: Callable[[], bool] | None = None,
    state: EpochState | None = None,
    helper: Helper | None = None,
) -> tuple[float, float]:
    """One pass over (x, y) in mini-batches, shuffled by ``rng`` (in order without one);
    returns (mean loss, accuracy).

    With a ``helper`` (:func:`cnncli.nn.data_parallel.helper_for`), a second process
    computes half of each batch's forward and backward (the sum of the two halves'
    gradients is the batch's, rounded as the split adds it up).

    A loss that is NaN or infinite stops training with :class:`TrainingError` naming the
    epoch and step, before the step that would write it into the weights.  After each step,
    a true ``stop()`` raises :class:`Stopped` with the epoch's state; passing that ``state``
    back (with ``rng`` as it was when the epoch began) skips the steps already taken.
    """
    model.train()
    # The images need no gradient, so the first layer skips dL/dx (as PyTorch does).
    wanted, model.needs_input_grad = model.needs_input_grad, False
    try:
        single = one_blas_thread(model, x.shape[1:])
        # A fixed number of OpenBLAS threads, whatever the machine's load: one thread and two
        # may round differently, and a resumed run must end with the same bits.
        with blas.one_thread() if single else blas.fixed_threads():
            steps = math.ceil(len(y) / batch_size)
            done = state if state is not None else EpochState()
            for step, idx in enumerate(batches(len(y), batch_size, rng), start=1):
                if step <= done.step:
                    continue  # taken before the run stopped
                if helper is not None and len(idx) > 1:
                    # half the batch in the helper process (cnncli.nn.data_parallel);
                    # should it have failed, that half here: the same numbers either way
                    loss, right = helper.step(model, x[idx], y[idx], label_smoothing)
                    _check_finite(loss, epoch, step, steps, optimizer)
                else:
                    logits = model(x[idx])
                    target = y[idx]
                    value, grad = cross_entropy_with_grad(
                        logits, target, label_smoothing=label_smoothing
                    )
                    loss = float(value)
                    _check_finite(loss, epoch, step, steps, optimizer)
                    model.backward(grad)
                    right = int((logits.argmax(axis=1) == target).sum())
                optimizer.step()
                optimizer.zero_grad()
                done.step = step
                done.loss_sum += loss * len(idx)
                done.correct += right
                done.seen += len(idx)
                if on_step is not None:
                    on_step(StepInfo(step, steps, loss, done.seen, done.loss_sum / done.seen))
                if stop is not None and stop() and step < steps:
                    raise Stopped(epoch, steps, done)
    finally:
        model.needs_input_grad = wanted
    return done.loss_sum / done.seen, done.correct / done.seen


def _check_finite(loss: float, epoch: int, step: int, steps: int, optimizer: Optimizer) -> None:
    """A NaN or infinite loss stops training before its step writes it into the weights."""
    if not math.isfinite(loss):
        raise TrainingError(
            f"the loss became {loss} at epoch {epoch}, step {step} of {steps}",
            hint=f"try a smaller --lr (now {optimizer.lr:g})",
        )


def one_blas_thread(model: Layer, sample: tuple[int, ...]) -> bool:
    """Whether ``model``'s training steps run OpenBLAS on one thread: on the fast engine
    path, when its largest layer takes at most ``ONE_THREAD_SAMPLE_MACS`` multiply-adds
    for one image of shape ``sample`` (the plain path multiplies whole batches at once)."""
    if not fast_enabled() or not blas.available():
        return False
    from cnncli.nn.summary import summarize  # the shapes of every layer, nothing computed

    try:
        leaves = summarize(model, tuple(sample), batch=1).leaves
    except CnncliError:
        return False
    return max((r.macs for r in leaves), default=0) <= ONE_THREAD_SAMPLE_MACS


def evaluate(
    model: Layer, x: np.ndarray, y: np.ndarray, batch_size: int = 256
) -> tuple[float, float, np.ndarray]:
    """Mean loss, accuracy and the predicted class of each image, in eval mode."""
    model.eval()
    total, predictions = 0.0, []
    with blas.fixed_threads():  # the same bits on a busy machine (see train_epoch)
        for idx in batches(len(y), batch_size, None):
            logits = model(x[idx])
            total += float(cross_entropy(logits, y[idx])) * len(idx)
            predictions.append(logits.argmax(axis=1))
    pred = np.concatenate(predictions)
    return total / len(y), float((pred == y).mean()), pred


def confusion_matrix(y: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """counts[t, p]: how many images of true class t were predicted as p."""
    counts = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(counts, (y, pred), 1)
    return counts
