"""OpenBLAS on one thread around a small network's training (cnncli.engine.fast.blas).

The thread count is OpenBLAS's process-wide setting: the block must set it, restore it
whatever happens inside, and change no number.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from cnncli.engine import use_engine
from cnncli.engine.fast import blas
from cnncli.nn import optim, zoo
from cnncli.nn import train as train_module


def _threads() -> int | None:
    controls = blas._controls()
    return None if controls is None else int(controls[1]())  # type: ignore[call-overload]


def _numpy_has_openblas() -> bool:
    blas_info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    return sys.platform.startswith("linux") and "openblas" in str(blas_info.get("name", ""))


needs_openblas = pytest.mark.skipif(
    not _numpy_has_openblas(),
    reason="NumPy here is not built on OpenBLAS under Linux: there is no setting to change "
    "(test_found_exactly_where_numpy_runs_openblas checks that one_thread does nothing)",
)


def test_found_exactly_where_numpy_runs_openblas(monkeypatch: pytest.MonkeyPatch) -> None:
    # On the CI machine (NumPy's wheel, scipy-openblas, Linux) the setting must be found,
    # or the tests below would pass by doing nothing.
    assert blas.available() == _numpy_has_openblas()
    monkeypatch.setattr(blas, "_controls", lambda: None)  # another BLAS: a no-op
    assert not blas.available()
    with blas.one_thread():
        pass


@needs_openblas
def test_one_thread_inside_and_the_count_restored_after_an_error() -> None:
    before = _threads()
    assert before is not None
    controls = blas._controls()
    assert controls is not None
    controls[0](2)  # as on the 2-core CI machine, whatever the environment said
    try:
        with blas.one_thread():
            assert _threads() == 1
            with blas.one_thread():  # nested: still one, and the outer count survives
                assert _threads() == 1
            assert _threads() == 1
        assert _threads() == 2
        with pytest.raises(RuntimeError), blas.one_thread():
            raise RuntimeError("inside")
        assert _threads() == 2
    finally:
        controls[0](before)


@needs_openblas
def test_one_thread_changes_no_number_beyond_rounding() -> None:
    """One thread and two compute the same product; some builds add its terms in another
    order (0.3.31's Haswell kernel does), so the two agree to float32 rounding of its
    363-term sums, not always bit for bit."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((96, 363), dtype=np.float32)
    b = rng.standard_normal((363, 3025), dtype=np.float32)
    controls = blas._controls()
    assert controls is not None
    before = _threads()
    controls[0](2)
    try:
        two = a @ b
        with blas.one_thread():
            one = a @ b
    finally:
        controls[0](before)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)  # the sums' size
    for got in (one, two):
        assert np.all(np.abs(got - exact) <= 363 * 2**-24 * scale)  # float32 summation bound
    assert np.max(np.abs(one - two) / scale) < 1e-6


@needs_openblas
@pytest.mark.parametrize(
    ("model", "single"), [("lenet5", True), ("tinyvgg", True), ("alexnet", False)]
)
def test_which_networks_train_on_one_thread(model: str, single: bool) -> None:
    net = zoo.build(model)
    assert train_module.one_blas_thread(net, zoo.ZOO[model].input_shape) is single
    with use_engine("plain"):  # the plain path multiplies whole batches: threads kept
        assert not train_module.one_blas_thread(net, zoo.ZOO[model].input_shape)


@needs_openblas
def test_a_small_networks_epoch_runs_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int | None] = []
    real = blas.one_thread

    @contextmanager
    def recording() -> Iterator[None]:
        with real():
            seen.append(_threads())
            yield

    monkeypatch.setattr(train_module.blas, "one_thread", recording)
    net = zoo.build("lenet5")
    net.reset_parameters(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    train_module.train_epoch(net, optim.SGD(net, lr=0.01), x, y, 4, rng)
    assert seen == [1]
