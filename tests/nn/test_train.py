"""cnncli.nn.train: LeNet-5 learns real handwriting; a diverging loss stops cleanly."""

from __future__ import annotations

import numpy as np
import pytest

from cnncli.errors import TrainingError
from cnncli.io.datasets import load_builtin, stratified_split
from cnncli.nn import optim, zoo
from cnncli.nn.train import batches, confusion_matrix, evaluate, train_epoch


def test_batches_cover_every_index_once() -> None:
    rng = np.random.default_rng(0)
    seen = np.concatenate(list(batches(103, 10, rng)))
    assert sorted(seen.tolist()) == list(range(103)) and not np.array_equal(seen, np.arange(103))
    assert [len(b) for b in batches(25, 10, None)] == [10, 10, 5]


def test_lenet5_learns_mnist_digits() -> None:
    """A short run (1,500 training images, 2 epochs): the loss falls and accuracy on held-out
    digits is far above chance (0.1)."""
    data = load_builtin("mnist-5k")
    train, val = stratified_split(data.y, 0.1, seed=0)
    train = train[np.random.default_rng(1).permutation(len(train))[:1500]]
    model = zoo.lenet5()
    model.reset_parameters(np.random.default_rng(0))
    opt = optim.SGD(model, lr=0.05, momentum=0.9)
    before, acc_before, _ = evaluate(model, data.x[val], data.y[val])
    rng = np.random.default_rng(0)
    losses = []
    for epoch in (1, 2):
        loss, _ = train_epoch(model, opt, data.x[train], data.y[train], 32, rng, epoch=epoch)
        losses.append(loss)
    after, acc_after, pred = evaluate(model, data.x[val], data.y[val])
    assert losses[1] < losses[0] and after < before / 2
    assert acc_after > 0.7 > acc_before + 0.3
    counts = confusion_matrix(data.y[val], pred, 10)
    assert counts.sum() == len(val) and np.trace(counts) == round(acc_after * len(val))


def test_a_diverging_loss_stops_with_the_epoch_and_step() -> None:
    data = load_builtin("digits")
    model = zoo.lenet5()
    model.reset_parameters(np.random.default_rng(0))
    x = np.repeat(np.repeat(data.x[:64], 4, axis=2), 4, axis=3)[:, :, 2:30, 2:30].copy()
    x[40] = np.nan  # in the second batch of 32, taken in order
    opt = optim.SGD(model, lr=0.01)
    with pytest.raises(TrainingError, match=r"became nan at epoch 3, step 2 of 2") as info:
        train_epoch(model, opt, x, data.y[:64], 32, None, epoch=3)
    weights = model.state_dict()
    assert all(np.isfinite(v).all() for v in weights.values())  # the bad step was not taken
    assert "smaller --lr" in (info.value.hint or "")
