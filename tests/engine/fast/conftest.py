"""The tuned methods of ``cnncli.engine.fast`` are tested on the fast path only."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from cnncli.engine import use_engine
from cnncli.engine.fast import pool as fast_pool


@pytest.fixture(scope="module", params=["fast"], autouse=True)
def engine_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """The fast path: what these tests check is only there."""
    with use_engine(request.param):
        yield request.param


@pytest.fixture
def pool_blocks(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``pool_blocks(threads, block_bytes=…, dense_block_bytes=…)``: fast pooling's blocks of
    planes shrunk (so that a small input runs in several) and shared among ``threads``
    threads from any input size, for this test."""

    def shrink(
        threads: int, *, block_bytes: int | None = None, dense_block_bytes: int | None = None
    ) -> None:
        if block_bytes is not None:
            monkeypatch.setattr(fast_pool, "BLOCK_BYTES", block_bytes)
        if dense_block_bytes is not None:
            monkeypatch.setattr(fast_pool, "DENSE_BLOCK_BYTES", dense_block_bytes)
        monkeypatch.setattr(fast_pool, "THREAD_MIN_BYTES", 0)
        monkeypatch.setattr(fast_pool, "THREADS", threads)

    return shrink
