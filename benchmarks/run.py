"""Run cnncli's benchmark: ``python -m benchmarks.run [--quick] [--cases PATTERN] [-o FILE]``.

Prints a Rich table (a progress display runs on stderr meanwhile) and writes JSON, by default
``benchmarks/results/latest.json``.  Each op case runs in a fresh subprocess of its own
(``--worker CASE``), so that no case's memory, caches or thread pools affect another's;
``--quick`` runs tiny sizes in this one process for the smoke test.  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # also runnable as ``python benchmarks/run.py``
    sys.path.insert(0, str(ROOT))

from benchmarks.cases import CASES, CASES_BY_NAME, Case  # noqa: E402
from benchmarks.machine import machine_record, memory_read_gbps, torch_record  # noqa: E402
from benchmarks.measure import empty_record, run_op_case, run_process_case  # noqa: E402
from benchmarks.sides_case import bound_figures, run_sides_case  # noqa: E402

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "latest.json"
RESULT_MARK = "BENCHMARK-RESULT "
CASE_TIMEOUT_S = 1200

#: The issues' targets: ("pct_matmul", p) means >= p; any other (key, bound), key <= bound.
#: Issue 18's for its method: AlexNet's forward near the measured lower bound, pooling
#: near ONNX Runtime, and cnncli no more slowed down by a busy neighbour than PyTorch.
TARGETS: dict[str, tuple[str, float]] = {
    "alexnet_b1": ("cnncli_over_bound", 1.25),
    "alexnet_b8": ("cnncli_over_bound", 1.2),
    "alexnet_b8_busy": ("slowdown_vs_torch", 1.0),
    "conv2": ("pct_matmul", 75.0),
    "conv3": ("pct_matmul", 75.0),
    "conv4": ("pct_matmul", 75.0),
    "conv5": ("pct_matmul", 75.0),
    "conv2_backward": ("ratio", 1.0),  # issue 18: at most PyTorch's time
    "maxpool_3x3s2": ("cnncli_over_ort", 1.5),
    "maxpool_2x2": ("cnncli_over_ort", 1.5),
    "avgpool_3x3s2": ("cnncli_over_ort", 1.5),
    "avgpool_2x2": ("cnncli_over_ort", 1.5),
    "sobel_4096": ("ratio", 0.10),
    "cli_help": ("ratio", 1.3),
    "cli_sobel_8192": ("peak_mib", 2048.0),
    "train_lenet5_epoch": ("ratio", 1.0),  # issue 13: at most PyTorch's time
    "train_tinyvgg_step": ("ratio", 1.0),
    "train_alexnet_step": ("ratio", 1.0),  # issue 18: at most PyTorch's time
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="cnncli's engine side by side with PyTorch: medians, ratios, GFLOP/s, memory.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat (smoke test)")
    parser.add_argument(
        "--cases",
        metavar="PATTERN",
        help="comma-separated names or globs, e.g. 'conv*,sobel_4096' (matmul always runs)",
    )
    parser.add_argument("--repeats", type=int, help="timed rounds per case (default 7; quick 1)")
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT, help=f"JSON file ({DEFAULT_OUTPUT})"
    )
    iso = parser.add_mutually_exclusive_group()
    iso.add_argument(
        "--isolate",
        dest="isolate",
        action="store_true",
        default=None,
        help="one subprocess per op case (default, except with --quick)",
    )
    iso.add_argument("--no-isolate", dest="isolate", action="store_false", help="all in-process")
    parser.add_argument(
        "--threads",
        type=int,
        help="limit NumPy's BLAS, PyTorch and cnncli's own thread pools to N threads (default: all)",
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--worker", metavar="CASE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 7
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.isolate is None:
        args.isolate = not args.quick
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    return args


def limit_threads(threads: int) -> None:
    """Limit BLAS and OpenMP pools: env for the workers, live limits for this process."""
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "CNNCLI_NUM_THREADS",
    ):
        os.environ[name] = str(threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def select_cases(pattern: str | None) -> list[Case]:
    """The cases whose names match any comma-separated glob (plain words match as substrings)."""
    if not pattern:
        return list(CASES)
    globs = [p.strip() for p in pattern.split(",") if p.strip()]
    globs = [g if any(c in g for c in "*?[") else f"*{g}*" for g in globs]
    chosen = [c for c in CASES if any(fnmatch.fnmatchcase(c.name, g) for g in globs)]
    if chosen and chosen[0].name != "matmul":
        chosen.insert(0, CASES_BY_NAME["matmul"])  # every run measures its own GEMM rate
    return chosen


def run_worker(name: str, quick: bool, repeats: int) -> int:
    """Subprocess entry: measure one op case and print its record as one JSON line."""
    case = CASES_BY_NAME[name]
    record = run_op_case(case, quick, repeats, isolated=True)
    if name == "matmul":
        record["machine_extra"] = torch_record()
    sys.stdout.write(RESULT_MARK + json.dumps(record) + "\n")
    return 0


def run_isolated(case: Case, quick: bool, repeats: int) -> dict[str, Any]:
    """Run one op case in a fresh interpreter and read back its record."""
    argv = [
        sys.executable,
        "-m",
        "benchmarks.run",
        "--worker",
        case.name,
        "--repeats",
        str(repeats),
    ]
    if quick:
        argv.append("--quick")
    try:
        proc = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=CASE_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        record = empty_record(case)
        record.update(status="error", note=f"timed out after {CASE_TIMEOUT_S} s")
        return record
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            return result
    record = empty_record(case)
    tail = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
    record.update(status="error", note=f"worker failed: {tail[0]}"[:300])
    return record


def run_case(case: Case, args: argparse.Namespace) -> dict[str, Any]:
    if case.kind == "process":
        return run_process_case(case, args.quick, args.repeats, str(ROOT))
    if case.kind == "sides":
        try:
            return run_sides_case(case, args.quick, args.repeats, args.threads)
        except Exception as exc:  # a broken case must not stop the others
            record = empty_record(case)
            record.update(status="error", note=f"{type(exc).__name__}: {exc}"[:300])
            return record
    if args.isolate:
        return run_isolated(case, args.quick, args.repeats)
    try:
        record = run_op_case(case, args.quick, args.repeats, isolated=False)
    except Exception as exc:  # a broken case must not stop the others
        record = empty_record(case)
        record.update(status="error", note=f"{type(exc).__name__}: {exc}"[:300])
    if case.name == "matmul":
        record["machine_extra"] = torch_record()
    return record


def finish(records: list[dict[str, Any]], machine: dict[str, Any]) -> None:
    """Fill in what needs the whole run: % of the matmul rate, targets, machine extras."""
    matmul = next((r for r in records if r["case"] == "matmul"), None)
    rate = matmul["gflops"] if matmul else None
    if matmul is not None:
        machine.update(matmul.pop("machine_extra", {}) or {})
        machine["matmul_gflops"] = rate
    for record in records:
        record.pop("machine_extra", None)
        if rate and record["gflops"] is not None and record["group"] in ("conv", "network"):
            record["pct_matmul"] = round(100.0 * record["gflops"] / rate, 1)
        bound_figures(record, rate, machine.get("read_gbps"))  # the cases of sides_case.py
        target = TARGETS.get(record["case"])
        record["target"] = None
        record["meets_target"] = None
        if target is not None:
            key, bound = target
            record["target"] = f"{key} {'>=' if key == 'pct_matmul' else '<='} {bound:g}"
            value = record.get(key)
            if value is not None:
                record["meets_target"] = value >= bound if key == "pct_matmul" else value <= bound


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        limit_threads(args.threads)
    if args.worker:
        return run_worker(args.worker, args.quick, args.repeats)
    from rich.console import Console

    from benchmarks.report import make_progress, results_table

    out, err = Console(), Console(stderr=True)
    if not out.is_terminal:  # a file or a pipe: wide enough for every column
        out = Console(width=180)
    cases = select_cases(args.cases)
    if args.list:
        for case in CASES:
            out.print(f"{case.name:20} {case.group}")
        return 0
    if not cases:
        err.print(f"no case matches {args.cases!r}; try --list")
        return 2
    machine = machine_record(str(ROOT))
    machine.update(
        quick=args.quick,
        repeats=args.repeats,
        isolated=args.isolate,
        cases_pattern=args.cases,
        threads=args.threads or "all",
    )
    # the machine's other limit, beside the matmul case's GEMM rate (--quick: a token one)
    machine["read_gbps"] = memory_read_gbps(
        args.threads or os.cpu_count() or 1, *((16, 1) if args.quick else ())
    )
    started = time.perf_counter()
    records: list[dict[str, Any]] = []
    with make_progress(err) as progress:
        task = progress.add_task("starting", total=len(cases))
        for case in cases:
            progress.update(task, description=case.name)
            records.append(run_case(case, args))
            progress.advance(task)
        progress.update(task, description="done")
    finish(records, machine)
    machine["loadavg_end"] = list(os.getloadavg())
    machine["wall_s"] = round(time.perf_counter() - started, 1)
    write_json(args.output, {"machine": machine, "cases": records})
    out.print(results_table(records, machine))
    out.print(f"JSON: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
