"""``cnncli forward --show-layer NAME``: a layer's output drawn as ``conv`` draws its maps;
and ``--input FILE`` pointed at the positional argument (issue 15, items 20 and 13)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn import zoo

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
DIGIT = SAMPLES / "digit8.png"  # a 28x28 grayscale handwritten digit, in the repository


def lenet(cli: Callable[..., Any], *args: str) -> Any:
    """``cnncli forward DIGIT -m lenet5 ARGS`` (random weights, seed 0)."""
    return cli("forward", str(DIGIT), "-m", "lenet5", *args)


def shown(run: Any) -> dict[str, np.ndarray]:
    """The ``shown_layers`` of a ``--json`` run, by name."""
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    return {d["name"]: np.asarray(d["values"], dtype=np.float64) for d in data["shown_layers"]}


def table_values(text: str, title: str) -> np.ndarray:
    """The numbers of the map table titled ``title`` (``features.5[0, 3]  5×5``) in ``text``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title + "  "))
    rows = []
    for line in lines[start + 3 :]:  # title, column indices, rule
        if not line.strip() or not line.split()[0].isdigit():
            break
        rows.append([float(v) for v in line.split()[1:]])
    return np.asarray(rows)


def test_shown_values_are_the_layers_output_computed_apart(cli: Callable[..., Any]) -> None:
    # features.0 of lenet5 is Conv2d(1, 6, 5, padding=2) on the digit / 255: recompute it here
    # from the same seed-0 weights, without cnncli's engine.
    values = shown(lenet(cli, "--show-layer", "features.0", "--json"))["features.0"]
    state = L.initialize(zoo.build("lenet5"), seed=0).state_dict()
    w, b = state["features.0.weight"].astype(np.float64), state["features.0.bias"]
    x = np.asarray(Image.open(DIGIT).convert("L"), dtype=np.float64) / 255
    windows = sliding_window_view(np.pad(x, 2), (5, 5))  # (28, 28, 5, 5)
    expected = np.einsum("ijkl,fkl->fij", windows, w[:, 0]) + b[:, None, None]
    assert values.shape == (1, 6, 28, 28)
    np.testing.assert_allclose(values[0], expected, rtol=1e-4, atol=1e-5)


def test_table_shows_the_recorded_values(cli: Callable[..., Any], tmp_path: Path) -> None:
    layers = tmp_path / "layers.npz"
    run = lenet(cli, "--show-layer", "features.5", "--show", "table", "-o", str(layers))
    assert run.code == 0, run.stderr
    recorded = np.load(layers)["features.5"]
    assert "features.5 (1, 16, 5, 5)" in run.stdout
    for c in (0, 3):
        table = table_values(run.stdout, f"features.5[0, {c}]")
        assert table.shape == (5, 5)
        np.testing.assert_allclose(table, recorded[0, c], rtol=5e-4, atol=5e-4)
    assert not np.allclose(recorded[0, 0], recorded[0, 3])  # two different maps were compared


def test_a_linear_layer_is_shown_as_a_vector(cli: Callable[..., Any], tmp_path: Path) -> None:
    layers = tmp_path / "layers.npz"
    run = lenet(cli, "--show-layer", "classifier.5", "-o", str(layers))
    assert run.code == 0, run.stderr
    recorded = np.load(layers)["classifier.5"][0]
    section = run.stdout[run.stdout.index("classifier.5  (10,)") :]
    cells = dict(re.findall(r"(\d+):\s+(-?\d+\.\d+)", section.split("output shape")[0]))
    assert sorted(int(k) for k in cells) == list(range(10))
    shown_values = np.array([float(cells[str(i)]) for i in range(10)])
    np.testing.assert_allclose(shown_values, recorded, atol=1e-4)


def test_several_layers_in_the_order_given_between_table_and_top_k(
    cli: Callable[..., Any],
) -> None:
    run = lenet(cli, "--show-layer", "features.3,features.0", "--show-layer", "classifier.1")
    assert run.code == 0, run.stderr
    out = run.stdout
    heads = [
        out.index("features.3 (1, 16, 10, 10)\n"),
        out.index("features.0 (1, 6, 28, 28)\n"),
        out.index("classifier.1  (120,)"),
    ]
    assert heads == sorted(heads)
    assert out.index("classifier.5  Linear") < heads[0]  # after the layer table's last row
    assert heads[-1] < out.index("output shape: (1, 10)") < out.index("Top classes")
    # one empty line before each layer's maps and before the output line, never two
    assert out.count("\n\nfeatures.3 (1, 16") == out.count("\n\nfeatures.0 (1, 6") == 1
    assert out.count("\n\nclassifier.1  (120,)") == out.count("\n\noutput shape") == 1
    for head in ("features.3 (1, 16", "features.0 (1, 6", "classifier.1  (120,)", "output shape"):
        assert "\n\n\n" + head not in out
    # the same names comma-separated or repeated, a repeat shown once
    again = lenet(cli, "--show-layer", "features.3", "--show-layer", "features.0,features.3")
    assert again.code == 0, again.stderr
    assert again.stdout.count("features.3 (1, 16, 10, 10)\n") == 1
    assert again.stdout.index("features.3 (1, 16") < again.stdout.index("features.0 (1, 6")


def test_json_lists_the_shown_layers_in_order(cli: Callable[..., Any]) -> None:
    run = lenet(cli, "--show-layer", "classifier.5, input", "--json")
    layers = shown(run)
    assert list(layers) == ["classifier.5", "input"]
    assert layers["input"].shape == (1, 1, 28, 28)
    pixels = np.asarray(Image.open(DIGIT).convert("L"), dtype=np.float64) / 255
    np.testing.assert_allclose(layers["input"][0, 0], pixels, atol=1e-6)
    data = json.loads(run.stdout)
    assert [d["type"] for d in data["shown_layers"]] == ["Linear", ""]
    assert "shown_layers" not in json.loads(lenet(cli, "--json").stdout)


def test_channels_and_region_apply_as_for_conv(cli: Callable[..., Any], tmp_path: Path) -> None:
    layers = tmp_path / "layers.npz"
    args = ["--show-layer", "features.0", "--channels", "2,4", "--region", "10:14,3:8"]
    run = lenet(cli, *args, "--show", "table", "-o", str(layers))
    assert run.code == 0, run.stderr
    recorded = np.load(layers)["features.0"]
    titles = re.findall(r"^features\.0\[0, (\d)\]", run.stdout, flags=re.M)
    assert titles == ["2", "4"]
    for c in (2, 4):
        table = table_values(run.stdout, f"features.0[0, {c}]")
        np.testing.assert_allclose(table, recorded[0, c, 10:14, 3:8], rtol=5e-4, atol=5e-4)


def test_a_map_that_does_not_fit_names_the_layer(cli: Callable[..., Any]) -> None:
    run = lenet(cli, "--show-layer", "features.3,features.0", "--channels", "7")
    assert run.code == 2
    assert run.stderr.strip() == (
        "error: --channels: channel 7 is out of range 0..5 (layer features.0)"
    )
    assert run.stdout == ""  # nothing printed before the error


@pytest.mark.parametrize(
    ("name", "closest"),
    [
        ("features.9", "closest: features.5, features.4, features.3, features.2"),
        ("clasifier.5", "closest: classifier.5"),
        ("Features.0", "closest: features.0"),
    ],
)
def test_an_unknown_name_is_one_error_with_the_closest_names(
    cli: Callable[..., Any], name: str, closest: str
) -> None:
    run = lenet(cli, "--show-layer", f"features.0,{name}")
    assert run.code == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: --show-layer {name}: no such layer in lenet5; ")
    assert closest in lines[0]
    assert run.stdout == ""


def test_a_name_nothing_like_a_layer_lists_the_layers(cli: Callable[..., Any]) -> None:
    run = lenet(cli, "--show-layer", "conv1")
    assert run.code == 2
    error, hint = run.stderr.strip().splitlines()
    assert error == (
        "error: --show-layer conv1: no such layer in lenet5; its layers: input, features.0, "
        "features.1, features.2, features.3, …, classifier.5 (13 in all)"
    )
    assert hint.startswith("hint: ")


def test_a_block_name_asks_for_one_of_its_layers(cli: Callable[..., Any]) -> None:
    run = lenet(cli, "--show-layer", "classifier")
    assert run.code == 2
    assert run.stderr.splitlines()[0] == (
        "error: --show-layer classifier is a block of 6 layers, not one layer; give one of "
        "them: classifier.0, classifier.1, classifier.2, classifier.3, classifier.4, "
        "classifier.5"
    )


def test_a_second_call_of_a_layer_is_named_as_in_the_table(cli: Callable[..., Any]) -> None:
    # resnet_mini's BasicBlocks call their relu twice: the table names the second call relu#2
    spec = str(SAMPLES / "resnet_mini.toml")
    table = cli("forward", "-m", spec, "--top", "0")
    assert table.code == 0, table.stderr
    name = re.search(r"^(\S+#2) ", table.stdout, flags=re.M)
    assert name is not None
    run = cli("forward", "-m", spec, "--top", "0", "--show-layer", name[1], "--show", "stats")
    assert run.code == 0, run.stderr
    assert f"{name[1]}[0, 0]" in run.stdout
    over = cli("forward", "-m", spec, "--show-layer", name[1].replace("#2", "#9"))
    assert over.code == 2
    assert "no such layer" in over.stderr and name[1] in over.stderr


@pytest.mark.parametrize("flag", [["--channels", "0"], ["--show", "table"], ["--region", ":5,:5"]])
def test_map_options_without_show_layer_say_what_they_need(
    cli: Callable[..., Any], flag: list[str]
) -> None:
    run = lenet(cli, *flag)
    assert run.code == 2
    assert run.stderr.startswith(f"error: {flag[0]} chooses how --show-layer draws")


@pytest.mark.parametrize("path", ["/work/data/china.jpg", "china.jpg", "photos/cat"])
def test_an_image_given_to_input_is_pointed_at_the_argument(
    cli: Callable[..., Any], path: str
) -> None:
    run = cli("forward", "--input", path, "-m", "alexnet")
    assert run.code == 2
    assert run.stderr == (
        "error: --input takes a size such as 3x224x224; give the image as the first "
        f"argument: cnncli forward {path} -m alexnet\n"
    )


def test_a_bad_size_keeps_the_size_error(cli: Callable[..., Any]) -> None:
    run = cli("forward", "--input", "3x224", "-m", "alexnet")
    assert run.code == 2
    assert "give the image" not in run.stderr
    assert "3x224" in run.stderr and run.stderr.startswith("error: --input")
