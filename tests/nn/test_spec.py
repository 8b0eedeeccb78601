"""Architecture specs: the samples, inference, and every kind of error naming index, type and key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncli.errors import CnncliError, InputFileError, SpecError
from cnncli.nn import spec as S  # noqa: N812
from cnncli.nn import zoo
from cnncli.nn.summary import summarize

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def build(layers: list[dict[str, Any]], input: list[int] | None = None) -> S.SpecModel:
    data: dict[str, Any] = {"layers": layers}
    if input is not None:
        data["input"] = input
    return S.build_spec(data, "t.json")


def error_of(layers: Any, input: list[int] | None = [3, 8, 8], **top: Any) -> str:  # noqa: B006
    data: dict[str, Any] = {"layers": layers, **top}
    if input is not None:
        data["input"] = input
    with pytest.raises(SpecError) as info:
        S.build_spec(data, "t.json")
    return str(info.value)


def test_tinyvgg_sample_equals_the_zoo_model() -> None:
    spec = S.load_spec(SAMPLES / "tinyvgg.toml")
    assert spec.input_shape == (3, 64, 64)
    ours = summarize(spec.model, (3, 64, 64))
    theirs = summarize(zoo.build("tinyvgg"), (3, 64, 64))
    assert ours.total_params == theirs.total_params == 19920
    assert ours.total_macs == theirs.total_macs
    assert [r.output_shape for r in ours.leaves] == [r.output_shape for r in theirs.leaves]


def test_resnet_mini_sample_builds_with_residual_blocks() -> None:
    spec = S.load_spec(SAMPLES / "resnet_mini.toml")
    s = summarize(spec.model, spec.input_shape or (3, 32, 32))
    assert s.failure is None and s.output_shape == (1, 10)
    keys = spec.model.expected_state()
    assert keys["block2.downsample.0.weight"] == (32, 16, 1, 1)
    assert keys["block3.main.0.weight"] == (64, 32, 3, 3)
    assert keys["block3.shortcut.0.weight"] == (64, 32, 1, 1)
    assert keys["fc.weight"] == (10, 64)


def test_json_and_toml_give_the_same_network(tmp_path: Path) -> None:
    layers = [
        {"type": "Conv2d", "out_channels": 4, "kernel_size": [3, 5], "padding": "same"},
        {"type": "BatchNorm2d"},
        {"type": "LeakyReLU", "negative_slope": 0.2},
        {"type": "AvgPool2d", "kernel_size": 2, "ceil_mode": True},
        {"type": "Flatten", "name": "flat"},
        {"type": "Dropout", "p": 0.25},
        {"type": "Linear", "out_features": 3},
        {"type": "Softmax", "dim": 1},
    ]
    (tmp_path / "a.json").write_text(json.dumps({"input": [2, 7, 9], "layers": layers}))
    toml = "input = [2, 7, 9]\n" + "".join(
        "[[layers]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in layer.items())
        for layer in layers
    )
    (tmp_path / "a.toml").write_text(toml)
    a = S.load_spec(tmp_path / "a.json").model
    b = S.load_spec(tmp_path / "a.toml").model
    assert repr(a) == repr(b)
    assert a.expected_state() == b.expected_state()
    # in_channels, num_features and in_features were inferred: 2, 4, 4*4*5
    assert a.expected_state()["0.weight"] == (4, 2, 3, 5)
    assert a.expected_state()["1.weight"] == (4,)
    assert a.expected_state()["6.weight"] == (3, 4 * 4 * 5)


def test_input_option_overrides_the_spec_input() -> None:
    data = {"input": [1, 8, 8], "layers": [{"type": "Conv2d", "out_channels": 2, "kernel_size": 3}]}
    net = S.build_spec(data, "t", (3, 8, 8)).model
    assert net.expected_state()["0.weight"] == (2, 3, 3, 3)


def test_explicit_matching_sizes_need_no_input() -> None:
    net = build(
        [
            {"type": "Conv2d", "in_channels": 3, "out_channels": 2, "kernel_size": 3},
            {"type": "Flatten"},
            {"type": "Linear", "in_features": 2 * 6 * 6, "out_features": 4},
        ]
    ).model
    assert summarize(net, (3, 8, 8)).output_shape == (1, 4)


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        (
            [{"type": "Conv2D", "out_channels": 2, "kernel_size": 3}],
            ["layers[0] (Conv2D)", "unknown layer type", "Conv2d"],
        ),
        (
            [
                {"type": "ReLU"},
                {"type": "Conv2d", "out_channels": 2, "kernel_size": 3, "stride_": 1},
            ],
            ["layers[1] (Conv2d)", "'stride_'"],
        ),
        (
            [{"type": "Conv2d", "out_channels": "8", "kernel_size": 3}],
            ["layers[0] (Conv2d)", "'out_channels'", "positive integer"],
        ),
        (
            [{"type": "Conv2d", "out_channels": 0, "kernel_size": 3}],
            ["layers[0] (Conv2d)", "'out_channels'", "at least 1"],
        ),
        (
            [{"type": "Conv2d", "out_channels": 2, "kernel_size": -3}],
            ["'kernel_size'", "at least 1"],
        ),
        (
            [{"type": "Conv2d", "out_channels": 2, "kernel_size": [3, 3, 3]}],
            ["'kernel_size'", "2 integers"],
        ),
        (
            [{"type": "Conv2d", "out_channels": 2, "kernel_size": 3, "padding": -1}],
            ["'padding'", "negative"],
        ),
        (
            [{"type": "Conv2d", "out_channels": 2, "kernel_size": 3, "bias": 1}],
            ["'bias'", "true or false"],
        ),
        (
            [{"type": "Conv2d", "out_channels": 2}],
            ["layers[0] (Conv2d)", "'kernel_size' is required"],
        ),
        (
            [{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 3}],
            ["layers[0] (Conv2d)", "'in_channels'", "channel mismatch"],
        ),
        (
            [{"type": "Flatten"}, {"type": "Linear", "in_features": 5, "out_features": 2}],
            ["layers[1] (Linear)", "'in_features'", "192"],
        ),
        ([{"type": "Dropout", "p": 1.5}], ["layers[0] (Dropout)", "'p'", "between 0 and 1"]),
        ([{"type": "Linear", "out_features": 1e999}], ["'out_features'"]),
        (
            [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "groups": 3}],
            ["layers[0] (Conv2d)", "groups"],
        ),
        ([{"out_channels": 2}], ["layers[0]", "'type'"]),
        (["Conv2d"], ["layers[0]", "must be a table"]),
        ([{"type": "ReLU", "name": "../x"}], ["layers[0] (ReLU)", "'name'"]),
        (
            [{"type": "ReLU", "name": "a"}, {"type": "ReLU", "name": "a"}],
            ["layers[1] (ReLU)", "used twice"],
        ),
        (
            [
                {
                    "type": "Residual",
                    "layers": [
                        {"type": "Conv2d", "out_channels": 2, "kernel_size": 1, "bias": "no"}
                    ],
                }
            ],
            ["layers[0].layers[0] (Conv2d)", "'bias'"],
        ),
        ([{"type": "MaxPool2d", "kernel_size": 2, "return_indices": True}], ["'return_indices'"]),
    ],
)
def test_spec_errors_name_index_type_and_key(layers: list[Any], expected: list[str]) -> None:
    message = error_of(layers)
    for part in expected:
        assert part in message


def test_inference_without_input_is_an_error_naming_the_key() -> None:
    message = error_of([{"type": "Conv2d", "out_channels": 2, "kernel_size": 3}], input=None)
    assert "layers[0] (Conv2d)" in message and "'in_channels'" in message and "input" in message


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ({"input": [3, 0, 8]}, "'input'"),
        ({"input": [3, 8]}, "[C, H, W]"),
        ({"inputs": [3, 8, 8]}, "unknown top-level key 'inputs'"),
    ],
)
def test_top_level_errors(top: dict[str, Any], expected: str) -> None:
    data = {"layers": [{"type": "ReLU"}], **top}
    with pytest.raises(SpecError) as info:
        S.build_spec(data, "t.json")
    assert expected in str(info.value)


def test_missing_and_empty_layers() -> None:
    with pytest.raises(SpecError, match="'layers' is missing"):
        S.build_spec({"input": [1, 2, 2]}, "t")
    with pytest.raises(SpecError, match="empty"):
        S.build_spec({"layers": []}, "t")


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    inner: dict[str, Any] = {"type": "ReLU"}
    for _ in range(S.MAX_DEPTH + 1):
        inner = {"type": "Sequential", "layers": [inner]}
    message = error_of([inner])
    assert f"more than {S.MAX_DEPTH} deep" in message


def test_too_many_layers_is_refused() -> None:
    with pytest.raises(SpecError, match="more than 10,000 layers"):
        S.build_spec({"input": [1, 2, 2], "layers": [{"type": "ReLU"}] * (S.MAX_LAYERS + 1)}, "t")


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b" " * (S.MAX_BYTES + 1))
    with pytest.raises(SpecError, match="limited to"):
        S.load_spec(path)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.toml", "layers = [", "invalid TOML"),
        ("bad.json", '{"layers": [}', "invalid JSON"),
        ("deep.json", "[" * 100_000 + "]" * 100_000, "nested too deeply|top level"),
        ("list.json", "[1, 2]", "top level"),
        ("bin.toml", b"\xff\xfe\x00", "not UTF-8"),
        ("spec.yaml", "layers: []", "must end in .toml or .json"),
    ],
)
def test_unreadable_specs(tmp_path: Path, name: str, content: str | bytes, expected: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(SpecError, match=expected):
        S.load_spec(path)


def test_missing_spec_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError):
        S.load_spec(tmp_path / "nope.toml")


def test_too_small_input_keeps_the_layers_before_the_failure() -> None:
    spec = build(
        [
            {"type": "Conv2d", "out_channels": 2, "kernel_size": 3},
            {"type": "MaxPool2d", "kernel_size": 4},
            {"type": "Flatten"},
            {"type": "Linear", "out_features": 2},
        ],
        input=[1, 5, 5],
    )
    s = summarize(spec.model, (1, 5, 5))
    assert s.failure is not None and s.failure.name == "1" and s.failure.type == "MaxPool2d"
    assert [r.name for r in s.leaves] == ["0"]


def test_residual_shape_mismatch_is_reported_on_the_block() -> None:
    spec = build(
        [
            {
                "type": "Residual",
                "layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}],
            }
        ],
        input=[2, 6, 6],
    )
    s = summarize(spec.model, (2, 6, 6))
    assert s.failure is not None and s.failure.name == "0" and "residual add" in s.failure.message


def test_huge_channel_counts_build_without_allocating() -> None:
    spec = build([{"type": "Conv2d", "out_channels": 10**9, "kernel_size": 3}], input=[3, 8, 8])
    s = summarize(spec.model, (3, 8, 8))
    assert s.total_params == 10**9 * 27 + 10**9


def test_every_spec_error_is_a_cnncli_error() -> None:
    assert issubclass(SpecError, CnncliError)


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-2, 9), max_size=5),
)
_keys = st.sampled_from(
    ["out_channels", "in_channels", "kernel_size", "stride", "padding", "dilation", "groups", "bias",
     "output_size", "out_features", "in_features", "p", "dim", "start_dim", "end_dim", "planes",
     "num_features", "eps", "momentum", "ceil_mode", "layers", "shortcut", "name", "bogus"]
)  # fmt: skip
_layer = st.fixed_dictionaries(
    {"type": st.sampled_from([*S.SCHEMA, "Nope", 3])}, optional={}
).flatmap(lambda base: st.dictionaries(_keys, _values, max_size=4).map(lambda d: {**d, **base}))


@settings(max_examples=150, deadline=None)
@given(
    layers=st.lists(_layer, min_size=1, max_size=6),
    chw=st.tuples(st.integers(1, 4), st.integers(1, 12), st.integers(1, 12)),
)
def test_random_specs_give_a_network_or_a_cnncli_error(
    layers: list[dict[str, Any]], chw: tuple[int, int, int]
) -> None:
    try:
        spec = S.build_spec({"input": list(chw), "layers": layers}, "fuzz.json")
        summarize(spec.model, chw, 2)
    except CnncliError:
        pass


# ---- issue 15 item 14: every problem of a spec at once; PyTorch layers cnncli lacks ------------


def test_a_spec_reports_every_problem_in_one_error() -> None:
    message = error_of(
        [
            {"type": "Conv2d", "out_channels": 8, "kernel_size": 3, "stride": 0, "bias": "no"},
            {"type": "ReLU", "inplace": 1},
            {"type": "Dropout", "p": 2},
            {"type": "Linaer", "out_features": 2},
        ]
    )
    assert message == (
        "t.json: 5 problems: layers[0] (Conv2d): key 'stride' must be at least 1, got 0; "
        "layers[0] (Conv2d): key 'bias' must be true or false, got \"no\"; "
        "layers[1] (ReLU): key 'inplace' must be true or false, got 1; "
        "layers[2] (Dropout): key 'p' must be between 0 and 1, got 2; "
        "layers[3] (Linaer): unknown layer type (did you mean Linear?)"
    )


def test_several_problems_hint_at_the_known_types_only_for_an_unknown_type() -> None:
    with pytest.raises(SpecError) as info:
        S.build_spec({"layers": [{"type": "Relu"}, {"type": "Tanh", "x": 1}]}, "t.json")
    assert info.value.hint is not None and info.value.hint.startswith("known layer types: Conv2d")
    with pytest.raises(SpecError) as info:
        S.build_spec({"layers": [{"type": "ReLU", "y": 1}, {"type": "Tanh", "x": 1}]}, "t.json")
    assert info.value.hint is None and "2 problems" in str(info.value)


def test_one_problem_keeps_its_own_wording_and_hint() -> None:
    with pytest.raises(SpecError) as info:
        S.build_spec({"layers": [{"type": "Conv2D", "out_channels": 2, "kernel_size": 3}]}, "t")
    assert str(info.value).startswith("t: layers[0] (Conv2D): unknown layer type; known types: ")
    assert info.value.hint == "did you mean Conv2d?"


def test_a_misspelt_required_key_is_not_also_reported_missing() -> None:
    message = error_of([{"type": "Conv2d", "out_channels": 2, "kernal_size": 3}])
    assert "'kernal_size'" in message and "is required" not in message
    message = error_of([{"type": "Conv2d", "out_channels": 2}])
    assert "'kernel_size' is required" in message


def test_top_level_and_layer_problems_are_reported_together() -> None:
    message = error_of([{"type": "ReLU", "x": 1}], inputs=[3, 8, 8])
    assert message.startswith("t.json: 2 problems: unknown top-level key 'inputs'; ")
    assert message.endswith("layers[0] (ReLU): unknown key 'x'")


def test_a_bad_input_does_not_set_off_inference_errors() -> None:
    message = error_of(
        [{"type": "Conv2d", "out_channels": 2, "kernel_size": 3}, {"type": "Lstm"}], input=[3, 0, 8]
    )
    assert message.startswith("t.json: 2 problems: key 'input' must be at least 1, got 0; ")
    assert "inferred" not in message and "layers[1] (Lstm)" in message


def test_problems_in_nested_layers_are_collected_too() -> None:
    message = error_of(
        [
            {"type": "Sequential", "layers": [{"type": "ReLU", "a": 1}, {"type": "Tanh", "b": 2}]},
            {"type": "Sigmoid", "c": 3},
        ]
    )
    assert "3 problems" in message
    for part in ("layers[0].layers[0] (ReLU)", "layers[0].layers[1] (Tanh)", "layers[1] (Sigmoid)"):
        assert part in message


def test_many_problems_are_cut_after_the_limit() -> None:
    message = error_of([{"type": "ReLU", "x": 1}] * (S.MAX_PROBLEMS + 5))
    assert message.startswith(f"t.json: {S.MAX_PROBLEMS + 5} problems: ")
    assert message.count("unknown key 'x'") == S.MAX_PROBLEMS
    assert message.endswith("; and 5 more")


@pytest.mark.parametrize(
    "torch_type",
    ["ConvTranspose3d", "LSTM", "GRU", "Embedding", "MultiheadAttention", "PixelShuffle", "Conv1d"],
)
def test_an_unsupported_pytorch_layer_is_named_not_corrected(torch_type: str) -> None:
    with pytest.raises(SpecError) as info:
        S.build_spec({"input": [3, 8, 8], "layers": [{"type": torch_type}]}, "t.json")
    message = str(info.value)
    assert message.startswith(
        f"t.json: layers[0] ({torch_type}): {torch_type} is a PyTorch layer that cnncli does "
        "not support yet; cnncli's layer types: Conv2d, "
    )
    assert info.value.hint is None and "did you mean" not in message


def test_no_supported_type_is_listed_as_unsupported() -> None:
    assert not S.TORCH_UNSUPPORTED & set(S.SCHEMA)
