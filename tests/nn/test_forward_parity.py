"""Whole networks against PyTorch: forward (eval) for every zoo model through an exported
.npz, backward of small networks against autograd, and PyTorch's default initialisation."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn import zoo
from cnncli.nn.run import run_forward
from cnncli.nn.weights import load_weights
from tests.oracle import assert_close, torch_state_dict

torch = pytest.importorskip(
    "torch", reason="the PyTorch oracle (torch==2.13.0) is installed by .ci/run"
)

from tests.nn import torch_models  # noqa: E402

#: Small inputs where the model allows (vgg and resnet take any size ≥ 32; the fixed
#: feature sizes of alexnet, lenet5 and tinyvgg fix theirs).
PARITY_INPUT = {
    "alexnet": (2, 3, 224, 224),
    "alexnet-torchvision": (2, 3, 96, 80),
    "lenet5": (3, 1, 28, 28),
    "lenet5-mnist": (2, 1, 28, 28),
    "tinyvgg": (3, 3, 64, 64),
    "vgg11": (1, 3, 32, 32),
    "vgg16": (1, 3, 40, 32),
    "resnet18": (2, 3, 64, 48),
    "resnet50": (1, 3, 64, 48),
    "squeezenet1_1": (2, 3, 67, 61),
    "densenet121": (1, 3, 32, 40),
    "googlenet": (1, 3, 48, 40),
    "mobilenet_v2": (2, 3, 48, 40),
    "unet": (2, 1, 32, 24),
}


def _randomize_batchnorm(model: Any, generator: Any) -> None:
    """Non-trivial running statistics and affine parameters, so that eval-mode BN is tested."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.uniform_(-0.5, 0.5, generator=generator)
                m.running_var.uniform_(0.5, 2.0, generator=generator)
                m.weight.uniform_(0.5, 1.5, generator=generator)
                m.bias.uniform_(-0.5, 0.5, generator=generator)
                m.num_batches_tracked.fill_(7)


def export_npz(model: Any, path: Path) -> None:
    np.savez(path, **torch_state_dict(model))


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_forward_equals_pytorch_through_npz(name: str, tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(0)
    reference = torch_models.build(name).eval()
    _randomize_batchnorm(reference, gen)
    path = tmp_path / "w.npz"
    export_npz(reference, path)
    x = torch.randn(*PARITY_INPUT[name], generator=gen)
    with torch.no_grad():
        expected = reference(x).numpy()
    del reference

    net = zoo.build(name)
    net.load_state_dict(load_weights(path))
    net.eval()
    out = net(x.numpy())
    assert out.shape == expected.shape
    assert out.dtype == np.float32
    # within 1e-4 relative to the output's largest magnitude (float32 sums of up to 25088 terms)
    rel = float(np.abs(out - expected).max() / np.abs(expected).max())
    assert rel <= 1e-4, rel


def _small_torch_net() -> Any:
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        torch_models.make_block(4, 6, 2),
        torch_models.make_block(6, 6, 1),
        nn.AvgPool2d(2, ceil_mode=True),
        nn.Conv2d(6, 5, 1),
        nn.LeakyReLU(0.1),
        nn.AdaptiveAvgPool2d((2, 2)),
        nn.Flatten(),
        nn.Linear(20, 7),
        nn.Tanh(),
        nn.Dropout(0.0),
        nn.Linear(7, 3),
        nn.Sigmoid(),
        nn.Linear(3, 4),
        nn.Softmax(dim=1),
    )


def _small_cnncli_net() -> L.Sequential:
    return L.Sequential(
        L.Conv2d(2, 4, 3, padding=1),
        L.BatchNorm2d(4),
        L.ReLU(),
        L.MaxPool2d(2),
        L.BasicBlock(4, 6, 2),
        L.BasicBlock(6, 6, 1),
        L.AvgPool2d(2, ceil_mode=True),
        L.Conv2d(6, 5, 1),
        L.LeakyReLU(0.1),
        L.AdaptiveAvgPool2d((2, 2)),
        L.Flatten(),
        L.Linear(20, 7),
        L.Tanh(),
        L.Dropout(0.0),
        L.Linear(7, 3),
        L.Sigmoid(),
        L.Linear(3, 4),
        L.Softmax(dim=1),
    )


@pytest.mark.parametrize("training", [True, False])
def test_backward_of_a_small_network_equals_autograd(training: bool) -> None:
    torch.manual_seed(3)
    reference = _small_torch_net().double()
    _randomize_batchnorm(reference, torch.Generator().manual_seed(2))
    reference.train(training)
    net = _small_cnncli_net()
    net.load_state_dict(torch_state_dict(reference), dtype=np.float64)
    net.train(training)

    x = torch.randn(3, 2, 12, 10, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(3, 4, dtype=torch.float64)
    y = reference(x)
    y.backward(grad)

    out = net(x.detach().numpy())
    assert_close(out, y)
    dx = net.backward(grad.numpy())
    assert_close(dx, x.grad)
    grads = net.named_grads()
    for key, p in reference.named_parameters():
        assert key in grads, key
        assert_close(grads[key], p.grad)
    if training:  # running statistics updated as PyTorch does
        state = net.state_dict()
        for key, value in reference.state_dict().items():
            assert_close(np.asarray(state[key], dtype=value.numpy().dtype), value)


def test_residual_block_backward_equals_autograd() -> None:
    torch.manual_seed(4)
    nn = torch.nn

    class Ref(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.main = nn.Sequential(
                nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1)
            )
            self.shortcut = nn.Sequential(nn.Conv2d(3, 4, 1, stride=2))
            self.relu = nn.ReLU()

        def forward(self, x: Any) -> Any:
            return self.relu(self.main(x) + self.shortcut(x))

    reference = Ref().double()
    block = L.Residual(
        L.Sequential(
            L.Conv2d(3, 4, 3, stride=2, padding=1), L.ReLU(), L.Conv2d(4, 4, 3, padding=1)
        ),
        L.Sequential(L.Conv2d(3, 4, 1, stride=2)),
    )
    block.load_state_dict(torch_state_dict(reference), dtype=np.float64)
    x = torch.randn(2, 3, 9, 7, dtype=torch.float64, requires_grad=True)
    y = reference(x)
    g = torch.randn_like(y)
    y.backward(g)
    assert_close(block(x.detach().numpy()), y)
    assert_close(block.backward(g.numpy()), x.grad)
    for key, p in reference.named_parameters():
        assert_close(block.named_grads()[key], p.grad)


def test_default_initialisation_follows_pytorch_bounds() -> None:
    net = L.initialize(zoo.build("lenet5"), seed=0)
    state = net.state_dict()
    for key, fan_in in (
        ("features.0", 1 * 5 * 5),
        ("features.3", 6 * 5 * 5),
        ("classifier.1", 400),
    ):
        bound = 1 / math.sqrt(fan_in)
        for part in ("weight", "bias"):
            values = state[f"{key}.{part}"]
            assert values.dtype == np.float32
            assert np.abs(values).max() <= bound
            # uniform on [-bound, bound]: the extremes are approached (n ≥ 6 values)
            assert np.abs(values).max() > 0.5 * bound
        # kaiming_uniform_(a=sqrt(5)) has variance bound²/3
        w = state[f"{key}.weight"]
        assert abs(float(w.var()) - bound**2 / 3) < 0.35 * bound**2 / 3


def test_initialisation_is_deterministic_per_seed() -> None:
    a = L.initialize(zoo.build("tinyvgg"), seed=5).state_dict()
    b = L.initialize(zoo.build("tinyvgg"), seed=5).state_dict()
    c = L.initialize(zoo.build("tinyvgg"), seed=6).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv_block_1.0.weight"], c["conv_block_1.0.weight"])


def test_forward_records_every_layer_call_with_unique_names() -> None:
    net = L.initialize(zoo.build("resnet18"), seed=0).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 32, 32), dtype=np.float32)
    result = run_forward(net, x)
    names = [r.name for r in result.records]
    assert len(names) == len(set(names))
    assert "layer1.0.relu" in names and "layer1.0.relu#2" in names
    assert result.records[-1].name == "fc" and result.output.shape == (1, 1000)
    assert np.array_equal(result.records[-1].output, result.output)


def test_dropout_in_training_is_seeded_and_scaled() -> None:
    layer = L.Dropout(0.5)
    L.set_dropout_seed(layer, 1)
    x = np.ones((4, 100), dtype=np.float32)
    out = layer(x)
    assert set(np.unique(out).tolist()) <= {0.0, 2.0}
    grad = layer.backward(np.ones_like(x))
    assert np.array_equal(grad, out)  # the mask times 1/(1-p), reused
    layer.eval()
    assert np.array_equal(layer(x), x)


@pytest.mark.parametrize(
    ("name", "shape", "training"),
    [
        ("lenet5", (2, 1, 28, 28), True),
        ("tinyvgg", (2, 3, 64, 64), True),
        ("resnet18", (2, 3, 32, 32), True),
        # eval: its Dropout(0.2) would draw other masks than torch's; BN in eval is tested
        ("mobilenet_v2", (2, 3, 32, 32), False),
        ("unet", (2, 1, 16, 12), True),
    ],
)
def test_whole_zoo_network_backward_equals_autograd(
    name: str, shape: tuple[int, ...], training: bool
) -> None:
    torch.manual_seed(5)
    reference = torch_models.build(name).double().train(training)
    net = zoo.build(name)
    net.load_state_dict(torch_state_dict(reference), dtype=np.float64)
    net.train(training)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    y = reference(x)
    grad = torch.randn_like(y)
    y.backward(grad)
    assert_close(net(x.detach().numpy()), y)
    assert_close(net.backward(grad.numpy()), x.grad)
    grads = net.named_grads()
    assert set(grads) == {k for k, _ in reference.named_parameters()}
    for key, p in reference.named_parameters():
        assert_close(grads[key], p.grad)
