"""The layers of issue 16 and the branch containers through ONNX, both ways.

One small torch network holds every new layer (ConvTranspose2d, Upsample nearest and
bilinear with and without align_corners, ZeroPad2d, ReLU6, Hardtanh, SiLU, GELU both ways,
Hardswish, Hardsigmoid, ELU, Mish, Identity, AdaptiveMaxPool2d, Dropout2d, BatchNorm1d,
GroupNorm), a squeeze-and-excitation gate and an eight-way torch.cat. torch.onnx writes it
(opset 20, as the zoo tests); cnncli imports it and must give torch's and ONNX Runtime's
output and torchinfo's rows; then cnncli writes the imported network back out as ONNX
(ONNX Runtime within 1e-5), as PyTorch source (torch within 1e-5) and as a spec (the same
numbers).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch oracle is installed by .ci/run")
onnx = pytest.importorskip("onnx", reason="onnx is pinned in the test extra")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is pinned in the test extra")
torchinfo = pytest.importorskip("torchinfo", reason="torchinfo is installed by .ci/run")

from torch import nn  # noqa: E402

from cnncli.nn import layers as L  # noqa: E402, N812
from cnncli.nn.export_spec import spec_data  # noqa: E402
from cnncli.nn.export_text import torch_source  # noqa: E402
from cnncli.nn.onnx_export import to_onnx  # noqa: E402
from cnncli.nn.onnx_import import load_onnx  # noqa: E402
from cnncli.nn.spec import build_spec  # noqa: E402
from cnncli.nn.summary import summarize  # noqa: E402
from tests.nn import torch_models  # noqa: E402
from tests.onnx.exports import export  # noqa: E402

#: What a torch module becomes in the file: torch.onnx writes an adaptive max pool whose
#: bins are equal as a plain MaxPool, and no node for Identity or Dropout2d (eval mode).
EXPORTED_AS = {"AdaptiveMaxPool2d": "MaxPool2d"}
NOT_EXPORTED = {"Identity", "Dropout2d"}


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d((1, 2, 0, 1))
        self.conv = nn.Conv2d(3, 8, 3)
        self.gn = nn.GroupNorm(2, 8)
        self.silu = nn.SiLU()
        self.se = torch_models.SqueezeExcitation(8, 4)
        self.drop = nn.Dropout2d(0.3)
        self.acts = nn.ModuleList(
            [nn.GELU(), nn.GELU(approximate="tanh"), nn.Hardswish(), nn.ELU(0.7), nn.Mish(),
             nn.ReLU6(), nn.Hardtanh(-0.5, 0.75), nn.Hardsigmoid()]
        )  # fmt: skip
        self.up = nn.Upsample(scale_factor=2)
        self.down = nn.Conv2d(64, 8, 3, stride=2, padding=1)
        self.convt = nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1)
        self.bilinear = nn.Upsample(scale_factor=0.5, mode="bilinear")
        self.corners = nn.Upsample(size=(7, 9), mode="bilinear", align_corners=True)
        self.ident = nn.Identity()
        self.pool = nn.AdaptiveMaxPool2d((12, 11))
        self.fc = nn.Linear(378, 5)
        self.bn = nn.BatchNorm1d(5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)  # (N, 3, 24, 22) → (N, 3, 12, 11): first, while sizes are static
        x = self.se(self.silu(self.gn(self.conv(self.pad(x)))))
        x = self.drop(x)
        x = torch.cat([act(x) for act in self.acts], 1)
        x = self.convt(self.down(self.up(x)))
        x = self.ident(self.corners(self.bilinear(x)))
        return self.bn(self.fc(torch.flatten(x, 1)))  # type: ignore[no-any-return]


def _twin() -> nn.Module:
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.gn.weight.uniform_(0.5, 1.5)
        net.gn.bias.uniform_(-0.5, 0.5)
        net.bn.running_mean.uniform_(-0.5, 0.5)
        net.bn.running_var.uniform_(0.5, 2.0)
    return net.eval()


def _rows(info: object) -> list[tuple[object, ...]]:
    rows = []
    for layer in info.summary_list:  # type: ignore[attr-defined]
        if not layer.is_leaf_layer or layer.class_name in NOT_EXPORTED:
            continue
        kind = EXPORTED_AS.get(layer.class_name, layer.class_name)
        rows.append((kind, list(layer.output_size), layer.num_params, layer.macs))
    return rows


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path, np.ndarray]:
    model = _twin()
    x = torch.randn(2, 3, 24, 22, generator=torch.Generator().manual_seed(1))
    path = export(model, x, tmp_path_factory.mktemp("l16") / "net.onnx")
    return model, path, x.numpy()


def test_every_new_layer_through_onnx_equals_torch_onnxruntime_and_torchinfo(
    imported: tuple[nn.Module, Path, np.ndarray],
) -> None:
    model, path, x = imported
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    # the forms torch.onnx writes, so that each converter and pattern is exercised
    assert {"ConvTranspose", "Resize", "Pad", "Clip", "HardSigmoid", "HardSwish", "Elu",
            "Gelu", "Softplus", "InstanceNormalization", "Mul", "Concat"} <= ops  # fmt: skip
    net, chw = load_onnx(path)
    ours = net(x)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    by_ort = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    assert _rel(ours, expected) <= 1e-4
    assert _rel(ours, by_ort) <= 1e-4
    kinds = {type(m).__name__ for _, m in net.named_modules()}
    assert {"SiLU", "Mish", "GroupNorm", "SqueezeExcitation", "Joined", "BatchNorm1d"} <= kinds
    summary = summarize(net, chw, 2)
    rows = [
        (r.type, list(r.output_shape or ()), r.params, r.macs)
        for r in summary.leaves
        if not r.functional
    ]
    theirs = torchinfo.summary(model, input_size=x.shape, verbose=0, device="cpu")
    assert rows == _rows(theirs)
    assert summary.total_params == theirs.total_params


def test_imported_new_layers_back_out_to_onnx_and_pytorch(
    imported: tuple[nn.Module, Path, np.ndarray], tmp_path: Path
) -> None:
    _, path, x = imported
    net, chw = load_onnx(path)
    ours = net(x)
    out = tmp_path / "again.onnx"
    out.write_bytes(to_onnx(net, chw))
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)
    again = ort.InferenceSession(str(out)).run(None, {"input": x})[0]
    assert _rel(again, ours) <= 1e-5
    back, _ = load_onnx(out)  # cnncli's own file imports again, to the same numbers
    assert _rel(back(x), ours) <= 1e-5
    namespace: dict[str, object] = {"__name__": "exported"}
    exec(compile(torch_source(net), "model.py", "exec"), namespace)
    model = namespace[net.class_name]()  # type: ignore[operator]
    state = {k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()}
    model.load_state_dict(state)
    with torch.no_grad():
        theirs = model.eval()(torch.from_numpy(x)).numpy()
    assert _rel(theirs, ours) <= 1e-5
    assert repr(model) == repr(net)
    spec = build_spec(json.loads(json.dumps(spec_data(net, chw)))).model  # through JSON
    spec.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(spec.eval()(x), ours)


@pytest.mark.parametrize("align", [False, True])
def test_upsample_written_by_cnncli_runs_in_onnxruntime(align: bool) -> None:
    layer = L.Upsample(size=(7, 10), mode="bilinear", align_corners=align)
    net = L.Network("Up", [("up", layer)], input_shape=(2, 4, 5))
    x = np.random.default_rng(3).standard_normal((2, 2, 4, 5), dtype=np.float32)
    session = ort.InferenceSession(to_onnx(net, (2, 4, 5)))
    assert _rel(session.run(None, {"input": x})[0], net(x)) <= 1e-6


def _one(op: str, inputs: list[str], inits: dict[str, np.ndarray], **attrs: object) -> object:
    from onnx import helper

    from tests.onnx.graphs import model

    opset = int(attrs.pop("_opset", 20))  # type: ignore[call-overload]
    nodes = [helper.make_node(op, ["x", *inputs], ["y"], name="n", **attrs)]
    return model(nodes, inits, ["N", 4, 5, 6], opset=opset)


F32 = np.float32
GAMMA = np.linspace(0.5, 1.5, 4, dtype=F32)
BETA = np.linspace(-0.3, 0.3, 4, dtype=F32)
#: One-node graphs of each converter's other forms (not what torch.onnx writes above).
ONE_NODE = {
    "Resize nearest by sizes": (
        "Resize", ["", "", "s"], {"s": np.array([2, 4, 8, 9], np.int64)},
        {"mode": "nearest", "nearest_mode": "floor", "coordinate_transformation_mode": "asymmetric"},
    ),
    "Resize linear half_pixel by scales": (
        "Resize", ["", "s"], {"s": np.array([1, 1, 1.5, 2], F32)},
        {"mode": "linear", "coordinate_transformation_mode": "half_pixel"},
    ),
    "Pad with a value": (
        "Pad", ["p", "v"], {"p": np.array([0, 0, 1, 0, 0, 0, 2, 3], np.int64),
                            "v": np.array(2.5, F32)}, {},
    ),
    "Clip as ReLU6": ("Clip", ["lo", "hi"], {"lo": np.array(0, F32), "hi": np.array(6, F32)}, {}),
    "Elu": ("Elu", [], {}, {"alpha": 0.3}),
    "Gelu tanh": ("Gelu", [], {}, {"approximate": "tanh"}),
    "Mish": ("Mish", [], {}, {}),
    "Softplus": ("Softplus", [], {}, {}),
    "GroupNormalization opset 21": (
        "GroupNormalization", ["g", "b"], {"g": GAMMA, "b": BETA},
        {"num_groups": 2, "epsilon": 1e-3, "_opset": 21},
    ),
    "ConvTranspose grouped": (
        "ConvTranspose", ["w"], {"w": np.random.default_rng(2).standard_normal((4, 3, 2, 3)).astype(F32)},
        {"group": 2, "strides": [2, 1], "pads": [1, 0, 1, 0], "dilations": [1, 2]},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ONE_NODE))
def test_one_node_graph_equals_onnxruntime(case: str, tmp_path: Path) -> None:
    from tests.onnx.graphs import save

    op, inputs, inits, attrs = ONE_NODE[case]
    path = save(_one(op, inputs, inits, **attrs), tmp_path / "m.onnx")  # type: ignore[arg-type]
    x = np.random.default_rng(5).standard_normal((2, 4, 5, 6)).astype(F32) * 3
    theirs = ort.InferenceSession(str(path)).run(None, {"x": x})[0]
    net, _ = load_onnx(path)
    ours = net(x)
    assert ours.shape == theirs.shape
    assert _rel(ours, theirs) <= 1e-5


@pytest.mark.parametrize(
    ("op", "inputs", "inits", "attrs", "words"),
    [
        ("HardSigmoid", [], {}, {"alpha": 0.2}, "PyTorch's is 1/6"),
        ("Clip", ["lo"], {"lo": np.array(0, F32)}, {}, "Hardtanh has both"),
        ("Pad", ["p"], {"p": np.array([0, 1, 0, 0, 0, 0, 0, 0], np.int64)}, {}, "only H and W"),
        ("Resize", ["", "s"], {"s": np.array([1, 1, 2, 2], F32)},
         {"mode": "cubic"}, "only nearest and (bi)linear"),
    ],
)  # fmt: skip
def test_a_form_without_a_layer_is_one_error(
    op: str, inputs: list[str], inits: dict[str, np.ndarray], attrs: dict[str, object],
    words: str, tmp_path: Path,
) -> None:  # fmt: skip
    from tests.hostile.helpers import assert_clean, run_cli
    from tests.onnx.graphs import save

    path = save(_one(op, inputs, inits, **attrs), tmp_path / "m.onnx")  # type: ignore[arg-type]
    r = run_cli("shapes", str(path))
    assert_clean(r, "error")
    assert words in r.stderr and "node 'n'" in r.stderr
