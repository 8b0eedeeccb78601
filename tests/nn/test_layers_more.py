"""The layers of issue 16 against their torch.nn twins built from the same arguments: output
shape without data, forward, backward (input and parameter gradients), print text, state_dict;
and a spec using all of them against torchinfo's parameter and MAC counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cnncli.errors import CnncliError, ParameterError, ShapeError
from cnncli.nn import layers as L  # noqa: N812
from tests.oracle import assert_close, torch_state_dict

torch = pytest.importorskip(
    "torch", reason="the PyTorch oracle (torch==2.13.0) is installed by .ci/run"
)

CASES: list[tuple[str, dict[str, Any], tuple[int, ...]]] = [
    ("ConvTranspose2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3}, (2, 3, 4, 5)),
    (
        "ConvTranspose2d",
        {
            "in_channels": 4,
            "out_channels": 6,
            "kernel_size": (2, 3),
            "stride": (2, 3),
            "padding": (1, 0),
            "output_padding": (1, 2),
            "groups": 2,
            "bias": False,
            "dilation": (1, 2),
        },
        (2, 4, 3, 4),
    ),
    (
        "ConvTranspose2d",
        {"in_channels": 2, "out_channels": 2, "kernel_size": 4, "stride": 2, "padding": 1},
        (1, 2, 3, 3),
    ),
    ("Upsample", {"scale_factor": 2}, (2, 3, 3, 4)),
    ("Upsample", {"size": (5, 7), "mode": "bilinear"}, (1, 2, 3, 4)),
    (
        "Upsample",
        {"scale_factor": (1.5, 2.5), "mode": "bilinear", "align_corners": True},
        (1, 2, 4, 3),
    ),
    ("Upsample", {"size": 6}, (1, 2, 4, 3)),
    ("ZeroPad2d", {"padding": 2}, (2, 3, 3, 4)),
    ("ZeroPad2d", {"padding": (1, 0, 3, 2)}, (1, 2, 3, 4)),
    ("AdaptiveMaxPool2d", {"output_size": (3, 2)}, (2, 3, 7, 5)),
    ("AdaptiveMaxPool2d", {"output_size": 1}, (1, 2, 4, 5)),
    ("ReLU6", {}, (2, 3, 4, 4)),
    ("ReLU6", {"inplace": True}, (2, 3)),
    ("Hardtanh", {"min_val": -2, "max_val": 3}, (2, 3, 4, 4)),
    ("Hardtanh", {}, (3, 5)),
    ("SiLU", {}, (2, 3, 4, 4)),
    ("GELU", {}, (2, 3, 4, 4)),
    ("GELU", {"approximate": "tanh"}, (2, 3, 4, 4)),
    ("Hardswish", {}, (2, 3, 4, 4)),
    ("Hardsigmoid", {"inplace": True}, (2, 3, 4, 4)),
    ("ELU", {}, (2, 3, 4, 4)),
    ("ELU", {"alpha": 0.5, "inplace": True}, (2, 3, 4, 4)),
    ("Mish", {}, (2, 3, 4, 4)),
    ("Identity", {}, (2, 3, 4, 4)),
    ("Dropout2d", {"p": 0.0}, (2, 3, 4, 4)),
    ("Dropout2d", {"p": 0.3, "inplace": True}, (2, 3, 4, 4)),  # eval only: the mask is random
    ("GroupNorm", {"num_groups": 2, "num_channels": 4}, (2, 4, 3, 3)),
    ("GroupNorm", {"num_groups": 3, "num_channels": 6, "eps": 1e-3, "affine": False}, (2, 6, 2, 3)),
    ("GroupNorm", {"num_groups": 1, "num_channels": 4, "bias": False}, (3, 4, 5)),
    ("BatchNorm1d", {"num_features": 3}, (4, 3)),
    ("BatchNorm1d", {"num_features": 3, "momentum": None}, (4, 3, 5)),
    ("BatchNorm1d", {"num_features": 2, "affine": False, "track_running_stats": False}, (3, 2)),
]


#: Every case in training and in eval mode, except a training Dropout2d with p > 0: its mask
#: is random (test_dropout2d_in_training_drops_whole_maps_reproducibly covers it).
RUNS = [
    pytest.param(t, k, shape, training, id=f"{training}-{i}-{t}")
    for training in (True, False)
    for i, (t, k, shape) in enumerate(CASES)
    if not (t == "Dropout2d" and training and k["p"] > 0)
]


@pytest.mark.parametrize(("type_name", "kwargs", "shape", "training"), RUNS)
def test_layer_equals_torch(
    type_name: str, kwargs: dict[str, Any], shape: tuple[int, ...], training: bool
) -> None:
    torch.manual_seed(len(shape) + len(kwargs))
    reference = getattr(torch.nn, type_name)(**kwargs).double().train(training)
    with torch.no_grad():  # values other than the ones and zeros of the initialisation
        for p in reference.parameters():
            p.uniform_(-1, 1)
        if getattr(reference, "running_mean", None) is not None:
            reference.running_mean.uniform_(-1, 1)
            reference.running_var.uniform_(0.5, 2)
    layer = L.LAYER_TYPES[type_name](**kwargs)
    assert repr(layer) == repr(reference)
    expected_state = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert layer.expected_state() == expected_state
    assert layer.num_params() == sum(p.numel() for p in reference.parameters())
    layer.load_state_dict(torch_state_dict(reference), dtype=np.float64)
    layer.train(training)

    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    y = reference(x.clone())  # a copy: inplace=True layers write into their input
    assert layer.output_shape(shape) == tuple(y.shape)
    out = layer(x.detach().numpy())
    assert_close(out, y)
    grad = torch.randn_like(y)
    y.backward(grad)
    assert_close(layer.backward(grad.numpy()), x.grad)
    assert set(layer.grads) == {k for k, _ in reference.named_parameters()}
    for key, p in reference.named_parameters():
        assert_close(layer.grads[key], p.grad)
    for key, value in reference.state_dict().items():  # running statistics updated alike
        ours = layer.state_dict()[key]
        assert (
            np.array_equal(ours, value.numpy())
            if value.dtype == torch.int64
            else np.allclose(ours, value.numpy(), rtol=1e-12, atol=1e-12)
        )


def test_parameter_initialisation_follows_pytorchs_bounds() -> None:
    """ConvTranspose2d: U(±1/sqrt(fan_in)) with fan_in = (F/groups)·KH·KW, weight and bias."""
    layer = L.ConvTranspose2d(8, 6, 3, groups=2)
    layer.reset_parameters(np.random.default_rng(0))
    bound = 1 / np.sqrt(3 * 3 * 3)
    for name in ("weight", "bias"):
        values = layer.state_dict()[name]
        assert values.dtype == np.float32
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.8 * bound
    norm = L.GroupNorm(2, 4)
    norm.reset_parameters(np.random.default_rng(0))
    np.testing.assert_array_equal(norm.state_dict()["weight"], np.ones(4))
    np.testing.assert_array_equal(norm.state_dict()["bias"], np.zeros(4))


def test_dropout2d_in_training_drops_whole_maps_reproducibly() -> None:
    x = np.random.default_rng(0).standard_normal((4, 8, 3, 3))
    layer = L.Dropout2d(0.5)
    L.set_dropout_seed(layer, 3)
    y = layer(x)
    dropped = (y == 0).all(axis=(2, 3))
    assert dropped.any() and not dropped.all()
    assert_close(y[~dropped], 2 * x[~dropped])
    np.testing.assert_array_equal(
        layer.backward(np.ones_like(x)) == 0, np.broadcast_to(dropped[..., None, None], x.shape)
    )
    again = L.Dropout2d(0.5)
    L.set_dropout_seed(again, 3)
    np.testing.assert_array_equal(again(x), y)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: L.ConvTranspose2d(4, 4, 3, stride=2, output_padding=2),
            "output_padding 2 along H must be smaller than either the stride 2 or the dilation 1",
        ),
        (lambda: L.ConvTranspose2d(4, 6, 3, groups=4), "groups=4 does not divide out_channels=6"),
        (lambda: L.ConvTranspose2d(4, 4, 3, padding_mode="reflect"), "only padding_mode 'zeros'"),
        (lambda: L.Upsample(), "exactly one of size and scale_factor"),
        (
            lambda: L.Upsample(scale_factor=2, mode="bicubic"),
            "mode must be one of nearest, bilinear",
        ),
        (lambda: L.Upsample(scale_factor=2, align_corners=True), "align_corners can only be set"),
        (lambda: L.ZeroPad2d((1, 2)), "ZeroPad2d padding must be"),
        (lambda: L.Hardtanh(2, 1), "min_val 2 cannot be greater than max_val 1"),
        (lambda: L.GELU("erf"), "approximate must be 'none' or 'tanh'"),
        (lambda: L.GroupNorm(3, 4), r"num_channels \(4\) must be divisible by num_groups \(3\)"),
        (
            lambda: L.AdaptiveMaxPool2d(2, return_indices=True),
            "return_indices=True is not supported",
        ),
        (lambda: L.AdaptiveMaxPool2d((0, 2)), "AdaptiveMaxPool2d output_size must be positive"),
        (lambda: L.Dropout2d(1.5), "Dropout2d p must be between 0 and 1"),
        (lambda: L.BatchNorm1d(0), "BatchNorm1d num_features must be a positive integer"),
    ],
)
def test_bad_arguments_are_parameter_errors(make: Any, match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        make()


@pytest.mark.parametrize(
    ("layer", "shape", "text"),
    [
        (
            L.ConvTranspose2d(3, 4, 3),
            (1, 2, 8, 8),
            "expects C=3 input channels, but the input has C=2",
        ),
        (L.ConvTranspose2d(3, 4, 3, padding=3), (1, 3, 2, 2), "output along H is -2"),
        (L.BatchNorm1d(4), (1, 4, 2, 2), "2-D (N, C) or 3-D"),
        (L.BatchNorm1d(4), (2, 3), "expects 4 channels"),
        (L.GroupNorm(2, 4), (1, 6, 2, 2), "expects (N, 4, ...)"),
        (L.Upsample(scale_factor=0.1), (1, 1, 4, 4), "greater than 0"),
        (L.ZeroPad2d(1), (3, 4), "4-D"),
    ],
)
def test_output_shape_errors_say_why(layer: L.Layer, shape: tuple[int, ...], text: str) -> None:
    with pytest.raises(CnncliError, match=text.replace("(", r"\(").replace(")", r"\)")):
        layer.output_shape(shape)


def test_transposed_size_error_carries_the_formula() -> None:
    with pytest.raises(ShapeError) as info:
        L.ConvTranspose2d(3, 4, 3, padding=3).output_shape((1, 3, 2, 2))
    assert (
        info.value.hint
        == "H_out = (2 − 1)·1 − 2·3 + 1·(3 − 1) + 0 + 1 = -2 (< 1: too small); W_out = (2 − 1)·1 − 2·3 + 1·(3 − 1) + 0 + 1 = -2 (< 1: too small)"
    )
