"""Each layer object against its torch.nn twin built from the same arguments: output shape
without data, forward, backward (input and parameter gradients), print text, state_dict."""

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
    ("Conv2d", {"in_channels": 3, "out_channels": 4, "kernel_size": 3}, (2, 3, 7, 6)),
    (
        "Conv2d",
        {
            "in_channels": 4,
            "out_channels": 6,
            "kernel_size": (2, 3),
            "stride": (2, 1),
            "padding": (1, 2),
            "dilation": (1, 2),
            "groups": 2,
            "bias": False,
        },
        (2, 4, 9, 8),
    ),
    (
        "Conv2d",
        {"in_channels": 3, "out_channels": 3, "kernel_size": 4, "padding": "same", "groups": 3},
        (1, 3, 6, 5),
    ),
    (
        "Conv2d",
        {
            "in_channels": 2,
            "out_channels": 3,
            "kernel_size": 3,
            "padding": 1,
            "padding_mode": "reflect",
        },
        (2, 2, 5, 6),
    ),
    (
        "Conv2d",
        {
            "in_channels": 2,
            "out_channels": 3,
            "kernel_size": 3,
            "padding": "valid",
            "padding_mode": "circular",
        },
        (1, 2, 5, 5),
    ),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (2, 3, 8, 7)),
    ("MaxPool2d", {"kernel_size": (2, 3), "dilation": 2}, (1, 2, 9, 10)),
    (
        "AvgPool2d",
        {
            "kernel_size": 3,
            "stride": 2,
            "padding": 1,
            "count_include_pad": False,
            "ceil_mode": True,
        },
        (2, 2, 8, 7),
    ),
    ("AvgPool2d", {"kernel_size": 2, "divisor_override": 3}, (1, 2, 6, 6)),
    ("AdaptiveAvgPool2d", {"output_size": (3, 2)}, (2, 3, 7, 5)),
    ("AdaptiveAvgPool2d", {"output_size": (None, 2)}, (1, 2, 4, 5)),
    ("ReLU", {}, (2, 3, 4, 4)),
    ("LeakyReLU", {"negative_slope": 0.2}, (2, 3, 4, 4)),
    ("Sigmoid", {}, (2, 3)),
    ("Tanh", {}, (2, 3, 2, 2)),
    ("Softmax", {"dim": 1}, (3, 5)),
    ("Softmax", {"dim": -1}, (2, 3, 2, 4)),
    ("Flatten", {}, (2, 3, 4, 5)),
    ("Flatten", {"start_dim": 2, "end_dim": 3}, (2, 3, 4, 5)),
    ("Linear", {"in_features": 6, "out_features": 4}, (3, 6)),
    ("Linear", {"in_features": 5, "out_features": 2, "bias": False}, (2, 3, 5)),
    ("BatchNorm2d", {"num_features": 3}, (4, 3, 3, 2)),
    ("BatchNorm2d", {"num_features": 3, "affine": False, "momentum": None}, (4, 3, 3, 2)),
    ("BatchNorm2d", {"num_features": 2, "track_running_stats": False, "eps": 1e-3}, (3, 2, 2, 2)),
    ("BatchNorm2d", {"num_features": 2, "bias": False}, (3, 2, 2, 2)),
]


def _ids() -> list[str]:
    return [f"{t}-{i}" for i, (t, _, _) in enumerate(CASES)]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(("type_name", "kwargs", "shape"), CASES, ids=_ids())
@pytest.mark.parametrize("training", [True, False])
def test_layer_equals_torch(
    type_name: str, kwargs: dict[str, Any], shape: tuple[int, ...], training: bool
) -> None:
    torch.manual_seed(len(shape) + len(kwargs))
    reference = getattr(torch.nn, type_name)(**kwargs).double().train(training)
    if isinstance(reference, torch.nn.BatchNorm2d) and reference.running_mean is not None:
        with torch.no_grad():
            reference.running_mean.uniform_(-1, 1)
            reference.running_var.uniform_(0.5, 2)
    layer = L.LAYER_TYPES[type_name](**kwargs)
    assert repr(layer) == repr(reference)
    expected_state = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
    assert layer.expected_state() == expected_state
    layer.load_state_dict(torch_state_dict(reference), dtype=np.float64)
    layer.train(training)

    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    y = reference(x)
    assert layer.output_shape(shape) == tuple(y.shape)
    out = layer(x.detach().numpy())
    assert_close(out, y)
    grad = torch.randn_like(y)
    y.backward(grad)
    assert_close(layer.backward(grad.numpy()), x.grad)
    for key, p in reference.named_parameters():
        assert_close(layer.grads[key], p.grad)
    for key, value in reference.state_dict().items():  # running statistics updated alike
        ours = layer.state_dict()[key]
        assert (
            np.array_equal(ours, value.numpy())
            if value.dtype == torch.int64
            else np.allclose(ours, value.numpy(), rtol=1e-12, atol=1e-12)
        )


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: L.Conv2d(3, 4, 0), ParameterError),
        (lambda: L.Conv2d(3, 4, 3, groups=2), ParameterError),
        (lambda: L.Conv2d(3, 4, 3, padding=-1), ParameterError),
        (lambda: L.Conv2d(3, 4, 3, stride=2, padding="same"), ParameterError),
        (lambda: L.MaxPool2d(2, padding=2), ParameterError),
        (lambda: L.Linear(0, 3), ParameterError),
        (lambda: L.Dropout(1.5), ParameterError),
        (lambda: L.BatchNorm2d(0), ParameterError),
        (lambda: L.AdaptiveAvgPool2d((0, 2)), ParameterError),
    ],
)
def test_bad_arguments_are_parameter_errors(make: Any, expected: type[CnncliError]) -> None:
    with pytest.raises(expected):
        make()


@pytest.mark.parametrize(
    ("layer", "shape", "text"),
    [
        (L.Conv2d(3, 4, 3), (1, 1, 8, 8), "C=1"),
        (L.Conv2d(3, 4, 5), (1, 3, 4, 4), "larger than the padded input"),
        (L.Conv2d(3, 4, 3), (1, 12), "4-D"),
        (L.MaxPool2d(5), (1, 3, 4, 4), "does not fit"),
        (L.Linear(10, 2), (1, 9), "expects 10 input features"),
        (L.BatchNorm2d(4), (1, 3, 2, 2), "expects 4 channels"),
        (L.View(9216, "256*6*6"), (1, 256, 5, 5), "needs 9216"),
        (L.BasicBlock(4, 4, 1, downsample=False), (1, 8, 4, 4), "C=8"),
    ],
)
def test_output_shape_errors_say_why(layer: L.Layer, shape: tuple[int, ...], text: str) -> None:
    with pytest.raises(ShapeError, match=text.replace("(", r"\(")):
        layer.output_shape(shape)


def test_missing_parameters_are_an_error_not_a_crash() -> None:
    with pytest.raises(ParameterError, match="no values yet"):
        L.Linear(3, 2)(np.zeros((1, 3), dtype=np.float32))


def test_size_errors_carry_the_formula_with_numbers() -> None:
    with pytest.raises(ShapeError) as info:
        L.Conv2d(3, 4, 5, dilation=2).output_shape((1, 3, 8, 9))
    # (8 + 0 − 2·(5 − 1) − 1) // 1 + 1 = 0
    assert info.value.hint is not None
    assert "H_out = ⌊(8 + 2·0 − 2·(5 − 1) − 1) / 1⌋ + 1 = 0" in info.value.hint
    with pytest.raises(ShapeError) as info:
        L.AvgPool2d(3, stride=2).output_shape((1, 1, 2, 6))
    assert (
        info.value.hint is not None
        and "H_out = ⌊(2 + 2·0 − 1·(3 − 1) − 1) / 2⌋ + 1 = 0" in info.value.hint
    )
