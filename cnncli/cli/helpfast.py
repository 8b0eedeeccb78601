"""Load Typer's Rich help renderer without the two modules cnncli's help never uses.

``typer.rich_utils`` draws every ``--help`` screen.  At import it also loads
``rich.markdown`` (markdown-it and Pygments behind it) and ``rich.traceback``
(rich.pretty and attrs), a large part of ``cnncli --help``'s time (the figure: the
decision table in benchmarks/README.md), for Markdown help text (cnncli's markup
mode is "rich") and pretty tracebacks (cnncli turns them off).  :func:`load_help_renderer` imports
``typer.rich_utils`` while those two modules are stand-ins whose classes load
the real module when first instantiated, then removes the stand-ins, so that a
later ``import rich.markdown`` gets the real module.  The help text drawn is the
same, byte for byte (the tests compare both ways); any surprise (another name
imported from those modules by a future Typer) falls back to the plain import.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

#: Module → the names ``typer.rich_utils`` imports from it.
DEFERRED = {"rich.markdown": ("Markdown",), "rich.traceback": ("Traceback",)}


def _stand_in(module: str, name: str) -> type:
    """A class whose instances are instances of ``module.name``, imported on first use."""

    def construct(cls: type, *args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return type(name, (), {"__new__": construct, "__module__": module})


def load_help_renderer() -> None:
    """Import ``typer.rich_utils`` with :data:`DEFERRED` standing in (once per process)."""
    if "typer.rich_utils" in sys.modules:
        return
    placed = []
    for module, names in DEFERRED.items():
        if module in sys.modules:
            continue
        stand_in = types.ModuleType(module)
        for name in names:
            setattr(stand_in, name, _stand_in(module, name))
        sys.modules[module] = stand_in
        placed.append(module)
    try:
        importlib.import_module("typer.rich_utils")
    except ImportError:
        sys.modules.pop("typer.rich_utils", None)
    finally:
        for module in placed:
            del sys.modules[module]
    importlib.import_module("typer.rich_utils")  # a no-op unless the deferred import failed
