"""The benchmark runs: ``python -m benchmarks.run --quick`` on tiny sizes writes well-formed JSON.

A smoke test, not a benchmark: it asserts the shape of the JSON (keys, non-negative numbers,
ratio = cnncli_ms / torch_ms) and that cnncli's results equal PyTorch's, never a time.
"""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.cases import CASES
from benchmarks.run import select_cases

ROOT = Path(__file__).resolve().parent.parent
HAS_TORCH = importlib.util.find_spec("torch") is not None
CASE_KEYS = {
    "case",
    "group",
    "size",
    "status",
    "note",
    "reference",
    "cnncli_ms",
    "torch_ms",
    "ratio",
    "gflops",
    "pct_matmul",
    "peak_mib",
    "competitors",
    "max_err",
}
NUMBER_KEYS = ("cnncli_ms", "torch_ms", "ratio", "gflops", "pct_matmul", "peak_mib", "input_mib")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "-o", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text()), proc.stdout


def test_every_case_is_reported_with_every_key(quick_run: tuple[dict[str, Any], str]) -> None:
    data, stdout = quick_run
    assert set(data) == {"machine", "cases"}
    assert [c["case"] for c in data["cases"]] == [c.name for c in CASES]
    for record in data["cases"]:
        assert set(record) >= CASE_KEYS, record["case"]
        assert record["status"] in ("ok", "not available"), (record["case"], record["note"])
    assert "cnncli vs PyTorch" in stdout


def test_machine_record(quick_run: tuple[dict[str, Any], str]) -> None:
    machine = quick_run[0]["machine"]
    for key in ("cpu", "cores", "python", "numpy", "torch", "numpy_blas", "env", "matmul_gflops"):
        assert key in machine
    assert machine["cores"] >= 1
    assert machine["matmul_gflops"] > 0
    assert {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} <= set(machine["env"])
    assert machine["quick"] is True


def test_numbers_are_non_negative_and_ratios_follow(quick_run: tuple[dict[str, Any], str]) -> None:
    for record in quick_run[0]["cases"]:
        for key in NUMBER_KEYS:
            value = record[key]
            assert value is None or (isinstance(value, int | float) and value >= 0), (
                record["case"],
                key,
            )
        for key, value in record["competitors"].items():
            assert value is None or value >= 0, (record["case"], key)
        if record["group"] == "process":
            assert record["torch_ms"] is None
            reference = record["competitors"]["baseline_ms"]
        else:
            reference = record["torch_ms"]
            assert (reference is not None) == HAS_TORCH, record["case"]
        if record["cnncli_ms"] is not None and reference:
            expected = record["cnncli_ms"] / reference
            assert math.isclose(record["ratio"], expected, rel_tol=1e-3), record["case"]
        else:
            assert record["ratio"] is None, record["case"]


def test_available_cases_measure_cnncli_and_agree_with_torch(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    for record in quick_run[0]["cases"]:
        if record["status"] != "ok" or record["group"] == "process":
            continue
        assert record["cnncli_ms"] is not None, record["case"]
        assert record["peak_mib"] is not None, record["case"]
        if record["group"] in ("conv", "network", "reference"):
            assert record["gflops"] is not None and record["gflops"] > 0, record["case"]
        if HAS_TORCH:
            # cnncli computed the same thing as torch (float32 rounding apart)
            assert record["max_err"] is not None and record["max_err"] <= 1e-4, record


def test_sobel_competitors_are_timed_when_installed(quick_run: tuple[dict[str, Any], str]) -> None:
    sobel = [r for r in quick_run[0]["cases"] if r["case"].startswith("sobel_")]
    assert len(sobel) == 3
    for record in sobel:
        if importlib.util.find_spec("scipy") is not None:
            assert record["competitors"]["scipy_ms"] >= 0
        if importlib.util.find_spec("cv2") is not None:
            assert record["competitors"]["opencv_ms"] >= 0


def test_case_patterns_select_by_glob_or_word_and_keep_matmul() -> None:
    names = [c.name for c in select_cases("conv*")]
    assert names == ["matmul", "conv1", "conv2", "conv3", "conv4", "conv5", "conv2_backward"]
    assert [c.name for c in select_cases("sobel_4096,help")] == ["matmul", "sobel_4096", "cli_help"]
    assert select_cases("no-such-case") == []
    assert len(select_cases(None)) == len(CASES)


def test_several_runs_summarise_to_medians_and_ranges(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    """Two runs whose ratios differ: the summary row holds their median and their range."""
    from benchmarks.report import summary_table

    first = quick_run[0]
    second = json.loads(json.dumps(first))
    for record in second["cases"]:
        if record["case"] == "matmul" and record["ratio"] is not None:
            record["ratio"] = record["ratio"] * 3
    text = summary_table([first, second])
    assert text.startswith("2 runs")
    row = next(line for line in text.splitlines() if line.startswith("| matmul |"))
    ratio = next(r["ratio"] for r in first["cases"] if r["case"] == "matmul")
    if ratio is not None:
        assert f"{2 * ratio:.3f}" in row  # the median of r and 3r
        assert f"{ratio:.3f} – {3 * ratio:.3f}" in row
    assert "| cli_sobel_8192 | peak_mib |" in text


@pytest.mark.skipif(not HAS_TORCH, reason="the PyTorch side needs torch")
def test_each_training_side_runs_in_its_own_worker(tmp_path: Path) -> None:
    """Two workers (the method of benchmarks/sides.py): each builds its side from the same
    inputs file, their first losses agree, and a block returns K timings.  A worker that
    imported the other side's library would have failed before its first reply."""
    from benchmarks import sides, training

    inputs = training.make_inputs("train_tinyvgg_step", quick=True)
    path = sides.write_inputs(inputs, str(tmp_path))
    workers: dict[str, Any] = {}
    try:
        for side in sides.SIDES:
            workers[side] = sides.Worker("train_tinyvgg_step", side, path, threads=1)
        assert workers["cnncli"].pid != workers["torch"].pid
        for worker in workers.values():
            reply = worker.ask("block 2")
            assert len(reply["times"]) == 2 and min(reply["times"]) > 0
        ours, theirs = (workers[s].hello["losses"] for s in sides.SIDES)
        assert len(ours) == 1 and sides.loss_error(ours, theirs) < 1e-5
    finally:
        for worker in workers.values():
            worker.close()


def test_cpu_accounting_sees_this_process_work() -> None:
    """/proc's tick counters, from which other processes' CPU use per block is derived."""
    import os

    from benchmarks import sides

    busy, mine = sides.machine_busy_ticks(), sides.process_ticks(os.getpid())
    if busy is None or mine is None:
        pytest.skip("no /proc on this system")
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    assert sides.process_ticks(os.getpid()) > mine  # type: ignore[operator]
    assert sides.machine_busy_ticks() > busy  # type: ignore[operator]
