"""Mistakes in a spec's branches, gates and bottlenecks: each named by its place (the path
of the branch, the layer's type, the key), and shapes that cannot be joined named with
every branch's shape; at the command line one ``error:`` line and exit status 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cnncli.cli.main import main
from cnncli.errors import SpecError
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn import spec as S  # noqa: N812
from cnncli.nn.summary import summarize


def error_of(layers: Any, input: list[int] | None = [3, 8, 8]) -> str:  # noqa: B006
    data: dict[str, Any] = {"layers": layers}
    if input is not None:
        data["input"] = input
    with pytest.raises(SpecError) as info:
        S.build_spec(data, "t.json")
    return str(info.value)


CONV = {"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}


def test_a_concat_of_named_branches_with_an_identity_and_a_layer_branch() -> None:
    spec = S.build_spec(
        {
            "input": [3, 8, 8],
            "layers": [
                {
                    "type": "Concat",
                    "name": "mix",
                    "branches": [{"name": "skip"}, {"layers": [CONV, {"type": "ReLU"}]}, CONV],
                }
            ],
        }
    )
    mix = spec.model["mix"]
    assert isinstance(mix, L.Concat)
    assert [name for name, _ in mix.children()] == ["skip", "1", "2"]
    assert mix.output_shape((2, 3, 8, 8)) == (2, 3 + 4 + 4, 8, 8)
    assert list(spec.model.expected_state()) == [
        "mix.1.0.weight",
        "mix.1.0.bias",
        "mix.2.weight",
        "mix.2.bias",
    ]


def test_channels_are_inferred_inside_branches_and_after_the_join() -> None:
    spec = S.build_spec(
        {
            "input": [3, 8, 8],
            "layers": [
                {"type": "Concat", "branches": [{}, {"layers": [CONV]}]},
                {"type": "SqueezeExcitation", "squeeze_channels": 2},
                {"type": "Bottleneck", "planes": 2, "stride": 2},
                {"type": "Fire", "squeeze_planes": 2, "expand1x1_planes": 3, "expand3x3_planes": 5},
                {
                    "type": "Inception",
                    "ch1x1": 1,
                    "ch3x3red": 2,
                    "ch3x3": 3,
                    "ch5x5red": 1,
                    "ch5x5": 2,
                    "pool_proj": 4,
                },
                {"type": "BasicConv2d", "out_channels": 6, "kernel_size": 1},
            ],
        }
    )
    shapes = [r.output_shape for r in summarize(spec.model, (3, 8, 8)).layers if r.depth == 1]
    assert shapes == [
        (1, 7, 8, 8),
        (1, 7, 8, 8),
        (1, 8, 4, 4),
        (1, 8, 4, 4),
        (1, 10, 4, 4),
        (1, 6, 4, 4),
    ]
    keys = spec.model.expected_state()
    assert keys["1.fc1.weight"] == (2, 7, 1, 1) and keys["1.fc2.weight"] == (7, 2, 1, 1)
    assert keys["2.conv3.weight"] == (8, 2, 1, 1) and keys["2.downsample.0.weight"] == (8, 7, 1, 1)
    assert keys["3.squeeze.weight"] == (2, 8, 1, 1)
    assert keys["4.branch4.1.conv.weight"] == (4, 8, 1, 1)
    assert keys["5.bn.running_mean"] == (6,)


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ([{"type": "Concat"}], "layers[0] (Concat): key 'branches' must be a non-empty array"),
        ([{"type": "Concat", "branches": []}], "layers[0] (Concat): key 'branches' must be"),
        ([{"type": "Multiply", "branches": [3]}], "layers[0].branches[0]: must be a table"),
        (
            [{"type": "Concat", "branches": [{"layer": []}]}],
            "layers[0].branches[0]: unknown key 'layer'",
        ),
        (
            [{"type": "Concat", "branches": [{}, {"layers": [{"type": "Conv2d", "kernel_size": 0,
              "out_channels": 1}]}]}],
            "layers[0].branches[1].layers[0] (Conv2d): key 'kernel_size' must be at least 1",
        ),
        (
            [{"type": "Concat", "branches": [{"name": "a"}, {"name": "a"}]}],
            "layers[0].branches[1]: key 'name': 'a' is used twice",
        ),
        (
            [{"type": "Concat", "branches": [{"name": "1a"}]}],
            "layers[0].branches[0]: key 'name' must be letters",
        ),
        (
            [{"type": "SqueezeExcitation", "squeeze_channels": 2, "activation": "Relu"}],
            "layers[0] (SqueezeExcitation): key 'activation' must be one of ReLU",
        ),
        ([{"type": "SqueezeExcitation"}], "key 'squeeze_channels' is required"),
        ([{"type": "Bottleneck", "planes": 0}], "layers[0] (Bottleneck): key 'planes' must be at least 1"),
        (
            [{"type": "Bottleneck", "planes": 2, "inplanes": 4}],
            "key 'inplanes' is 4 but the input (1, 3, 8, 8) has 3 channels",
        ),
    ],
)  # fmt: skip
def test_each_mistake_names_its_place(layers: Any, expected: str) -> None:
    assert expected in error_of(layers)


def test_a_concat_of_different_sizes_names_the_block_and_every_branch() -> None:
    spec = S.build_spec(
        {
            "input": [3, 8, 8],
            "layers": [
                {
                    "type": "Concat",
                    "name": "mix",
                    "branches": [
                        {"name": "skip"},
                        {"name": "down", "layers": [{"type": "MaxPool2d", "kernel_size": 2}]},
                    ],
                },
            ],
        }
    )
    s = summarize(spec.model, (3, 8, 8))
    assert s.failure is not None and (s.failure.name, s.failure.type) == ("mix", "Concat")
    assert "branch skip gives (1, 3, 8, 8), branch down gives (1, 3, 4, 4)" in s.failure.message


def _spec_file(tmp_path: Path, layers: list[dict[str, Any]]) -> str:
    path = tmp_path / "net.json"
    path.write_text(json.dumps({"input": [3, 8, 8], "layers": layers}))
    return str(path)


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        (
            [{"type": "Concat", "name": "mix", "branches": [
                {"name": "skip"}, {"name": "down", "layers": [{"type": "AvgPool2d", "kernel_size": 2}]}]}],
            "error: layer mix (Concat) does not fit its input (1, 3, 8, 8): torch.cat(dim=1) needs "
            "the same batch, height and width on every path; branch skip gives (1, 3, 8, 8), "
            "branch down gives (1, 3, 4, 4)",
        ),
        (
            [{"type": "Multiply", "name": "gate", "branches": [
                {"name": "scale", "layers": [{"type": "AdaptiveAvgPool2d", "output_size": 1},
                                              {"type": "Conv2d", "out_channels": 2, "kernel_size": 1}]},
                {"name": "input"}]}],
            "error: layer gate (Multiply) does not fit its input (1, 3, 8, 8): the product needs "
            "shapes that broadcast (each size equal or 1); branch scale gives (1, 2, 1, 1), "
            "branch input gives (1, 3, 8, 8)",
        ),
    ],
)  # fmt: skip
@pytest.mark.parametrize("command", ["forward", "shapes"])
def test_the_command_line_names_the_layer_and_the_shapes(
    layers: list[dict[str, Any]],
    expected: str,
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["forward", "-m"] if command == "forward" else ["shapes"]
    assert main([*args, _spec_file(tmp_path, layers)]) == 2
    out, err = capsys.readouterr()
    if command == "forward":  # one error line (and its hint), nothing on stdout
        assert out == ""
        assert err.splitlines()[0] == expected
        assert len(err.splitlines()) <= 2
    else:  # the table up to the block, then why it does not fit
        name = expected.split("layer ")[1].split(" (")[0]
        assert f"✗ {name} (" in out
        assert expected.split(": ", 2)[2].split(";")[0] in " ".join(out.split())


UNET_LEVEL = {
    "type": "Concat",
    "name": "level1",
    "branches": [
        {"name": "skip"},
        {
            "name": "inner",
            "layers": [
                {"type": "MaxPool2d", "kernel_size": 2},
                {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
                {"type": "ReLU"},
                {"type": "ConvTranspose2d", "out_channels": 4, "kernel_size": 2, "stride": 2},
            ],
        },
    ],
}


def test_a_unet_level_as_the_docs_write_it() -> None:
    spec = S.build_spec({"input": [4, 16, 16], "layers": [UNET_LEVEL]})
    s = summarize(spec.model, (4, 16, 16))
    assert s.failure is None and s.output_shape == (1, 4 + 4, 16, 16)
    odd = summarize(spec.model, (4, 15, 15))  # 15 → 7 → 14: the skip and the path disagree
    assert odd.failure is not None and "branch skip gives (1, 4, 15, 15)" in odd.failure.message


def _level(n: int) -> dict[str, Any]:
    inner: list[dict[str, Any]] = [{"type": "Conv2d", "out_channels": 2, "kernel_size": 1}]
    if n > 1:
        inner.append(_level(n - 1))
    return {"type": "Concat", "branches": [{}, {"layers": inner}]}


def test_seven_nested_levels_build_and_an_eighth_is_refused() -> None:
    spec = S.build_spec({"input": [2, 4, 4], "layers": [_level(7)]})
    assert spec.model.output_shape((1, 2, 4, 4)) == (1, 2 + 2 * 7, 4, 4)  # each level adds 2
    assert "nested more than 8 deep" in error_of([_level(8)], [2, 4, 4])
