"""The tuned methods of ``cnncli.engine.fast`` are tested on the fast path only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cnncli.engine import use_engine


@pytest.fixture(scope="module", params=["fast"], autouse=True)
def engine_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """The fast path: what these tests check is only there."""
    with use_engine(request.param):
        yield request.param
