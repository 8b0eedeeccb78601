"""Each ONNX attribute cnncli maps (auto_pad, asymmetric pads, ceil_mode, count_include_pad,
dilations, group, Gemm's transB/alpha/beta, BatchNormalization, folded shape chains) gives
ONNX Runtime's numbers, on one-node graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnx", reason="onnx is pinned in the test extra")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is pinned in the test extra")

from onnx import helper  # noqa: E402

from cnncli.nn.onnx_export import to_onnx  # noqa: E402
from cnncli.nn.onnx_import import load_onnx  # noqa: E402
from cnncli.nn.summary import summarize  # noqa: E402
from tests.onnx.graphs import model, rng_array, save  # noqa: E402

W = rng_array(6, 3, 3, 3, seed=4)
WG = rng_array(6, 1, 3, 3, seed=5)  # group 3: 3 in, 6 out, 1 input channel per filter
B = rng_array(6, seed=6)


def conv(**attrs: Any) -> tuple[list[Any], dict[str, np.ndarray]]:
    w = WG if attrs.get("group") else W
    return [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", **attrs)], {
        "w": w,
        "b": B,
    }


def pool(op: str, **attrs: Any) -> tuple[list[Any], dict[str, np.ndarray]]:
    return [helper.make_node(op, ["x"], ["y"], name="pool", **attrs)], {}


CASES = {
    "conv pads": conv(pads=[1, 2, 1, 2]),
    "conv asymmetric pads": conv(pads=[0, 1, 2, 1], strides=[2, 1]),
    "conv SAME_UPPER stride 2": conv(auto_pad="SAME_UPPER", strides=[2, 2]),
    "conv SAME_LOWER stride 2": conv(auto_pad="SAME_LOWER", strides=[2, 2]),
    "conv VALID": conv(auto_pad="VALID"),
    "conv dilations": conv(dilations=[2, 3], pads=[2, 1, 2, 1]),
    "conv group": conv(group=3, strides=[2, 2]),
    "maxpool ceil_mode": pool("MaxPool", kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    "maxpool asymmetric pads": pool("MaxPool", kernel_shape=[3, 3], pads=[0, 1, 2, 1]),
    "maxpool SAME_UPPER": pool(
        "MaxPool", kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER"
    ),
    "maxpool dilations": pool("MaxPool", kernel_shape=[2, 2], dilations=[2, 2], pads=[1, 1, 1, 1]),
    "maxpool default stride 1": pool("MaxPool", kernel_shape=[3, 2]),
    "avgpool count_include_pad": pool(
        "AveragePool", kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1
    ),
    "avgpool exclude pad": pool(
        "AveragePool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]
    ),
    "avgpool asymmetric pads": pool(
        "AveragePool", kernel_shape=[2, 2], pads=[0, 0, 1, 1], count_include_pad=1
    ),
    "avgpool ceil_mode": pool("AveragePool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
    "global max": pool("GlobalMaxPool"),
    "leaky relu": ([helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.2)], {}),
    "softmax axis 1": ([helper.make_node("Softmax", ["x"], ["y"], axis=1)], {}),
    "log softmax axis 1": ([helper.make_node("LogSoftmax", ["x"], ["y"], axis=1)], {}),
    "batchnorm": (
        [helper.make_node("BatchNormalization", ["x", "s", "bb", "m", "v"], ["y"], epsilon=1e-3)],
        {
            "s": rng_array(3, seed=7),
            "bb": rng_array(3, seed=8),
            "m": rng_array(3, seed=9),
            "v": np.abs(rng_array(3, seed=10)) + 0.5,
        },
    ),
}

GEMM = {
    "gemm transB=0 alpha beta": dict(transB=0, alpha=0.5, beta=2.0),
    "gemm transB=1": dict(transB=1),
}


def _run(m: Any, path: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    save(m, path)
    net, _ = load_onnx(path)
    ours = net(x)
    theirs = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    return ours, theirs


@pytest.mark.parametrize("case", list(CASES))
def test_attribute_equals_onnxruntime(case: str, tmp_path: Path) -> None:
    nodes, inits = CASES[case]
    x = rng_array(2, 3, 9, 8, seed=11)
    ours, theirs = _run(model(nodes, inits, ["N", 3, 9, 8]), tmp_path / "m.onnx", x)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", list(GEMM))
def test_gemm_equals_onnxruntime(case: str, tmp_path: Path) -> None:
    attrs = GEMM[case]
    w = rng_array(4, 6, seed=12) if attrs["transB"] else rng_array(6, 4, seed=12)
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("Gemm", ["f", "w", "c"], ["y"], **attrs),
    ]
    x = rng_array(3, 6, 1, 1, seed=13)
    m = model(nodes, {"w": w, "c": rng_array(4, seed=14)}, ["N", 6, 1, 1])
    ours, theirs = _run(m, tmp_path / "m.onnx", x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_matmul_and_a_bias_add_become_one_linear(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["m"]),
        helper.make_node("Add", ["m", "c"], ["y"]),
    ]
    m = model(nodes, {"w": rng_array(6, 4, seed=15), "c": rng_array(4, seed=16)}, ["N", 6, 1, 1])
    ours, theirs = _run(m, tmp_path / "m.onnx", rng_array(3, 6, 1, 1, seed=17))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    net, _ = load_onnx(tmp_path / "m.onnx")
    assert [type(layer).__name__ for _, layer in net.children()] == ["Flatten", "Linear"]


def test_normalisation_by_constants_in_the_graph(tmp_path: Path) -> None:
    """(x − mean) / std · 2 + 1 with per-channel constants, as a model's forward writes it."""
    mean = rng_array(1, 3, 1, 1, seed=18)
    std = np.abs(rng_array(3, 1, 1, seed=19)) + 0.5
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["a"]),
        helper.make_node("Div", ["a", "std"], ["b"]),
        helper.make_node("Mul", ["two", "b"], ["c"]),
        helper.make_node("Add", ["c", "one"], ["y"]),
    ]
    inits = {"mean": mean, "std": std, "two": np.float32(2.0), "one": np.float32(1.0)}
    x = rng_array(2, 3, 4, 5, seed=20)
    ours, theirs = _run(model(nodes, inits, ["N", 3, 4, 5]), tmp_path / "m.onnx", x)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    net, chw = load_onnx(tmp_path / "m.onnx")  # and out again: the constants in the file
    again = ort.InferenceSession(to_onnx(net, chw)).run(None, {"input": x})[0]
    np.testing.assert_allclose(again, theirs, rtol=1e-6, atol=1e-6)


def test_a_shape_chain_is_folded_and_keeps_the_batch(tmp_path: Path) -> None:
    """x.view(x.size(0), -1) as torch.onnx writes it: Shape → Gather → Unsqueeze → Concat."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Constant", [], ["i0"], value=helper.make_tensor("i0", 7, [], [0])),
        helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        helper.make_node("Constant", [], ["ax"], value=helper.make_tensor("ax", 7, [1], [0])),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
        helper.make_node("Constant", [], ["m1"], value=helper.make_tensor("m1", 7, [1], [-1])),
        helper.make_node("Concat", ["n1", "m1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    path = save(model(nodes, {}, ["N", 3, 4, 5]), tmp_path / "m.onnx")
    net, chw = load_onnx(path)
    assert chw == (3, 4, 5)
    assert [type(layer).__name__ for _, layer in net.children()] == ["Flatten"]
    for batch in (1, 3):  # the batch stays free: the chain was not folded to one size
        x = rng_array(batch, 3, 4, 5)
        np.testing.assert_array_equal(net(x), x.reshape(batch, -1))
        assert summarize(net, chw, batch).output_shape == (batch, 60)


def test_squeeze_after_a_global_pool(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["p"]),
        helper.make_node("Constant", [], ["ax"], value=helper.make_tensor("ax", 7, [2], [2, 3])),
        helper.make_node("Squeeze", ["p", "ax"], ["y"]),
    ]
    x = rng_array(2, 3, 5, 4)
    ours, theirs = _run(model(nodes, {}, ["N", 3, 5, 4]), tmp_path / "m.onnx", x)
    assert ours.shape == theirs.shape == (2, 3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_the_memory_guard_comes_before_the_arrays(tmp_path: Path) -> None:
    from cnncli.errors import ResourceLimitError
    from cnncli.io.onnx_file import read_onnx

    nodes, inits = conv()
    path = save(model(nodes, inits, ["N", 3, 9, 8]), tmp_path / "m.onnx")
    need = (W.size + B.size) * 4
    assert read_onnx(path, need).initializers["w"].shape == W.shape
    with pytest.raises(ResourceLimitError, match=f"{need:,} bytes"):
        read_onnx(path, need - 1)


def test_a_dynamic_height_takes_input(tmp_path: Path) -> None:
    nodes, inits = conv(pads=[1, 1, 1, 1])
    path = save(model(nodes, inits, ["N", 3, "H", "W"]), tmp_path / "m.onnx")
    net, chw = load_onnx(path, (3, 10, 12))
    assert chw == (3, 10, 12)
    assert summarize(net, chw).output_shape == (1, 6, 10, 12)
    with pytest.raises(Exception, match="dynamic size"):
        load_onnx(path)
