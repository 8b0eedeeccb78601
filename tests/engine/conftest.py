"""Fixtures shared by the engine tests.

Every test in this folder runs twice: on the plain engine path (each op as its
formula reads) and on the fast path (the tuned methods of ``cnncli.engine.fast``
where they fit).  The tests in ``fast/`` are about the tuned methods themselves and
run on the fast path only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cnncli.engine import use_engine
from tests import oracle


@pytest.fixture(scope="module", params=["plain", "fast"], autouse=True)
def engine_path(request: pytest.FixtureRequest) -> Iterator[str]:
    """The engine path this module's tests run on, ``"plain"`` or ``"fast"``.

    Module-scoped, so that pytest runs a module's tests on one path, then on the
    other, and Hypothesis's tests can use it.
    """
    with use_engine(request.param):
        yield request.param


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread for a module of tiny ops.

    On a busy 2-core machine torch's thread hand-off costs more than the op itself.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    with oracle.one_torch_thread():
        yield
