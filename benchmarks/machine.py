"""The machine record: CPU, cores, memory, library versions, BLAS and its kernel, load."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: Environment variables that change which BLAS kernel runs or how many threads it uses.
BLAS_ENV = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CNNCLI_NUM_THREADS",
)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError):
        pass
    return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def blas_info() -> list[dict[str, Any]]:
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries (numpy's first), or []."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return []
    import numpy  # noqa: F401  (loads numpy's BLAS so that threadpoolctl sees it)

    keep = ("user_api", "internal_api", "version", "architecture", "num_threads", "prefix")
    infos = sorted(
        threadpoolctl.threadpool_info(),
        key=lambda info: "numpy" not in str(info.get("filepath", "")),
    )
    return [
        {
            **{k: info.get(k) for k in keep},
            "file": Path(str(info.get("filepath", ""))).name,
            "numpy_own": "numpy" in str(info.get("filepath", "")),
        }
        for info in infos
    ]


def _git_commit(cwd: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def machine_record(cwd: str) -> dict[str, Any]:
    """Everything about this machine and run that a reader needs to weigh the figures."""
    import numpy as np

    pools = blas_info()
    numpy_blas = next((p for p in pools if p["user_api"] == "blas" and p["numpy_own"]), None)
    affinity: int | None
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": affinity,
        "memory_gib": _mem_total_gib(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "torch": _version("torch"),
        "scipy": _version("scipy"),
        "opencv": _version("opencv-python-headless") or _version("opencv-python"),
        "threadpoolctl": _version("threadpoolctl"),
        "numpy_blas": (
            {
                "library": numpy_blas["internal_api"],
                "version": numpy_blas["version"],
                "kernel": numpy_blas["architecture"],
                "threads": numpy_blas["num_threads"],
            }
            if numpy_blas
            else None
        ),
        "thread_pools": pools,
        "env": {name: os.environ.get(name) for name in BLAS_ENV},
        "git_commit": _git_commit(cwd),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_start": list(os.getloadavg()),
    }


def torch_record() -> dict[str, Any]:
    """PyTorch's threads and backends (imported only when asked: it takes seconds)."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return {}
    return {
        "torch_threads": torch.get_num_threads(),
        "torch_mkldnn": bool(torch.backends.mkldnn.is_available()),
        "torch_cpu_capability": getattr(torch.backends.cpu, "get_cpu_capability", lambda: None)(),
    }


def memory_read_gbps(threads: int, mib: int = 256, repeats: int = 5) -> float:
    """The machine's memory read bandwidth (GB/s): ``threads`` threads each summing one part
    of a ``mib`` MiB float32 array (NumPy's sum releases the GIL); the best of ``repeats``."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    data = np.ones(mib * 2**20 // 4, dtype=np.float32)
    parts = np.array_split(data, threads)
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(np.sum, parts))
            best = min(best, time.perf_counter() - start)
    return round(data.nbytes / best / 1e9, 2)
