"""Finding cnncli's side of each op case: the engine set up as the command line does it,
and its functions.

A lookup that fails raises :class:`UnavailableError` (the case then reports "not
available") instead of crashing.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any


class UnavailableError(Exception):
    """cnncli's side of a case cannot be imported or built (yet)."""


@functools.cache
def set_up_engine() -> None:
    """Set the engine up as ``cnncli`` does on its fast path: ``cnncli.engine.fast.setup()``.

    Importing the engine changes nothing in the process; the command line (and any program
    that wants it) calls ``setup()`` once.  Without it the big temporaries of Winograd and
    im2col are returned to the system after every call (see benchmarks/README.md).
    """
    try:
        switch = importlib.import_module("cnncli.engine.switch")
        fast = importlib.import_module("cnncli.engine.fast")
    except ImportError:
        return  # an engine from before the switch tuned malloc when it was imported
    if switch.fast_enabled():
        fast.setup()


def engine_function(name: str, module: str) -> Callable[..., Any]:
    """Return ``cnncli.engine.<name>``, else ``cnncli.engine.<module>.<name>``."""
    set_up_engine()
    errors = []
    for where in ("cnncli.engine", f"cnncli.engine.{module}"):
        try:
            mod = importlib.import_module(where)
        except ImportError as exc:
            errors.append(f"{where}: {exc}")
            continue
        fn = getattr(mod, name, None)
        if callable(fn):
            return fn  # type: ignore[no-any-return]
    raise UnavailableError(
        f"cnncli.engine.{name} not found ({'; '.join(errors) or 'not exported'})"
    )
