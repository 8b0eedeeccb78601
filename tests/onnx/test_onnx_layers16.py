"""The layers of issue 16 and the branch containers through ONNX, both ways.

One small torch network holds every new layer (ConvTranspose2d, Upsample nearest and
bilinear with and without align_corners, ZeroPad2d, ReLU6, Hardtanh, SiLU, GELU both ways,
Hardswish, Hardsigmoid, ELU, Mish, Identity, AdaptiveMaxPool2d, Dropout2d, BatchNorm1d,
GroupNorm), a squeeze-and-excitation gate and a six-way torch.cat. torch.onnx writes it
(opset 20, as the zoo tests); cnncli imports it and must give torch's and ONNX Runtime's
output and torchinfo's rows; then cnncli writes the imported network back out as ONNX
(ONNX Runtime within 1e-5) and as PyTorch source (torch within 1e-5).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch oracle is installed by .ci/run")
onnx = pytest.importorskip("onnx", reason="onnx is pinned in the test extra")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is pinned in the test extra")
torchinfo = pytest.importorskip("torchinfo", reason="torchinfo is installed by .ci/run")

from torch import nn  # noqa: E402

from cnncli.nn import layers as L  # noqa: E402, N812
from cnncli.nn.export_text import torch_source  # noqa: E402
from cnncli.nn.onnx_export import to_onnx  # noqa: E402
from cnncli.nn.onnx_import import load_onnx  # noqa: E402
from cnncli.nn.summary import summarize  # noqa: E402
from tests.onnx.exports import export  # noqa: E402

#: What a torch module becomes in the file: torch.onnx writes an adaptive max pool whose
#: bins are equal as a plain MaxPool, and no node for Identity or Dropout2d (eval mode).
EXPORTED_AS = {"AdaptiveMaxPool2d": "MaxPool2d"}
NOT_EXPORTED = {"Identity", "Dropout2d"}


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation."""

    def __init__(self, c: int, s: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, s, 1)
        self.fc2 = nn.Conv2d(s, c, 1)
        self.activation = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return scale * x


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ZeroPad2d((1, 2, 0, 1))
        self.conv = nn.Conv2d(3, 8, 3)
        self.gn = nn.GroupNorm(2, 8)
        self.silu = nn.SiLU()
        self.se = SqueezeExcitation(8, 4)
        self.drop = nn.Dropout2d(0.3)
        self.acts = nn.ModuleList(
            [nn.GELU(), nn.GELU(approximate="tanh"), nn.Hardswish(), nn.ELU(0.7), nn.Mish(),
             nn.ReLU6(), nn.Hardtanh(-0.5, 0.75)]
        )  # fmt: skip
        self.up = nn.Upsample(scale_factor=2)
        self.down = nn.Conv2d(56, 8, 3, stride=2, padding=1)
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


@pytest.mark.parametrize("align", [False, True])
def test_upsample_written_by_cnncli_runs_in_onnxruntime(align: bool) -> None:
    layer = L.Upsample(size=(7, 10), mode="bilinear", align_corners=align)
    net = L.Network("Up", [("up", layer)], input_shape=(2, 4, 5))
    x = np.random.default_rng(3).standard_normal((2, 2, 4, 5), dtype=np.float32)
    session = ort.InferenceSession(to_onnx(net, (2, 4, 5)))
    assert _rel(session.run(None, {"input": x})[0], net(x)) <= 1e-6
