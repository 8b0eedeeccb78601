"""Rich renderables for the benchmark: the progress display and the results table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def make_progress(console: Console) -> Progress:
    """A progress bar over the cases, naming the one that runs."""
    return Progress(
        TextColumn("[bold]benchmark[/] {task.description:<20}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _ratio(record: dict[str, Any]) -> str:
    text = _num(record["ratio"], 3)
    if record.get("meets_target") is True:
        return f"[green]{text}[/]"
    if record.get("meets_target") is False and record["ratio"] is not None:
        return f"[red]{text}[/]" if record["target"].startswith("ratio") else text
    return text


def _pct(record: dict[str, Any]) -> str:
    text = _num(record["pct_matmul"], 1)
    if record["target"] and record["target"].startswith("pct") and record["pct_matmul"]:
        return f"[green]{text}[/]" if record["meets_target"] else f"[red]{text}[/]"
    return text


def _others(record: dict[str, Any]) -> str:
    comp = record.get("competitors") or {}
    parts = []
    for key, value in comp.items():
        if key.endswith("_ms") and value is not None:
            parts.append(f"{key[:-3]} {_num(value)}")
    return ", ".join(parts)


def _status(record: dict[str, Any]) -> str:
    if record["status"] == "ok":
        return "ok"
    style = "yellow" if record["status"] == "not available" else "red"
    return f"[{style}]{record['status']}[/]"


def results_table(records: list[dict[str, Any]], machine: dict[str, Any]) -> Table:
    """One row per case: medians, ratio (green/red against the issue's target), rate, memory."""
    blas = machine.get("numpy_blas") or {}
    caption = (
        f"{machine.get('cpu')}, {machine.get('cores')} cores; numpy {machine.get('numpy')} "
        f"({blas.get('library', '?')} {blas.get('version', '')} kernel {blas.get('kernel', '?')}), "
        f"torch {machine.get('torch')}; matmul {_num(machine.get('matmul_gflops'))} GFLOP/s; "
        f"load {machine.get('loadavg_start', ['?'])[0]}; medians of {machine.get('repeats')}"
    )
    table = Table(title="cnncli vs PyTorch (float32, all threads)", caption=caption)
    table.add_column("case")
    table.add_column("size", overflow="fold", max_width=30)
    table.add_column("cnncli ms", justify="right")
    table.add_column("torch ms", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("target", justify="right")
    table.add_column("GFLOP/s", justify="right")
    table.add_column("% matmul", justify="right")
    table.add_column("peak MiB", justify="right")
    table.add_column("others ms", overflow="fold", max_width=24)
    table.add_column("status", overflow="fold", max_width=24)
    for r in records:
        table.add_row(
            r["case"],
            r["size"] or "",
            _num(r["cnncli_ms"]),
            _num(r["torch_ms"]),
            _ratio(r),
            r.get("target") or "",
            _num(r["gflops"], 1),
            _pct(r),
            _num(r["peak_mib"], 1),
            _others(r),
            _status(r),
        )
    return table


def markdown_table(records: list[dict[str, Any]], machine: dict[str, Any]) -> str:
    """The results as a Markdown table (for the README and issue notes), machine line first."""
    blas = machine.get("numpy_blas") or {}
    load = machine.get("loadavg_start") or ["?"]
    lines = [
        f"{machine.get('cpu')}, {machine.get('cores')} cores, Python {machine.get('python')}, "
        f"NumPy {machine.get('numpy')} ({blas.get('library', '?')} {blas.get('version', '')}, "
        f"kernel {blas.get('kernel', '?')}), PyTorch {machine.get('torch')}; "
        f"float32 matmul {_num(machine.get('matmul_gflops'), 1)} GFLOP/s; "
        f"medians of {machine.get('repeats')}; load average {load[0]:.1f} at the start "
        f"(commit {machine.get('git_commit')}, {machine.get('started_utc')}).",
        "",
        "| case | size | cnncli ms | torch ms | ratio | target | GFLOP/s | % matmul | peak MiB | others ms |",
        "|---|---|--:|--:|--:|---|--:|--:|--:|---|",
    ]
    for r in records:
        met = r.get("meets_target")
        mark = "" if met is None else (" ✓" if met else " ✗")
        others = _others(r) or ("" if r["status"] == "ok" else r["status"])
        lines.append(
            f"| {r['case']} | {r['size'] or ''} | {_num(r['cnncli_ms'])} | {_num(r['torch_ms'])} "
            f"| {_num(r['ratio'], 3)} | {(r.get('target') or '') + mark} | {_num(r['gflops'], 1)} "
            f"| {_num(r['pct_matmul'], 1)} | {_num(r['peak_mib'], 1)} | {others} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.report FILE.json``: print a saved run as a Markdown table."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m benchmarks.report")
    parser.add_argument(
        "json_file", type=Path, help="a run's JSON (benchmarks/results/latest.json)"
    )
    args = parser.parse_args(argv)
    data = json.loads(args.json_file.read_text())
    print(markdown_table(data["cases"], data["machine"]), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
