"""``cnncli export``: round trips zoo → ONNX → ONNX Runtime and cnncli, zoo → PyTorch source →
torch, spec → ONNX → ONNX Runtime, zoo and ONNX → spec → cnncli, each equal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnncli.errors import ParameterError
from cnncli.io.write import npz_bytes
from cnncli.nn import zoo
from cnncli.nn.export_spec import spec_data, spec_toml
from cnncli.nn.export_text import torch_source
from cnncli.nn.layers import (
    Block,
    Concat,
    Conv2d,
    Join,
    Layer,
    Network,
    ReLU,
    Sigmoid,
    View,
    initialize,
)
from cnncli.nn.layers import Path as LPath
from cnncli.nn.layers.flow import Node
from cnncli.nn.spec import build_spec, load_model, parse_spec_text
from cnncli.nn.summary import summarize
from tests.hostile.helpers import assert_clean, run_cli

ROOT = Path(__file__).resolve().parents[2]
#: Small inputs: the networks ending in an adaptive (1, 1) pool take any size from 32 (their
#: five halvings leave 1×1), tinyvgg and lenet5 take their own.
SMALL = {"lenet5": (1, 28, 28), "tinyvgg": (3, 64, 64), "resnet18": (3, 32, 32),
         "resnet50": (3, 32, 32), "densenet121": (3, 32, 32), "googlenet": (3, 32, 32),
         "squeezenet1_1": (3, 64, 64), "mobilenet_v2": (3, 32, 32)}  # fmt: skip
#: Every zoo model (a model added later at its own input size). The VGGs, fixed to
#: 224×224 by their 4096-wide classifier (510-550 MB as ONNX), take 20-35 s each here
#: (benchmarks/README.md, "export round trips"); CI's whole run takes minutes of its 90.
ROUND_TRIP = [name for name in zoo.ZOO if name != "lenet5-mnist"]


def _chw(name: str) -> tuple[int, int, int]:
    return SMALL.get(name, zoo.ZOO[name].input_shape)


def _x(chw: tuple[int, ...], batch: int = 2) -> np.ndarray:
    return np.random.default_rng(7).standard_normal((batch, *chw), dtype=np.float32)


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_zoo_to_onnx_runs_in_onnxruntime_and_back_in_cnncli(name: str, tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx", reason="onnx is pinned in the test extra")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is pinned in the test extra")
    chw = _chw(name)
    path = tmp_path / f"{name}.onnx"
    r = run_cli(
        "export", name, "--to", str(path), "--input", "x".join(map(str, chw)), "--seed", "3"
    )
    assert_clean(r, "ok")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    net = initialize(zoo.build(name), 3).eval()
    x = _x(chw)
    ours = net(x)
    theirs = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    assert _rel(theirs, ours) <= 1e-5
    back, back_chw = load_model(str(path))
    assert back_chw == chw
    assert _rel(back(x), ours) <= 1e-6
    assert back.num_params() == net.num_params()


def test_spec_to_onnx_runs_in_onnxruntime(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="onnx is pinned in the test extra")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is pinned in the test extra")
    spec = ROOT / "samples" / "resnet_mini.toml"
    weights = tmp_path / "w.npz"
    net, chw = load_model(str(spec))
    initialize(net, 5)
    weights.write_bytes(npz_bytes(net.state_dict()))
    path = tmp_path / "mini.onnx"
    assert_clean(run_cli("export", str(spec), "-w", str(weights), "--to", str(path)), "ok")
    assert chw is not None
    x = _x(chw)
    theirs = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    assert _rel(theirs, net.eval()(x)) <= 1e-5


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_to_pytorch_source_has_cnncli_s_state_dict(name: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="the PyTorch oracle is installed by .ci/run")
    net = zoo.build(name)
    path = tmp_path / "model.py"
    assert_clean(run_cli("export", name, "--to", str(path)), "ok")
    source = path.read_text()
    assert "import torch" in source and "nn.Module" in source
    namespace: dict[str, object] = {"__name__": "exported"}
    exec(compile(source, str(path), "exec"), namespace)
    cls = namespace[net.class_name]
    with torch.device("meta"):  # shapes only: no 138M-parameter initialisation
        model = cls()  # type: ignore[operator]
    theirs = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert list(theirs.items()) == list(net.expected_state().items())
    assert repr(model) == repr(net)


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_zoo_to_pytorch_source_loads_cnncli_s_npz_and_gives_its_output(
    name: str, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch", reason="the PyTorch oracle is installed by .ci/run")
    net = initialize(zoo.build(name), 4).eval()
    weights = tmp_path / "w.npz"
    weights.write_bytes(npz_bytes(net.state_dict()))
    namespace: dict[str, object] = {"__name__": "exported"}
    exec(compile(torch_source(net), "model.py", "exec"), namespace)
    model = namespace["load_npz"](namespace[net.class_name](), str(weights))  # type: ignore[operator]
    x = _x(_chw(name))
    with torch.no_grad():
        theirs = model.eval()(torch.from_numpy(x)).numpy()
    assert _rel(theirs, net(x)) <= 1e-4


#: Zoo models whose top level joins its named children (the unet's skips): their spec is
#: written by the flow, nested Concat blocks holding the same layers under other names.
BY_FLOW = ["unet"]


@pytest.mark.parametrize("name", [n for n in zoo.ZOO if n not in BY_FLOW])
def test_zoo_to_spec_builds_the_same_network(name: str, tmp_path: Path) -> None:
    net = zoo.build(name)
    entry = zoo.ZOO[name]
    path = tmp_path / "spec.toml"
    assert_clean(run_cli("export", name, "--to", str(path)), "ok")
    built = build_spec(parse_spec_text(path.read_text(), "toml"), "spec.toml")
    assert built.input_shape == entry.input_shape
    assert list(built.model.expected_state().items()) == list(net.expected_state().items())
    # the same layers (the seed's x.view becomes Flatten: a spec has no View)
    ours = [
        (n, "Flatten" if isinstance(layer, View) else layer.type_name)
        for n, layer in net.named_modules()
        if n
    ]
    theirs = [(n, layer.type_name) for n, layer in built.model.named_modules() if n]
    assert theirs == ours


def _same_computation(net: Layer, spec: Layer, chw: tuple[int, ...]) -> None:
    """``spec`` computes what ``net`` does: the weights moved over by order (the same shapes
    in the same order, other names), the same output and dx bit for bit, the same table."""
    ours, theirs = net.state_dict(), spec.expected_state()
    assert [v.shape for v in ours.values()] == list(theirs.values())
    spec.load_state_dict(dict(zip(theirs, ours.values(), strict=True)))
    x = _x(chw)
    out = net.eval()(x)
    np.testing.assert_array_equal(spec.eval()(x), out)
    grad = np.random.default_rng(8).standard_normal(out.shape, dtype=np.float32)
    np.testing.assert_array_equal(spec.backward(grad), net.backward(grad))
    rows = [  # every layer's row; an identity branch (an empty Sequential) has no layer
        [
            (r.type, r.output_shape, r.params, r.macs, r.receptive_field)
            for r in s.leaves
            if r.type != "Sequential"
        ]
        for s in (summarize(net, chw), summarize(spec, chw))
    ]
    assert rows[0] == rows[1] and len(rows[0]) > 3
    assert spec.num_params() == net.num_params()


@pytest.mark.parametrize("name", BY_FLOW)
def test_a_model_with_skips_becomes_nested_concats_computing_the_same(
    name: str, tmp_path: Path
) -> None:
    net = initialize(zoo.build(name), 6)
    path = tmp_path / "spec.toml"
    r = run_cli("export", name, "--to", str(path))
    assert_clean(r, "ok")
    assert f"note: {name}'s skips are written as nested blocks" in r.stderr
    built = build_spec(parse_spec_text(path.read_text(), "toml"), "spec.toml")
    assert built.input_shape == zoo.ZOO[name].input_shape
    concats = [n for n, layer in built.model.named_modules() if isinstance(layer, Concat)]
    assert concats == ["cat1", "cat1.up1.cat2"]  # one inside the other, as the U nests
    assert list(built.model.expected_state()) != list(net.expected_state())
    _same_computation(net, built.model, built.input_shape)


class _Flows(Network):
    """A flow with a sum (the identity path first), a product, and a ReLU called three times."""

    def __init__(self) -> None:
        super().__init__(
            "flows",
            [("conv1", Conv2d(2, 4, 3, padding=1)), ("relu", ReLU()), ("conv2", Conv2d(4, 4, 1)),
             ("gate", Sigmoid()), ("conv3", Conv2d(4, 4, 3, padding=1))],
        )  # fmt: skip

    def flow(self) -> Node:
        added = Join("add", (LPath(), LPath("conv2", "relu")))
        return LPath("conv1", "relu", added, Join("mul", (LPath("gate"), LPath("conv3"))), "relu")

    output_shape = Block.output_shape
    forward = Block.forward
    backward = Block.backward


class _Twice(_Flows):
    def flow(self) -> Node:
        return LPath("conv1", "relu", "conv2", "conv2")


def test_sums_products_and_reused_relus_are_written_by_the_flow() -> None:
    net = initialize(_Flows(), 1)
    data = json.loads(json.dumps(spec_data(net, (2, 8, 8))))  # through JSON, as a file
    assert [item["type"] for item in data["layers"]] == [
        "Conv2d", "ReLU", "Residual", "Multiply", "ReLU"
    ]  # fmt: skip
    assert data["layers"][2]["relu"] is False and "shortcut" not in data["layers"][2]
    spec = build_spec(parse_spec_text(spec_toml(data), "toml")).model
    _same_computation(net, spec, (2, 8, 8))


def test_a_child_with_weights_called_twice_is_refused_as_a_spec() -> None:
    with pytest.raises(ParameterError, match=r"^flows: its child 'conv2' \(Conv2d\) holds "
                       "weights and is called 2 times in its forward"):  # fmt: skip
        spec_data(_Twice(), (2, 8, 8))


def test_a_spec_with_nested_concats_goes_back_to_toml_as_it_was(tmp_path: Path) -> None:
    sample = ROOT / "samples" / "unet_skip.toml"
    path = tmp_path / "spec.toml"
    assert_clean(run_cli("export", str(sample), "--to", str(path)), "ok")
    net, chw = load_model(str(sample))
    back, back_chw = load_model(str(path))
    assert back_chw == chw and chw is not None
    assert list(back.expected_state().items()) == list(net.expected_state().items())
    initialize(net, 2)
    back.load_state_dict(net.state_dict())
    x = _x(chw)
    np.testing.assert_array_equal(back.eval()(x), net.eval()(x))


def test_small_zoo_spec_gives_the_same_output() -> None:
    net = initialize(zoo.build("resnet18"), 2).eval()
    data = json.loads(json.dumps(spec_data(net, (3, 32, 32))))  # through JSON, as a file
    built = build_spec(data).model
    built.load_state_dict(net.state_dict())
    x = _x((3, 32, 32))
    np.testing.assert_array_equal(built.eval()(x), net(x))


@pytest.mark.parametrize(  # residual blocks; the U-Net's skips and DenseNet's identity
    ("name", "size"),  # branches, imported as Concat blocks and written as [[layers.branches]]
    [("resnet18", "3x32x32"), ("unet", "1x32x32"), ("densenet121", "3x32x32")],
)
def test_imported_onnx_model_to_spec_and_back(name: str, size: str, tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="onnx is pinned in the test extra")
    src = tmp_path / "r.onnx"
    assert_clean(run_cli("export", name, "--to", str(src), "--input", size), "ok")
    imported, chw = load_model(str(src))
    spec_path = tmp_path / "r.toml"
    assert_clean(run_cli("export", str(src), "--to", str(spec_path)), "ok")
    built = build_spec(parse_spec_text(spec_path.read_text(), "toml")).model
    built.load_state_dict(imported.state_dict())
    x = _x(chw)
    np.testing.assert_array_equal(built.eval()(x), imported(x))
    assert spec_toml(spec_data(imported, chw)) == spec_path.read_text()


def test_bad_destinations_are_one_error(tmp_path: Path) -> None:
    r = run_cli("export", "lenet5", "--to", str(tmp_path / "m.txt"))
    assert_clean(r, "error")
    assert ".onnx, .py, .toml or .json" in r.stderr
    r = run_cli("export", "lenet5", "--to", str(tmp_path / "no" / "dir" / "m.onnx"))
    assert_clean(r, "error")
    assert not (tmp_path / "no").exists()


def test_trained_zoo_model_through_onnx_evaluates_the_same(tmp_path: Path) -> None:
    """lenet5-mnist → ONNX → evaluate: the file's own weights, the same accuracy and loss."""
    pytest.importorskip("onnx", reason="onnx is pinned in the test extra")
    path = tmp_path / "lenet5.onnx"
    assert_clean(run_cli("export", "lenet5-mnist", "--to", str(path)), "ok")
    runs = [
        run_cli("evaluate", model, "--held-out", "0.1", "--json")
        for model in ("lenet5-mnist", str(path))
    ]
    for r in runs:
        assert_clean(r, "ok")
    zoo_run, onnx_run = (json.loads(r.stdout) for r in runs)
    assert onnx_run["weights"] == "lenet5.onnx"
    assert onnx_run["accuracy"] == zoo_run["accuracy"] > 0.9
    assert onnx_run["loss"] == pytest.approx(zoo_run["loss"], rel=1e-5)
