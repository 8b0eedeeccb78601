"""Training and evaluation loops: mini-batches of (x, y) through a model, its backward, a step.

One training step, with L the mean cross-entropy over a batch of B images::

    logits = model(x)                          (B, K)
    L = −1/B · Σ_b log softmax(logits_b)[y_b]
    dL/dlogits = (softmax(logits) − onehot(y)) / B
    model.backward(dL/dlogits)                 every layer's dL/dW, dL/db (the seed's formulas)
    optimizer.step(); optimizer.zero_grad()    see :mod:`cnncli.nn.optim`

An epoch visits every training image once, in an order drawn from a seeded generator.
Evaluation runs the model in eval mode (dropout off, BatchNorm's running statistics).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from cnncli.engine.loss import cross_entropy, cross_entropy_backward
from cnncli.errors import TrainingError
from cnncli.nn.layers.base import Layer
from cnncli.nn.optim import Optimizer


@dataclass
class StepInfo:
    """What a training step reports to a progress display."""

    step: int
    steps: int
    loss: float
    seen: int


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
) -> tuple[float, float]:
    """One pass over (x, y) in mini-batches, shuffled by ``rng`` (in order without one);
    returns (mean loss, accuracy).

    A loss that is NaN or infinite stops training with :class:`TrainingError` naming the
    epoch and step, before the step that would write it into the weights.
    """
    model.train()
    steps = math.ceil(len(y) / batch_size)
    total_loss, correct, seen = 0.0, 0, 0
    for step, idx in enumerate(batches(len(y), batch_size, rng), start=1):
        logits = model(x[idx])
        target = y[idx]
        loss = float(cross_entropy(logits, target, label_smoothing=label_smoothing))
        if not math.isfinite(loss):
            raise TrainingError(
                f"the loss became {loss} at epoch {epoch}, step {step} of {steps}",
                hint=f"try a smaller --lr (now {optimizer.lr:g})",
            )
        grad = cross_entropy_backward(logits, target, label_smoothing=label_smoothing)
        model.backward(grad)
        optimizer.step()
        optimizer.zero_grad()
        total_loss += loss * len(idx)
        correct += int((logits.argmax(axis=1) == target).sum())
        seen += len(idx)
        if on_step is not None:
            on_step(StepInfo(step, steps, loss, seen))
    return total_loss / seen, correct / seen


def evaluate(
    model: Layer, x: np.ndarray, y: np.ndarray, batch_size: int = 256
) -> tuple[float, float, np.ndarray]:
    """Mean loss, accuracy and the predicted class of each image, in eval mode."""
    model.eval()
    total, predictions = 0.0, []
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
