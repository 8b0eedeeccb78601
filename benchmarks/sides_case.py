"""A case measured with each side in its own worker process, as one JSON-ready record.

The training cases (:mod:`benchmarks.training`: cnncli and PyTorch) and the inference
cases (:mod:`benchmarks.inference`: cnncli, PyTorch and ONNX Runtime) share this record.
Each side's time is the median of its per-round medians; each ratio between two sides is
given as that quotient, its per-round values and their range, and the same quotient over
the quiet blocks only.  The lower bound (``lower_bound_ms``, ``SIDE_over_bound``) needs the
run's machine limits and is filled in by :func:`benchmarks.run.finish`.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from typing import Any

from benchmarks import inference, sides, training
from benchmarks.cases import Case
from benchmarks.measure import _derive, _ms, _sig, empty_record
from benchmarks.timing import MIB

#: the ratios reported between sides: (numerator, denominator)
PAIRS = (("cnncli", "torch"), ("cnncli", "ort"))


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "median": _sig(statistics.median(values)),
        "range": [_sig(min(values)), _sig(max(values))],
    }


def _quiet_ms(blocks: list[dict[str, Any]], side: str) -> list[float]:
    """The kept blocks of the alone phase of ``side`` that no other process disturbed."""
    return [
        b["median_ms"]
        for b in blocks
        if b["side"] == side
        and b.get("phase") == "alone"
        and b["others_cores"] is not None
        and b["others_cores"] <= sides.DISTURBED_CORES
    ]


def side_figures(result: dict[str, Any], samples: int) -> dict[str, Any]:
    """Per side: the median time, samples/s, per-round times, quiet blocks; per pair of
    sides: the ratio, its per-round values and range, and the quiet blocks' ratio."""
    per_round: dict[str, list[float]] = result["medians"]
    med = {side: statistics.median(v) for side, v in per_round.items()}
    quiet = {side: _quiet_ms(result["blocks"], side) for side in per_round}
    quiet_ms = {side: _sig(statistics.median(v)) if v else None for side, v in quiet.items()}
    out: dict[str, Any] = {
        "sides": list(per_round),
        "round_ms": {side: [_ms(v) for v in values] for side, values in per_round.items()},
        "quiet_blocks": {side: len(v) for side, v in quiet.items()},
        "quiet_ms": quiet_ms,
        "ratios": {},
    }
    for side, seconds in med.items():
        out[f"{side}_ms"] = _ms(seconds)
        out[f"{side}_samples_per_s"] = _sig(samples / seconds)
    for a, b in PAIRS:
        if a in per_round and b in per_round:
            rounds = [x / y for x, y in zip(per_round[a], per_round[b], strict=True)]
            qa, qb = quiet_ms.get(a), quiet_ms.get(b)
            out["ratios"][f"{a}/{b}"] = {
                "median": _sig(med[a] / med[b]),
                "rounds": [_sig(r) for r in rounds],
                "range": [_sig(min(rounds)), _sig(max(rounds))],
                "quiet": _sig(qa / qb) if qa and qb else None,
            }
    return out


def busy_figures(result: dict[str, Any]) -> dict[str, Any]:
    """The busy phase: each side's time and slowdown (busy / alone, per round) and
    ``slowdown_vs_torch``, cnncli's slowdown over PyTorch's (the target: at most 1)."""
    out: dict[str, Any] = {"busy_ms": {}, "slowdown": {}}
    for side, busy in result["busy_medians"].items():
        alone = result["medians"][side]
        slow = [b / a for b, a in zip(busy, alone, strict=True)]
        out["busy_ms"][side] = _ms(statistics.median(busy))
        out["slowdown"][side] = {**_stats(slow), "rounds": [_sig(s) for s in slow]}
        out[f"{side}_slowdown"] = out["slowdown"][side]["median"]
    if "cnncli_slowdown" in out and "torch_slowdown" in out:
        out["slowdown_vs_torch"] = _sig(out["cnncli_slowdown"] / out["torch_slowdown"])
    return out


def _make_inputs(case: Case, quick: bool, folder: str) -> tuple[dict[str, Any], str, list[str]]:
    """The case's inputs written into ``folder``: (inputs, the inputs file, the sides)."""
    which = ["cnncli", "torch"] if inference.has_module("torch") else ["cnncli"]
    if case.name in training.TRAIN_CASES:
        inputs = training.make_inputs(case.name, quick)
        inputs.update(bound_flops=inputs["flops"], bound_bytes=0.0)
        return inputs, sides.write_inputs(inputs, folder), which
    inputs = inference.make_inputs(case.name, quick)
    path = sides.write_inputs(inputs, folder)
    if not case.name.endswith("_busy"):
        why = "onnxruntime is not installed"
        if inference.has_module("onnxruntime"):
            why = inference.write_onnx(folder, inputs["settings"], quick)
        if why is None:
            which.append("ort")
        else:
            inputs["note"] = f"no ONNX Runtime side: {why}"
    return inputs, path, which


def run_sides_case(case: Case, quick: bool, repeats: int, threads: int | None) -> dict[str, Any]:
    """A training or inference case, each side in its own worker (:mod:`benchmarks.sides`).

    ``repeats`` is the number of rounds (at least :data:`benchmarks.sides.MIN_ROUNDS`
    outside ``--quick``); a case named ``*_busy`` runs every round again beside a
    competing busy process.
    """
    record = empty_record(case)
    n_threads = threads or os.cpu_count() or 1
    rounds = 1 if quick else max(sides.MIN_ROUNDS, repeats)
    busy = case.name.endswith("_busy")
    with tempfile.TemporaryDirectory(prefix="cnncli-bench-sides-") as folder:
        inputs, path, which = _make_inputs(case, quick, folder)
        record.update(
            size=inputs["size"] + (", one competing busy process" if busy else ""),
            impl=f"each side in its own worker process ({' '.join(sides.block_order(which, 0))})",
            note=inputs.get("note"),
            input_mib=round(inputs["arrays"]["x"].nbytes / MIB, 3),
        )
        try:
            result = sides.run_sides(case.name, path, which, rounds, n_threads, quick, busy)
        except sides.WorkerError as exc:
            record.update(status="error", note=str(exc))
            return record
    figures = side_figures(result, inputs["samples"])
    record.update(figures)
    record["peak_mib"] = result["peak_mib"]
    record["max_err"] = result["max_err"]
    _derive(record, inputs["flops"])
    record["mem_x_io"] = None  # a unit's arrays are not one op's input and output
    main = figures["ratios"].get("cnncli/torch")
    by_ort = figures["ratios"].get("cnncli/ort")
    if "ort" in figures["sides"]:
        record["competitors"] = {"ort_ms": record["ort_ms"], "cnncli_over_ort": by_ort["median"]}
    others = [b["others_cores"] for b in result["blocks"] if b["others_cores"] is not None]
    record.update(
        samples=inputs["samples"],
        steps=inputs.get("steps"),
        flops=inputs["flops"],
        bound_flops=inputs["bound_flops"],
        bound_bytes=inputs["bound_bytes"],
        threads=n_threads,
        rounds=rounds,
        k=result["k"],
        errors=result["errors"],
        round_ratios=main["rounds"] if main else [],
        ratio_range=main["range"] if main else None,
        quiet_ratio=main["quiet"] if main else None,
        cnncli_over_ort=by_ort["median"] if by_ort else None,
        cnncli_over_ort_range=by_ort["range"] if by_ort else None,
        quiet_cnncli_over_ort=by_ort["quiet"] if by_ort else None,
        others_cores_median=round(statistics.median(others), 3) if others else None,
        blocks_repeated=sum(len(b["attempts"]) - 1 for b in result["blocks"]),
        blocks=result["blocks"],
    )
    if busy:
        record.update(busy_figures(result))
    return record


def bound_figures(record: dict[str, Any], gflops: float | None, read_gbps: float | None) -> None:
    """``lower_bound_ms`` (the FLOPs at the GEMM rate plus the bytes at the read bandwidth)
    and each side's distance from it: the median time's and the per-round range."""
    flops, nbytes = record.get("bound_flops"), record.get("bound_bytes")
    if flops is None or not record.get("sides"):
        return
    if (flops and not gflops) or (nbytes and not read_gbps):
        return  # a limit this bound needs was not measured
    bound = (flops / (gflops * 1e9) if flops else 0.0) + (
        nbytes / (read_gbps * 1e9) if nbytes else 0.0
    )
    if bound <= 0:
        return
    record["lower_bound_ms"] = _sig(1e3 * bound)
    for side in record["sides"]:
        ms = record.get(f"{side}_ms")
        rounds = [v for v in record["round_ms"][side] if v is not None]
        record[f"{side}_over_bound"] = _sig(ms / record["lower_bound_ms"]) if ms else None
        if rounds:
            record[f"{side}_over_bound_range"] = [
                _sig(min(rounds) / record["lower_bound_ms"]),
                _sig(max(rounds) / record["lower_bound_ms"]),
            ]
