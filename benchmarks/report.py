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


def train_table(records: list[dict[str, Any]]) -> str:
    """The training cases' own figures as Markdown: times and samples/s per side, the ratio
    with its per-round range, the quiet blocks' figures, the bound, the others' CPU use."""
    rows = [r for r in records if r["group"] == "train" and r.get("round_ratios") is not None]
    if not rows:
        return ""
    lines = [
        "| case | cnncli ms | samples/s | torch ms | samples/s | ratio | per-round ratios "
        "| quiet blocks: cnncli ms, torch ms, ratio | bound ms | others' CPU (cores) | blocks repeated |",
        "|---|--:|--:|--:|--:|--:|---|---|--:|--:|--:|",
    ]
    for r in rows:
        lo, hi = r["ratio_range"] or (None, None)
        quiet = r.get("quiet_ms") or {}
        counts = r.get("quiet_blocks") or {}
        lines.append(
            f"| {r['case']} | {_num(r['cnncli_ms'])} | {_num(r['cnncli_samples_per_s'], 0)} "
            f"| {_num(r['torch_ms'])} | {_num(r.get('torch_samples_per_s'), 0)} "
            f"| {_num(r['ratio'], 2)} | {_num(lo, 2)} – {_num(hi, 2)} "
            f"| {_num(quiet.get('cnncli'))} ({counts.get('cnncli', 0)}), "
            f"{_num(quiet.get('torch'))} ({counts.get('torch', 0)}), {_num(r.get('quiet_ratio'), 2)} "
            f"| {_num(r.get('lower_bound_ms'))} | {_num(r.get('others_cores_median'), 2)} "
            f"| {r.get('blocks_repeated')} |"
        )
    return "\n".join(lines) + "\n"


def _spread(value: float | None, span: list[float] | None, digits: int = 2) -> str:
    """A median with its per-round range: ``1.43 (1.29 – 1.60)``."""
    if value is None:
        return "-"
    lo, hi = span or (None, None)
    return f"{_num(value, digits)} ({_num(lo, digits)} – {_num(hi, digits)})"


def inference_table(records: list[dict[str, Any]]) -> str:
    """The inference cases (cnncli, PyTorch, ONNX Runtime, each in its own process) as
    Markdown: each side's time and distance from the bound, the ratios between the sides
    with their per-round ranges, the quiet blocks' ratios, the others' CPU use."""
    rows = [
        r for r in records
        if r["group"] != "train" and r.get("ratios") is not None and "busy_ms" not in r
    ]  # fmt: skip
    if not rows:
        return ""
    lines = [
        "| case | cnncli ms | torch ms | ORT ms | bound ms | cnncli / bound | torch / bound "
        "| ORT / bound | cnncli / torch | cnncli / ORT | quiet blocks: cnncli / torch, cnncli / ORT "
        "| others' CPU (cores) | blocks repeated |",
        "|---|--:|--:|--:|--:|---|---|---|---|---|---|--:|--:|",
    ]
    for r in rows:
        pair = r["ratios"]
        main, ort = pair.get("cnncli/torch") or {}, pair.get("cnncli/ort") or {}
        over = [
            _spread(r.get(f"{side}_over_bound"), r.get(f"{side}_over_bound_range"))
            for side in ("cnncli", "torch", "ort")
        ]
        lines.append(
            f"| {r['case']} | {_num(r.get('cnncli_ms'))} | {_num(r.get('torch_ms'))} "
            f"| {_num(r.get('ort_ms'))} | {_num(r.get('lower_bound_ms'))} | {' | '.join(over)} "
            f"| {_spread(main.get('median'), main.get('range'))} "
            f"| {_spread(ort.get('median'), ort.get('range'))} "
            f"| {_num(main.get('quiet'), 2)}, {_num(ort.get('quiet'), 2)} "
            f"| {_num(r.get('others_cores_median'), 2)} | {r.get('blocks_repeated')} |"
        )
    return "\n".join(lines) + "\n"


def busy_table(records: list[dict[str, Any]]) -> str:
    """The busy cases as Markdown: each side's time alone and beside the competing process
    (same rounds, same workers), its slowdown with the per-round range, and the ratio of
    cnncli's slowdown to PyTorch's (the target: at most 1)."""
    rows = [r for r in records if r.get("busy_ms")]
    if not rows:
        return ""
    lines = [
        "| case | side | alone ms | beside a busy process ms | slowdown (per-round range) |",
        "|---|---|--:|--:|---|",
    ]
    for r in rows:
        for side, slow in r["slowdown"].items():
            lines.append(
                f"| {r['case']} | {side} | {_num(r.get(f'{side}_ms'))} "
                f"| {_num(r['busy_ms'][side])} | {_spread(slow['median'], slow['range'])} |"
            )
        lines.append(
            f"| {r['case']} | cnncli's slowdown / PyTorch's | | "
            f"| **{_num(r.get('slowdown_vs_torch'), 2)}** |"
        )
    return "\n".join(lines) + "\n"


def _figure(record: dict[str, Any]) -> tuple[str, float | None]:
    """The figure a case is judged by: its target's key, else the ratio."""
    target = record.get("target") or ""
    key = target.split()[0] if target else "ratio"
    return key, record.get(key)


def summary_table(runs: list[dict[str, Any]]) -> str:
    """Several runs as one Markdown table: each case's figure as the median and range.

    On a shared machine one run can fall in a busy minute; the median over runs,
    with its spread, is the figure to quote.
    """
    import statistics

    names = [r["case"] for r in runs[0]["cases"]]
    by_case = {
        name: [r for run in runs for r in run["cases"] if r["case"] == name] for name in names
    }
    loads = ", ".join(f"{run['machine'].get('loadavg_start', ['?'])[0]:.1f}" for run in runs)
    rates = ", ".join(_num(run["machine"].get("matmul_gflops"), 0) for run in runs)
    lines = [
        f"{len(runs)} runs (commits {', '.join(sorted({str(run['machine'].get('git_commit')) for run in runs}))}); "
        f"load average at the start {loads}; float32 matmul {rates} GFLOP/s.",
        "",
        "| case | figure | median | range | target | met in |",
        "|---|---|--:|---|---|--:|",
    ]
    for name, records in by_case.items():
        key, _ = _figure(records[0])
        values = [v for v in (_figure(r)[1] for r in records) if v is not None]
        if not values:
            continue
        met = [r.get("meets_target") for r in records if r.get("meets_target") is not None]
        digits = 1 if key in ("pct_matmul", "peak_mib") else 3
        lines.append(
            f"| {name} | {key} | {_num(statistics.median(values), digits)} "
            f"| {_num(min(values), digits)} – {_num(max(values), digits)} "
            f"| {records[0].get('target') or ''} "
            f"| {f'{sum(met)} of {len(met)}' if met else ''} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.report FILE.json [FILE.json ...]``: a run, or runs summarised."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m benchmarks.report")
    parser.add_argument(
        "json_files",
        type=Path,
        nargs="+",
        help="a run's JSON (benchmarks/results/latest.json); several: medians and ranges",
    )
    args = parser.parse_args(argv)
    runs = [json.loads(path.read_text()) for path in args.json_files]
    if len(runs) == 1:
        print(markdown_table(runs[0]["cases"], runs[0]["machine"]), end="")
        for table in (train_table, inference_table, busy_table):
            extra = table(runs[0]["cases"])
            if extra:
                print("\n" + extra, end="")
    else:
        print(summary_table(runs), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
