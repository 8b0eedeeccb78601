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
HAS_ORT = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime"))
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
        for side in ("cnncli", "torch"):
            workers[side] = sides.Worker("train_tinyvgg_step", side, path, threads=1)
        assert workers["cnncli"].pid != workers["torch"].pid
        for worker in workers.values():
            reply = worker.ask("block 2")
            assert len(reply["times"]) == 2 and min(reply["times"]) > 0
        ours, theirs = (workers[s].hello["losses"] for s in ("cnncli", "torch"))
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


@pytest.mark.skipif(not HAS_ORT, reason="the ONNX Runtime side needs onnx and onnxruntime")
@pytest.mark.skipif(not HAS_TORCH, reason="the PyTorch side needs torch")
def test_three_sides_of_an_inference_case_run_in_their_own_workers(tmp_path: Path) -> None:
    """cnncli, PyTorch and ONNX Runtime each in a worker of its own, built from one folder:
    each holds only its own library (a worker that imported another's would have failed
    before its first reply), their first outputs agree, and a block returns K timings."""
    from benchmarks import inference, sides

    inputs = inference.make_inputs("avgpool_3x3s2", quick=True)
    path = sides.write_inputs(inputs, str(tmp_path))
    assert inference.write_onnx(str(tmp_path), inputs["settings"], quick=True) is None
    workers: dict[str, Any] = {}
    try:
        for side in sides.SIDES:
            workers[side] = sides.Worker("avgpool_3x3s2", side, path, threads=1)
        assert len({w.pid for w in workers.values()}) == 3
        for worker in workers.values():
            reply = worker.ask("block 2")
            assert len(reply["times"]) == 2 and min(reply["times"]) > 0
        out = {side: sides.first_result(w.hello) for side, w in workers.items()}
        assert out["torch"].shape == (1, 12, 6, 6)
        for side in ("cnncli", "ort"):
            assert sides.loss_error(out[side], out["torch"]) < 1e-6, side
    finally:
        for worker in workers.values():
            worker.close()


def test_block_order_rotates_the_first_side_and_mirrors() -> None:
    from benchmarks.sides import block_order

    assert block_order(["a", "b"], 0) == ["a", "b", "b", "a"]
    assert block_order(["a", "b"], 1) == ["b", "a", "a", "b"]
    assert block_order(["a", "b", "c"], 0) == ["a", "b", "c", "c", "b", "a"]
    assert block_order(["a", "b", "c"], 1) == ["b", "c", "a", "a", "c", "b"]
    assert block_order(["a", "b", "c"], 2) == ["c", "a", "b", "b", "a", "c"]
    assert block_order(["a"], 3) == ["a", "a"]


def test_the_busy_competitor_is_not_counted_as_a_disturbance() -> None:
    """Two meters over the same second, one told to exclude the competitor: the other
    sees the competitor's core as other processes' use."""

    from benchmarks import sides

    if sides.machine_busy_ticks() is None:
        pytest.skip("no /proc on this system")
    # The side metered is an idle process of its own: the competitor is this process's
    # child, and a side's children are the side's (test below).
    side = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    competitor = sides.Competitor()
    try:
        counted = sides._Meter(side.pid)
        excluded = sides._Meter(side.pid, (competitor.pid,))
        time.sleep(1.0)
        with_it, without = counted.others_cores(), excluded.others_cores()
    finally:
        competitor.stop()
        side.kill()
        side.wait()
    assert with_it is not None and without is not None
    assert with_it - without >= 0.2


def test_a_sides_child_process_is_counted_as_the_sides_work() -> None:
    """A side's helper process (cnncli's training helper) is the side's own CPU use: over a
    second of a busy child, this process's tree gains most of a core, the process alone not."""
    import os

    from benchmarks import sides

    if sides.machine_busy_ticks() is None:
        pytest.skip("no /proc on this system")
    competitor = sides.Competitor()  # a busy child of this process
    try:
        time.sleep(0.2)
        tree0, own0 = sides.tree_ticks(os.getpid()), sides.process_ticks(os.getpid())
        time.sleep(1.0)
        tree1, own1 = sides.tree_ticks(os.getpid()), sides.process_ticks(os.getpid())
    finally:
        competitor.stop()
    assert None not in (tree0, own0, tree1, own1)
    child = (tree1 - own1) - (tree0 - own0)  # type: ignore[operator]
    assert child >= 0.6 * sides.CLK_TCK
    assert own1 - own0 <= 0.3 * sides.CLK_TCK  # type: ignore[operator]


def test_lower_bound_is_flops_at_the_gemm_rate_plus_bytes_at_the_read_bandwidth() -> None:
    from benchmarks.sides_case import bound_figures

    record: dict[str, Any] = {
        "bound_flops": 2e9, "bound_bytes": 1e9, "sides": ["cnncli", "ort"],
        "cnncli_ms": 240.0, "ort_ms": 120.0,
        "round_ms": {"cnncli": [200.0, 240.0, 300.0], "ort": [120.0]},
    }  # fmt: skip
    bound_figures(record, gflops=100.0, read_gbps=10.0)  # 20 ms + 100 ms
    assert record["lower_bound_ms"] == pytest.approx(120.0)
    assert record["cnncli_over_bound"] == pytest.approx(2.0)
    assert record["cnncli_over_bound_range"] == pytest.approx([200 / 120, 2.5], rel=1e-4)
    assert record["ort_over_bound"] == pytest.approx(1.0)
    unmeasured = {**record, "lower_bound_ms": None}
    bound_figures(unmeasured, gflops=100.0, read_gbps=None)  # the bandwidth is missing
    assert unmeasured["lower_bound_ms"] is None


def test_sides_cases_report_bounds_ratios_and_slowdowns(
    quick_run: tuple[dict[str, Any], str],
) -> None:
    """Every case of the per-process method: each side over the bound, the ratios between
    the sides, ONNX Runtime's side where it exists, the busy case's slowdowns."""
    records = {r["case"]: r for r in quick_run[0]["cases"]}
    inference = ["alexnet_b1", "alexnet_b8", "resnet18_b1", "maxpool_3x3s2", "avgpool_3x3s2"]
    for name in [*inference, "alexnet_b8_busy", "train_lenet5_epoch"]:
        r = records[name]
        assert r["status"] == "ok", (name, r["note"])
        bound = r["lower_bound_ms"]
        assert bound > 0, name
        for side in r["sides"]:
            assert math.isclose(r[f"{side}_over_bound"], r[f"{side}_ms"] / bound, rel_tol=1e-3)
    for name in inference:
        r = records[name]
        has_ort = HAS_ORT and (HAS_TORCH or "pool" in name)  # a network is exported by torch
        assert ("ort" in r["sides"]) == has_ort, name
        if has_ort:
            assert math.isclose(r["cnncli_over_ort"], r["cnncli_ms"] / r["ort_ms"], rel_tol=1e-3)
            assert r["competitors"]["ort_ms"] == r["ort_ms"]
            if HAS_TORCH:
                assert r["errors"]["ort"] <= 1e-4, name  # ORT computed what torch computed
    # the bound for AlexNet at batch 1: 234.5 MB of Linear weights, 1.6 GFLOP of convs
    assert records["alexnet_b1"]["bound_bytes"] / 1e6 == pytest.approx(234.5, abs=0.05)
    assert records["alexnet_b1"]["bound_flops"] / 1e9 == pytest.approx(1.605, abs=1e-3)
    pool = records["maxpool_3x3s2"]  # input 1x12x13x13 and output 1x12x6x6, float32
    assert pool["bound_bytes"] == 4 * 12 * (13 * 13 + 6 * 6) and pool["bound_flops"] == 0
    busy = records["alexnet_b8_busy"]
    for side in busy["sides"]:
        slowdown = busy["busy_ms"][side] / busy[f"{side}_ms"]
        assert math.isclose(busy[f"{side}_slowdown"], slowdown, rel_tol=1e-3), side
    if HAS_TORCH:
        expected = busy["cnncli_slowdown"] / busy["torch_slowdown"]
        assert math.isclose(busy["slowdown_vs_torch"], expected, rel_tol=1e-3)
        assert busy["target"] == "slowdown_vs_torch <= 1"
    phases = {b["phase"] for b in busy["blocks"]}
    assert phases == {"alone", "busy"}
