"""Small ONNX graphs written with onnx.helper, for attribute and hostile-file tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def model(
    nodes: list[Any],
    inits: dict[str, np.ndarray],
    in_shape: list[Any],
    out: str = "y",
    opset: int = 17,
    x: str = "x",
) -> onnx.ModelProto:
    """A one-input, one-output model of ``nodes`` (output shape left to be inferred)."""
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def save(m: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(m.SerializeToString())
    return path


def rng_array(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def small_cnn() -> onnx.ModelProto:
    """Conv → Relu → GlobalAveragePool → Flatten → Gemm on (N, 3, 8, 8): a valid model."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1),
    ]
    inits = {
        "w": rng_array(4, 3, 3, 3),
        "b": rng_array(4, seed=1),
        "fw": rng_array(5, 4, seed=2),
        "fb": rng_array(5, seed=3),
    }
    return model(nodes, inits, ["N", 3, 8, 8])
