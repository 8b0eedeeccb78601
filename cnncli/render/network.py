"""Rich renderables for ``cnncli forward``: the architecture, one row per layer, the top classes."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from cnncli.errors import one_line
from cnncli.nn.run import ForwardRecord
from cnncli.render.columns import fit_columns, left_out_caption


def architecture(model: object) -> Text:
    """The network as PyTorch's ``print(model)`` shows it."""
    return Text(repr(model))


def _num(v: float) -> str:
    if math.isnan(v):
        return "—"
    return f"{v:.3g}"


#: Columns a narrow terminal leaves out first: ms, zeros, mean, Type (values stay in --json).
_FORWARD_OPTIONAL = (7, 6, 4, 1)
_FORWARD_HEADERS = ("Layer", "Type", "Output shape", "min", "mean", "max", "zeros", "ms")


def forward_table(
    records: Sequence[ForwardRecord], title: str = "Forward pass", width: int | None = None
) -> Table | Group:
    """Output shape, min / mean / max, share of zeros and time of every layer call.

    Compact (no vertical rules, three significant digits) so that a row of the
    seed's AlexNet at batch 8 fits 100 columns without cutting a number.  When
    ``width`` (the terminal's) is too small, whole columns are left out (ms, zeros,
    mean, then Type; as ``cnncli shapes`` does) and the caption says so: a name or
    number is never cut.  Then the table comes with that note under it (a Group).
    """
    rows: list[list[str | Text]] = []
    for rec in records:
        s = rec.stats
        zeros = "—" if math.isnan(s["zeros"]) else f"{100 * s['zeros']:.1f}%"
        rows.append(
            [
                Text(rec.name),
                rec.type,
                "(" + ", ".join(str(d) for d in rec.output.shape) + ")",
                _num(s["min"]),
                _num(s["mean"]),
                _num(s["max"]),
                zeros,
                f"{1000 * rec.seconds:.1f}" if rec.type else "",  # the input row has no time
            ]
        )
    # box=None, padding (0, 1) without edge padding: two spaces between columns
    fit = fit_columns(_FORWARD_HEADERS, rows, _FORWARD_OPTIONAL, width, gap=2)
    table = Table(
        title=title,
        title_justify="left",
        header_style="bold",
        box=None,
        padding=(0, 1),
        pad_edge=False,
    )
    for i in fit.keep:
        table.add_column(
            _FORWARD_HEADERS[i],
            justify="left" if i < 3 else "right",
            no_wrap=True,
            min_width=fit.widths[i],
        )
    for row in rows:
        table.add_row(*[row[i] for i in fit.keep])
    if fit.dropped:  # a line of its own: as the caption it would wrap to the narrowed table
        return Group(table, Text(left_out_caption(fit.dropped), style="table.caption"))
    return table


#: What the top-k values are, by whether the output already is a distribution.
TOPK_SOURCE = {
    True: "the output itself (the last layer is Softmax: these are probabilities)",
    False: "softmax of the output logits",
}


def topk_table(
    probs: Sequence[Sequence[tuple[int, float]]],
    labels: Sequence[str] | None = None,
    probabilities: bool = False,
) -> Group:
    """Top-K per sample: rank, class index, label, value.

    ``probabilities``: the values are the model's output (its last layer is Softmax),
    headed "Probability"; otherwise they are the softmax of the logits, headed so.
    """
    # the title is a line of its own: as the table's title it would wrap to the table's width
    title = Text(f"Top classes: {TOPK_SOURCE[probabilities]}", style="italic")
    table = Table(header_style="bold")
    table.add_column("Sample", justify="right")
    table.add_column("Rank", justify="right")
    table.add_column("Class", justify="right")
    if labels:
        table.add_column("Label")
    table.add_column("Probability" if probabilities else "softmax", justify="right")
    for n, rows in enumerate(probs):
        for rank, (index, p) in enumerate(rows, start=1):
            cells: list[str | Text] = [str(n) if rank == 1 else "", str(rank), str(index)]
            if labels:
                # a label from a file is text, never markup or terminal control codes
                cells.append(Text(one_line(labels[index])) if index < len(labels) else "")
            cells.append(f"{p:.6f}")
            table.add_row(*cells)
    return Group(title, table)
