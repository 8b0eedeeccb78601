"""A spec using every layer of issue 16: its shapes, parameters and MACs equal torchinfo's for
the same network in plain torch.nn, its state_dict loads PyTorch's, and its forward and backward
equal PyTorch's; the layers that moved out of the "not supported yet" list build."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cnncli.errors import SpecError
from cnncli.nn import spec as S  # noqa: N812
from cnncli.nn.summary import summarize
from tests.oracle import assert_close, torch_state_dict

torch = pytest.importorskip(
    "torch", reason="the PyTorch oracle (torch==2.13.0) is installed by .ci/run"
)
torchinfo = pytest.importorskip("torchinfo", reason="torchinfo is installed by .ci/run")
nn = torch.nn

SPEC = """
name = "every new layer"
input = [3, 16, 16]

[[layers]]
type = "Conv2d"
out_channels = 8
kernel_size = 3
padding = 1

[[layers]]
type = "GroupNorm"
num_groups = 2

[[layers]]
type = "SiLU"

[[layers]]
type = "ZeroPad2d"
padding = [1, 0, 1, 0]

[[layers]]
type = "MaxPool2d"
kernel_size = 2

[[layers]]
type = "Conv2d"
out_channels = 16
kernel_size = 3
padding = 1

[[layers]]
type = "BatchNorm2d"

[[layers]]
type = "ReLU6"

[[layers]]
type = "ConvTranspose2d"
out_channels = 8
kernel_size = 3
stride = 2
padding = 1
output_padding = 1

[[layers]]
type = "Hardswish"

[[layers]]
type = "Upsample"
scale_factor = 1.5
mode = "bilinear"

[[layers]]
type = "Conv2d"
out_channels = 8
kernel_size = 3
stride = 2
padding = 1

[[layers]]
type = "Hardtanh"
min_val = -2.0
max_val = 2.0

[[layers]]
type = "GELU"
approximate = "tanh"

[[layers]]
type = "ELU"
alpha = 0.5

[[layers]]
type = "Mish"

[[layers]]
type = "Hardsigmoid"

[[layers]]
type = "Identity"

[[layers]]
type = "Dropout2d"
p = 0.2

[[layers]]
type = "Upsample"
size = [5, 7]

[[layers]]
type = "AdaptiveMaxPool2d"
output_size = 2

[[layers]]
type = "Flatten"

[[layers]]
type = "Linear"
out_features = 16

[[layers]]
type = "BatchNorm1d"

[[layers]]
type = "Dropout"

[[layers]]
type = "Linear"
out_features = 10
"""


def twin() -> Any:
    """The same network in plain torch.nn."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.SiLU(), nn.ZeroPad2d((1, 0, 1, 0)),
        nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU6(),
        nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1), nn.Hardswish(),
        nn.Upsample(scale_factor=1.5, mode="bilinear"), nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.Hardtanh(-2.0, 2.0), nn.GELU(approximate="tanh"), nn.ELU(alpha=0.5), nn.Mish(),
        nn.Hardsigmoid(), nn.Identity(), nn.Dropout2d(0.2), nn.Upsample(size=(5, 7)),
        nn.AdaptiveMaxPool2d(2), nn.Flatten(), nn.Linear(32, 16), nn.BatchNorm1d(16),
        nn.Dropout(), nn.Linear(16, 10),
    )  # fmt: skip


def _spec() -> S.SpecModel:
    return S.build_spec(S.parse_spec_text(SPEC, "toml", "new.toml"), "new.toml")


@pytest.mark.parametrize(("chw", "batch"), [((3, 16, 16), 1), ((3, 20, 12), 2)])
def test_summary_equals_torchinfo(chw: tuple[int, int, int], batch: int) -> None:
    spec = _spec()
    ours = summarize(spec.model, chw, batch)
    assert ours.failure is None
    theirs = torchinfo.summary(twin(), input_size=(batch, *chw), verbose=0, device="cpu")
    their_leaves = [layer for layer in theirs.summary_list if layer.is_leaf_layer]
    our_leaves = [r for r in ours.leaves if not r.functional]
    assert [layer.class_name for layer in their_leaves] == [r.type for r in our_leaves]
    assert [list(layer.output_size) for layer in their_leaves] == [
        list(r.output_shape or ()) for r in our_leaves
    ]
    assert [layer.num_params for layer in their_leaves] == [r.params for r in our_leaves]
    assert [layer.macs for layer in their_leaves] == [r.macs for r in our_leaves]
    assert ours.total_params == theirs.total_params
    assert ours.total_macs == theirs.total_mult_adds
    assert ours.total_macs > 0


def test_print_state_dict_forward_and_backward_equal_torch() -> None:
    model = _spec().model
    torch.manual_seed(0)
    reference = twin().double()
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2)
            if isinstance(module, (nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d)):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    reference.eval()  # dropout off, running statistics
    assert repr(model).splitlines()[1:] == repr(reference).splitlines()[1:]
    model.load_state_dict(torch_state_dict(reference), dtype=np.float64)
    model.eval()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    y = reference(x)
    out = model(x.detach().numpy())
    assert_close(out, y)
    g = torch.randn_like(y)
    y.backward(g)
    assert_close(model.backward(g.numpy()), x.grad)
    grads = model.named_grads()
    for key, p in reference.named_parameters():
        assert_close(grads[key], p.grad)


@pytest.mark.parametrize(
    "layer",
    [
        {
            "type": "ConvTranspose2d",
            "out_channels": 4,
            "kernel_size": 3,
            "stride": 2,
            "output_padding": 2,
        }
    ],
)
def test_transposed_output_padding_error_names_the_layer(layer: dict[str, Any]) -> None:
    with pytest.raises(SpecError) as info:
        S.build_spec({"input": [3, 8, 8], "layers": [layer]}, "t.json")
    assert str(info.value) == (
        "t.json: layers[0] (ConvTranspose2d): ConvTranspose2d output_padding 2 along H must be "
        "smaller than either the stride 2 or the dilation 1, as in PyTorch"
    )


def test_no_layer_of_issue_16_is_listed_as_unsupported() -> None:
    from cnncli.nn.spec_schema import SCHEMA, TORCH_UNSUPPORTED

    new = {"ConvTranspose2d", "Upsample", "ReLU6", "Hardtanh", "SiLU", "GELU", "Hardswish",
           "Hardsigmoid", "ELU", "Mish", "Identity", "Dropout2d", "AdaptiveMaxPool2d",
           "GroupNorm", "BatchNorm1d", "ZeroPad2d"}  # fmt: skip
    assert new <= set(SCHEMA)
    assert not new & TORCH_UNSUPPORTED


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            {"type": "Upsample", "scale_factor": [2, 0]},
            "key 'scale_factor' must be positive, got 0",
        ),
        (
            {"type": "Upsample", "mode": "bicubic", "size": 3},
            "key 'mode' must be one of nearest, bilinear",
        ),
        (
            {"type": "ZeroPad2d", "padding": [1, 2]},
            "key 'padding' must be an integer or [left, right, top, bottom]",
        ),
        (
            {"type": "GroupNorm", "num_groups": 3},
            "GroupNorm num_channels (8) must be divisible by num_groups (3)",
        ),
        ({"type": "GELU", "approximate": "erf"}, "key 'approximate' must be one of none, tanh"),
        (
            {"type": "AdaptiveMaxPool2d", "output_size": 2, "return_indices": True},
            "key 'return_indices' true is not supported",
        ),
        ({"type": "ConvTranspose2d", "out_channels": 4}, "key 'kernel_size' is required"),
    ],
)
def test_spec_errors_of_the_new_layers(layer: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as info:
        S.build_spec({"input": [8, 8, 8], "layers": [layer]}, "t.json")
    assert message in str(info.value)
