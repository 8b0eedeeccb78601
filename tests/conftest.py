"""Shared fixtures and helpers for the cnncli test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Hypothesis profiles: "ci" bounds example counts so the whole suite stays within minutes.
settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator, so that every randomized test is reproducible."""
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _engine_path_restored() -> Iterator[None]:
    """An in-process ``cnncli --engine ...`` chooses the path for the process; undo it."""
    from cnncli.engine import switch

    chosen = switch._chosen
    yield
    switch.set_engine(chosen)


@pytest.fixture(autouse=True)
def _blas_threads_fixed() -> Iterator[None]:
    """OpenBLAS keeps its thread count whatever else runs on the machine: the tests compare
    forwards bit for bit, and one thread rounds differently from two (a passing process
    would change the count, see cnncli.engine.fast.blas.within_free_cores; its own tests
    lift this)."""
    from cnncli.engine.fast import blas

    with blas.fixed_threads():
        yield
