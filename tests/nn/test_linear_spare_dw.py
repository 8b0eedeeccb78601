"""A large Linear layer writes its next dW into the last one when nothing else holds it,
and never into one that someone kept."""

from __future__ import annotations

import numpy as np
import pytest

from cnncli.engine.linear import linear_backward
from cnncli.nn import optim
from cnncli.nn.layers import Linear, Sequential
from cnncli.nn.layers import linear as linear_module


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> Sequential:
    monkeypatch.setattr(linear_module, "SPARE_DW_VALUES", 64)  # a small layer kept too
    net = Sequential(Linear(16, 8), Linear(8, 3))
    net.reset_parameters(np.random.default_rng(0))
    net.train()
    return net


def _step(net: Sequential, x: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
    net(x)
    net.backward(g)
    return net.named_grads()


def test_dw_is_written_into_the_last_one_nothing_holds(model: Sequential) -> None:
    rng = np.random.default_rng(1)
    opt = optim.SGD(model, lr=0.1, momentum=0.9)
    seen = []
    for _ in range(3):
        x = rng.standard_normal((4, 16), dtype=np.float32)
        g = rng.standard_normal((4, 3), dtype=np.float32)
        grads = _step(model, x, g)
        # the same numbers as a fresh product
        h = model[0]._x, model[1]._x
        _, want, _ = linear_backward(
            linear_backward(g, h[1], model[1]._param("weight"))[0], h[0], model[0]._param("weight")
        )
        np.testing.assert_array_equal(grads["0.weight"], want)
        seen.append(id(grads["0.weight"]))
        del grads
        opt.step()
        opt.zero_grad()
    assert len(set(seen)) == 1  # one array, written three times
    assert model[1]._spare_dw is None  # 24 values: below the size kept


def test_a_kept_dw_is_never_written_again(model: Sequential) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 16), dtype=np.float32)
    g = rng.standard_normal((4, 3), dtype=np.float32)
    kept = _step(model, x, g)["0.weight"]
    before = kept.copy()
    for layer in (model[0], model[1]):
        layer.grads = {}  # as zero_grad: only ``kept`` holds the old dW now
    again = _step(model, 2 * x, g)["0.weight"]
    assert again is not kept and np.array_equal(kept, before)
    np.testing.assert_allclose(again, 2 * before, rtol=1e-6)
