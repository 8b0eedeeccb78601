"""Rich renderables for a network summary (``cnncli shapes``); formatting only, no arithmetic
beyond unit scaling."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cnncli.errors import one_line
from cnncli.nn.receptive import jump_text
from cnncli.nn.summary import LayerRecord, Summary
from cnncli.render.columns import cell_width, fit_columns, left_out_caption


def human(n: int | float, unit: str = "") -> str:
    """``1_135_906_176`` → ``1.14 G`` (decimal units, as torchinfo prints MACs)."""
    value = float(n)
    for prefix in ("", "k", "M", "G", "T", "P"):
        if abs(value) < 1000 or prefix == "P":
            return f"{value:.0f} {unit}".strip() if prefix == "" else f"{value:.2f} {prefix}{unit}"
        value /= 1000
    return f"{value:.2f} P{unit}"


def human_bytes(n: int | float) -> str:
    """Bytes in binary units: ``1536`` → ``1.50 KiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{value:.2f} TiB"


def shape_text(shape: tuple[int, ...] | None) -> str:
    return "—" if shape is None else "[" + ", ".join(str(s) for s in shape) + "]"


def _rf_text(r: tuple[Any, Any] | None) -> str:
    """``all``, ``195``, ``7x5``; a jump may be a fraction of a pixel: ``1/2``."""
    if r is None:
        return "all"
    h, w = jump_text(r[0]), jump_text(r[1])
    return h if h == w else f"{h}x{w}"


def visible_rows(summary: Summary, depth: int | None) -> list[tuple[LayerRecord, bool]]:
    """Rows shown at ``depth`` and whether each one's children are hidden (then it shows totals)."""
    rows = []
    for rec in summary.rows(depth):
        collapsed = not rec.is_leaf and depth is not None and rec.depth == depth
        rows.append((rec, collapsed))
    return rows


def window_text(rec: LayerRecord) -> str:
    """Kernel, then stride / padding / dilation where they are not 1 / 0 / 1: ``11 s4 p2``."""
    if not rec.kernel:
        return ""
    parts = [rec.kernel]
    if rec.stride and rec.stride != "1":
        parts.append(f"s{rec.stride}")
    if rec.padding and rec.padding != "0":
        parts.append(f"p{rec.padding}")
    if rec.dilation and rec.dilation != "1":
        parts.append(f"d{rec.dilation}")
    return " ".join(parts)


#: Columns a narrow terminal drops first (their values stay in --json and -o).
_OPTIONAL = (6, 2, 1)  # RF / jump, Kernel, Type
_HEADERS = (
    "Layer (state_dict name)",
    "Type",
    "Kernel s p d",
    "Output shape",
    "Params",
    "MACs",
    "RF / jump",
)
_FORMULA_HEADER = "Output size formula"
#: box.SIMPLE_HEAD with pad_edge=False: padding, a rule and padding between columns; an edge
#: character on each side.
_GAP, _EDGES = 3, 2


def summary_table(
    summary: Summary, depth: int | None = None, formulas: bool = False, width: int | None = None
) -> Table:
    """One row per module call (torchinfo's rows plus kernel, receptive field and formulas).

    Numbers are never cut: when ``width`` (the terminal's) is too small, whole columns are
    left out (receptive field, then kernel, then type) and the caption says so; formulas
    that would not fit whole go below the table (:func:`summary_parts`).
    """
    return summary_parts(summary, depth, formulas, width)[0]  # type: ignore[return-value]


def summary_parts(
    summary: Summary, depth: int | None = None, formulas: bool = False, width: int | None = None
) -> list[RenderableType]:
    """The table, and, when its formulas do not fit ``width`` whole, the formulas below it.

    A formula is never broken: it is a column wide enough for its longest line, or, in a
    narrow terminal, a line of its own under the table; one wider than the terminal even
    there is left out and the list says so (``--json`` has them all).
    """
    rows = visible_rows(summary, depth)
    records = [rec for rec, _ in rows]
    if summary.failure is not None:  # the failing layer's row continues the tree
        f = summary.failure
        records.append(
            LayerRecord(f.name, f.type, _depth_of(summary, f.name), True, False, f.input_shape)
        )
    names = tree_names(records)
    cells = [
        _row_cells(rec, collapsed, name, formulas)
        for (rec, collapsed), name in zip(rows, names, strict=False)
    ]
    listed = [
        (f"({rec.name})" if rec.functional else rec.name, merge_axes(rec.formulas))
        for rec, _ in rows
    ]
    if summary.failure is not None:
        f = summary.failure
        failed: list[Text | str] = [
            Text(names[-1], style="bold red"),
            Text(f.type, style="bold red"),
            "",
            Text("does not fit", style="bold red"),
            "",
            "",
            "",
        ]
        if formulas:
            failed.append("\n".join(merge_axes(f.formulas)))
        cells.append(failed)
    inline = formulas
    if formulas:
        formula_width = max([cell_width(_FORMULA_HEADER)] + [cell_width(c[7]) for c in cells])
        extra = formula_width + _GAP
        fit = fit_columns(_HEADERS, cells, _OPTIONAL, width, gap=_GAP, edges=_EDGES, extra=extra)
        inline = fit.fits
    if not inline:
        fit = fit_columns(_HEADERS, cells, _OPTIONAL, width, gap=_GAP, edges=_EDGES)
    caption = None
    if not fit.dropped:
        caption = (
            "kernel s stride p padding d dilation (shown when not 1, 0, 1); "
            "RF: receptive field / jump in input pixels"
        )
        if any(rec.join for rec, _ in rows):
            caption += (
                "\n(cat) (add) (mul): the block joins parallel paths by torch.cat on the "
                "channels, a sum or a product; a path's own row (dim) holds its totals"
            )
    table = Table(
        title=f"{escape(one_line(summary.model))}  input {shape_text(summary.input_shape)}",
        title_justify="left",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption=caption,
        caption_justify="left",
    )
    for i in fit.keep:
        justify = "right" if i >= 4 else "left"
        table.add_column(_HEADERS[i], justify=justify, no_wrap=True, min_width=fit.widths[i])  # type: ignore[arg-type]
    if inline:
        table.add_column(_FORMULA_HEADER, no_wrap=True)
    for row in cells:
        table.add_row(*[row[i] for i in fit.keep], *(row[7:] if inline else []))
    parts: list[RenderableType] = [table]
    if fit.dropped:  # a line of its own: as the caption it would wrap to the narrowed table
        parts.append(Text(left_out_caption(fit.dropped), style="table.caption"))
    if formulas and not inline:
        # the failing layer's formulas are printed with the failure, under the table
        parts.append(formula_list(listed, width))
    return parts


def formula_list(listed: list[tuple[str, list[str]]], width: int | None) -> Text:
    """Each layer's output-size formulas under the table, never broken across lines.

    ``name  formula`` on one line when that fits ``width``, else the name and then each
    formula indented on a line of its own; a formula wider than that is left out (noted).
    """
    text = Text()
    text.append(_FORMULA_HEADER + "s", style="bold")
    text.append(" (here: too wide for the table in this terminal)\n")
    limit = width if width is not None else 10**9
    single = [(name, lines[0]) for name, lines in listed if len(lines) == 1]
    pad = max(
        (cell_len(name) for name, line in single if 4 + cell_len(name + line) <= limit), default=0
    )
    left_out = 0
    for name, lines in listed:
        if not lines:
            continue
        if len(lines) == 1 and 4 + max(pad, cell_len(name)) + cell_len(lines[0]) <= limit:
            text.append(f"  {name}", style="dim")
            text.append(" " * (pad - cell_len(name)) + f"  {lines[0]}\n")
            continue
        text.append(f"  {name}\n", style="dim")
        for line in lines:
            if cell_len(line) + 4 <= limit:
                text.append(f"    {line}\n")
            else:
                left_out += 1
    if left_out:
        text.append(
            f"({left_out} formula{'s' if left_out > 1 else ''} wider than the terminal "
            "left out; see --json)\n",
            style="dim",
        )
    return text


def tree_names(records: list[LayerRecord]) -> list[str]:
    """Each row's name under tree lines, as torchinfo draws its depth (├─ a child with a
    later sibling, └─ the last child, │ an ancestor's later sibling still to come)."""
    later = [False] * len(records)
    seen: dict[int, bool] = {}
    for i in range(len(records) - 1, -1, -1):  # a later sibling: same depth, none shallower between
        d = records[i].depth
        later[i] = seen.get(d, False)
        seen = {k: v for k, v in seen.items() if k < d}
        seen[d] = True
    names = []
    open_levels: dict[int, bool] = {}
    for rec, has_later in zip(records, later, strict=True):
        label = f"({rec.name})" if rec.functional else rec.name
        open_levels[rec.depth] = has_later
        if rec.depth <= 0:
            names.append(label)
            continue
        bars = "".join("│ " if open_levels.get(level) else "  " for level in range(1, rec.depth))
        names.append(bars + ("├─" if has_later else "└─") + label)
    return names


def _counts(rec: LayerRecord, collapsed: bool) -> tuple[Text | str, Text | str]:
    """Params and MACs: a leaf's own, a collapsed block's totals, a branch's totals (dim)."""
    if rec.is_leaf or collapsed or rec.branch:
        params = f"{rec.params:,}" if rec.params else "—"
        macs = human(rec.macs) if rec.macs else "—"
        if not (rec.is_leaf or collapsed):
            return Text(params, style="dim"), Text(macs, style="dim")
        return params, macs
    return "--", "--"


def _row_cells(rec: LayerRecord, collapsed: bool, name: str, formulas: bool) -> list[Text | str]:
    params, macs = _counts(rec, collapsed)
    cells: list[Text | str] = [
        Text(name, style="dim" if rec.functional else ""),
        rec.type + (f" ({rec.join})" if rec.join else ""),
        window_text(rec),
        shape_text(rec.output_shape),
        params,
        macs,
        f"{_rf_text(rec.receptive_field)} / {_rf_text(rec.jump)}",
    ]
    if formulas:
        cells.append("\n".join(merge_axes(rec.formulas)))
    return cells


def merge_axes(formulas: list[str]) -> list[str]:
    """``H_out = …`` and an identical ``W_out = …`` become one ``H_out = W_out = …`` line."""
    if (
        len(formulas) == 2
        and formulas[0].startswith("H_out")
        and formulas[1].replace("W_out", "H_out", 1) == formulas[0]
    ):
        return ["H_out = W_out" + formulas[0][len("H_out") :]]
    return formulas


def _depth_of(summary: Summary, name: str) -> int:
    return name.count(".") + 1 if name else 1


def failure_text(summary: Summary) -> Text:
    """The failing layer, its input and its arithmetic, for printing under the table."""
    f = summary.failure
    if f is None:
        return Text("")
    text = Text()
    text.append(
        f"✗ {f.name} ({f.type}) cannot take the input {shape_text(f.input_shape)}:\n",
        style="bold red",
    )
    text.append(f"  {f.message}\n")
    for line in merge_axes(f.formulas):
        text.append(f"  {line}\n", style="yellow")
    return text


def totals_table(summary: Summary, memory_limit: int | None = None) -> Table:
    """Totals: parameters, MACs / FLOPs (labelled), memory."""
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="left")
    table.add_column(justify="right")
    if summary.failure is not None:
        table.add_row(Text("Totals of the layers before the failure", style="bold"), "")
    table.add_row("Total params", f"{summary.total_params:,}")
    table.add_row("Trainable params", f"{summary.trainable_params:,}")
    table.add_row("Non-trainable params", f"{summary.non_trainable_params:,}")
    if summary.total_buffers:
        table.add_row("Buffers (BatchNorm running statistics)", f"{summary.total_buffers:,}")
    table.add_row(
        "MACs (1 MAC = one multiply-add)", f"{summary.total_macs:,} ({human(summary.total_macs)})"
    )
    table.add_row("FLOPs (= 2 × MACs)", f"{summary.total_flops:,} ({human(summary.total_flops)})")
    table.add_row("Input size", human_bytes(summary.input_bytes))
    table.add_row(
        "Activation memory (every layer output, float32)", human_bytes(summary.activation_bytes)
    )
    table.add_row("Parameter memory (float32)", human_bytes(summary.param_bytes))
    total = summary.input_bytes + summary.activation_bytes + summary.param_bytes
    table.add_row("Estimated total", human_bytes(total))
    if memory_limit is not None:
        table.add_row("Memory limit (--max-memory)", human_bytes(memory_limit))
    return table


def render_summary(
    summary: Summary,
    depth: int | None = None,
    formulas: bool = False,
    memory_limit: int | None = None,
    width: int | None = None,
) -> RenderableType:
    """Table, then the failure (if any), then the totals."""
    parts: list[RenderableType] = summary_parts(summary, depth, formulas, width)
    if summary.failure is not None:
        parts.append(failure_text(summary))
    parts.append(totals_table(summary, memory_limit))
    return Group(*parts)
