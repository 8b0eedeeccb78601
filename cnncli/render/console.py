"""The two consoles every command prints through: results on stdout, messages on stderr.

Both honour ``NO_COLOR`` and a non-terminal stream (plain text, no escape codes),
and take the terminal's width (``COLUMNS`` when set, as in tests).  Into a
non-terminal stream no line ends in spaces (Rich pads table cells to the width).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any, TextIO

from rich.console import Console

_TRAILING = re.compile(r" +(?=\n)")


class NoTrailingSpaces:
    """A text stream that drops the spaces at the end of each line written through it.

    Spaces at the end of one write are held until the next shows whether a line
    end follows.  Everything else (``isatty``, ``fileno``, ``encoding``) is the
    wrapped stream's.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._held = ""

    def write(self, text: str) -> int:
        whole = self._held + text
        body = whole.rstrip(" ")
        self._held = whole[len(body) :]
        self._stream.write(_TRAILING.sub("", body))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def make_console(stderr: bool = False, width: int | None = None) -> Console:
    """A Rich console for stdout (results) or stderr (notes), colour only on a terminal."""
    stream: Any = sys.stderr if stderr else sys.stdout
    if not _isatty(stream):
        stream = NoTrailingSpaces(stream)
    no_color = "NO_COLOR" in os.environ
    return Console(
        file=stream,
        width=width,
        no_color=no_color,
        highlight=False,
        soft_wrap=False,
        emoji=False,
        color_system=None if no_color else "auto",
    )


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
