"""Training curves in the terminal: loss and accuracy by epoch, as character charts.

Each chart is ``height`` rows of text.  Epoch e of E sits in column
round((e − 1)/(E − 1) · (width − 1)); a value v in row round((hi − v)/(hi − lo) · (height − 1)),
so the top row is the largest value.  The training set's points are ``●``, the held-out
set's ``◆`` (``◉`` where both fall in one cell); the axis shows hi and lo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

TRAIN_MARK, HELD_OUT_MARK, BOTH_MARK = "●", "◆", "◉"


def _chart(
    title: str, epochs: Sequence[int], lines: list[list[float]], width: int, height: int,
    percent: bool,
) -> Any:  # fmt: skip
    from rich.text import Text

    values = [v for vs in lines for v in vs if math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * (abs(lo) or 1), hi + 0.5 * (abs(hi) or 1)

    def label(v: float) -> str:
        return f"{v:.1%}" if percent else f"{v:.4g}"

    pad = max(len(label(hi)), len(label(lo)))
    cells: dict[tuple[int, int], str] = {}
    span = max(1, len(epochs) - 1)
    for n, vs in enumerate(lines):
        mark = TRAIN_MARK if n == 0 else HELD_OUT_MARK
        for i, v in enumerate(vs):
            if not math.isfinite(v):
                continue
            col = round(i / span * (width - 1)) if len(epochs) > 1 else width // 2
            row = round((hi - v) / (hi - lo) * (height - 1))
            cells[row, col] = BOTH_MARK if (row, col) in cells and cells[row, col] != mark else mark
    out = Text(f"{title}\n", style="bold")
    style = {TRAIN_MARK: "cyan", HELD_OUT_MARK: "magenta", BOTH_MARK: "bold white"}
    for row in range(height):
        axis = label(hi) if row == 0 else label(lo) if row == height - 1 else ""
        out.append(f"{axis:>{pad}} │")
        for col in range(width):
            cell = cells.get((row, col), " ")
            out.append(cell, style=style.get(cell, ""))
        out.append("\n")
    out.append(" " * pad + " └" + "─" * width + "\n")
    first, last = str(epochs[0]), str(epochs[-1])
    gap = max(1, width - len(first) - len(last))
    out.append(" " * (pad + 2) + (first + " " * gap + last if len(epochs) > 1 else first))
    out.append("  epoch\n")
    return out


def training_curves(history: Sequence[dict[str, Any]], width: int, height: int = 10) -> Any:
    """Loss and accuracy charts of a run's history (one dict per epoch), fit to ``width``."""
    from rich.console import Group
    from rich.text import Text

    epochs = [int(h["epoch"]) for h in history]
    plot_w = max(10, min(width - 12, 8 * len(epochs) + 1, 72))
    legend = Text.assemble(("  ", ""), (TRAIN_MARK, "cyan"), " train   ",
                           (HELD_OUT_MARK, "magenta"), " held out")  # fmt: skip
    return Group(
        _chart("loss", epochs, [[h["train_loss"] for h in history],
                                [h["val_loss"] for h in history]], plot_w, height, False),
        _chart("accuracy", epochs, [[h["train_acc"] for h in history],
                                    [h["val_acc"] for h in history]], plot_w, height, True),
        legend,
    )  # fmt: skip
