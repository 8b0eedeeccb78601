"""``--explain``: one output cell computed step by step, as the seed teaches it.

Conv: per input channel the receptive-field patch (after padding and dilation),
the kernel slice and their element-wise products with the sum; then the sum
over channels, plus the bias, equal to the output.  Pooling: the window and the
chosen maximum, or the sum and divisor of the mean.  Takes the records of
:mod:`cnncli.nn.explain`; computes nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.text import Text

from cnncli.render.format import fmt_number, fmt_values
from cnncli.render.maps import map_table, titled

#: Input channels shown in full; the rest appear by their sums only.
MAX_DETAILED_CHANNELS = 3
#: Products written out term by term up to this many.
MAX_TERMS = 16


def _coords(values: list[int], size: int) -> list[str]:
    return [str(v) if 0 <= v < size else f"{v}p" for v in values]


def _terms(values: np.ndarray) -> str:
    terms = [fmt_number(v) for v in values.ravel().tolist()]
    if len(terms) > MAX_TERMS:
        return ""
    text = " + ".join(f"({t})" if t.startswith("-") else t for t in terms)
    return text + " = "


def conv_explanation(
    cell: Any, H: int, W: int, label: str = "output", method: str = ""
) -> RenderableType:
    """The ConvCell ``cell`` (input height H, width W for marking padding) as renderables."""
    parts: list[RenderableType] = [
        Text(
            f"{label}[{cell.n}, {cell.f}, {cell.i}, {cell.j}] step by step", style="bold underline"
        )
    ]
    rows = _coords(cell.rows, H)
    cols = _coords(cell.cols, W)
    if any(r.endswith("p") for r in rows + cols):
        parts.append(Text("rows/columns marked p lie in the padding", style="dim"))
    for k, c in enumerate(cell.channels):
        if k >= MAX_DETAILED_CHANNELS:
            break
        patch = titled(f"input[{cell.n}, {c}] patch", map_table(cell.patch[k], None, rows, cols))
        kern = titled(f"weight[{cell.f}, {k}]", map_table(cell.kernel[k]))
        prod = titled("products", map_table(cell.products[k], None, rows, cols))
        parts.append(Columns([patch, Text("\n\n ⊙ "), kern, Text("\n\n = "), prod]))
        parts.append(
            Text(f"channel {c}: sum = {_terms(cell.products[k])}{fmt_number(cell.sums[k])}")
        )
    parts += _channel_sums_and_bias(cell)
    parts.append(_equals(label, (cell.n, cell.f, cell.i, cell.j), cell.value, cell.engine_value))
    parts += _computed_by(method)
    return Group(*parts)


def _computed_by(method: str) -> list[Text]:
    """The line naming the engine path whose output the steps were checked against."""
    if not method:
        return []
    path, _, how = method.partition(": ")
    return [Text(f"computed on the {path} path: {how}", style="dim")]


def _equals(label: str, idx: tuple[int, ...], value: float, engine: float) -> Text:
    text = Text(f"{label}[{', '.join(str(v) for v in idx)}] = {fmt_number(engine)}", style="bold")
    text.append(f"  (engine output; step by step {fmt_number(value)}) ✓", style="dim")
    return text


def pool_explanation(
    cell: Any, H: int, W: int, label: str = "output", method: str = ""
) -> RenderableType:
    """The PoolCell ``cell`` as renderables: its window, then the max or the mean."""
    rows = _coords(cell.rows, H)
    cols = _coords(cell.cols, W)
    texts = [
        t if ok else "·"
        for ok, t in zip(cell.inside.ravel().tolist(), fmt_values(cell.window), strict=True)
    ]
    parts: list[RenderableType] = [
        Text(
            f"{label}[{cell.n}, {cell.c}, {cell.i}, {cell.j}] step by step", style="bold underline"
        ),
        titled(
            f"window of input[{cell.n}, {cell.c}]", map_table(cell.window, None, rows, cols, texts)
        ),
    ]
    if any(r.endswith("p") for r in rows + cols):
        parts.append(
            Text(
                "· marks window positions outside the input (padding, or past the edge)",
                style="dim",
            )
        )
    inside = cell.window[cell.inside]
    if cell.mode == "max":
        r, c = cell.chosen
        parts.append(
            Text(
                f"max of {inside.size} values = {fmt_number(cell.value)} at input row {r}, column {c}"
            )
        )
    else:
        parts.append(
            Text(
                f"sum = {_terms(inside)}{fmt_number(cell.total)}; "
                f"mean = {fmt_number(cell.total)} / {cell.divisor} = {fmt_number(cell.value)}"
            )
        )
    parts.append(_equals(label, (cell.n, cell.c, cell.i, cell.j), cell.value, cell.engine_value))
    parts += _computed_by(method)
    return Group(*parts)


def conv_transpose_explanation(cell: Any, method: str = "") -> RenderableType:
    """The ConvTransposeCell ``cell`` as renderables: per input channel, every input cell and
    kernel tap that reaches the output cell, their products and sum; then bias and value."""
    from rich.table import Table

    parts: list[RenderableType] = [
        Text(
            f"output[{cell.n}, {cell.f}, {cell.i}, {cell.j}] step by step", style="bold underline"
        ),
        Text(
            "input cell (r, q) reaches it through tap (m, k) when r·stride + m·dilation − padding "
            f"= {cell.i} (rows) and {cell.j} (columns)",
            style="dim",
        ),
    ]
    for k, c in enumerate(cell.channels):
        mine = [t for t in cell.terms if t[0] == c]
        if k >= MAX_DETAILED_CHANNELS:
            break
        if not mine:
            parts.append(Text(f"channel {c}: no input cell reaches it, sum = 0"))
            continue
        table = Table(box=None, pad_edge=False, header_style="bold")
        for name in ("input cell", "tap", "input", "weight", "product"):
            table.add_column(name, justify="right")
        for _, r, q, m, kk, xv, wv, pv in mine:
            table.add_row(f"({r}, {q})", f"({m}, {kk})", fmt_number(xv), fmt_number(wv), fmt_number(pv))  # fmt: skip
        parts.append(titled(f"input[{cell.n}, {c}] × weight[{c}, {cell.f}]", table))
        products = np.array([t[7] for t in mine])
        parts.append(Text(f"channel {c}: sum = {_terms(products)}{fmt_number(cell.sums[k])}"))
    parts += _channel_sums_and_bias(cell)
    parts.append(_equals("output", (cell.n, cell.f, cell.i, cell.j), cell.value, cell.engine_value))
    parts += _computed_by(method)
    return Group(*parts)


def _channel_sums_and_bias(cell: Any) -> list[Any]:
    """The lines after the detailed channels: the channels not drawn, the sum over channels,
    the bias (shared by the convolution's and the transposed convolution's explanation)."""
    parts: list[Any] = []
    hidden = len(cell.channels) - MAX_DETAILED_CHANNELS
    if hidden > 0:
        rest = ", ".join(
            f"{c}: {fmt_number(s)}"
            for c, s in zip(
                cell.channels[MAX_DETAILED_CHANNELS:],
                cell.sums[MAX_DETAILED_CHANNELS:],
                strict=True,
            )
        )
        parts.append(Text(f"channels {rest} (sums only; {hidden} not drawn)", style="dim"))
    if len(cell.channels) > 1:
        sums = " + ".join(
            f"({t})" if t.startswith("-") else t for t in (fmt_number(s) for s in cell.sums)
        )
        parts.append(Text(f"sum over channels: {sums} = {fmt_number(cell.total)}"))
    if cell.bias is not None:
        parts.append(
            Text(
                f"{fmt_number(cell.total)} + bias {fmt_number(cell.bias)} = {fmt_number(cell.value)}"
            )
        )
    else:
        parts.append(Text(f"no bias: {fmt_number(cell.value)}"))
    return parts
