"""OpenBLAS on the cores other processes leave free (cnncli.engine.fast.blas.within_free_cores),
applied once per outermost Layer call."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from cnncli.engine.fast import blas
from cnncli.errors import CnncliError
from cnncli.nn.layers import Linear, ReLU, Sequential
from cnncli.nn.layers import base as base_module
from tests.engine.fast.test_blas import _threads, needs_openblas


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="no /proc on this system")
def test_busy_cores_sees_a_competing_process() -> None:
    competitor = subprocess.Popen([sys.executable, "-S", "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        seen = [blas.busy_cores() for _ in range(5)]
    finally:
        competitor.kill()
        competitor.wait()
    assert all(n is not None for n in seen) and max(n or 0 for n in seen) >= 1


@pytest.fixture(autouse=True)
def _free_to_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about the change that the suite's conftest holds off."""
    monkeypatch.setattr(blas, "_FIXED", [0])
    for name in blas.EXPLICIT:
        monkeypatch.delenv(name, raising=False)


@needs_openblas
@pytest.mark.parametrize(("cores", "busy", "inside"), [(2, 1, 1), (2, 0, 2), (4, 1, 2), (2, 5, 1)])
def test_threads_fit_the_free_cores_and_come_back(
    monkeypatch: pytest.MonkeyPatch, cores: int, busy: int, inside: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(cores)))
    asked: list[int | None] = []

    def busy_cores(most: int | None = None) -> int:
        asked.append(most)
        return busy

    monkeypatch.setattr(blas, "busy_cores", busy_cores)
    controls = blas._controls()
    assert controls is not None
    before = _threads()
    controls[0](2)
    try:
        with blas.within_free_cores():
            assert _threads() == inside
        assert _threads() == 2
        with pytest.raises(RuntimeError), blas.within_free_cores():
            raise RuntimeError("inside")
        assert _threads() == 2
        with blas.fixed_threads(), blas.within_free_cores():  # training's: nothing asked
            assert _threads() == 2
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
        with blas.within_free_cores():  # a count the user chose: nothing asked
            assert _threads() == 2
        monkeypatch.delenv("OPENBLAS_NUM_THREADS")
        controls[0](1)
        with blas.within_free_cores():  # one thread already: nothing asked
            assert _threads() == 1
    finally:
        controls[0](before)  # type: ignore[arg-type]
    assert asked == [cores - 1] * 2  # a busy core counts from cores - threads + 1 on


def test_only_the_outermost_layer_call_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    entered = []

    @contextmanager
    def counting() -> Iterator[None]:
        entered.append(base_module._DEPTH[0])
        yield

    monkeypatch.setattr(blas, "within_free_cores", counting)
    net = Sequential(Linear(4, 3), ReLU(), Sequential(Linear(3, 2), ReLU()))
    net.reset_parameters(np.random.default_rng(0))
    net(np.ones((2, 4), dtype=np.float32))
    assert entered == [1]  # once, for the whole network (depth counted on entering)
    with pytest.raises(CnncliError):  # a shape error half-way: the depth comes back
        net(np.ones((2, 5), dtype=np.float32))
    assert base_module._DEPTH[0] == 0
    net[0](np.ones((2, 4), dtype=np.float32))  # a layer on its own is an outermost call too
    assert entered == [1, 1, 1]
