"""Fitting a table to the terminal by leaving out whole columns, never cutting a cell.

Rich shrinks a table that is too wide by cutting cells (``features.…``, ``0.02…``);
a cut number reads as a different number.  :func:`fit_columns` instead chooses which
columns to keep: it leaves out the optional ones, in the order given, until the rest
fits, and the table's caption says what was left out (:func:`left_out_caption`).
``cnncli shapes`` and ``cnncli forward`` both use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text


@dataclass
class Fit:
    """The columns kept (indices, in order), the headers left out, and the widths."""

    keep: list[int]
    dropped: list[str]
    widths: list[int]
    #: The table's width with the kept columns (and ``extra``), as laid out.
    total: int
    #: Whether that fits the terminal (always true without a width).
    fits: bool


def cell_width(cell: str | Text) -> int:
    """Terminal cells of the widest line of a cell."""
    return max((cell_len(line) for line in str(cell).split("\n")), default=0)


def fit_columns(
    headers: Sequence[str],
    rows: Sequence[Sequence[str | Text]],
    optional: Sequence[int],
    width: int | None,
    *,
    gap: int,
    edges: int = 0,
    extra: int = 0,
) -> Fit:
    """Keep every column whose cells fit ``width`` in full, leaving out ``optional`` ones first.

    A table's width is the sum of its columns' widest cells (header included) plus
    ``gap`` between neighbouring columns, ``edges`` for both sides, and ``extra`` (a
    further column laid out by the caller, its gap included).  ``optional`` lists the
    indices that may be left out, in the order to leave them out; ``width`` None keeps all.
    """
    widths = [
        max([cell_width(header)] + [cell_width(row[i]) for row in rows])
        for i, header in enumerate(headers)
    ]

    def total(keep: list[int]) -> int:
        return sum(widths[k] for k in keep) + gap * max(len(keep) - 1, 0) + edges + extra

    keep = list(range(len(headers)))
    dropped: list[str] = []
    if width is not None:
        for i in optional:
            if total(keep) <= width:
                break
            keep.remove(i)
            dropped.append(headers[i])
    return Fit(keep, dropped, widths, total(keep), width is None or total(keep) <= width)


def left_out_caption(dropped: Sequence[str], where: str = "see --json") -> str:
    """``(narrow terminal: ms, zeros left out; see --json)``."""
    return f"(narrow terminal: {', '.join(dropped)} left out; {where})"
