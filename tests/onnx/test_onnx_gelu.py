"""GELU as torch.onnx writes it below opset 20 (its formula, node by node) is one GELU layer.

torch.onnx writes ``nn.GELU()`` as ``0.5 · x · (1 + erf(x / √2))`` and
``nn.GELU(approximate="tanh")`` as ``0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))``
at opsets 17 to 19 (a Gelu node from 20 on). cnncli must import either as one GELU (one
row, as torchinfo's) and give torch's and ONNX Runtime's output; an Erf outside the pattern
stays an unsupported operator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch oracle is installed by .ci/run")
onnx = pytest.importorskip("onnx", reason="onnx is pinned in the test extra")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is pinned in the test extra")

from torch import nn  # noqa: E402

from cnncli.nn import layers as L  # noqa: E402, N812
from cnncli.nn.onnx_import import load_onnx  # noqa: E402
from tests.hostile.helpers import assert_clean, run_cli  # noqa: E402
from tests.onnx.exports import export  # noqa: E402


class Net(nn.Module):
    """conv → GELU, whose input also feeds a residual add (so that the map ``x`` the pattern
    reads has a user outside it) → conv, then a GELU of a GELU's output."""

    def __init__(self, approximate: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.act = nn.GELU(approximate=approximate)
        self.conv2 = nn.Conv2d(4, 2, 1)
        self.act2 = nn.GELU(approximate=approximate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)
        return self.act2(self.conv2(self.act(y) + y))


class NotGelu(nn.Module):
    """``0.5 · x · (1 + erf(x / 2))``: GELU's pattern with 2 for √2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x * (1 + torch.erf(x / 2.0))


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("opset", [17, 18])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_torch_s_gelu_formula_is_one_gelu_with_torch_s_output(
    approximate: str, opset: int, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = Net(approximate).eval()
    x = torch.randn(2, 3, 10, 10) * 3  # both tails of GELU
    path = export(model, x, tmp_path / "gelu.onnx", opset)
    written = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert "Gelu" not in written and ("Erf" in written or "Tanh" in written)
    net, chw = load_onnx(path)
    assert chw == (3, 10, 10)
    gelus = [layer for _, layer in net.named_modules() if isinstance(layer, L.GELU)]
    assert [g.approximate for g in gelus] == [approximate] * 2
    kinds = {type(layer).__name__ for _, layer in net.named_modules()}
    assert "ConstOp" not in kinds  # none of the pattern's arithmetic is left over
    with torch.no_grad():
        expected = model(x).numpy()
    ours = net(x.numpy())
    theirs = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0]
    assert _rel(ours, expected) <= 1e-4
    assert _rel(ours, theirs) <= 1e-4
    r = run_cli("shapes", str(path))
    assert_clean(r, "ok")
    assert r.stdout.count("GELU") == 2


def test_an_erf_that_is_not_gelu_stays_an_unsupported_operator(tmp_path: Path) -> None:
    path = export(NotGelu().eval(), torch.randn(1, 3, 8, 8), tmp_path / "erf.onnx", 17)
    r = run_cli("shapes", str(path))
    assert_clean(r, "error")
    assert "unsupported ONNX operator: Erf (node" in r.stderr
