"""``cnncli shapes`` and ``cnncli forward`` as a new user meets them (issue 15, items 3-4, 8-11)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from cnncli.nn import zoo
from cnncli.nn.summary import summarize

# ------------------------------------------------------------------ shapes --depth (item 11)


def test_depth_applies_to_json_and_to_the_rows_file(cli, tmp_path: Path) -> None:
    full = json.loads(cli("shapes", "resnet18", "--json").stdout)
    run = cli("shapes", "resnet18", "--depth", "2", "--json", "-o", str(tmp_path / "rows.csv"))
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    expected = [
        r.name for r in summarize(zoo.build("resnet18"), (3, 224, 224)).layers if r.depth <= 2
    ]
    assert [row["name"] for row in data["layers"]] == expected
    assert len(expected) < len(full["layers"])  # depth 2 hides the blocks' insides
    assert max(row["depth"] for row in data["layers"]) == 2 and data["depth"] == 2
    # totals stay those of the whole network; the depth-1 rows hold them between them
    assert data["total_params"] == full["total_params"]
    assert sum(row["params"] for row in data["layers"] if row["depth"] == 1) == full["total_params"]
    with (tmp_path / "rows.csv").open() as fh:
        assert [row["name"] for row in csv.DictReader(fh)] == expected


# ------------------------------------------------------------------ top-k values (item 9)


def _spec(tmp_path: Path, last: str) -> Path:
    """A 1x4x4 → 3-class network; ``last`` is an extra final layer (TOML) or empty."""
    path = tmp_path / "net.toml"
    path.write_text(
        'name = "tiny"\ninput = [1, 4, 4]\n'
        '[[layers]]\ntype = "Flatten"\n'
        '[[layers]]\ntype = "Linear"\nout_features = 3\n' + last
    )
    return path


def _weights(tmp_path: Path) -> Path:
    """Weights that make class 2 near-certain for an all-ones input: logits (0, 1, 10)."""
    path = tmp_path / "w.npz"
    np.savez(
        path,
        **{
            "1.weight": np.zeros((3, 16), np.float32),
            "1.bias": np.array([0.0, 1.0, 10.0], np.float32),
        },
    )
    return path


def test_a_softmax_output_is_shown_as_the_probability_it_is(cli, tmp_path: Path) -> None:
    ones = tmp_path / "x.npy"
    np.save(ones, np.ones((1, 1, 4, 4), np.float32))
    logits = np.array([0.0, 1.0, 10.0])
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    spec = _spec(tmp_path, '[[layers]]\ntype = "Softmax"\ndim = 1\n')
    run = cli("forward", str(ones), "-m", str(spec), "-w", str(_weights(tmp_path)), "--json")
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["layers"][-1]["type"] == "Softmax"
    top = data["top"][0]
    assert [row["index"] for row in top] == [2, 1, 0]
    # the Softmax's output itself, not softmax(softmax) (which would give 0.576 for class 2)
    assert np.allclose([row["probability"] for row in top], p[[2, 1, 0]], atol=1e-6)
    assert top[0]["probability"] > 0.999
    assert "these are probabilities" in data["top_values"]
    table = cli("forward", str(ones), "-m", str(spec), "-w", str(_weights(tmp_path))).stdout
    assert "last layer is Softmax" in table and "Probability" in table
    assert "softmax of the output logits" not in table


def test_logits_are_labelled_as_their_softmax(cli, tmp_path: Path) -> None:
    ones = tmp_path / "x.npy"
    np.save(ones, np.ones((1, 1, 4, 4), np.float32))
    spec = _spec(tmp_path, "")
    run = cli("forward", str(ones), "-m", str(spec), "-w", str(_weights(tmp_path)), "--json")
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    logits = np.array([0.0, 1.0, 10.0])
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert np.allclose([row["probability"] for row in data["top"][0]], p[[2, 1, 0]], atol=1e-6)
    assert data["top_values"] == "softmax of the output logits"
    table = cli("forward", str(ones), "-m", str(spec), "-w", str(_weights(tmp_path))).stdout
    assert "Top classes: softmax of the output logits" in table
    assert "Probability" not in table and "softmax" in table


def test_a_softmax_over_another_axis_is_not_taken_for_class_probabilities(
    cli, tmp_path: Path
) -> None:
    ones = tmp_path / "x.npy"
    np.save(ones, np.ones((2, 1, 4, 4), np.float32))
    spec = _spec(tmp_path, '[[layers]]\ntype = "Softmax"\ndim = 0\n')
    run = cli("forward", str(ones), "-m", str(spec), "-w", str(_weights(tmp_path)), "--json")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["top_values"] == "softmax of the output logits"
