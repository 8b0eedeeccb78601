"""The one error hierarchy of cnncli.

Every mistake a user can make (a bad shape, a bad parameter, a bad file, a bad
spec, a request that would exhaust memory) raises a subclass of
:class:`CnncliError`.  Its message is one line that names the values involved;
an optional ``hint`` is a second line telling the user what to do.  The CLI maps
every ``CnncliError`` to ``error: <message>`` on stderr and exit status 2 in one
place (``cnncli/cli/main.py``); anything else is a bug (exit status 1).

This module uses the standard library only, so that ``cnncli.engine`` can raise
these errors without importing anything but NumPy.
"""

from __future__ import annotations


class CnncliError(Exception):
    """Base class of every error that is the user's to fix (exit status 2)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ShapeError(CnncliError, ValueError):
    """An array has the wrong number of dimensions or sizes that do not fit."""


class ParameterError(CnncliError, ValueError):
    """A layer or op parameter is out of range (stride 0, negative padding, ...)."""


class InputFileError(CnncliError):
    """A file cannot be read or does not hold what cnncli expects."""


class OutputFileError(CnncliError):
    """A result cannot be written where the user asked."""


class SpecError(CnncliError):
    """An architecture spec (TOML/JSON) or a model name is invalid."""


class WeightsError(CnncliError):
    """A weight file does not match the model (missing/unexpected keys, shapes)."""


class ResourceLimitError(CnncliError):
    """The request would need more memory than the configured limit allows."""


class MissingExtraError(CnncliError):
    """An optional dependency (an extra) is needed but not installed."""
