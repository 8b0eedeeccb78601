"""The zoo against PyTorch: print(model), state_dict names and shapes, and torchinfo's numbers."""

from __future__ import annotations

import pytest

from cnncli.errors import SpecError
from cnncli.nn import zoo
from cnncli.nn.summary import summarize

torch = pytest.importorskip(
    "torch", reason="the PyTorch oracle (torch==2.13.0) is installed by .ci/run"
)
torchinfo = pytest.importorskip("torchinfo", reason="torchinfo is installed by .ci/run")

from tests.nn import torch_models  # noqa: E402

#: A second input size per model. alexnet's x.view(N, 256*6*6), lenet5's Linear(400) and
#: tinyvgg's Linear(1690) fix the feature size, so theirs are the other sizes that give it.
OTHER_INPUT = {
    "alexnet": (3, 227, 227),
    "alexnet-torchvision": (3, 256, 200),
    "lenet5": (1, 31, 29),
    "lenet5-mnist": (1, 31, 29),
    "tinyvgg": (3, 67, 65),
    "vgg11": (3, 64, 64),
    "vgg16": (3, 64, 48),
    "resnet18": (3, 96, 128),
    "resnet50": (3, 96, 128),
    "squeezenet1_1": (3, 113, 97),
    "densenet121": (3, 64, 80),
    "googlenet": (3, 99, 131),
    "mobilenet_v2": (3, 97, 130),
    "unet": (1, 48, 36),
}
NAMES = list(zoo.ZOO)


@pytest.fixture(scope="module")
def torch_zoo() -> dict[str, object]:
    """The torch twins with uninitialised memory: shapes and counts need no values, and
    skipping the initialisation of 138M parameters keeps this fast."""
    models = {}
    for name in NAMES:
        with torch.device("meta"):
            model = torch_models.build(name)
        models[name] = model.to_empty(device="cpu").eval()
    return models


@pytest.mark.parametrize("name", NAMES)
def test_print_and_state_dict_equal_pytorch(name: str, torch_zoo: dict[str, object]) -> None:
    net = zoo.build(name)
    reference = torch_zoo[name]
    assert repr(net) == repr(reference)
    expected = {k: tuple(v.shape) for k, v in reference.state_dict().items()}  # type: ignore[attr-defined]
    assert list(net.expected_state().items()) == list(expected.items())
    assert net.num_params() == sum(p.numel() for p in reference.parameters())  # type: ignore[attr-defined]


def _compare_with_torchinfo(
    name: str, reference: object, chw: tuple[int, int, int], batch: int
) -> None:
    ours = summarize(zoo.build(name), chw, batch)
    assert ours.failure is None
    theirs = torchinfo.summary(reference, input_size=(batch, *chw), verbose=0, device="cpu")
    # the same tree: every module call at torchinfo's depth and with its output, in order
    rows = [r for r in ours.layers if not r.functional]
    assert [(r.depth, r.type) for r in rows] == [
        (layer.depth, layer.class_name) for layer in theirs.summary_list
    ]
    assert [list(r.output_shape or ()) for r in rows] == [
        list(layer.output_size) for layer in theirs.summary_list
    ]
    their_leaves = [layer for layer in theirs.summary_list if layer.is_leaf_layer]
    our_leaves = [r for r in ours.leaves if not r.functional]
    assert [layer.class_name for layer in their_leaves] == [r.type for r in our_leaves]
    assert [list(layer.output_size) for layer in their_leaves] == [
        list(r.output_shape or ()) for r in our_leaves
    ]
    assert [layer.num_params for layer in their_leaves] == [r.params for r in our_leaves]
    assert [layer.macs for layer in their_leaves] == [r.macs for r in our_leaves]
    assert ours.total_params == theirs.total_params
    assert ours.trainable_params == theirs.trainable_params
    assert ours.total_macs == theirs.total_mult_adds
    assert ours.total_flops == 2 * theirs.total_mult_adds


@pytest.mark.parametrize("name", NAMES)
def test_summary_equals_torchinfo_at_default_input(name: str, torch_zoo: dict[str, object]) -> None:
    _compare_with_torchinfo(name, torch_zoo[name], zoo.ZOO[name].input_shape, 1)


@pytest.mark.parametrize("name", NAMES)
def test_summary_equals_torchinfo_at_another_input_and_batch(
    name: str, torch_zoo: dict[str, object]
) -> None:
    _compare_with_torchinfo(name, torch_zoo[name], OTHER_INPUT[name], 2)


def test_alexnet_shapes_follow_the_seed() -> None:
    s = summarize(zoo.build("alexnet"), (3, 224, 224), batch=8)
    by_name = {r.name: r for r in s.layers}
    assert by_name["feature_extraction"].output_shape == (8, 256, 6, 6)
    assert by_name["view"].output_shape == (8, 256 * 6 * 6)
    assert s.output_shape == (8, 1000)
    # conv1: (224 + 2*2 - 11) // 4 + 1 = 55
    assert by_name["feature_extraction.0"].output_shape == (8, 96, (224 + 4 - 11) // 4 + 1, 55)
    assert by_name["feature_extraction.0"].formulas[0].endswith("= 55")


def test_receptive_fields_of_alexnet_follow_the_recurrence() -> None:
    s = summarize(zoo.build("alexnet"), (3, 224, 224))
    r, j = 1, 1
    for rec in s.leaves:
        if rec.type == "view":
            break
        kernel = int(rec.kernel or 1)
        stride = int(rec.stride or 1)
        r, j = r + (kernel - 1) * j, j * stride
        assert rec.receptive_field == (r, r)
        assert rec.jump == (j, j)
    assert r == 195 and j == 32  # computed by hand: 11, 19, 51, 67, 99, 131, 163, 195


def test_too_small_input_records_the_failing_layer_with_its_formula() -> None:
    s = summarize(zoo.build("lenet5"), (1, 8, 8))
    assert s.failure is not None
    assert s.failure.name == "features.3"
    assert s.failure.input_shape == (1, 6, 4, 4)
    assert "(4 + 2·0 − 1·(5 − 1) − 1) / 1" in s.failure.formulas[0]
    assert [r.name for r in s.leaves] == ["features.0", "features.1", "features.2"]


def test_view_of_the_seed_refuses_another_size() -> None:
    s = summarize(zoo.build("alexnet"), (3, 256, 256))
    assert s.failure is not None and s.failure.name == "view"
    assert "256*6*6" in s.failure.message and "256·7·7" in s.failure.message


def test_unknown_model_lists_the_names() -> None:
    with pytest.raises(SpecError) as info:
        zoo.build("alexnett")
    assert "alexnet" in str(info.value) and "resnet18" in str(info.value)
