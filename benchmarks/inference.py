"""The inference cases: cnncli, PyTorch and ONNX Runtime, each side in its own worker process.

The parent (:func:`make_inputs`, which may import cnncli and onnx) writes what every side
needs into one folder: ``inputs.npz`` (the input batch, the weights under PyTorch's
state_dict names, the settings) and ``model.onnx``, the same network for ONNX Runtime.  A
worker builds its side from that folder alone: :func:`cnncli_side` imports NumPy and cnncli,
:func:`torch_side` torch and its twin, :func:`ort_side` NumPy and onnxruntime only.  Each
returns a zero-argument callable that runs one forward pass and returns its output.

- ``alexnet_b1``, ``alexnet_b8``: the seed's AlexNet in eval mode on 224x224 images, the
  zoo's ``alexnet`` against :mod:`benchmarks.alexnet_torch`, with the seeded weights of
  :func:`benchmarks.cases.seed_alexnet_state`.
- ``resnet18_b1``: the zoo's ``resnet18`` against its ``tests/nn/torch_models.py`` twin,
  PyTorch's default initialisation from seed 0 (as ``cnncli train --seed 0``).
- ``maxpool_*``, ``avgpool_*``: ``max_pool2d`` / ``avg_pool2d`` of the engine,
  ``torch.nn.functional`` and one ONNX ``MaxPool`` / ``AveragePool`` node.

The networks' ONNX files are exported from the torch twin with
``torch.onnx.export(..., dynamo=False)`` in a short-lived subprocess
(``python -m benchmarks.inference --export FOLDER``), so that the parent never imports
torch; the pooling models are written with ``onnx.helper``.  Each case also carries what
its lower bound is made of: the FLOPs of its convolutions (at the run's GEMM rate) and
the bytes it must read (the Linear layers' weights for a network, the input and output
for pooling, at the run's memory read bandwidth).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
ONNX_FILE = "model.onnx"
INPUTS_FILE = "inputs.npz"
EXPORT_TIMEOUT_S = 600

#: case name -> (model or pool op, batch, input C x H x W, pool kernel, pool stride).
INFER_CASES: dict[str, tuple[str, int, tuple[int, int, int], int, int]] = {
    "alexnet_b1": ("alexnet", 1, (3, 224, 224), 0, 0),
    "alexnet_b8": ("alexnet", 8, (3, 224, 224), 0, 0),
    "alexnet_b8_busy": ("alexnet", 8, (3, 224, 224), 0, 0),
    "resnet18_b1": ("resnet18", 1, (3, 224, 224), 0, 0),
    "maxpool_3x3s2": ("max", 8, (96, 55, 55), 3, 2),
    "avgpool_3x3s2": ("avg", 8, (96, 55, 55), 3, 2),
    "maxpool_2x2": ("max", 8, (64, 112, 112), 2, 2),
    "avgpool_2x2": ("avg", 8, (64, 112, 112), 2, 2),
    # AlexNet's conv2 backward: 96 -> 192 channels, 5x5, stride 1, 'same' padding (2):
    # dx, dw and db, PyTorch's on a graph built once.
    "conv2_backward": ("conv_backward", 8, (96, 27, 27), 5, 1),
}
#: Filters of the conv backward case (its quick size: an eighth).
BACKWARD_FILTERS = 192
#: the quick sizes of --quick (the smoke test): AlexNet's classifier fixes 224x224.
QUICK_INPUT = {"alexnet": (3, 224, 224), "resnet18": (3, 32, 32)}


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def is_network(what: str) -> bool:
    return what not in ("max", "avg", "conv_backward")


def make_inputs(case: str, quick: bool) -> dict[str, Any]:
    """The input batch, the weights and the settings of ``case`` (built with cnncli).

    Also its size text, the samples per call, the FLOPs of a pass (``flops``, for GFLOP/s)
    and the parts of its lower bound: ``bound_flops`` (done at the GEMM rate) and
    ``bound_bytes`` (read at the memory bandwidth).
    """
    what, batch, chw, kernel, stride = INFER_CASES[case]
    if quick:
        batch = 1
        chw = QUICK_INPUT.get(what, (chw[0] // 8, chw[1] // 4, chw[2] // 4))
    x = np.random.default_rng(0).standard_normal((batch, *chw), dtype=np.float32)
    settings: dict[str, Any] = {"what": what, "kernel": kernel, "stride": stride}
    arrays: dict[str, np.ndarray] = {"x": x}
    shape = "x".join(str(v) for v in x.shape)
    if what == "conv_backward":
        return _backward_inputs(x, kernel, quick, settings)
    if not is_network(what):
        out_h, out_w = ((s - kernel) // stride + 1 for s in chw[1:])
        out_bytes = batch * chw[0] * out_h * out_w * 4
        return {
            "arrays": arrays,
            "settings": settings,
            "size": f"{shape}, {kernel}x{kernel} s{stride}",
            "samples": batch,
            "flops": None,
            "bound_flops": 0.0,
            "bound_bytes": float(x.nbytes + out_bytes),
        }
    from cnncli.nn import zoo
    from cnncli.nn.summary import summarize

    net = zoo.build(what)
    if what == "alexnet":
        from benchmarks.cases import seed_alexnet_state

        net.load_state_dict(seed_alexnet_state())
    else:
        net.reset_parameters(np.random.default_rng(0))  # as cnncli train --seed 0
    arrays.update({f"w:{k}": np.array(v) for k, v in net.state_dict().items()})
    rows = summarize(net, chw, batch=batch).leaves
    convs = [r.macs for r in rows if r.type == "Conv2d"]
    linear_bytes = 4 * sum(r.params for r in rows if r.type == "Linear")
    return {
        "arrays": arrays,
        "settings": settings,
        "size": f"{shape}, eval",
        "samples": batch,
        "flops": 2.0 * sum(r.macs for r in rows),
        "bound_flops": 2.0 * sum(convs),
        "bound_bytes": float(linear_bytes),
    }


def _backward_inputs(
    x: np.ndarray, kernel: int, quick: bool, settings: dict[str, Any]
) -> dict[str, Any]:
    """The conv backward case ('same' padding, kernel // 2): x, the weight and dY; its
    FLOPs (dx and dw, each the forward's products, plus db) and its bound (the two
    products at the GEMM rate)."""
    N, C, H, W = x.shape
    padding = kernel // 2
    F = BACKWARD_FILTERS // 8 if quick else BACKWARD_FILTERS
    rng = np.random.default_rng(1)
    w = rng.standard_normal((F, C, kernel, kernel), dtype=np.float32) * (C * kernel**2) ** -0.5
    OH, OW = H + 2 * padding - kernel + 1, W + 2 * padding - kernel + 1
    gy = rng.standard_normal((N, F, OH, OW), dtype=np.float32)
    forward = 2.0 * N * F * OH * OW * C * kernel * kernel
    settings.update(padding=padding)
    return {
        "arrays": {"x": x, "w": w, "gy": gy},
        "settings": settings,
        "size": f"{'x'.join(map(str, x.shape))} -> {F}, {kernel}x{kernel} p{padding}: dx, dw, db",
        "samples": N,
        "flops": 2 * forward + N * F * OH * OW,
        "bound_flops": 2 * forward,
        "bound_bytes": 0.0,
    }


def write_onnx(folder: str, settings: dict[str, Any], quick: bool) -> str | None:
    """Write ``folder/model.onnx`` for the ORT side; None, or why it could not be made."""
    path = os.path.join(folder, ONNX_FILE)
    if settings["what"] == "conv_backward":
        return "ONNX Runtime runs no backward pass"
    if not has_module("onnx"):
        return "onnx is not installed"
    if not is_network(settings["what"]):
        pool_onnx(path, settings)
        return None
    if not has_module("torch"):
        return "the ONNX model is exported from the torch twin, and torch is not installed"
    if quick:  # everything in this one process (torch is already imported by its side)
        export_onnx(folder)
        return None
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.inference", "--export", folder],
        cwd=ROOT, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S,
    )  # fmt: skip
    if proc.returncode != 0 or not os.path.exists(path):
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return f"torch.onnx.export failed: {tail[0]}"[:300]
    return None


def pool_onnx(path: str, settings: dict[str, Any]) -> None:
    """One ``MaxPool`` or ``AveragePool`` node over a dynamic NCHW input (onnx.helper)."""
    from onnx import TensorProto, helper, save

    op = "MaxPool" if settings["what"] == "max" else "AveragePool"
    k, s = settings["kernel"], settings["stride"]
    node = helper.make_node(op, ["x"], ["y"], kernel_shape=[k, k], strides=[s, s])
    dims = ["N", "C", "H", "W"]
    graph = helper.make_graph(
        [node],
        f"{op.lower()}_{k}x{k}s{s}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    # opset 18: ONNX Runtime 1.32 runs AveragePool-19 (dilations) by a generic kernel 4x
    # slower than the AveragePool-11 of opsets 11-18 (see benchmarks/README.md)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    save(model, path)


def export_onnx(folder: str) -> None:
    """Export the torch twin holding the case's weights to ``folder/model.onnx`` (fixed shape)."""
    import torch

    arrays = np.load(os.path.join(folder, INPUTS_FILE), allow_pickle=False)
    settings = json.loads(str(arrays["settings"]))
    model = torch_model(settings["what"], _weights(arrays))
    x = torch.from_numpy(np.array(arrays["x"]))
    torch.onnx.export(
        model, (x,), os.path.join(folder, ONNX_FILE), dynamo=False,
        input_names=["x"], output_names=["y"],
    )  # fmt: skip


def _weights(arrays: Any) -> dict[str, np.ndarray]:
    return {k[2:]: np.array(arrays[k]) for k in arrays.files if k.startswith("w:")}


def torch_model(what: str, weights: dict[str, np.ndarray]) -> Any:
    """The torch twin of zoo model ``what``, holding ``weights``, in eval mode, no grad."""
    import torch

    if what == "alexnet":
        from benchmarks.alexnet_torch import build_seed_alexnet

        model = build_seed_alexnet()
    else:
        from tests.nn.torch_models import build

        model = build(what)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    return model.eval().requires_grad_(False)


# --------------------------------------------------------------------------- the three sides


def cnncli_side(arrays: Any, settings: dict[str, Any]) -> Callable[[], np.ndarray]:
    """cnncli's forward: the zoo network in eval mode, or the engine's pooling."""
    from benchmarks.cnncli_side import set_up_engine

    set_up_engine()  # as the command line does
    x = np.array(arrays["x"])
    what = settings["what"]
    if what == "conv_backward":
        from cnncli.engine import conv2d_backward

        w, gy, p = np.array(arrays["w"]), np.array(arrays["gy"]), settings["padding"]
        return lambda: conv2d_backward(gy, x, w, stride=1, padding=p, bias=True)
    if not is_network(what):
        from cnncli.engine import avg_pool2d, max_pool2d

        pool = max_pool2d if what == "max" else avg_pool2d
        k, s = settings["kernel"], settings["stride"]
        return lambda: pool(x, k, s)
    from cnncli.nn import zoo

    net = zoo.build(what)
    net.load_state_dict(_weights(arrays))
    net.eval()
    return lambda: net(x)


def torch_side(arrays: Any, settings: dict[str, Any], threads: int) -> Callable[[], np.ndarray]:
    """PyTorch's forward under ``inference_mode`` with ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    tx = torch.from_numpy(np.array(arrays["x"]))
    what = settings["what"]
    if what == "conv_backward":
        return _torch_backward(torch, tx, arrays, settings["padding"])
    if is_network(what):
        fn = torch_model(what, _weights(arrays))
    else:
        pool = getattr(torch.nn.functional, f"{what}_pool2d")
        k, s = settings["kernel"], settings["stride"]
        fn = lambda t: pool(t, k, s)  # noqa: E731

    def forward() -> np.ndarray:
        with torch.inference_mode():
            return fn(tx).numpy()  # type: ignore[no-any-return]

    return forward


def _torch_backward(torch: Any, tx: Any, arrays: Any, padding: int) -> Callable[[], Any]:
    """``torch.autograd.grad`` of F.conv2d on a graph built once: the backward alone."""
    tx = tx.requires_grad_(True)
    tw = torch.from_numpy(np.array(arrays["w"])).requires_grad_(True)
    tb = torch.zeros(tw.shape[0], requires_grad=True)
    tgy = torch.from_numpy(np.array(arrays["gy"]))
    ty = torch.nn.functional.conv2d(tx, tw, tb, 1, padding)
    return lambda: torch.autograd.grad(ty, (tx, tw, tb), tgy, retain_graph=True)


def ort_side(arrays: Any, folder: str, threads: int) -> Callable[[], np.ndarray]:
    """ONNX Runtime's CPU provider on ``folder/model.onnx``: ``threads`` intra-op threads,
    one inter-op thread, sequential execution, all graph optimisations (the default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(
        os.path.join(folder, ONNX_FILE), options, providers=["CPUExecutionProvider"]
    )
    feed = {session.get_inputs()[0].name: np.array(arrays["x"])}
    return lambda: session.run(None, feed)[0]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.inference --export FOLDER``: the torch twin as ONNX."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.inference")
    parser.add_argument("--export", metavar="FOLDER", required=True)
    export_onnx(parser.parse_args(argv).export)
    return 0


if __name__ == "__main__":
    sys.exit(main())
