"""Where cnncli's AlexNet-style conv time goes: ``python -m benchmarks.profile_conv``.

For each AlexNet conv layer (batch 8, float32) it times, interleaved with pauses as the
benchmark does: cnncli's conv2d, PyTorch's, the bare GEMM that an im2col convolution cannot
beat (np.matmul of the (F, C*KH*KW) weights by a (C*KH*KW, N*OH*OW) matrix), and the im2col
gather alone (a strided view made contiguous).  Then it runs cProfile (or pyinstrument when
installed) over cnncli's conv2d on all five layers and prints the functions by own time.
NumPy's ufuncs (matmul, add, ...) are invisible to cProfile: their time shows as the own
time of the Python function that calls them, which is why the GEMM floor is measured apart.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import io
import pstats
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.cases import CONV_LAYERS, optional_module  # noqa: E402
from benchmarks.cnncli_side import UnavailableError, engine_function  # noqa: E402
from benchmarks.timing import time_interleaved  # noqa: E402


def im2col(x: np.ndarray, K: int, stride: int, padding: int) -> np.ndarray:
    """The (N*OH*OW, C*K*K) patch matrix, channels-last rows: one gather copy."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    view = np.lib.stride_tricks.sliding_window_view(xp, (K, K), axis=(2, 3))
    view = view[:, :, ::stride, ::stride]  # (N, C, OH, OW, K, K)
    N, C, OH, OW = view.shape[:4]
    return np.ascontiguousarray(view.transpose(0, 2, 3, 1, 4, 5)).reshape(N * OH * OW, C * K * K)


def layer_table(batch: int, repeats: int) -> list[dict[str, Any]]:
    """Per layer: cnncli, torch, the GEMM floor and the im2col gather, in ms (medians)."""
    conv2d = engine_function("conv2d", "conv")
    torch = optional_module("torch")
    tconv = importlib.import_module("torch.nn.functional").conv2d if torch is not None else None
    rng = np.random.default_rng(0)
    rows = []
    for name, (C, F, K, s, p, H) in CONV_LAYERS.items():
        x = rng.standard_normal((batch, C, H, H), dtype=np.float32)
        w = rng.standard_normal((F, C, K, K), dtype=np.float32)
        OH = (H + 2 * p - K) // s + 1
        a = w.reshape(F, -1)
        b = rng.standard_normal((C * K * K, batch * OH * OH), dtype=np.float32)
        fns: dict[str, Callable[[], Any]] = {
            "cnncli": partial(conv2d, x, w, None, stride=s, padding=p),
            "gemm": partial(np.matmul, a, b),
            "im2col": partial(im2col, x, K, s, p),
        }
        if tconv is not None:
            fns["torch"] = partial(tconv, torch.from_numpy(x), torch.from_numpy(w), None, s, p)
        med = time_interleaved(fns, repeats)
        flops = 2.0 * batch * F * OH * OH * C * K * K
        row = {"layer": name, **{k: v * 1e3 for k, v in med.items()}}
        row["gemm_gflops"] = flops / med["gemm"] / 1e9
        row["cnncli_gflops"] = flops / med["cnncli"] / 1e9
        rows.append(row)
    return rows


def profile_layers(batch: int, calls: int, top: int) -> str:
    """cnncli's conv2d on the five layers under a profiler; the report as text."""
    conv2d = engine_function("conv2d", "conv")
    rng = np.random.default_rng(0)
    inputs = []
    for C, F, K, s, p, H in CONV_LAYERS.values():
        x = rng.standard_normal((batch, C, H, H), dtype=np.float32)
        w = rng.standard_normal((F, C, K, K), dtype=np.float32)
        inputs.append((x, w, s, p))

    def work() -> None:
        for _ in range(calls):
            for x, w, s, p in inputs:
                conv2d(x, w, None, stride=s, padding=p)

    work()  # warm-up outside the profile
    pyinstrument = optional_module("pyinstrument")
    if pyinstrument is not None:
        profiler = pyinstrument.Profiler()
        profiler.start()
        work()
        profiler.stop()
        return str(profiler.output_text(unicode=True, color=False))
    profiler = cProfile.Profile()
    profiler.enable()
    work()
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return text.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_conv")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=3, help="profiled calls per layer")
    parser.add_argument("--top", type=int, default=25, help="profile lines to print")
    args = parser.parse_args(argv)
    try:
        rows = layer_table(args.batch, args.repeats)
    except UnavailableError as exc:
        print(f"cnncli's conv2d is not available: {exc}", file=sys.stderr)
        return 2
    head = f"{'layer':6} {'cnncli':>9} {'torch':>9} {'gemm':>9} {'im2col':>9} "
    print(head + f"{'cnncli GF/s':>12} {'gemm GF/s':>10} {'cnncli/gemm':>12}")
    for r in rows:
        print(
            f"{r['layer']:6} {r['cnncli']:9.2f} {r.get('torch', float('nan')):9.2f} "
            f"{r['gemm']:9.2f} {r['im2col']:9.2f} {r['cnncli_gflops']:12.1f} "
            f"{r['gemm_gflops']:10.1f} {r['cnncli'] / r['gemm']:12.2f}"
        )
    print()
    print(profile_layers(args.batch, args.calls, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
