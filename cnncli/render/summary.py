"""Rich renderables for a network summary (``cnncli shapes``); formatting only, no arithmetic
beyond unit scaling."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cnncli.nn.summary import LayerRecord, Summary


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


def _rf_text(r: tuple[int, int] | None) -> str:
    if r is None:
        return "all"
    return str(r[0]) if r[0] == r[1] else f"{r[0]}x{r[1]}"


def visible_rows(summary: Summary, depth: int | None) -> list[tuple[LayerRecord, bool]]:
    """Rows shown at ``depth`` and whether each one's children are hidden (then it shows totals)."""
    rows = []
    for rec in summary.layers:
        if depth is not None and rec.depth > depth:
            continue
        collapsed = not rec.is_leaf and depth is not None and rec.depth == depth
        rows.append((rec, collapsed))
    return rows


def summary_table(summary: Summary, depth: int | None = None, formulas: bool = False) -> Table:
    """One row per module call (torchinfo's rows plus kernel, receptive field and formulas)."""
    table = Table(
        title=f"{escape(summary.model)}  input {shape_text(summary.input_shape)}",
        title_justify="left",
        header_style="bold",
        show_lines=False,
    )
    for col, justify in (
        ("Layer (state_dict name)", "left"),
        ("Type", "left"),
        ("Kernel", "right"),
        ("Stride", "right"),
        ("Pad", "right"),
        ("Dil", "right"),
        ("Output shape", "left"),
        ("Params", "right"),
        ("MACs", "right"),
        ("RF", "right"),
        ("Jump", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=col != "Layer (state_dict name)")  # type: ignore[arg-type]
    if formulas:
        table.add_column("Output size formula", no_wrap=False)
    for rec, collapsed in visible_rows(summary, depth):
        indent = "  " * max(rec.depth - 1, 0)
        name = f"({rec.name})" if rec.functional else rec.name
        show_counts = rec.is_leaf or collapsed
        cells: list[Text | str] = [
            Text(indent + name, style="dim" if rec.functional else ""),
            rec.type,
            rec.kernel,
            rec.stride,
            rec.padding,
            rec.dilation,
            shape_text(rec.output_shape),
            (f"{rec.params:,}" if rec.params else "—") if show_counts else "--",
            (human(rec.macs) if rec.macs else "—") if show_counts else "--",
            _rf_text(rec.receptive_field),
            _rf_text(rec.jump),
        ]
        if formulas:
            cells.append("\n".join(merge_axes(rec.formulas)))
        table.add_row(*cells)
    if summary.failure is not None:
        f = summary.failure
        cells = [
            Text("  " * max(_depth_of(summary, f.name) - 1, 0) + f.name, style="bold red"),
            Text(f.type, style="bold red"),
            "",
            "",
            "",
            "",
            Text("does not fit", style="bold red"),
            "",
            "",
            "",
            "",
        ]
        if formulas:
            cells.append("\n".join(merge_axes(f.formulas)))
        table.add_row(*cells)
    return table


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
) -> RenderableType:
    """Table, then the failure (if any), then the totals."""
    parts: list[RenderableType] = [summary_table(summary, depth, formulas)]
    if summary.failure is not None:
        parts.append(failure_text(summary))
    parts.append(totals_table(summary, memory_limit))
    return Group(*parts)
