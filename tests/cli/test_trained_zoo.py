"""``lenet5-mnist``: the LeNet-5 that ``cnncli train`` trained, shipped, and asked about digits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from cnncli.io.digit import prepare_digit
from cnncli.nn import zoo
from tests.cli.conftest import run_cli

ROOT = Path(__file__).parents[2]

#: Digits drawn as a person would: thick dark strokes on light, slightly noisy paper.
STROKES = {
    "0": [("ellipse", (90, 80, 260, 380))],
    "1": [("line", (170, 80, 170, 370)), ("line", (130, 120, 170, 80))],
    "4": [("line", (200, 80, 90, 260)), ("line", (90, 260, 260, 260)),
          ("line", (210, 150, 210, 380))],
    "7": [("line", (80, 90, 260, 90)), ("line", (260, 90, 140, 360))],
}  # fmt: skip


def _drawn(digit: str, path: Path) -> Path:
    rng = np.random.default_rng(int(digit))
    paper = np.clip(225 + rng.normal(0, 6, (440, 340)), 0, 255).astype(np.uint8)
    image = Image.fromarray(paper, "L")
    draw = ImageDraw.Draw(image)
    for kind, box in STROKES[digit]:
        if kind == "line":
            draw.line(box, fill=30, width=26)
        else:
            draw.ellipse(box, outline=30, width=26)
    image.filter(ImageFilter.GaussianBlur(1.5)).save(path)
    return path


def _top(stdout: str) -> tuple[int, float]:
    best = json.loads(stdout)["top"][0][0]
    return int(best["index"]), float(best["probability"])


def test_the_sample_digit_is_an_eight() -> None:
    r = run_cli("forward", str(ROOT / "samples" / "digit8.png"), "-m", "lenet5-mnist", "--json")
    assert r.code == 0, r.stderr
    assert _top(r.stdout)[0] == 8
    data = json.loads(r.stdout)
    assert data["weights"] == "weights from lenet5-mnist.npz"
    assert any("trained ones shipped with cnncli" in n for n in data["notes"])


@pytest.mark.parametrize("digit", sorted(STROKES))
def test_a_digit_drawn_dark_on_paper_is_recognised(tmp_path: Path, digit: str) -> None:
    r = run_cli("forward", str(_drawn(digit, tmp_path / f"{digit}.png")), "-m", "lenet5-mnist",
                "--json")  # fmt: skip
    assert r.code == 0, r.stderr
    index, probability = _top(r.stdout)
    assert index == int(digit) and probability > 0.9
    notes = json.loads(r.stdout)["notes"]
    assert any(n.startswith("digit: inverted") for n in notes)
    assert any(n.startswith("digit: cropped to the ink") for n in notes)


def test_the_held_out_accuracy_is_the_one_the_description_states() -> None:
    r = run_cli("evaluate", "lenet5-mnist", "--held-out", "0.1", "--json")
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["images"] == 500 and data["accuracy"] >= 0.97
    assert (
        f"{data['accuracy']:.1%} on the 500 held-out digits" in zoo.ZOO["lenet5-mnist"].description
    )


def test_models_marks_the_trained_entry() -> None:
    r = run_cli("models", "--json")
    trained = {row["name"]: row["trained"] for row in json.loads(r.stdout)}
    assert trained["lenet5-mnist"].startswith("mnist-5k: cnncli train lenet5")
    assert all(v is None for k, v in trained.items() if k != "lenet5-mnist")
    assert zoo.packaged_weights("lenet5-mnist").is_file()  # type: ignore[union-attr]


def test_the_same_command_shortened_learns() -> None:
    """The README's command for these weights, cut to 2 epochs: it learns well past chance."""
    command = zoo.ZOO["lenet5-mnist"].trained_on.split(": ", 1)[1].split()  # type: ignore[union-attr]
    assert command[:3] == ["cnncli", "train", "lenet5"]
    r = run_cli(*command[1:3], "--epochs", "2", "--json")
    assert r.code == 0, r.stderr
    history = json.loads(r.stdout)["history"]
    assert history[1]["train_loss"] < history[0]["train_loss"] and history[1]["val_acc"] > 0.85


def test_evaluate_needs_weights_for_an_untrained_model() -> None:
    r = run_cli("evaluate", "lenet5")
    assert r.code == 2 and r.stderr.startswith(
        "error: lenet5 has no trained weights of its own; give them with -w FILE"
    )


def test_prepare_digit_inverts_cleans_and_centres_by_mass() -> None:
    x = np.full((1, 1, 60, 90), 0.9, np.float32)  # light paper
    x[0, 0, 10:40, 60:70] = 0.1  # a dark bar near the right edge
    out, notes = prepare_digit(x)
    assert out.shape == (1, 1, 28, 28) and len(notes) == 3
    plane = out[0, 0]
    assert plane.max() == pytest.approx(1.0, abs=0.02) and plane[:, :3].max() == 0.0
    rows, cols = np.indices(plane.shape)
    centre = (float((rows * plane).sum() / plane.sum()), float((cols * plane).sum() / plane.sum()))
    assert centre == pytest.approx((14.0, 14.0), abs=0.75)
    ink = np.argwhere(plane > 0.25)
    assert ink[:, 0].max() - ink[:, 0].min() + 1 in (20, 21)  # the longer side fills 20 pixels


def test_a_prepared_28x28_digit_is_left_alone() -> None:
    x = np.zeros((1, 1, 28, 28), np.float32)
    x[0, 0, 5:20, 10:12] = 1.0
    out, notes = prepare_digit(x)
    np.testing.assert_array_equal(out, x)
    assert notes == []
