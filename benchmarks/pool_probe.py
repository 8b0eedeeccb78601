"""Pooling against ONNX Runtime, each side in its own process (issue 18's method).

``python -m benchmarks.pool_probe`` times the four pooling cases of the benchmark
(``maxpool_3x3s2``, ``avgpool_3x3s2`` on 8×96×55×55, ``maxpool_2x2``, ``avgpool_2x2`` on
8×64×112×112) on three sides, each in its own worker process that imports only its own
library:

* ``cnncli``: ``cnncli.engine.pool.max_pool2d`` / ``avg_pool2d`` on the fast path, after
  ``cnncli.engine.fast.setup()`` as the command line does;
* ``ort``: ONNX Runtime's CPU provider on a one-node model built with ``onnx.helper``
  (``MaxPool`` / ``AveragePool``), ``intra_op_num_threads`` = the thread count;
* ``read``: NumPy summing the case's input in that many threads (one part each), a
  memory-read floor for an op that must read its whole input once.

A round starts fresh workers and times, for every case, blocks A B B A of cnncli and
ONNX Runtime (A alternating between rounds), then one block of ``read``; each block is a
warm-up call and K timed calls (:func:`benchmarks.sides.run_block`), with a pause between
blocks.  Other processes' CPU use is recorded per block; a disturbed block is repeated
(at most twice, the least disturbed kept).  The figures are the medians over rounds of
the per-round medians, and the ratios' median and range over rounds.  ``max_err`` compares
the two sides' first outputs.  ``--before DIR`` adds a fourth side, the cnncli of
another checkout, timed in the same rounds (for before/after figures).  Results:
"Pooling against ONNX Runtime" in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.sides import DISTURBED_CORES, GAP_S, RETRIES, _Meter, run_block

ROOT = Path(__file__).resolve().parent.parent
MARK = "POOL-PROBE "
CASES: dict[str, tuple[str, int, int, tuple[int, int, int, int]]] = {
    "maxpool_3x3s2": ("max", 3, 2, (8, 96, 55, 55)),
    "avgpool_3x3s2": ("avg", 3, 2, (8, 96, 55, 55)),
    "maxpool_2x2": ("max", 2, 2, (8, 64, 112, 112)),
    "avgpool_2x2": ("avg", 2, 2, (8, 64, 112, 112)),
}
BLOCK_S = 0.5  # K is chosen so that a block lasts about this long
MIN_K, MAX_K = 5, 400


def case_input(case: str) -> np.ndarray:
    """The case's input: float32 normal values, the same in every worker."""
    shape = CASES[case][3]
    return np.random.default_rng(0).standard_normal(shape, dtype=np.float32)


def build(side: str, case: str, threads: int) -> Callable[[], Any]:
    """One side's call of ``case`` (imports only that side's library)."""
    mode, k, s, shape = CASES[case]
    x = case_input(case)
    if side == "cnncli":
        from cnncli.engine import fast, pool

        fast.setup()
        fn = pool.max_pool2d if mode == "max" else pool.avg_pool2d
        return lambda: fn(x, k, s)
    if side == "ort":
        import onnxruntime as ort
        from onnx import TensorProto, helper

        op = "MaxPool" if mode == "max" else "AveragePool"
        node = helper.make_node(op, ["x"], ["y"], kernel_shape=[k, k], strides=[s, s])
        graph = helper.make_graph(
            [node],
            "pool",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
            [
                helper.make_tensor_value_info(
                    "y",
                    TensorProto.FLOAT,
                    [*shape[:2], (shape[2] - k) // s + 1, (shape[3] - k) // s + 1],
                )
            ],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        return lambda: session.run(["y"], {"x": x})[0]
    if side == "read":
        from concurrent.futures import ThreadPoolExecutor

        parts = np.array_split(x.reshape(-1), threads)
        executor = ThreadPoolExecutor(threads)
        return lambda: list(executor.map(np.sum, parts))
    raise ValueError(f"unknown side {side!r}")


def worker_main(side: str, threads: int) -> int:
    """Serve one side: ``CASE K`` on stdin → a block's times; ``out CASE FILE`` saves one output."""
    built: dict[str, Callable[[], Any]] = {}
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] == "out":
            np.save(
                words[2], np.asarray(built.setdefault(words[1], build(side, words[1], threads))())
            )
            reply: dict[str, Any] = {}
        else:
            fn = built.setdefault(words[0], build(side, words[0], threads))
            reply = run_block(fn, int(words[1]))
        other = {"cnncli": "onnxruntime", "ort": "cnncli", "read": "cnncli"}[side]
        if other in sys.modules:
            raise RuntimeError(f"the {side} worker imported {other}")
        sys.stdout.write(MARK + json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


class Worker:
    """One side in a fresh interpreter, driven over stdin and stdout."""

    def __init__(self, side: str, threads: int, root: Path) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(root), str(ROOT)])
        for name in ("CNNCLI_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)  # cnncli's own pool, and BLAS, at the same count
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.pool_probe", "--worker", side,
             "--threads", str(threads)],
            cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env,
        )  # fmt: skip

    def ask(self, command: str) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(MARK):
                return dict(json.loads(line[len(MARK) :]))
        raise RuntimeError(f"worker ended (exit {self.proc.wait()})")

    def block(self, case: str, k: int) -> dict[str, Any]:
        """A block, repeated while other processes used more than DISTURBED_CORES."""
        attempts = []
        for _ in range(RETRIES + 1):
            time.sleep(GAP_S)
            meter = _Meter(self.proc.pid)
            reply = self.ask(f"{case} {k}")
            reply["others_cores"] = meter.others_cores()
            attempts.append(reply)
            if (reply["others_cores"] or 0.0) <= DISTURBED_CORES:
                break
        best = min(attempts, key=lambda r: r["others_cores"] or 0.0)
        best["attempts"] = len(attempts)
        return best

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def max_err(a: Worker, b: Worker, case: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        fa, fb = f"{tmp}/a.npy", f"{tmp}/b.npy"
        a.ask(f"out {case} {fa}")
        b.ask(f"out {case} {fb}")
        ya, yb = np.load(fa), np.load(fb)
    return float(np.abs(ya - yb).max() / max(1.0, float(np.abs(yb).max())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", choices=("cnncli", "ort", "read"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument(
        "--before", type=Path, help="also time the cnncli of this checkout (side 'before')"
    )
    parser.add_argument("-o", "--output", type=Path, help="JSON file of every round")
    args = parser.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.threads)
    cases = args.cases.split(",")
    timed = ["cnncli", "ort"] + (["before"] if args.before else [])
    roots = {"before": args.before.resolve()} if args.before else {}
    rounds: list[dict[str, Any]] = []
    errors: dict[str, float] = {}
    ks: dict[str, int] = {}
    for r in range(args.rounds):
        sides = {
            s: Worker("cnncli" if s == "before" else s, args.threads, roots.get(s, ROOT))
            for s in (*timed, "read")
        }
        record: dict[str, Any] = {}
        for case in cases:
            if case not in errors:
                errors[case] = max_err(sides["cnncli"], sides["ort"], case)
                first = sides["cnncli"].ask(f"{case} 1")["times"][0]
                ks[case] = max(MIN_K, min(MAX_K, int(BLOCK_S / max(first, 1e-6))))
            order = timed if r % 2 == 0 else timed[::-1]  # A B B A, A alternating
            blocks = [(s, sides[s].block(case, ks[case])) for s in (*order, *order[::-1], "read")]
            record[case] = {
                s: statistics.median([t for name, b in blocks if name == s for t in b["times"]])
                for s in sides
            }
            record[case]["others_max"] = max((b["others_cores"] or 0.0) for _, b in blocks)
        for worker in sides.values():
            worker.close()
        rounds.append(record)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    pairs = [(a, "ort") for a in timed if a != "ort"] + [(a, "read") for a in timed]
    print(
        "| case | "
        + " | ".join(f"{s} ms" for s in (*timed, "read"))
        + " | "
        + " | ".join(f"{a} / {b}" for a, b in pairs)
        + " | quiet cnncli / ort | max_err |"
    )
    print("|---|" + "--:|" * (len(timed) + 1) + "---|" * (len(pairs) + 1) + "--:|")
    summary = {}
    for case in cases:
        per = [rec[case] for rec in rounds]
        ms = {s: 1e3 * statistics.median(p[s] for p in per) for s in (*timed, "read")}
        ratios = {f"{a}/{b}": [p[a] / p[b] for p in per] for a, b in pairs}
        cells = [f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})" for v in ratios.values()]
        quiet = [p["cnncli"] / p["ort"] for p in per if p["others_max"] <= DISTURBED_CORES]
        cells.append(f"{statistics.median(quiet):.2f} ({len(quiet)} rounds)" if quiet else "–")
        print(
            f"| {case} | "
            + " | ".join(f"{v:.3f}" for v in ms.values())
            + " | "
            + " | ".join(cells)
            + f" | {errors[case]:.1e} |"
        )
        summary[case] = {"ms": ms, "ratios": ratios, "quiet_cnncli/ort": quiet}
    if args.output:
        args.output.write_text(json.dumps({"rounds": rounds, "summary": summary, "k": ks}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
