"""The benchmark's cases: what each one computes on the cnncli side, in PyTorch, and elsewhere.

Every op case is float32, NCHW, with all of the machine's threads.  A builder returns a
:class:`Bench` of zero-argument callables over inputs made once; ``quick`` shrinks the sizes
(batch 1, small images) for the smoke test.  FLOPs count a multiply-add as two.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.alexnet_torch import CLASSIFIER, FEATURES
from benchmarks.cnncli_side import UnavailableError, engine_function

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)


@dataclass
class Bench:
    """One op case, ready to call: cnncli's side, torch's, other competitors, and its size."""

    size: str
    cnncli: Callable[[], Any] | None
    torch: Callable[[], Any] | None
    flops: float | None = None
    input_bytes: int = 0
    impl: str | None = None
    note: str | None = None
    competitors: dict[str, Callable[[], Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """A named case: ``kind`` is "op" (timed in Python), "process" (whole commands) or
    "sides" (each side in its own worker: :mod:`benchmarks.sides`; the training cases of
    :mod:`benchmarks.training` and the inference cases of :mod:`benchmarks.inference`).

    A process case runs ``python *argv``; ``setup(quick)``, when given, first makes
    the files the command reads and returns its argv.  ``repeats`` caps the timed
    rounds of a case whose command takes seconds.
    """

    name: str
    group: str
    kind: str
    build: Callable[[bool], Bench] | None = None
    argv: tuple[str, ...] = ()
    setup: Callable[[bool], tuple[str, ...]] | None = None
    repeats: int | None = None


def optional_module(name: str) -> Any:
    """The module, or None when it is not installed (torch, scipy, cv2)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _normal(shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    x = _rng().standard_normal(shape, dtype=np.float32)
    if scale != 1.0:
        x *= np.float32(scale)
    return x


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in shape)


def _cnncli(name: str, module: str) -> tuple[Callable[..., Any] | None, str | None]:
    try:
        return engine_function(name, module), None
    except UnavailableError as exc:
        return None, str(exc)


def _conv_out(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


# --------------------------------------------------------------------------- matmul


def build_matmul(quick: bool) -> Bench:
    """np.matmul on two square float32 matrices: the machine's own GEMM rate."""
    n = 256 if quick else 2048
    a, b = _normal((n, n)), _normal((n, n))
    torch = optional_module("torch")
    torch_fn = None
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        torch_fn = lambda: torch.mm(ta, tb)  # noqa: E731
    return Bench(
        size=f"{n}x{n} @ {n}x{n}",
        cnncli=lambda: np.matmul(a, b),
        torch=torch_fn,
        flops=2.0 * n**3,
        input_bytes=a.nbytes + b.nbytes,
        impl="numpy.matmul (the floor cnncli's GEMMs stand on)",
    )


# --------------------------------------------------------------------------- conv layers

#: AlexNet's conv layers: (C, F, K, stride, padding, H); batch 8.
CONV_LAYERS: dict[str, tuple[int, int, int, int, int, int]] = {
    "conv1": (3, 96, 11, 4, 2, 224),
    "conv2": (96, 192, 5, 1, 2, 27),
    "conv3": (192, 384, 3, 1, 1, 13),
    "conv4": (384, 256, 3, 1, 1, 13),
    "conv5": (256, 256, 3, 1, 1, 13),
}
QUICK_H = {"conv1": 35, "conv2": 9, "conv3": 5, "conv4": 5, "conv5": 5}


def _conv_bench(
    N: int,
    C: int,
    F: int,
    K: int,
    stride: int,
    padding: int,
    H: int,
    W: int,
    groups: int = 1,
) -> Bench:
    x = _normal((N, C, H, W))
    w = _normal((F, C // groups, K, K), scale=(C // groups * K * K) ** -0.5)
    OH, OW = _conv_out(H, K, stride, padding), _conv_out(W, K, stride, padding)
    conv2d, missing = _cnncli("conv2d", "conv")
    torch = optional_module("torch")
    torch_fn = None
    if torch is not None:
        tf = importlib.import_module("torch.nn.functional")
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        torch_fn = lambda: tf.conv2d(tx, tw, None, stride, padding, 1, groups)  # noqa: E731
    cnncli_fn = None
    if conv2d is not None:
        cnncli_fn = lambda: conv2d(  # noqa: E731
            x, w, None, stride=stride, padding=padding, groups=groups
        )
    competitors: dict[str, Callable[[], Any]] = {}
    if groups == 1:
        # The im2col GEMM floor of this very layer, timed interleaved with it, in the
        # orientation conv2d's im2col path uses (cnncli.engine.fast.im2col.conv_gemm):
        # (F, C*K*K) @ (C*K*K, N*OH*OW), the im2col matrix read transposed.  Layers
        # conv2d runs by Winograd do fewer multiplications than this product: for them
        # it is the floor they went below.
        P = N * OH * OW
        a = np.ascontiguousarray(w.reshape(F, -1))
        b = _normal((P, C * K * K)).T
        competitors["gemm"] = lambda: np.matmul(a, b)
    gtxt = f" g{groups}" if groups > 1 else ""
    return Bench(
        competitors=competitors,
        size=f"{_fmt_shape(x.shape)} -> {F}, {K}x{K} s{stride} p{padding}{gtxt}",
        cnncli=cnncli_fn,
        torch=torch_fn,
        flops=2.0 * N * F * OH * OW * (C // groups) * K * K,
        input_bytes=x.nbytes + w.nbytes,
        note=missing,
    )


def conv_layer_builder(layer: str) -> Callable[[bool], Bench]:
    """Builder for AlexNet's conv layer ``layer`` alone, batch 8 (no bias, as the seed)."""

    def build(quick: bool) -> Bench:
        C, F, K, s, p, H = CONV_LAYERS[layer]
        if quick:
            return _conv_bench(1, C, F, K, s, p, QUICK_H[layer], QUICK_H[layer])
        return _conv_bench(8, C, F, K, s, p, H, H)

    return build


def build_depthwise(quick: bool) -> Bench:
    """Depthwise 3x3 (groups = channels), padding 1, on 8x64x112x112."""
    N, C, H = (1, 8, 28) if quick else (8, 64, 112)
    return _conv_bench(N, C, C, 3, 1, 1, H, H, groups=C)


# --------------------------------------------------------------------------- Sobel


def sobel_builder(side: int) -> Callable[[bool], Bench]:
    """Builder for a single-channel 3x3 Sobel (cross-correlation, zero padding 1) on side²."""

    def build(quick: bool) -> Bench:
        n = max(16, side // 16) if quick else side
        img = _rng().random((n, n), dtype=np.float32)
        x = img[None, None]
        k = SOBEL_X[None, None]
        conv2d, missing = _cnncli("conv2d", "conv")
        torch = optional_module("torch")
        torch_fn = None
        if torch is not None:
            tf = importlib.import_module("torch.nn.functional")
            tx, tk = torch.from_numpy(x), torch.from_numpy(k)
            torch_fn = lambda: tf.conv2d(tx, tk, None, 1, 1)  # noqa: E731
        competitors: dict[str, Callable[[], Any]] = {}
        ndimage = optional_module("scipy.ndimage")
        if ndimage is not None:
            competitors["scipy"] = lambda: ndimage.correlate(img, SOBEL_X, mode="constant")
        cv2 = optional_module("cv2")
        if cv2 is not None:
            competitors["opencv"] = lambda: cv2.filter2D(
                img, -1, SOBEL_X, borderType=cv2.BORDER_CONSTANT
            )
        cnncli_fn = None
        if conv2d is not None:
            cnncli_fn = lambda: conv2d(x, k, None, padding=1)  # noqa: E731
        return Bench(
            size=f"1x1x{n}x{n}, 3x3 p1",
            cnncli=cnncli_fn,
            torch=torch_fn,
            flops=2.0 * 9 * n * n,
            input_bytes=img.nbytes,
            note=missing,
            competitors=competitors,
            impl="cnncli.engine.conv2d; scipy.ndimage.correlate / cv2.filter2D (BORDER_CONSTANT)",
        )

    return build


# --------------------------------------------------------------------------- AlexNet


@functools.cache
def seed_alexnet_state() -> dict[str, np.ndarray]:
    """Seeded float32 weights under the seed's state_dict names (scaled by 1/sqrt(fan-in)).

    61 million normal draws take seconds; a block of 2**20 + 3 draws tiled over each tensor
    (np.resize) takes a copy's time, and the speed of a forward pass does not depend on it.
    """
    block = _rng().standard_normal((1 << 20) + 3, dtype=np.float32)
    state: dict[str, np.ndarray] = {}
    for index, (kind, args) in enumerate(FEATURES):
        if kind == "conv":
            cin, cout, k, _, _ = args
            w = np.resize(block, (cout, cin, k, k))
            w *= np.float32((cin * k * k) ** -0.5)
            state[f"feature_extraction.{index}.weight"] = w
    for index, fin, fout in CLASSIFIER:
        w = np.resize(block, (fout, fin))
        w *= np.float32(fin**-0.5)
        state[f"classifier.{index}.weight"] = w
        state[f"classifier.{index}.bias"] = np.resize(block[::-7], fout) * np.float32(0.01)
    return state


# --------------------------------------------------------------------------- a large image


def large_image_sobel(quick: bool) -> tuple[str, ...]:
    """``cnncli conv IMAGE -k sobel --magnitude`` on an 8192x8192 RGB PNG made here.

    The issue's memory case: the whole command must stay under 2 GiB of peak RSS.
    The picture (smooth gradients and a grid, so that it compresses and decodes
    fast) goes to a temporary folder removed when the benchmark exits.
    """
    from PIL import Image

    n = 256 if quick else 8192
    folder = tempfile.mkdtemp(prefix="cnncli-bench-image-")
    atexit.register(shutil.rmtree, folder, True)
    ramp = np.arange(n, dtype=np.uint32)
    rgb = np.empty((n, n, 3), dtype=np.uint8)
    rgb[..., 0] = (ramp[None, :] * 255 // max(1, n - 1)).astype(np.uint8)
    rgb[..., 1] = (ramp[:, None] * 255 // max(1, n - 1)).astype(np.uint8)
    rgb[..., 2] = np.where(((ramp[:, None] // 64) + (ramp[None, :] // 64)) % 2 == 0, 255, 0)
    path = os.path.join(folder, f"rgb_{n}.png")
    Image.fromarray(rgb).save(path, compress_level=1)
    return ("-m", "cnncli", "conv", path, "-k", "sobel", "--magnitude")


# --------------------------------------------------------------------------- the list

BASELINE_ARGV = ("-c", "import numpy, typer, rich")

CASES: list[Case] = [
    Case("matmul", "reference", "op", build_matmul),
    # each side in its own worker process (cnncli, torch, ort): benchmarks/inference.py
    Case("alexnet_b1", "network", "sides"),
    Case("alexnet_b8", "network", "sides"),
    Case("alexnet_b8_busy", "network", "sides"),
    Case("resnet18_b1", "network", "sides"),
    *(Case(f"{layer}", "conv", "op", conv_layer_builder(layer)) for layer in CONV_LAYERS),
    Case("conv2_backward", "conv", "sides"),
    Case("maxpool_3x3s2", "pool", "sides"),
    Case("maxpool_2x2", "pool", "sides"),
    Case("avgpool_3x3s2", "pool", "sides"),
    Case("avgpool_2x2", "pool", "sides"),
    *(Case(f"sobel_{n}", "filter", "op", sobel_builder(n)) for n in (512, 2048, 4096)),
    Case("depthwise_3x3", "conv", "op", build_depthwise),
    # each side in its own worker process: benchmarks/training.py and benchmarks/sides.py
    Case("train_lenet5_epoch", "train", "sides"),
    Case("train_tinyvgg_step", "train", "sides"),
    Case("train_alexnet_step", "train", "sides"),
    Case("cli_help", "process", "process", argv=("-m", "cnncli", "--help")),
    Case("cli_shapes_alexnet", "process", "process", argv=("-m", "cnncli", "shapes", "alexnet")),
    Case("cli_sobel_8192", "process", "process", setup=large_image_sobel, repeats=2),
]
CASES_BY_NAME = {case.name: case for case in CASES}
