"""Which engine path computes: ``"plain"`` (the op files themselves) or ``"fast"``.

Every op in :mod:`cnncli.engine` has one plain implementation that reads like its
formula: the convolution is im2col and one matrix product, pooling is a max or a
mean over a strided window view.  The ``"fast"`` path (the default) lets an op hand
a call to :mod:`cnncli.engine.fast` when a tuned method applies to that layer
(Winograd, shift-and-add, tiled im2col, two-pass pooling); each op says where it
asks, in one visible dispatch.  Both paths give PyTorch's numbers, and the tests run
the parity suite on each.

The path is chosen by :func:`set_engine`, for a block of code by :func:`use_engine`,
and otherwise by ``CNNCLI_ENGINE=plain|fast``; the command line's ``cnncli --engine
plain|fast`` sets it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from cnncli.errors import ParameterError

ENGINES = ("plain", "fast")
DEFAULT = "fast"
ENV = "CNNCLI_ENGINE"

_chosen: str | None = None  # set by set_engine; None: CNNCLI_ENGINE, else the default


def _check(name: object, where: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in ENGINES:
        raise ParameterError(f"{where} must be one of {', '.join(ENGINES)}, got {name!r}")
    return name.strip().lower()


def get_engine() -> str:
    """The engine path in force: ``"plain"`` or ``"fast"``."""
    if _chosen is not None:
        return _chosen
    value = os.environ.get(ENV, "")
    return _check(value, ENV) if value.strip() else DEFAULT


def set_engine(name: str | None) -> None:
    """Choose the engine path for the rest of the process: ``"plain"`` or ``"fast"``.

    ``None`` forgets the choice, so that ``CNNCLI_ENGINE`` (else ``"fast"``) applies again.
    """
    global _chosen
    _chosen = None if name is None else _check(name, "the engine")


def fast_enabled() -> bool:
    """Whether ops may hand a call to :mod:`cnncli.engine.fast`."""
    return get_engine() == "fast"


@contextmanager
def use_engine(name: str) -> Iterator[None]:
    """Run a block of code on one engine path, then restore the one before."""
    old = _chosen
    set_engine(name)
    try:
        yield
    finally:
        set_engine(old)
