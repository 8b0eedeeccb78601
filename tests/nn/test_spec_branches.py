"""The spec format's branches against PyTorch: every sample with branches (Concat,
identity branches, nested levels, Multiply, SqueezeExcitation, Bottleneck, Fire) equals a
plain torch.nn twin in print(model), state_dict names, forward, backward and torchinfo's
rows; and every mistake in a branch is named by its place."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

from cnncli.nn import spec as S  # noqa: N812
from cnncli.nn.summary import summarize

torch = pytest.importorskip(
    "torch", reason="the PyTorch oracle (torch==2.13.0) is installed by .ci/run"
)
torchinfo = pytest.importorskip("torchinfo", reason="torchinfo is installed by .ci/run")
nn = torch.nn

from tests.nn import torch_models  # noqa: E402
from tests.nn.test_blocks import _SE, _Cat, _check, _Mul  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _seq(**children: Any) -> Any:
    return nn.Sequential(OrderedDict(children))


def _squeezenet_mini() -> Any:
    expand = _Cat(
        expand1x1=nn.Sequential(nn.Conv2d(8, 32, 1), nn.ReLU()),
        expand3x3=nn.Sequential(nn.Conv2d(8, 32, 3, padding=1), nn.ReLU()),
    )
    fire2 = _seq(squeeze=nn.Conv2d(32, 8, 1), squeeze_activation=nn.ReLU(), expand=expand)
    return nn.Sequential(
        OrderedDict(
            [
                ("0", nn.Conv2d(3, 32, 3, stride=2)),
                ("1", nn.ReLU()),
                ("2", nn.MaxPool2d(3, stride=2, ceil_mode=True)),
                ("fire2", fire2),
                ("fire3", torch_models.Fire(64, 8, 32, 32)),
                ("classifier", nn.Conv2d(64, 10, 1)),
                ("6", nn.ReLU()),
                ("7", nn.AdaptiveAvgPool2d(1)),
                ("8", nn.Flatten()),
            ]
        )
    )


def _densenet_mini() -> Any:
    def dense(c: int) -> Any:
        new = nn.Sequential(
            nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, 12, 3, padding=1, bias=False)
        )
        return _Cat(input=nn.Sequential(), new=new)

    transition = nn.Sequential(
        nn.BatchNorm2d(52), nn.ReLU(), nn.Conv2d(52, 26, 1, bias=False), nn.AvgPool2d(2)
    )
    return nn.Sequential(
        OrderedDict(
            [
                ("conv0", nn.Conv2d(3, 16, 3, padding=1, bias=False)),
                ("dense1", dense(16)),
                ("dense2", dense(28)),
                ("dense3", dense(40)),
                ("transition", transition),
                ("5", nn.AdaptiveAvgPool2d(1)),
                ("6", nn.Flatten()),
                ("7", nn.Linear(26, 10)),
            ]
        )
    )


def _se_bottleneck() -> Any:
    scale = nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Conv2d(32, 8, 1), nn.ReLU(), nn.Conv2d(8, 32, 1), nn.Sigmoid()
    )
    return nn.Sequential(
        OrderedDict(
            [
                ("stem", nn.Conv2d(3, 16, 3, padding=1, bias=False)),
                ("layer1", torch_models.make_bottleneck(16, 8, 2)),
                ("se1", _SE(32, 8)),
                ("layer2", torch_models.make_bottleneck(32, 8, 1)),
                ("se2", _Mul(scale=scale, input=nn.Sequential())),
                ("5", nn.AdaptiveAvgPool2d(1)),
                ("6", nn.Flatten()),
                ("7", nn.Linear(32, 10)),
            ]
        )
    )


def _unet_skip() -> Any:
    inner2 = _seq(bottom=nn.Conv2d(16, 16, 3, padding=4, dilation=4), **{"1": nn.ReLU()})
    inner1 = nn.Sequential(
        OrderedDict(
            [
                ("enc2", nn.Conv2d(8, 16, 3, padding=2, dilation=2)),
                ("1", nn.ReLU()),
                ("level2", _Cat(skip=nn.Sequential(), inner=inner2)),
                ("dec2", nn.Conv2d(32, 8, 3, padding=1)),
                ("4", nn.ReLU()),
            ]
        )
    )
    return nn.Sequential(
        OrderedDict(
            [
                ("enc1", nn.Conv2d(1, 8, 3, padding=1)),
                ("1", nn.ReLU()),
                ("level1", _Cat(skip=nn.Sequential(), inner=inner1)),
                ("dec1", nn.Conv2d(16, 8, 3, padding=1)),
                ("4", nn.ReLU()),
                ("head", nn.Conv2d(8, 2, 1)),
            ]
        )
    )


#: sample -> (its torch twin, another input (C, H, W) for torchinfo at batch 2)
TWINS = {
    "squeezenet_mini": (_squeezenet_mini, (3, 45, 51)),
    "densenet_mini": (_densenet_mini, (3, 20, 26)),
    "se_bottleneck": (_se_bottleneck, (3, 17, 24)),
    "unet_skip": (_unet_skip, (1, 13, 9)),
}


@pytest.mark.parametrize("sample", list(TWINS))
def test_sample_equals_its_torch_twin_forward_and_backward(sample: str) -> None:
    spec = S.load_spec(SAMPLES / f"{sample}.toml")
    assert spec.input_shape is not None
    torch.manual_seed(0)
    _check(spec.model, TWINS[sample][0](), (2, *spec.input_shape), training=True)


@pytest.mark.parametrize("sample", list(TWINS))
def test_sample_summary_equals_torchinfo_row_by_row(sample: str) -> None:
    spec = S.load_spec(SAMPLES / f"{sample}.toml")
    assert spec.input_shape is not None
    twin = TWINS[sample][0]().eval()
    for chw, batch in ((spec.input_shape, 1), (TWINS[sample][1], 2)):
        ours = summarize(spec.model, chw, batch)
        assert ours.failure is None
        theirs = torchinfo.summary(twin, input_size=(batch, *chw), verbose=0, device="cpu")
        rows = [r for r in ours.layers if not r.functional]
        # the same tree: every module call at torchinfo's depth, in the same order
        assert [(r.depth, r.type) for r in rows] == [
            (layer.depth, layer.class_name) for layer in theirs.summary_list
        ]
        assert [list(r.output_shape or ()) for r in rows] == [
            list(layer.output_size) for layer in theirs.summary_list
        ]
        leaves = [layer for layer in theirs.summary_list if layer.is_leaf_layer]
        assert [r.params for r in ours.leaves] == [layer.num_params for layer in leaves]
        assert [r.macs for r in ours.leaves] == [layer.macs for layer in leaves]
        assert ours.total_params == theirs.total_params
        assert ours.total_macs == theirs.total_mult_adds
