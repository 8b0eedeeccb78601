"""Measuring one case into a JSON-ready record: op cases in Python, process cases as commands."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.cases import BASELINE_ARGV, Bench, Case
from benchmarks.timing import MIB, max_rss_mib, time_interleaved, traced_peak

QUICK_TARGET_S, QUICK_GAP_S = 0.002, 0.01
TARGET_S, GAP_S = 0.1, 0.2


def empty_record(case: Case) -> dict[str, Any]:
    """A record with every key, all unknown: the JSON shape every case shares."""
    return {
        "case": case.name,
        "group": case.group,
        "size": None,
        "status": "ok",
        "note": None,
        "impl": None,
        "reference": "torch",
        "cnncli_ms": None,
        "torch_ms": None,
        "ratio": None,
        "gflops": None,
        "torch_gflops": None,
        "pct_matmul": None,
        "peak_mib": None,
        "peak_rss_mib": None,
        "input_mib": None,
        "output_mib": None,
        "mem_x_io": None,
        "max_err": None,
        "competitors": {},
    }


def _arrays(result: Any) -> list[np.ndarray]:
    """The arrays in a result (an array, a tensor, or a tuple of them; None skipped)."""
    items = result if isinstance(result, tuple | list) else (result,)
    out = []
    for item in items:
        if item is None:
            continue
        if hasattr(item, "detach"):
            item = item.detach().cpu().numpy()
        out.append(np.asarray(item))
    return out


def scaled_error(actual: Any, expected: Any) -> float:
    """max |a - b| / max(1, max |b|) over the arrays of two results (tests/oracle.py's scaled_error)."""
    worst = 0.0
    a_list, b_list = _arrays(actual), _arrays(expected)
    if len(a_list) != len(b_list):
        return float("inf")
    for a, b in zip(a_list, b_list, strict=True):
        if a.shape != b.shape:
            return float("inf")
        b64 = b.astype(np.float64)
        scale = max(1.0, float(np.max(np.abs(b64)))) if b.size else 1.0
        diff = float(np.max(np.abs(a.astype(np.float64) - b64))) if a.size else 0.0
        worst = max(worst, diff / scale)
    return worst


def _sig(value: float, digits: int = 6) -> float:
    """``value`` rounded to ``digits`` significant digits (small ratios keep their precision)."""
    return float(f"{value:.{digits}g}")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else _sig(seconds * 1e3)


def run_op_case(case: Case, quick: bool, repeats: int, isolated: bool) -> dict[str, Any]:
    """Build the case, measure cnncli's memory once, then time cnncli and torch interleaved."""
    record = empty_record(case)
    assert case.build is not None
    bench: Bench = case.build(quick)
    record.update(size=bench.size, impl=bench.impl, note=bench.note)
    record["input_mib"] = round(bench.input_bytes / MIB, 3)
    fns: dict[str, Callable[[], Any]] = {}
    cnncli_result: Any = None
    if bench.cnncli is None:
        record["status"] = "not available"
    else:
        try:
            if isolated:  # the cold call, in a fresh process
                rss_before = max_rss_mib()
                bench.cnncli()
                record["peak_rss_mib"] = round(max(0.0, max_rss_mib() - rss_before), 3)
            peak, cnncli_result = traced_peak(bench.cnncli)
            record["peak_mib"] = round(peak, 3)
            fns["cnncli"] = bench.cnncli
        except Exception as exc:  # the engine's own errors and its bugs alike are reported
            record["status"] = "error"
            record["note"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    if bench.torch is not None:
        torch_result = bench.torch()
        fns["torch"] = bench.torch
        out_arrays = _arrays(torch_result)
        if cnncli_result is not None:
            record["max_err"] = scaled_error(cnncli_result, torch_result)
    else:
        out_arrays = _arrays(cnncli_result) if cnncli_result is not None else []
    if out_arrays:
        record["output_mib"] = round(sum(a.nbytes for a in out_arrays) / MIB, 3)
    for name, fn in bench.competitors.items():
        fns[name] = fn
    if not fns:
        return record
    if quick:
        medians = time_interleaved(fns, repeats, QUICK_TARGET_S, QUICK_GAP_S, warm=False)
    else:
        medians = time_interleaved(fns, repeats, TARGET_S, GAP_S)
    record["cnncli_ms"] = _ms(medians.get("cnncli"))
    record["torch_ms"] = _ms(medians.get("torch"))
    _derive(record, bench.flops)
    for name in bench.competitors:
        ms = _ms(medians[name])
        record["competitors"][f"{name}_ms"] = ms
        if record["cnncli_ms"] is not None and ms:
            record["competitors"][f"cnncli_over_{name}"] = _sig(record["cnncli_ms"] / ms)
    return record


def _derive(record: dict[str, Any], flops: float | None) -> None:
    cnncli_ms, torch_ms = record["cnncli_ms"], record["torch_ms"]
    if cnncli_ms is not None and torch_ms:
        record["ratio"] = _sig(cnncli_ms / torch_ms)
    if flops:
        if cnncli_ms:
            record["gflops"] = round(flops / (cnncli_ms * 1e-3) / 1e9, 3)
        if torch_ms:
            record["torch_gflops"] = round(flops / (torch_ms * 1e-3) / 1e9, 3)
    if record["peak_mib"] is not None and record["input_mib"] is not None:
        io = record["input_mib"] + (record["output_mib"] or 0.0)
        if io > 0:
            record["mem_x_io"] = round((record["input_mib"] + record["peak_mib"]) / io, 3)


#: A tiny launcher (``python -S``, ~10 MiB) that spawns the command and reports its wall time,
#: peak RSS and exit status.  Spawning from the benchmark itself would be wrong on Linux: a
#: child's ru_maxrss counts the parent's pages it carried until exec, and this process holds
#: NumPy (and PyTorch in --quick mode).
LAUNCHER = (
    "import os, sys, time\n"
    "out = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]\n"
    "start = time.perf_counter()\n"
    "pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=out)\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "elapsed = time.perf_counter() - start\n"
    "print(elapsed, usage.ru_maxrss, os.waitstatus_to_exitcode(status))\n"
)


def _bytecode_env() -> dict[str, str]:
    """The environment for whole-process cases: bytecode written and reused.

    An installed package runs from cached bytecode; a session that sets
    PYTHONDONTWRITEBYTECODE would recompile cnncli's own modules on every start
    while the baseline's packages use their installed .pyc files.  Both sides get
    one private cache folder instead, filled by the warm-up round.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    return env


_PYCACHE = tempfile.mkdtemp(prefix="cnncli-bench-pycache-")


def _run_command(argv: Sequence[str], cwd: str) -> tuple[float, float, int, str]:
    """Run one command; return (seconds, peak RSS MiB, exit status, first stderr line)."""
    proc = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_bytecode_env(),
    )
    try:
        elapsed, rss_kib, code = proc.stdout.split()
    except ValueError:
        return 0.0, 0.0, proc.returncode or 1, proc.stderr.strip()[-300:]
    err = proc.stderr.strip()
    first = err.splitlines()[0] if err else ""
    return float(elapsed), int(rss_kib) / 1024.0, int(code), first


def run_process_case(case: Case, quick: bool, repeats: int, cwd: str) -> dict[str, Any]:
    """Time ``python <argv>`` against ``python -c "import numpy, typer, rich"``, interleaved."""
    record = empty_record(case)
    argv = case.setup(quick) if case.setup is not None else case.argv
    if case.repeats is not None:
        repeats = min(repeats, case.repeats)
    record["reference"] = "python " + " ".join(BASELINE_ARGV)
    record["impl"] = "whole process: python " + " ".join(argv)
    record["size"] = "cnncli " + " ".join(
        os.path.basename(a) if os.path.isabs(a) else a for a in argv[2:]
    )
    commands = {
        "cnncli": [sys.executable, *argv],
        "baseline": [sys.executable, *BASELINE_ARGV],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    rss: dict[str, list[float]] = {name: [] for name in commands}
    rounds = max(1, repeats) + (0 if quick else 1)  # the first round warms the file cache
    for index in range(rounds):
        order = list(commands) if index % 2 == 0 else list(commands)[::-1]
        for name in order:
            elapsed, peak, code, err = _run_command(commands[name], cwd)
            if code != 0:
                record["status"] = "not available" if name == "cnncli" else "error"
                record["note"] = f"{name} exited {code}: {err}"[:300]
                if name == "cnncli":
                    commands.pop("cnncli")
                    times.pop("cnncli")
                    break
                return record
            if quick or index > 0:
                times[name].append(elapsed)
                rss[name].append(peak)
    if times.get("cnncli"):
        record["cnncli_ms"] = _ms(statistics.median(times["cnncli"]))
        record["peak_rss_mib"] = round(max(rss["cnncli"]), 3)
        record["peak_mib"] = record["peak_rss_mib"]
    base = statistics.median(times["baseline"]) if times["baseline"] else None
    record["competitors"]["baseline_ms"] = _ms(base)
    record["competitors"]["baseline_peak_rss_mib"] = (
        round(max(rss["baseline"]), 3) if rss["baseline"] else None
    )
    if record["cnncli_ms"] is not None and base:
        record["ratio"] = _sig(record["cnncli_ms"] / record["competitors"]["baseline_ms"])
    return record
