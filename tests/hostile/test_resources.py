"""Issue 6, bounded resources: absurd requests are refused from shapes alone, before allocating.

Each row runs in-process with a CPU-time budget (a SIGPROF timer stops a run that
goes past it) and tracemalloc on, and asserts exit status 2 with an error that
names the estimate and the limit, CPU time under the budget, and a small
allocation peak (at most what the input files themselves hold, plus slack).
The budget is generous on purpose: it is there to catch work proportional to the
absurd size (allocating, looping over a million kernels), not to time anything.
"""

from __future__ import annotations

import json
import re
import signal
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tests.hostile import helpers as h

CPU_BUDGET = 2.0
SLACK = 24 * 1024**2
# "<estimate> ... more than the limit <limit>": both numbers named on the error line
ESTIMATE_AND_LIMIT = re.compile(
    r"\d[\d,.]* ?(?:[KMGTP]iB|bytes|B)?\b[^\n]*more than the limit (?:of )?\d[\d,.]*"
)

pytestmark = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs a CPU timer")


class CpuBudgetExceededError(BaseException):
    """Raised by the SIGPROF timer: the run used more CPU than its budget."""


@contextmanager
def cpu_budget(seconds: float) -> Iterator[None]:
    def stop(signum: int, frame: object) -> None:
        raise CpuBudgetExceededError(f"more than {seconds} s of CPU")

    old = signal.signal(signal.SIGPROF, stop)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def measure(*argv: str) -> tuple[h.Run, float, int]:
    """Run cnncli in-process; return the run, its CPU seconds and its tracemalloc peak."""
    tracemalloc.start()
    start = time.process_time()
    try:
        with cpu_budget(CPU_BUDGET + 1.0):
            r = h.run_cli(*argv)
        cpu = time.process_time() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return r, cpu, peak


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("resources")
    out = {
        "bank": d / "bank.npy",  # a million 3×3 kernels: 36 MB, written as a sparse file
        "bank_huge": d / "bank_huge.npy",  # 10^8 kernels: 3.6 GB claimed, sparse
        "x1000": d / "x1000.npy",  # 1000×1000 input (4 MB)
        "k200": d / "k200.npy",  # a 200×200 kernel
        "x100": d / "x100.npy",
        "billion": d / "billion.json",
        "huge_input": d / "huge_input.toml",
    }
    out["zip_bomb"] = d / "bomb.npz"  # 200 MB of float32 zeros deflated to ~200 KB
    with (
        zipfile.ZipFile(out["zip_bomb"], "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("0.weight.npy", "w") as member,
    ):
        member.write(h.npy_header("<f4", (50_000_000,)))
        for _ in range(200):
            member.write(bytes(1 << 20))
    h.sparse_npy(out["bank"], "<f4", (1_000_000, 1, 3, 3))
    h.sparse_npy(out["bank_huge"], "<f4", (100_000_000, 1, 3, 3))
    h.sparse_npy(out["x1000"], "<f4", (1000, 1000))
    np.save(out["k200"], np.zeros((200, 200), np.float32))
    np.save(out["x100"], np.zeros((100, 100), np.float32))
    conv = {"type": "Conv2d", "out_channels": 10**9, "kernel_size": 3}
    out["billion"].write_text(json.dumps({"input": [3, 32, 32], "layers": [conv]}))
    out["huge_input"].write_text(
        'input = [3, 100000, 100000]\n[[layers]]\ntype = "Conv2d"\nout_channels = 8\n'
        "kernel_size = 3\n"
    )
    h.run_cli("forward", "-m", "lenet5", "--top", "0")  # imports and caches outside the budget
    return out


def _files_bytes(argv: list[str]) -> int:
    """What the named input files hold: reading them whole is allowed."""
    return sum(Path(a).stat().st_size for a in argv if Path(a).is_file())


CASES: list[tuple[str, list[str], str | None]] = [
    ("forward a billion channels", ["forward", "-m", "{billion}", "--top", "0"], None),
    ("shapes a billion channels", ["shapes", "{billion}", "--max-memory", "1G"], None),
    (
        "forward 3x100000x100000 batch 64",
        ["forward", "-m", "tinyvgg", "--input", "3x100000x100000", "--batch", "64"],
        None,
    ),
    ("forward a spec's huge input", ["forward", "-m", "{huge_input}", "--batch", "64"], None),
    ("forward batch 10^12", ["forward", "-m", "lenet5", "--batch", "1000000000000"], None),
    ("shapes alexnet with 1K", ["shapes", "alexnet", "--max-memory", "1K"], None),
    (
        "conv a million kernels",
        ["conv", "{x100}", "-k", "{bank}", "--show", "none"],
        None,
    ),
    (
        "forward -w a zip bomb",
        ["forward", "-m", "lenet5", "-w", "{zip_bomb}", "--max-memory", "64M", "--top", "0"],
        None,
    ),
    ("conv 10^8 kernels (4-D weight)", ["conv", "{x100}", "-k", "{bank_huge}"], None),
    # The plain path's im2col matrix (102 GB); the fast path runs this layer by shift-and-add.
    (
        "conv enormous im2col",
        ["--engine", "plain", "conv", "{x1000}", "-k", "{k200}", "--show", "none"],
        None,
    ),
    ("conv padding 10^5", ["conv", "{x100}", "-k", "sobel-x", "-p", "100000"], None),
    ("conv within --max-memory 1K", ["conv", "-k", "box", "--max-memory", "1K"], None),
    ("pad 10^8", ["pad", "{x100}", "-p", "100000000", "--show", "none"], None),
    ("pool padded huge", ["pool", "{x1000}", "-k", "2", "-s", "1", "--max-memory", "1M"], None),
    (
        "linear --out 10^12",
        ["linear", "{x100}", "--out", "1000000000000", "--show", "none"],
        None,
    ),
]


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(a, id=i, marks=[pytest.mark.xfail(strict=True, reason=b)] if b else [])
        for i, a, b in CASES
    ],
)
def test_absurd_request_is_refused_without_allocating(
    argv: list[str], files: dict[str, Path]
) -> None:
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in argv]
    r, cpu, peak = measure(*args)
    h.assert_clean(r, "error")
    assert ESTIMATE_AND_LIMIT.search(r.stderr), r.stderr
    assert cpu < CPU_BUDGET, f"{cpu:.2f} s of CPU"
    assert peak < 2 * _files_bytes(args) + SLACK, f"peak {peak / 1e6:.1f} MB"
