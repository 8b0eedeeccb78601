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

import unicodedata


def one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``), so that it prints as one line.

    Messages quote names and values from files (a JSON key, a file name, a layer
    name); escaping here keeps every error one line and keeps terminal escape
    sequences from data out of the terminal.
    """
    if text.isprintable():
        return text
    return "".join(
        ch
        if ch.isprintable() or ch == " "
        else ch.encode("unicode_escape").decode("ascii")
        if unicodedata.category(ch)[0] == "C"
        else ch
        for ch in text
    )


class CnncliError(Exception):
    """Base class of every error that is the user's to fix (exit status 2).

    ``message`` and ``hint`` are kept to one line each (see :func:`one_line`).
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        message = one_line(str(message))
        super().__init__(message)
        self.message = message
        self.hint = None if hint is None else one_line(str(hint))

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


class TrainingError(CnncliError):
    """Training cannot go on: the loss became NaN or infinite."""
