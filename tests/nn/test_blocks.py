"""Blocks with branches against PyTorch: Concat (torch.cat), Multiply and SqueezeExcitation
(gating), Bottleneck, torchvision's Fire / Inception / dense blocks, and the shortened
classic networks, forward and backward against autograd in float64."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cnncli.errors import ShapeError
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn import zoo_classic
from cnncli.nn.summary import summarize
from tests.oracle import assert_close, torch_state_dict

torch = pytest.importorskip(
    "torch", reason="the PyTorch oracle (torch==2.13.0) is installed by .ci/run"
)
nn = torch.nn

from tests.nn import torch_models  # noqa: E402
from tests.nn.test_forward_parity import _randomize_batchnorm  # noqa: E402


def _check(ours: L.Layer, reference: Any, shape: tuple[int, ...], training: bool = False) -> None:
    """Same weights; forward, dx and every parameter gradient equal autograd's (float64),
    and the print(model) text and state_dict names equal PyTorch's."""
    reference = reference.double()
    _randomize_batchnorm(reference, torch.Generator().manual_seed(2))
    reference.train(training)
    assert repr(ours) == repr(reference)
    ours.load_state_dict(torch_state_dict(reference), dtype=np.float64)
    ours.train(training)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    y = reference(x)
    g = torch.randn_like(y)
    y.backward(g)
    assert_close(ours(x.detach().numpy()), y)
    assert_close(ours.backward(g.numpy()), x.grad)
    grads = ours.named_grads()
    assert set(grads) == {k for k, _ in reference.named_parameters()}
    for key, p in reference.named_parameters():
        assert_close(grads[key], p.grad)


class _Cat(nn.Module):
    """The PyTorch twin of a spec's Concat: branches on one input, torch.cat on dim 1."""

    def __init__(self, **branches: Any) -> None:
        super().__init__()
        for name, module in branches.items():
            self.add_module(name, module)

    def forward(self, x: Any) -> Any:
        return torch.cat([m(x) for m in self.children()], 1)


_Cat.__name__ = "Concat"


class _Mul(_Cat):
    def forward(self, x: Any) -> Any:
        out = None
        for m in self.children():
            y = m(x)
            out = y if out is None else out * y
        return out


_Mul.__name__ = "Multiply"


_SE = torch_models.SqueezeExcitation  # also imported by test_spec_branches.py


@pytest.mark.parametrize("training", [False, True])
def test_concat_with_an_identity_branch_and_nested_blocks_equals_autograd(training: bool) -> None:
    torch.manual_seed(0)
    reference = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        _Cat(
            skip=nn.Sequential(),
            a=nn.Sequential(nn.Conv2d(4, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU()),
            b=nn.Sequential(
                nn.MaxPool2d(3, 1, 1),
                _Cat(
                    x=nn.Conv2d(4, 2, 1), y=nn.Sequential(nn.Conv2d(4, 3, 3, padding=2, dilation=2))
                ),
            ),
        ),
        nn.Conv2d(14, 2, 1),
    )
    ours = L.Sequential(
        L.Conv2d(3, 4, 3, padding=1),
        L.Concat(
            ("skip", L.Sequential()),
            ("a", L.Sequential(L.Conv2d(4, 5, 3, padding=1), L.BatchNorm2d(5), L.ReLU())),
            (
                "b",
                L.Sequential(
                    L.MaxPool2d(3, 1, 1),
                    L.Concat(
                        ("x", L.Conv2d(4, 2, 1)),
                        ("y", L.Sequential(L.Conv2d(4, 3, 3, padding=2, dilation=2))),
                    ),
                ),
            ),
        ),
        L.Conv2d(14, 2, 1),
    )
    _check(ours, reference, (2, 3, 6, 5), training)
    assert ours.output_shape((2, 3, 6, 5)) == (2, 2, 6, 5)


def test_multiply_and_squeeze_excitation_equal_autograd() -> None:
    torch.manual_seed(1)
    gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(6, 6, 1), nn.Sigmoid())
    reference = nn.Sequential(_SE(6, 3), _Mul(gate=gate, input=nn.Sequential()), _SE(6, 2))
    ours = L.Sequential(
        L.SqueezeExcitation(6, 3),
        L.Multiply(
            ("gate", L.Sequential(L.AdaptiveAvgPool2d(1), L.Conv2d(6, 6, 1), L.Sigmoid())),
            ("input", L.Sequential()),
        ),
        L.SqueezeExcitation(6, 2),
    )
    _check(ours, reference, (2, 6, 5, 4))


@pytest.mark.parametrize("training", [False, True])
def test_bottleneck_blocks_equal_autograd(training: bool) -> None:
    torch.manual_seed(2)
    reference = nn.Sequential(
        torch_models.make_bottleneck(8, 4, 2),  # downsample: stride and channels change
        torch_models.make_bottleneck(16, 4, 1),  # identity shortcut
    )
    ours = L.Sequential(L.Bottleneck(8, 4, 2), L.Bottleneck(16, 4, 1))
    _check(ours, reference, (2, 8, 7, 6), training)


def test_fire_and_inception_equal_autograd() -> None:
    torch.manual_seed(3)
    reference = nn.Sequential(
        torch_models.Fire(5, 3, 4, 6), torch_models.Inception(10, 4, 3, 5, 2, 3, 4)
    )
    ours = L.Sequential(L.Fire(5, 3, 4, 6), L.Inception(10, 4, 3, 5, 2, 3, 4))
    _check(ours, reference, (2, 5, 6, 7), training=True)
    assert ours.output_shape((2, 5, 6, 7)) == (2, 4 + 5 + 3 + 4, 6, 7)


@pytest.mark.parametrize("training", [False, True])
def test_a_shortened_densenet_equals_autograd(training: bool) -> None:
    torch.manual_seed(4)
    reference = torch_models.DenseNet(num_classes=5, block_config=(2, 3))
    ours = zoo_classic.densenet121(5, block_config=(2, 3))
    _check(ours, reference, (2, 3, 32, 28), training)


def test_squeezenet_equals_autograd() -> None:
    torch.manual_seed(6)
    reference = torch_models.SqueezeNet(num_classes=7)
    reference.classifier[0].p = 0.0  # dropout's mask is random: compare the rest in training
    ours = zoo_classic.squeezenet1_1(7)
    ours["classifier"][0].p = 0.0  # type: ignore[index]
    _check(ours, reference, (2, 3, 35, 35), training=True)


def test_join_errors_name_the_block_and_every_path_shape() -> None:
    cat = L.Concat(("a", L.Conv2d(3, 4, 3)), ("b", L.Conv2d(3, 2, 1)))
    with pytest.raises(ShapeError) as info:
        cat.output_shape((1, 3, 8, 8))
    message = str(info.value)
    assert "Concat" in message and "torch.cat" in message
    assert "branch a gives (1, 4, 6, 6)" in message and "branch b gives (1, 2, 8, 8)" in message
    gate = L.Multiply(("g", L.Conv2d(3, 2, 1)), ("x", L.Sequential()))
    with pytest.raises(ShapeError, match=r"broadcast.*\(1, 2, 5, 5\).*\(1, 3, 5, 5\)"):
        gate.output_shape((1, 3, 5, 5))
    s = summarize(L.Network("Net", [("conv", L.Conv2d(3, 3, 1)), ("cat", cat)]), (3, 8, 8))
    assert s.failure is not None and s.failure.name == "cat" and s.failure.type == "Concat"
    assert "(1, 4, 6, 6)" in s.failure.message
    assert [r.name for r in s.leaves] == ["conv", "cat.a", "cat.b"]  # both branches walked


def test_summary_of_a_concat_has_per_branch_rows_and_the_widest_receptive_field() -> None:
    net = L.Network(
        "Net",
        [
            ("stem", L.Conv2d(1, 2, 3, stride=2)),
            (
                "cat",
                L.Concat(
                    ("skip", L.Sequential()),
                    (
                        "wide",
                        L.Sequential(L.Conv2d(2, 3, 5, padding=2), L.Conv2d(3, 3, 3, padding=1)),
                    ),
                    ("narrow", L.Conv2d(2, 4, 1)),
                ),
            ),
            ("head", L.Conv2d(9, 1, 3)),
        ],
    )
    s = summarize(net, (1, 17, 17), batch=2)
    rows = {r.name: r for r in s.layers}
    assert rows["cat"].output_shape == (2, 2 + 3 + 4, 8, 8)
    assert rows["cat.skip"].output_shape == (2, 2, 8, 8) and rows["cat.skip"].params == 0
    assert rows["cat.wide"].params == (2 * 25 + 1) * 3 + (3 * 9 + 1) * 3
    assert rows["cat.wide"].macs == ((2 * 25 + 1) * 3 + (3 * 9 + 1) * 3) * 2 * 8 * 8
    assert rows["cat"].macs == rows["cat.wide"].macs + (2 + 1) * 4 * 2 * 8 * 8
    # r = 1 + 2 (stem 3x3) = 3, jump 2; widest branch: + 4·2 + 2·2 = 15; head: + 2·2 = 19
    assert rows["stem"].receptive_field == (3, 3)
    assert rows["cat.skip"].receptive_field == (3, 3)
    assert rows["cat.narrow"].receptive_field == (3, 3)
    assert rows["cat"].receptive_field == (15, 15) and rows["cat"].jump == (2, 2)
    assert rows["head"].receptive_field == (19, 19)
    # memory: every leaf output but the identity's, and the concatenation's own output
    leaf_values = sum(int(np.prod(r.output_shape)) for r in s.leaves if r.type != "Sequential")
    assert s.join_values == 2 * 9 * 8 * 8
    assert s.activation_bytes == 4 * (leaf_values + 2 * 9 * 8 * 8)


def test_a_layer_called_three_times_is_recorded_three_times() -> None:
    from cnncli.nn.run import run_forward

    block = L.initialize(L.Bottleneck(4, 1), seed=0)
    out = run_forward(block, np.ones((1, 4, 3, 3), dtype=np.float32))
    names = [r.name for r in out.records]
    assert names.count("relu") == 1 and "relu#2" in names and "relu#3" in names
    assert names[-1] == "relu#3"


def test_googlenet_equals_autograd() -> None:
    """The whole GoogLeNet (nine Inception modules), training mode, dropout off."""
    torch.manual_seed(7)
    reference = torch_models.GoogLeNet(num_classes=5)
    reference.dropout.p = 0.0
    ours = zoo_classic.googlenet(5)
    ours["dropout"].p = 0.0  # type: ignore[attr-defined]
    _check(ours, reference, (2, 3, 32, 32), training=True)
