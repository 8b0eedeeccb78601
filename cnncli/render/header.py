"""The header every command prints first: input, op with its parameters, output shape.

The CLI builds the rows (label, text); this module only lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text


@dataclass
class Header:
    """Rows of ``label  text`` (a label may own several lines) and notes below them."""

    rows: list[tuple[str, list[str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, label: str, *lines: str) -> None:
        self.rows.append((label, [ln for ln in lines if ln]))

    def note(self, text: str) -> None:
        self.notes.append(text)


def render_header(header: Header) -> RenderableType:
    """The header as a two-column grid, then ``note:`` lines."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, lines in header.rows:
        for k, line in enumerate(lines):
            grid.add_row(label if k == 0 else "", Text(line))
    parts: list[RenderableType] = [grid]
    parts += [Text(f"note: {n}", style="dim") for n in header.notes]
    return Group(*parts)


def padding_by_name(pad: Sequence[int]) -> str:
    """``left 1, right 1, top 0, bottom 2`` for an F.pad-ordered (l, r, t, b) padding."""
    left, right, top, bottom = (int(p) for p in pad)
    return f"left {left}, right {right}, top {top}, bottom {bottom}"
