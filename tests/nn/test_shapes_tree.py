"""`cnncli shapes` draws blocks with branches as a tree at torchinfo's depths: tree lines,
how each block joins its paths, and each branch's own shape, parameters and MACs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnncli.cli.main import main
from cnncli.nn import zoo
from cnncli.nn.layers import initialize
from cnncli.nn.run import run_forward
from cnncli.nn.summary import LayerRecord, summarize
from cnncli.render.summary import human, tree_names


def _rec(name: str, depth: int) -> LayerRecord:
    return LayerRecord(name, "T", depth, True, False, (1,))


def test_tree_lines_follow_the_depths() -> None:
    depths = [("net", 0), ("a", 1), ("a.0", 2), ("a.1", 2), ("a.1.x", 3), ("b", 1), ("b.0", 2)]
    assert tree_names([_rec(n, d) for n, d in depths]) == [
        "net",
        "├─a",
        "│ ├─a.0",
        "│ └─a.1",
        "│   └─a.1.x",
        "└─b",
        "  └─b.0",
    ]


def test_shapes_of_googlenet_shows_each_inception_branch(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    assert main(["shapes", "googlenet", "--depth", "2"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert "Inception (cat)" in lines["├─inception3a"]
    rows = {r.name: r for r in summarize(zoo.build("googlenet"), (3, 224, 224)).layers}
    for branch in ("branch1", "branch2", "branch3", "branch4"):
        rec = rows[f"inception3a.{branch}"]
        assert rec.branch
        glyph = "└" if branch == "branch4" else "├"
        (line,) = [x for x in out.splitlines() if f" │ {glyph}─inception3a.{branch} " in x]
        # the branch's own output shape, parameters and MACs
        assert "[1, " + ", ".join(str(s) for s in rec.output_shape[1:]) + "]" in line  # type: ignore[index]
        assert f"{rec.params:,}" in line and human(rec.macs) in line
    channels = sum(rows[f"inception3a.branch{i}"].output_shape[1] for i in range(1, 5))  # type: ignore[index]
    assert rows["inception3a"].output_shape == (1, channels, 28, 28) == (1, 256, 28, 28)


def test_json_rows_say_how_blocks_join_and_which_rows_are_branches(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["shapes", "resnet50", "--depth", "3", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["layers"]}
    assert rows["layer1.0"]["join"] == "add" and rows["layer1"]["join"] == ""
    assert rows["layer1.0.downsample"]["branch"] is True
    assert rows["layer1.0.conv1"]["branch"] is False


def test_show_layer_of_a_block_with_branches_shows_the_joined_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    net = initialize(zoo.build("squeezenet1_1"), seed=0).eval()
    x = np.random.default_rng(0).standard_normal((1, 3, 64, 64), dtype=np.float32)
    result = run_forward(net, x, blocks={"features.3"})
    by_name = {r.name: r.output for r in result.records}
    fire = result.blocks["features.3"].output  # no leaf layer makes this map
    expected = np.concatenate(
        [by_name["features.3.expand1x1_activation"], by_name["features.3.expand3x3_activation"]], 1
    )
    assert np.array_equal(fire, expected) and fire.shape == (1, 128, 15, 15)
    assert (
        main(["forward", "-m", "squeezenet1_1", "--show-layer", "features.3", "--show", "stats"])
        == 0
    )
    assert "features.3 (1, 128, 55, 55)" in capsys.readouterr().out
    # a Sequential block still names the layer that gives its output
    assert main(["forward", "-m", "squeezenet1_1", "--show-layer", "classifier"]) == 2
    assert "the last layer of a Sequential block" in capsys.readouterr().err
