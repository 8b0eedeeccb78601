"""cnncli.nn.data_parallel: half of each training step in a helper process.

The split step must give the whole batch's gradient (within float32 rounding of the other
order of summation), the helper must compute its half with the very bits the parent would,
training must go on alone, with the same numbers, when the helper dies, and only networks
whose images do not interact in a batch may be split.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnncli.engine.loss import cross_entropy, cross_entropy_backward
from cnncli.errors import TrainingError
from cnncli.io.datasets import load_builtin
from cnncli.nn import data_parallel, optim, zoo
from cnncli.nn.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, ReLU, Sequential
from cnncli.nn.train import train_epoch


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_builtin("mnist-5k")
    return data.x[:256].astype(np.float32), data.y[:256].astype(np.int64)


def _lenet(seed: int = 0):
    model = zoo.build("lenet5")
    model.reset_parameters(np.random.default_rng(seed))
    model.train()
    model.needs_input_grad = False
    return model


@pytest.fixture
def split_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Helpers for the small batches and runs of these tests (the thresholds are speed's)."""
    monkeypatch.setattr(data_parallel, "MIN_BATCH", 2)
    monkeypatch.setattr(data_parallel, "MIN_SAMPLES", 2)
    monkeypatch.setenv("CNNCLI_NUM_THREADS", "2")


@pytest.mark.parametrize("n", [64, 37, 2])
def test_split_step_gives_the_whole_batchs_gradient(
    digits: tuple[np.ndarray, np.ndarray], split_anything: None, n: int
) -> None:
    x, y = digits[0][:n], digits[1][:n]
    whole, split = _lenet(), _lenet()
    logits = whole(x)
    loss = float(cross_entropy(logits, y))
    whole.backward(cross_entropy_backward(logits, y))
    with data_parallel.helper_for(split, x, n) as helper:
        assert helper is not None
        got_loss, right = helper.step(split, x, y)
        assert helper.alive and helper.failure is None
    assert got_loss == pytest.approx(loss, rel=1e-6)
    assert right == int((logits.argmax(axis=1) == y).sum())
    want, got = whole.named_grads(), split.named_grads()
    assert sorted(got) == sorted(want) and len(got) == 10
    for name, g in want.items():
        scale = float(np.abs(g).max())
        np.testing.assert_allclose(got[name], g, rtol=0, atol=2e-6 * scale, err_msg=name)


def test_the_helper_computes_its_half_with_the_parents_bits(
    digits: tuple[np.ndarray, np.ndarray], split_anything: None
) -> None:
    """The same split step, once with the helper and once with the helper closed (the
    parent then computes both halves itself): the same bits."""
    x, y = digits[0][:64], digits[1][:64]
    helped, alone = _lenet(3), _lenet(3)
    with data_parallel.helper_for(helped, x, 64) as helper:
        assert helper is not None
        loss_h, right_h = helper.step(helped, x, y)
        assert helper.failure is None
    with data_parallel.helper_for(alone, x, 64) as closed:
        assert closed is not None
        closed.close()
        assert not closed.alive
        loss_a, right_a = closed.step(alone, x, y)
    assert (loss_h, right_h) == (loss_a, right_a)
    for name, g in helped.named_grads().items():
        assert np.array_equal(g, alone.named_grads()[name]), name


def test_training_goes_on_alone_with_the_same_numbers_when_the_helper_dies(
    digits: tuple[np.ndarray, np.ndarray], split_anything: None
) -> None:
    x, y = digits
    working = _train_with(x, y, "working")
    killed = _train_with(x, y, "killed")
    alone = _train_with(x, y, "closed")
    assert working["failure"] is None and working["alive"]
    # The kill lands between two steps: the next step's orders either find the pipe
    # closed already or go into its buffer before the helper is gone, and then its
    # reply never comes.  Either way the helper is stopped, with the reason said.
    assert not killed["alive"]
    assert killed["failure"] in (
        "the helper process could not be reached",
        "the helper process ended",
    )
    for name, value in working["state"].items():
        assert np.array_equal(value, killed["state"][name]), name
        assert np.array_equal(value, alone["state"][name]), name


def _train_with(x: np.ndarray, y: np.ndarray, mode: str) -> dict:
    """As :func:`_train`, with the helper handed to train_epoch."""
    model = _lenet(1)
    opt = optim.SGD(model, lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    with data_parallel.helper_for(model, x, 32) as helper:
        assert helper is not None
        if mode == "closed":
            helper.close()
        for epoch in (1, 2):

            def on_step(info, epoch=epoch):
                if mode == "killed" and epoch == 2 and info.step == 3:
                    helper._process.kill()  # as the system's OOM killer might

            train_epoch(model, opt, x, y, 32, rng, epoch=epoch, on_step=on_step, helper=helper)
        return {"state": model.state_dict(), "failure": helper.failure, "alive": helper.alive}


def test_split_training_learns_as_one_process_does(
    digits: tuple[np.ndarray, np.ndarray], split_anything: None
) -> None:
    """Two epochs with and without the helper end within float32 rounding of each other."""
    x, y = digits
    split = _train_with(x, y, "working")["state"]
    model = _lenet(1)
    opt = optim.SGD(model, lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    for epoch in (1, 2):
        train_epoch(model, opt, x, y, 32, rng, epoch=epoch)
    for name, value in model.state_dict().items():
        # The split really ran (its sums round otherwise), and ends within rounding drift.
        assert not np.array_equal(value, split[name]) or value.size < 20
        np.testing.assert_allclose(split[name], value, rtol=0, atol=1e-4, err_msg=name)


def test_a_diverging_loss_stops_a_split_run_before_its_step(
    digits: tuple[np.ndarray, np.ndarray], split_anything: None
) -> None:
    x, y = digits[0][:64].copy(), digits[1][:64]
    x[50] = np.nan  # in the second batch's helper half
    model = _lenet()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    opt = optim.SGD(model, lr=0.01)
    with data_parallel.helper_for(model, x, 32) as helper:
        with pytest.raises(TrainingError, match=r"became nan at epoch 2, step 2 of 2"):
            train_epoch(model, opt, x, y, 32, None, epoch=2, helper=helper)
        assert helper is not None and helper.failure is None
    after = model.state_dict()
    assert all(np.isfinite(v).all() for v in after.values())  # the bad step was not taken
    assert any(not np.array_equal(before[k], after[k]) for k in before)  # the first was


def _small(*extra) -> Sequential:
    return Sequential(Conv2d(1, 4, 3), ReLU(), *extra, Flatten(), Linear(4 * 26 * 26, 10))


@pytest.mark.parametrize(
    ("model", "batch", "samples", "threads", "expected"),
    [
        (_small(), 64, 4500, "2", True),
        (_small(BatchNorm2d(4)), 64, 4500, "2", False),  # statistics over the whole batch
        (_small(Dropout(0.5)), 64, 4500, "2", False),  # masks from the parent's generator
        (_small(Dropout(0.0)), 64, 4500, "2", True),
        (_small(), 16, 4500, "2", False),  # batches too small to gain
        (_small(), 64, 500, "2", False),  # a run too short to pay for the start
        (_small(), 64, 4500, "1", False),  # one thread asked for
    ],
)
def test_only_networks_whose_images_do_not_interact_are_split(
    monkeypatch: pytest.MonkeyPatch,
    model: Sequential,
    batch: int,
    samples: int,
    threads: str,
    expected: bool,
) -> None:
    monkeypatch.setenv("CNNCLI_NUM_THREADS", threads)
    model.reset_parameters(np.random.default_rng(0))
    assert data_parallel.suits(model, (1, 28, 28), batch, samples) is expected


def test_a_large_network_keeps_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """AlexNet's products keep both cores busy: no helper (its steps run OpenBLAS on two)."""
    monkeypatch.setenv("CNNCLI_NUM_THREADS", "2")
    model = zoo.build("alexnet")
    model.reset_parameters(np.random.default_rng(0))
    assert not data_parallel.suits(model, (3, 224, 224), 64, 4500)
    lenet = zoo.build("lenet5")
    lenet.reset_parameters(np.random.default_rng(0))
    assert data_parallel.suits(lenet, (1, 28, 28), 64, 4500)


def _no_room(fd: int, offset: int, length: int) -> None:
    raise OSError(28, "No space left on device")


def _no_interpreter(*args: object, **kwargs: object) -> None:
    raise FileNotFoundError(2, "No such file or directory", "python")


@pytest.mark.parametrize(
    ("patch", "why"),
    [
        ((data_parallel.os, "posix_fallocate", _no_room), "could not be started"),
        ((data_parallel.subprocess, "Popen", _no_interpreter), "could not be started"),
        (None, "could not be handed to the helper"),  # a layer that does not pickle
    ],
)
def test_a_helper_that_cannot_start_leaves_the_parent_alone_with_the_same_numbers(
    digits: tuple[np.ndarray, np.ndarray],
    split_anything: None,
    monkeypatch: pytest.MonkeyPatch,
    patch: tuple | None,
    why: str,
) -> None:
    x, y = digits[0][:64], digits[1][:64]
    helped, alone = _lenet(4), _lenet(4)
    with data_parallel.helper_for(helped, x, 64) as working:
        assert working is not None
        want = working.step(helped, x, y)
    if patch is None:
        alone[0][0].unpicklable = lambda: None  # a lambda does not pickle
    else:
        monkeypatch.setattr(*patch)
    with data_parallel.helper_for(alone, x, 64) as helper:
        assert helper is not None and not helper.alive
        assert why in (helper.failure or "")
        assert helper.step(alone, x, y) == want
    for name, g in helped.named_grads().items():
        assert np.array_equal(g, alone.named_grads()[name]), name


def test_each_process_of_a_split_step_runs_one_engine_thread(
    split_anything: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two processes hold both cores: each half runs the engine on one thread (where
    TinyVGG's flat image would take two, and round its dW differently), in the parent as in
    the helper, whose half has the bits of the parent's own computation of it."""
    from cnncli.engine.fast import threads

    seen: list[int] = []
    real = data_parallel.part_step

    def part_step(*args, **kwargs):
        seen.append(threads.num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(data_parallel, "part_step", part_step)
    rng = np.random.default_rng(5)
    x = rng.random((32, 3, 64, 64), dtype=np.float32)
    y = rng.integers(0, 10, 32)
    grads = []
    for close in (False, True):
        net = zoo.build("tinyvgg")
        net.reset_parameters(np.random.default_rng(0))
        net.train()
        with data_parallel.helper_for(net, x, 32) as helper:
            assert helper is not None
            if close:
                helper.close()
            helper.step(net, x, y)
        grads.append(net.named_grads())
    assert seen == [1, 1, 1] and threads.num_threads() == 2
    for name, g in grads[0].items():
        assert np.array_equal(g, grads[1][name]), name
