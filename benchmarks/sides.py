"""Each side in its own worker process, timed in alternating blocks (issue 18's method).

Used by the training cases (:mod:`benchmarks.training`) and the inference cases
(:mod:`benchmarks.inference`).  A round starts one long-lived worker per side
(``python -m benchmarks.sides --worker CASE SIDE INPUTS``): "cnncli", "torch" or "ort"
(ONNX Runtime), each of which never imports the others' libraries (:data:`FORBIDDEN`).
Each worker builds its side from the inputs file and runs one unit at once from the
shared weights; those first results (a training unit's losses, a forward pass's output)
are compared with PyTorch's (``errors``).  The parent then asks for timed blocks in the
order of :func:`block_order` (A B B A for two sides, A B C C B A for three, the first side
rotating between rounds), each block a warm-up call and K timed calls, with a pause between
blocks so that no library's spinning threads overlap another's block.  The workers stop at
the end of the round, so that every round samples fresh processes.

While a block runs, the parent reads ``/proc/stat`` (all CPU time on the machine) and
``/proc/PID/stat`` (the worker's own) before and after: what is left, less the parent's
own, is other processes' CPU use, in cores.  A block during which others used more than
:data:`DISTURBED_CORES` is repeated (at most :data:`RETRIES` times; the least disturbed
attempt is kept and every attempt is recorded).

With ``busy=True`` every round runs its blocks twice: once as above, then again while a
competing busy process (:data:`COMPETITOR`, started by the parent) holds a core; that
process's ticks are not counted as a disturbance.

A side's figure is the median, over rounds, of its per-round median time per call; the
spread of the per-round ratios between the sides is reported beside it.
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
SIDES = ("cnncli", "torch", "ort")
#: the libraries each side's worker must not have imported
FORBIDDEN = {
    "cnncli": ("torch", "onnxruntime"),
    "torch": ("cnncli", "onnxruntime"),
    "ort": ("cnncli", "torch"),
}
#: the busy case's competitor: one pure-Python loop holding one core
COMPETITOR = ("-S", "-c", "while True: pass")
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


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after "pid (comm) " (state, ppid, ...), or None when the
    process cannot be read (ended, or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_ticks(pid: int) -> int | None:
    """A process's user + system time (all its threads), in ticks, from /proc/PID/stat."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[11]) + int(fields[12])  # utime, stime


def tree_ticks(pid: int) -> int | None:
    """:func:`process_ticks` of a process and of its children (a training side's helper
    process, :mod:`cnncli.nn.data_parallel`, is the side's own work, not another's)."""
    own = process_ticks(pid)
    if own is None:
        return None
    return own + sum(process_ticks(child) or 0 for child in _children(pid))


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``, from /proc (empty where it cannot be read)."""
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return []
    found = []
    for entry in entries:
        fields = _stat_fields(entry)
        if fields is not None and fields[1] == str(pid):  # ended meanwhile: None
            found.append(int(entry))
    return found


class _Meter:
    """Other processes' CPU use (cores) while a block ran, or None without /proc.

    ``exclude`` are further processes whose ticks are not others' (the busy case's
    competitor, which is meant to be there).
    """

    def __init__(self, pid: int, exclude: tuple[int, ...] = ()) -> None:
        self.pid = pid
        self.exclude = exclude
        self.start = self._read()

    def _own(self) -> int | None:
        pids = {os.getpid(), *self.exclude} - {self.pid}
        ticks = [process_ticks(p) for p in pids]
        return None if None in ticks else sum(t for t in ticks if t is not None)

    def _read(self) -> tuple[float, int | None, int | None, int | None]:
        return time.perf_counter(), machine_busy_ticks(), tree_ticks(self.pid), self._own()

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


def build_side(side: str, case: str, path: str, threads: int) -> Callable[[], Any]:
    """One side's unit of ``case``, built from the inputs file (imports only that side)."""
    from benchmarks import inference, training

    arrays = np.load(path, allow_pickle=False)
    settings = json.loads(str(arrays["settings"]))
    if case in training.TRAIN_CASES:
        if side not in ("cnncli", "torch"):
            raise WorkerError(f"{case} has no {side} side")
        if side == "cnncli":
            return training.cnncli_side(arrays, settings)
        return training.torch_side(arrays, settings, threads)
    if side == "cnncli":
        return inference.cnncli_side(arrays, settings)
    if side == "torch":
        return inference.torch_side(arrays, settings, threads)
    return inference.ort_side(arrays, os.path.dirname(path), threads)


def first_unit(side: str, fn: Callable[[], Any], path: str, warm: bool = True) -> dict[str, Any]:
    """Run the first unit; its losses (a list) in the reply, or its output array saved
    beside the inputs file as ``first_SIDE.npy`` and named in the reply.  Then one more
    unit (unless ``warm`` is false), whose time (``warm_s``) sets K."""
    start = time.perf_counter()
    result = fn()
    reply: dict[str, Any] = {"first_s": time.perf_counter() - start}
    reply["warm_s"] = reply["first_s"]
    if warm:  # a warm call sets K: a first call can take several times as long
        start = time.perf_counter()
        fn()
        reply["warm_s"] = time.perf_counter() - start
    if isinstance(result, list):
        reply["losses"] = result
    else:
        if isinstance(result, tuple):  # several gradients: one flat array of them all
            result = np.concatenate([np.ravel(np.asarray(r)) for r in result])
        out = os.path.join(os.path.dirname(path), f"first_{side}.npy")
        np.save(out, np.asarray(result))
        reply["result_file"] = out
    return reply


def first_result(hello: dict[str, Any]) -> np.ndarray:
    """A worker's first result, from its first reply."""
    if "losses" in hello:
        return np.asarray(hello["losses"], np.float64)
    return np.load(hello["result_file"], allow_pickle=False)


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
    reply = first_unit(side, fn, path)
    for other in FORBIDDEN[side]:  # the method's promise: a worker holds one library only
        if other in sys.modules:
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
        self.hello = first_unit(side, self.fn, path, warm=False)  # K is 1 here

    def ask(self, command: str) -> dict[str, Any]:
        word, *rest = command.split()
        if word == "peak":
            return {"peak_mib": traced_peak_mib(self.fn)}
        return run_block(self.fn, int(rest[0]))

    def close(self) -> None:
        pass


def _timed_block(
    side: Side, k: int, quick: bool, exclude: tuple[int, ...] = ()
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One block, repeated while others disturbed it; (the kept attempt, every attempt's note)."""
    attempts: list[dict[str, Any]] = []
    kept: dict[str, Any] | None = None
    for attempt in range(1 if quick else RETRIES + 1):
        meter = _Meter(side.pid, exclude)
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


def loss_error(ours: Any, theirs: Any) -> float:
    """max |a − b| / max(1, max |b|) over two loss curves or two outputs
    (tests/oracle.py's scaled_error)."""
    a, b = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if a.shape != b.shape:
        return math.inf
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def block_order(sides: list[str], index: int) -> list[str]:
    """Round ``index``'s blocks: the sides rotated by ``index``, then back (A B C C B A)."""
    shift = index % len(sides)
    turn = sides[shift:] + sides[:shift]
    return turn + turn[::-1]


class Competitor:
    """The busy case's competing process (:data:`COMPETITOR`), stopped by :meth:`stop`."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, *COMPETITOR])
        self.pid = self.proc.pid
        time.sleep(GAP_S)  # let it take its core

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


def _phase(
    running: dict[str, Side],
    order: list[str],
    k: dict[str, int],
    quick: bool,
    exclude: tuple[int, ...],
) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
    """One pass over ``order``'s blocks: every side's timings (s) and the blocks' notes."""
    times: dict[str, list[float]] = {side: [] for side in running}
    notes: list[dict[str, Any]] = []
    for side in order:
        reply, attempts = _timed_block(running[side], k[side], quick, exclude)
        times[side] += reply["times"]
        notes.append({"side": side, "k": k[side],
                      "median_ms": round(1e3 * statistics.median(reply["times"]), 4),
                      "others_cores": reply["others_cores"], "attempts": attempts})  # fmt: skip
    return times, notes


def run_sides(
    case: str,
    path: str,
    sides: list[str],
    rounds: int,
    threads: int,
    quick: bool,
    busy: bool = False,
) -> dict[str, Any]:
    """The rounds of alternating blocks; per-round medians (seconds) of each phase
    ("alone", and "busy" with a competitor), K, every block, each side's first-result
    error against PyTorch's (``errors``; ``max_err`` is cnncli's), cnncli's peak."""
    make: Callable[..., Side] = LocalSide if quick else Worker
    phases = ["alone", "busy"] if busy else ["alone"]
    k: dict[str, int] = {}
    medians: dict[str, dict[str, list[float]]] = {p: {s: [] for s in sides} for p in phases}
    blocks: list[dict[str, Any]] = []
    errors: dict[str, float] = {}
    peak: float | None = None
    for index in range(rounds):
        running: dict[str, Side] = {}
        try:
            for side in sides:
                running[side] = make(case, side, path, threads)
                if side not in k:
                    warm = running[side].hello["warm_s"]
                    k[side] = 1 if quick else max(MIN_K, min(MAX_K, math.ceil(BLOCK_S / warm)))
            if index == 0 and "torch" in running:
                reference = first_result(running["torch"].hello)
                for side in sides:
                    if side != "torch":
                        errors[side] = loss_error(first_result(running[side].hello), reference)
            for phase in phases:
                competitor = Competitor() if phase == "busy" else None
                try:
                    exclude = (competitor.pid,) if competitor else ()
                    times, notes = _phase(running, block_order(sides, index), k, quick, exclude)
                finally:
                    if competitor is not None:
                        competitor.stop()
                blocks += [{"round": index, "phase": phase, **note} for note in notes]
                for side in sides:
                    medians[phase][side].append(statistics.median(times[side]))
            if index == rounds - 1 and "cnncli" in running:
                peak = running["cnncli"].ask("peak")["peak_mib"]
        finally:
            for worker in running.values():
                worker.close()
    return {
        "medians": medians["alone"],
        "busy_medians": medians.get("busy"),
        "k": k,
        "blocks": blocks,
        "errors": errors,
        "max_err": errors.get("cnncli"),
        "peak_mib": peak,
    }


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
