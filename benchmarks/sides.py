"""Each side in its own worker process, timed in alternating blocks (issue 18's method).

Used by the training cases (:mod:`benchmarks.training`).  A round starts one long-lived
worker per side (``python -m benchmarks.sides --worker CASE SIDE INPUTS``): the cnncli
worker never imports torch, the PyTorch worker never imports cnncli.  Each worker builds
its side from the inputs file and runs one unit at once from the shared initial weights;
those first losses are compared between the sides (``max_err``).  The parent then asks
for timed blocks in the order A B B A (A alternates between rounds), each block a warm-up
call and K timed calls, with a pause between blocks so that no library's spinning threads
overlap the other's block.  The workers stop at the end of the round, so that every round
samples fresh processes.

While a block runs, the parent reads ``/proc/stat`` (all CPU time on the machine) and
``/proc/PID/stat`` (the worker's own) before and after: what is left, less the parent's
own, is other processes' CPU use, in cores.  A block during which others used more than
:data:`DISTURBED_CORES` is repeated (at most :data:`RETRIES` times; the least disturbed
attempt is kept and every attempt is recorded).

A side's figure is the median, over rounds, of its per-round median time per call; the
spread of the per-round ratios cnncli / PyTorch is reported beside it.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MARK = "SIDES-REPLY "
SIDES = ("cnncli", "torch")
BLOCK_S = 1.0  # K is chosen so that a block's timed calls last about this long
MIN_K, MAX_K = 2, 50
GAP_S = 0.2  # pause between blocks: BLAS and OpenMP threads stop spinning
DISTURBED_CORES = 0.25  # other processes' mean CPU use (cores) that makes a block disturbed
RETRIES = 2
MIN_ROUNDS = 5
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --------------------------------------------------------------------------- CPU accounting


def machine_busy_ticks() -> int | None:
    """All CPUs' busy time since boot (user, nice, system, irq, softirq, steal), in ticks."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return user + nice + system + irq + softirq + steal


def process_ticks(pid: int) -> int | None:
    """A process's user + system time (all its threads), in ticks, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[11]) + int(fields[12])  # utime, stime


class _Meter:
    """Other processes' CPU use (cores) while a block ran, or None without /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = self._read()

    def _read(self) -> tuple[float, int | None, int | None, int | None]:
        return (
            time.perf_counter(),
            machine_busy_ticks(),
            process_ticks(self.pid),
            process_ticks(os.getpid()) if self.pid != os.getpid() else 0,
        )

    def others_cores(self) -> float | None:
        end = self._read()
        if None in self.start or None in end:
            return None
        t0, busy0, side0, me0 = self.start
        t1, busy1, side1, me1 = end
        assert busy0 is not None and side0 is not None and me0 is not None
        assert busy1 is not None and side1 is not None and me1 is not None
        others = (busy1 - busy0) - (side1 - side0) - (me1 - me0)
        return max(0.0, others / CLK_TCK / max(t1 - t0, 1e-9))


# --------------------------------------------------------------------------- the worker


class WorkerError(RuntimeError):
    """A worker died, answered nonsense, or imported the other side's library."""


def build_side(side: str, case: str, path: str, threads: int) -> Callable[[], list[float]]:
    """One side's unit of ``case``, built from the inputs file (imports only that side)."""
    from benchmarks import training

    arrays = np.load(path, allow_pickle=False)
    settings = json.loads(str(arrays["settings"]))
    if side == "cnncli":
        return training.cnncli_side(arrays, settings)
    return training.torch_side(arrays, settings, threads)


def run_block(fn: Callable[[], Any], k: int) -> dict[str, Any]:
    """A warm-up call, then ``k`` timed calls (seconds each), the garbage collector off."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        fn()
        warm = time.perf_counter() - start
        times = []
        for _ in range(k):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    finally:
        if enabled:
            gc.enable()
    return {"warm_s": warm, "times": times}


def traced_peak_mib(fn: Callable[[], Any]) -> float:
    from benchmarks.timing import traced_peak

    return round(traced_peak(fn)[0], 3)


def worker_main(case: str, side: str, path: str, threads: int) -> int:
    """Serve one side: build it, report the first unit's losses, then answer commands."""
    fn = build_side(side, case, path, threads)
    start = time.perf_counter()
    losses = fn()
    reply = {"losses": losses, "first_s": time.perf_counter() - start}
    other = "cnncli" if side == "torch" else "torch"
    if other in sys.modules:  # the method's promise: a worker holds one library only
        raise WorkerError(f"the {side} worker imported {other}")
    sys.stdout.write(MARK + json.dumps(reply) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        if command[0] == "block":
            reply = run_block(fn, int(command[1]))
        elif command[0] == "peak":
            reply = {"peak_mib": traced_peak_mib(fn)}
        else:
            reply = {"error": f"unknown command {command[0]!r}"}
        sys.stdout.write(MARK + json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


# --------------------------------------------------------------------------- the parent


class Side(Protocol):
    pid: int
    hello: dict[str, Any]

    def ask(self, command: str) -> dict[str, Any]: ...

    def close(self) -> None: ...


class Worker:
    """One side in a fresh interpreter, driven over its stdin and stdout."""

    def __init__(self, case: str, side: str, path: str, threads: int) -> None:
        self.side = side
        self._err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sides", "--worker", case, side, path,
             "--threads", str(threads)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
            text=True, bufsize=1,
        )  # fmt: skip
        self.pid = self.proc.pid
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                reply: dict[str, Any] = json.loads(line[len(MARK) :])
                return reply
        self.proc.wait()
        self._err.seek(0)
        tail = (self._err.read().strip().splitlines() or [f"exit {self.proc.returncode}"])[-1]
        raise WorkerError(f"{self.side} worker failed: {tail}"[:300])

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._err.close()


class LocalSide:
    """A side in this very process (``--quick`` only: the smoke test's sizes)."""

    def __init__(self, case: str, side: str, path: str, threads: int) -> None:
        self.pid = os.getpid()
        self.fn = build_side(side, case, path, threads)
        start = time.perf_counter()
        losses = self.fn()
        self.hello = {"losses": losses, "first_s": time.perf_counter() - start}

    def ask(self, command: str) -> dict[str, Any]:
        word, *rest = command.split()
        if word == "peak":
            return {"peak_mib": traced_peak_mib(self.fn)}
        return run_block(self.fn, int(rest[0]))

    def close(self) -> None:
        pass


def _timed_block(side: Side, k: int, quick: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One block, repeated while others disturbed it; (the kept attempt, every attempt's note)."""
    attempts: list[dict[str, Any]] = []
    kept: dict[str, Any] | None = None
    for attempt in range(1 if quick else RETRIES + 1):
        meter = _Meter(side.pid)
        reply = side.ask(f"block {k}")
        others = meter.others_cores()
        reply["others_cores"] = None if others is None else round(others, 3)
        attempts.append({"attempt": attempt, "others_cores": reply["others_cores"],
                         "median_ms": round(1e3 * statistics.median(reply["times"]), 4)})  # fmt: skip
        if kept is None or (others is not None and others < kept["others_cores"]):
            kept = reply
        if not quick:
            time.sleep(GAP_S)
        if others is None or others <= DISTURBED_CORES:
            break
    assert kept is not None
    return kept, attempts


def loss_error(ours: list[float], theirs: list[float]) -> float:
    """max |a − b| / max(1, max |b|) over two loss curves (tests/oracle.py's scaled_error)."""
    a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if a.shape != b.shape:
        return math.inf
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def run_sides(
    case: str,
    path: str,
    sides: list[str],
    rounds: int,
    threads: int,
    quick: bool,
) -> dict[str, Any]:
    """The rounds of A B B A blocks; per-round medians (seconds), K, every block, max_err."""
    make: Callable[..., Side] = LocalSide if quick else Worker
    k: dict[str, int] = {}
    medians: dict[str, list[float]] = {side: [] for side in sides}
    blocks: list[dict[str, Any]] = []
    max_err: float | None = None
    peak: float | None = None
    for index in range(rounds):
        running: dict[str, Side] = {}
        try:
            for side in sides:
                running[side] = make(case, side, path, threads)
                if side not in k:
                    first = running[side].hello["first_s"]
                    k[side] = 1 if quick else max(MIN_K, min(MAX_K, math.ceil(BLOCK_S / first)))
            if index == 0 and "torch" in running:
                max_err = loss_error(
                    running["cnncli"].hello["losses"], running["torch"].hello["losses"]
                )
            a, b = sides if index % 2 == 0 else sides[::-1]
            order = [a, b, b, a] if len(sides) == 2 else [a, a]
            times: dict[str, list[float]] = {side: [] for side in sides}
            for side in order:
                reply, attempts = _timed_block(running[side], k[side], quick)
                times[side] += reply["times"]
                blocks.append({"round": index, "side": side, "k": k[side],
                               "median_ms": round(1e3 * statistics.median(reply["times"]), 4),
                               "others_cores": reply["others_cores"], "attempts": attempts})  # fmt: skip
            for side in sides:
                medians[side].append(statistics.median(times[side]))
            if index == rounds - 1:
                peak = running["cnncli"].ask("peak")["peak_mib"]
        finally:
            for worker in running.values():
                worker.close()
    return {"medians": medians, "k": k, "blocks": blocks, "max_err": max_err, "peak_mib": peak}


def write_inputs(inputs: dict[str, Any], folder: str) -> str:
    """The arrays and settings a worker reads, as one .npz in ``folder``."""
    path = os.path.join(folder, "inputs.npz")
    np.savez(path, settings=np.array(json.dumps(inputs["settings"])), **inputs["arrays"])
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sides")
    parser.add_argument("--worker", nargs=3, metavar=("CASE", "SIDE", "INPUTS"), required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    case, side, path = args.worker
    if side not in SIDES:
        parser.error(f"SIDE must be one of {', '.join(SIDES)}")
    return worker_main(case, side, path, args.threads)


if __name__ == "__main__":
    sys.exit(main())
