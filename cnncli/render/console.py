"""The two consoles every command prints through: results on stdout, messages on stderr.

Both honour ``NO_COLOR`` and a non-terminal stream (plain text, no escape codes),
and take the terminal's width (``COLUMNS`` when set, as in tests).
"""

from __future__ import annotations

import os
import sys

from rich.console import Console


def make_console(stderr: bool = False, width: int | None = None) -> Console:
    """A Rich console for stdout (results) or stderr (notes), colour only on a terminal."""
    stream = sys.stderr if stderr else sys.stdout
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
