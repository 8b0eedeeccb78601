"""cnncli.nn.optim against torch.optim: the same weights after the same steps."""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np
import pytest

from cnncli.engine import conv2d
from cnncli.errors import ParameterError, ShapeError
from cnncli.nn import optim, zoo
from cnncli.nn.layers import Conv2d, Flatten, Linear, ReLU, Sequential
from tests.oracle import (
    one_torch_thread,
    our_train_step,
    scaled_error,
    torch_state_dict,
    torch_train_step,
)

torch = pytest.importorskip("torch", reason="torch.optim is the oracle")
torch_models = pytest.importorskip("tests.nn.torch_models")

TOL = 1e-5  # relative, as the issue asks
#: A gradient below this fraction of its tensor's largest is rounding noise in float32.
GRAD_NOISE = 1e-5

OPTIMIZERS: dict[str, tuple[Any, Any]] = {
    "sgd-nesterov-wd": (
        lambda m: optim.SGD(m, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4),
    ),
    "sgd-dampening-maximize": (
        lambda m: optim.SGD(m, lr=0.01, momentum=0.5, dampening=0.3, maximize=True),
        lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.5, dampening=0.3, maximize=True),
    ),
    "adam-wd": (
        lambda m: optim.Adam(m, lr=1e-3, weight_decay=1e-4),
        lambda p: torch.optim.Adam(p, lr=1e-3, weight_decay=1e-4),
    ),
    "adam-amsgrad": (
        lambda m: optim.Adam(m, lr=2e-3, betas=(0.8, 0.99), eps=1e-6, amsgrad=True),
        lambda p: torch.optim.Adam(p, lr=2e-3, betas=(0.8, 0.99), eps=1e-6, amsgrad=True),
    ),
    "adamw": (
        lambda m: optim.AdamW(m, lr=1e-3),
        lambda p: torch.optim.AdamW(p, lr=1e-3),
    ),
}


def _twins(name: str) -> tuple[Any, Any]:
    """The zoo model and its torch twin with the same initial weights."""
    torch.manual_seed(0)
    theirs = torch_models.build(name)
    ours = getattr(zoo, name)()
    ours.load_state_dict({k: v.copy() for k, v in torch_state_dict(theirs).items()})
    return ours, theirs


def _batches(shape: tuple[int, ...], n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [
        (rng.standard_normal((4, *shape)).astype(np.float32), rng.integers(0, 10, 4))
        for _ in range(n)
    ]


@pytest.mark.parametrize("model_name", ["lenet5", "tinyvgg"])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_three_steps_give_torchs_weights(model_name: str, opt_name: str) -> None:
    ours, theirs = _twins(model_name)
    make_ours, make_theirs = OPTIMIZERS[opt_name]
    o_opt, t_opt = make_ours(ours), make_theirs(theirs.parameters())
    shape = (1, 28, 28) if model_name == "lenet5" else (3, 64, 64)
    noise = {}  # per parameter: where a step's gradient was at float32 rounding's level
    with one_torch_thread():
        for x, y in _batches(shape, 3):
            ours_loss, their_loss = (
                our_train_step(ours, o_opt, x, y),
                torch_train_step(theirs, t_opt, x, y),
            )
            assert ours_loss == pytest.approx(their_loss, rel=1e-5)
            for key, p in theirs.named_parameters():
                g = np.abs(p.grad.numpy())  # exact zeros (a dead ReLU) are no noise
                noise[key] = noise.get(key, False) | ((g > 0) & (g < GRAD_NOISE * g.max()))
    expected = torch_state_dict(theirs)
    start = _twins(model_name)[0].state_dict()
    for key, value in ours.state_dict().items():
        assert not np.array_equal(value, start[key]), f"{key} did not move"
        # Adam divides each gradient by its own size: where a gradient is a sum that
        # cancels to rounding noise (-3.4e-9 against 1e-3 elsewhere, on LeNet-5's first
        # Linear), two correct float32 orders of summation give steps of different sizes.
        # Those few weights may differ by up to the three steps' size; all others by TOL.
        vague = noise.get(key, np.zeros(value.shape, bool)) & opt_name.startswith("adam")
        assert vague.sum() <= max(1, value.size // 100), key  # 24 of 16,900 at most here
        assert scaled_error(value[~vague], expected[key][~vague]) < TOL, key
        assert np.all(np.abs(value - expected[key])[vague] <= 3 * o_opt.lr), key


def test_step_size_matches_torch_through_a_schedule() -> None:
    ours, theirs = _twins("lenet5")
    o_opt, t_opt = optim.SGD(ours, lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)
    o_sched = optim.CosineAnnealingLR(o_opt, T_max=3, eta_min=0.01)
    t_sched = torch.optim.lr_scheduler.CosineAnnealingLR(t_opt, T_max=3, eta_min=0.01)
    with one_torch_thread():
        for x, y in _batches((1, 28, 28), 4):
            our_train_step(ours, o_opt, x, y), torch_train_step(theirs, t_opt, x, y)
            o_sched.step(), t_sched.step()
    expected = torch_state_dict(theirs)
    for key, value in ours.state_dict().items():
        assert scaled_error(value, expected[key]) < TOL, key


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda o: optim.StepLR(o, 3, gamma=0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
        (lambda o: optim.CosineAnnealingLR(o, 5), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 5)),
        (lambda o: optim.CosineAnnealingLR(o, 4, 1e-3),
         lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 4, 1e-3)),
    ],
)  # fmt: skip
def test_schedules_give_torchs_learning_rates(ours: Any, theirs: Any) -> None:
    model = zoo.lenet5()
    o_opt = optim.SGD(model, lr=0.2)
    t_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    o_sched, t_sched = ours(o_opt), theirs(t_opt)
    seen = []
    for _ in range(14):  # past T_max, where the cosine climbs again
        t_opt.step()
        o_sched.step(), t_sched.step()
        seen.append(o_opt.lr)
        assert o_opt.lr == pytest.approx(t_opt.param_groups[0]["lr"], rel=1e-12, abs=1e-15)
    assert len(set(seen)) > 2  # the rate did change


def test_a_resumed_optimizer_continues_exactly() -> None:
    batches = _batches((1, 28, 28), 3)
    straight, _ = _twins("lenet5")
    opt = optim.Adam(straight, lr=1e-3)
    for x, y in batches:
        our_train_step(straight, opt, x, y)
    first, _ = _twins("lenet5")
    opt1 = optim.Adam(first, lr=1e-3)
    for x, y in batches[:2]:
        our_train_step(first, opt1, x, y)
    saved_weights, saved_state = first.state_dict(), opt1.state_dict()
    resumed, _ = _twins("lenet5")
    resumed.load_state_dict({k: v.copy() for k, v in saved_weights.items()})
    opt2 = optim.Adam(resumed, lr=1e-3)
    opt2.load_state_dict(saved_state)
    our_train_step(resumed, opt2, *batches[2])
    for key, value in straight.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)
    with pytest.raises(ParameterError):
        optim.SGD(resumed, lr=1e-3).load_state_dict(saved_state)


def test_the_forward_after_a_step_uses_the_new_weights() -> None:
    """A Winograd layer (64 channels, 3x3) remembers its weight's transform; a step must not
    leave the old transform in use."""
    rng = np.random.default_rng(3)
    model = Sequential(Conv2d(64, 64, 3, padding=1), ReLU(), Flatten(), Linear(64 * 8 * 8, 10))
    model.reset_parameters(rng)
    x = rng.standard_normal((2, 64, 8, 8)).astype(np.float32)
    y = np.array([1, 7])
    opt = optim.SGD(model, lr=0.5)
    before = model(x)
    our_train_step(model, opt, x, y)
    w, b = model.parameters()["0.weight"], model.parameters()["0.bias"]
    fresh = np.maximum(conv2d(x, np.array(w), np.array(b), padding=1), 0).reshape(2, -1)
    lin_w, lin_b = model.parameters()["3.weight"], model.parameters()["3.bias"]
    after = model(x)
    np.testing.assert_allclose(after, fresh @ lin_w.T + lin_b, rtol=1e-4, atol=1e-5)
    assert not np.allclose(after, before)


@pytest.mark.parametrize("make", [lambda m: optim.SGD(m, lr=0.1, momentum=0.9), optim.Adam])
def test_a_step_writes_into_old_weights_only_when_no_one_holds_them(make: Any) -> None:
    """The array a step replaced is written by the next one only if nothing else holds it."""
    rng = np.random.default_rng(4)
    model = Sequential(Flatten(), Linear(12, 8), ReLU(), Linear(8, 3))
    model.reset_parameters(rng)
    x, y = rng.standard_normal((5, 1, 3, 4)).astype(np.float32), rng.integers(0, 3, 5)
    opt = make(model)
    our_train_step(model, opt, x, y)
    held = model.parameters()["1.weight"]  # a caller keeps this one
    values = held.copy()
    unheld = weakref.ref(model.parameters()["3.weight"])  # and not this one
    for _ in range(4):
        our_train_step(model, opt, x, y)
        assert model.parameters()["1.weight"] is not held
    np.testing.assert_array_equal(held, values)
    # The array of the first step is written again by every second step after it.
    assert unheld() is model.parameters()["3.weight"]


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_updates_in_small_blocks_on_threads_give_the_same_bits(
    opt_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of 5 values (ragged last ones) shared among two threads: the weights and the
    optimizer's state are bit for bit those of one block per parameter."""
    make = OPTIMIZERS[opt_name][0]
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((6, 1, 3, 4)).astype(np.float32), rng.integers(0, 3, 6)
    results = []
    for blocks in (None, 5):
        if blocks is not None:
            monkeypatch.setattr(optim, "BLOCK_VALUES", blocks)
            monkeypatch.setattr(optim, "PARALLEL_VALUES", 1)
            monkeypatch.setenv("CNNCLI_NUM_THREADS", "2")
        model = Sequential(Flatten(), Linear(12, 8), ReLU(), Linear(8, 3))
        model.reset_parameters(np.random.default_rng(6))
        opt = make(model)
        for _ in range(3):
            our_train_step(model, opt, x, y)
        results.append((model.state_dict(), opt.state_dict()["state"]))
    (weights, state), (weights_b, state_b) = results
    assert weights.keys() == weights_b.keys() and state.keys() == state_b.keys()
    for key, value in weights.items():
        np.testing.assert_array_equal(weights_b[key], value)
    for key, entries in state.items():
        for name, value in entries.items():
            np.testing.assert_array_equal(state_b[key][name], value)


def test_bad_arguments_are_our_errors() -> None:
    model = zoo.lenet5()
    model.reset_parameters(np.random.default_rng(0))
    for bad in (
        lambda: optim.SGD(model, lr=-1.0),
        lambda: optim.SGD(model, lr=math.nan),
        lambda: optim.SGD(model, lr=0.1, nesterov=True),
        lambda: optim.Adam(model, betas=(0.9, 1.0)),
        lambda: optim.StepLR(optim.SGD(model), 0),
        lambda: optim.CosineAnnealingLR(optim.SGD(model), 0),
    ):
        with pytest.raises(ParameterError):
            bad()
    with pytest.raises(ParameterError):
        model.set_parameters({"features.0.nothing": np.zeros(1)})
    with pytest.raises(ShapeError):
        model.set_parameters({"features.0.weight": np.zeros((1, 1))})
