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


# ------------------------------------------------------------------ input routes (item 8)

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _photo(path: Path, h: int, w: int, fmt: str) -> Path:
    """A smooth colour picture (gradients and a disc) written as ``fmt``."""
    from PIL import Image

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    disc = ((yy - h / 3) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 4) ** 2) * 90.0
    rgb = np.stack([255 * xx / w, 255 * yy / h, 60 + disc + 40 * np.sin(xx / 7)], axis=-1)
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB").save(path, fmt)
    return path


def test_the_same_bytes_give_the_same_result_from_a_path_and_from_stdin(
    cli, tmp_path: Path
) -> None:
    cases = [
        ("lenet5", SAMPLES / "digit8.png"),  # grey PNG, 28x28, to one channel
        ("alexnet", _photo(tmp_path / "photo.jpg", 120, 180, "JPEG")),  # resized and cropped
    ]
    for model, image in cases:
        by_path = cli("forward", str(image), "-m", model, "-o", str(tmp_path / "a.npz"), "--json")
        piped = cli(
            "forward", "-", "-m", model, "-o", str(tmp_path / "b.npz"), "--json",
            input=image.read_bytes(),
        )  # fmt: skip
        assert by_path.code == 0 and piped.code == 0, piped.stderr
        a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            assert np.array_equal(a[name], b[name]), (model, name)
        one, two = json.loads(by_path.stdout), json.loads(piped.stdout)
        assert one["top"] == two["top"] and one["input_shape"] == two["input_shape"]
        # the same steps are listed (the input line names the route)
        assert one["notes"][1:] == two["notes"][1:]


def test_a_tensor_on_stdin_is_still_used_as_it_is(cli, tmp_path: Path) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, np.full((1, 1, 28, 28), 7.0, np.float32))
    run = cli("forward", "-", "-m", "lenet5", "--json", input=buf.getvalue())
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    assert "used as it is" in data["notes"][0]
    assert data["layers"][0]["name"] == "features.0"


# ------------------------------------------------------------- ImageNet preprocessing (item 10)


def _torchvision_resize_crop(x: np.ndarray, size: int, crop: int) -> np.ndarray:
    """torchvision's Resize(size) + CenterCrop(crop) on a (1, C, H, W) float tensor, written
    from its documented arithmetic (torchvision itself cannot be imported here): output size
    int(size * long / short), bilinear with antialias as F.interpolate, crop offsets
    int(round((h - crop) / 2.0))."""
    import pytest

    torch = pytest.importorskip("torch", reason="torch.nn.functional.interpolate is the oracle")
    h, w = x.shape[2:]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    y = torch.nn.functional.interpolate(
        torch.from_numpy(x.astype(np.float64)),
        size=(new_h, new_w),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    ).numpy()
    top, left = round((new_h - crop) / 2.0), round((new_w - crop) / 2.0)
    return y[:, :, top : top + crop, left : left + crop]


def test_imagenet_models_get_resize_256_and_center_crop_224(tmp_path: Path) -> None:
    from PIL import Image

    from cnncli.io.network import load_model_input

    for h, w in ((427, 640), (640, 427), (300, 301)):
        image = _photo(tmp_path / f"p{h}.png", h, w, "PNG")
        x, notes = load_model_input(str(image), (3, 224, 224), "none", 2**30)
        pixels = np.asarray(Image.open(image), dtype=np.float64).transpose(2, 0, 1)[None] / 255
        expected = _torchvision_resize_crop(pixels, 256, 224)
        assert x.shape == (1, 3, 224, 224)
        assert np.abs(x - expected).max() < 1e-6, (h, w)
        # not the old squash to 224x224
        squashed = np.asarray(
            Image.open(image).resize((224, 224), Image.Resampling.BILINEAR), dtype=np.float64
        )
        assert np.abs(x - squashed.transpose(2, 0, 1)[None] / 255).max() > 0.05
    # 427x640: the long side is int(256 * 640 / 427) = 383 (not rounded to 384), and the
    # crop's left offset round(79.5) = 80
    assert notes[2].startswith("Resize(256): 300x301 → 256x256")
    _, notes = load_model_input(str(tmp_path / "p427.png"), (3, 224, 224), "imagenet", 2**30)
    assert "Resize(256): 427x640 → 256x383" in notes[2]
    assert "CenterCrop(224): 256x383 → 224x224 (rows 16–239, columns 80–303)" in notes[3]
    steps = [n.split(":")[0].split("(")[0] for n in notes]
    assert steps == ["input", "pixel values scaled to 0–1 ", "Resize", "CenterCrop", "normalised"]


def test_resize_and_crop_options(cli, tmp_path: Path) -> None:
    image = _photo(tmp_path / "p.png", 90, 120, "PNG")
    base = ("forward", str(image), "-m", "alexnet", "--top", "0", "--json")

    def notes(*extra: str) -> list[str]:
        run = cli(*base, *extra)
        assert run.code == 0, run.stderr
        return json.loads(run.stdout)["notes"]

    # off: the old plain resize to the model's input, said once, with the aspect note
    off = notes("--resize", "0", "--crop", "0")
    assert [n for n in off if "224" in n] == [
        "resized from 90x120 to 224x224 (bilinear; aspect ratio not kept)"
    ]
    assert sum("0–1" in n for n in off) == 1  # scaling is listed once
    chosen = notes("--resize", "240", "--crop", "200")
    assert any(n.startswith("Resize(240): 90x120 → 240x320") for n in chosen)
    assert any(n.startswith("CenterCrop(200): 240x320 → 200x200") for n in chosen)
    assert chosen[-1].startswith("resized from 200x200 to 224x224")
    # a model without ImageNet inputs keeps the plain resize by default
    run = cli("forward", str(image), "-m", "lenet5", "--top", "0", "--json")
    lenet = json.loads(run.stdout)["notes"]
    assert not any("Resize" in n or "CenterCrop" in n for n in lenet)
    assert any(n.startswith("resized from 90x120 to 28x28") for n in lenet)
    # a crop larger than the image is a user mistake
    bad = cli(*base, "--resize", "100", "--crop", "224")
    assert bad.code == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[0] == (
        "error: --crop 224 is larger than the image (100x133 after --resize 100)"
    )


def test_labels_must_name_every_class(cli, tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"digit {i}\n" for i in range(9)) + "\n\n")
    run = cli("forward", "-m", "lenet5", "--labels", str(labels))
    assert run.code == 2 and run.stdout == ""
    lines = run.stderr.splitlines()
    assert (
        lines[0] == "error: --labels labels.txt: 9 lines (class names) but the model has 10 classes"
    )
    assert len(lines) <= 2 and (len(lines) == 1 or lines[1].startswith("hint: "))
    labels.write_text("".join(f"digit {i}\n" for i in range(10)))
    assert cli("forward", "-m", "lenet5", "--labels", str(labels)).code == 0


# ------------------------------------------------------- narrow terminals (items 3 and 4)


def test_fit_columns_leaves_out_whole_optional_columns_in_order() -> None:
    from cnncli.render.columns import fit_columns

    headers = ["a", "b", "c", "d"]
    rows = [["x" * 10, "y" * 5, "z" * 8, "w" * 3]]  # widths 10, 5, 8, 3
    assert fit_columns(headers, rows, (3, 1), None, gap=2).keep == [0, 1, 2, 3]
    wide = fit_columns(headers, rows, (3, 1), 32, gap=2)  # 26 + 3 gaps of 2 = 32
    assert wide.keep == [0, 1, 2, 3] and wide.fits and wide.total == 32
    one = fit_columns(headers, rows, (3, 1), 31, gap=2)
    assert one.keep == [0, 1, 2] and one.dropped == ["d"] and one.total == 27
    two = fit_columns(headers, rows, (3, 1), 26, gap=2, edges=1)
    assert two.keep == [0, 2] and two.dropped == ["d", "b"] and two.total == 21
    none_left = fit_columns(headers, rows, (3, 1), 10, gap=2)
    assert none_left.keep == [0, 2] and not none_left.fits  # required columns stay


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def test_forward_at_80_columns_leaves_out_columns_instead_of_cutting(cli) -> None:
    names = [f"feature_extraction.{i}" for i in range(13)] + [f"classifier.{i}" for i in range(5)]
    narrow = cli("forward", "-m", "alexnet", "--top", "0", env={"COLUMNS": "80"})
    assert narrow.code == 0, narrow.stderr
    table = narrow.stdout[narrow.stdout.index("Forward pass") :]
    assert "…" not in table
    assert max(len(line) for line in _lines(table)) <= 80
    rows = [line.split() for line in _lines(table)]
    assert [r[0] for r in rows if r and r[0] in names] == names  # every name whole, in order
    assert "(narrow terminal: ms, zeros left out; see --json)" in table
    header = next(r for r in rows if r and r[0] == "Layer")
    assert header == ["Layer", "Type", "Output", "shape", "min", "mean", "max"]
    # each number is whole: the row of feature_extraction.0 ends in min, mean, max as computed
    data = json.loads(cli("forward", "-m", "alexnet", "--top", "0", "--json").stdout)
    stats = next(layer for layer in data["layers"] if layer["name"] == "feature_extraction.0")
    row = next(r for r in rows if r and r[0] == "feature_extraction.0")
    assert row[-3:] == [f"{stats[k]:.3g}" for k in ("min", "mean", "max")]
    wide = cli("forward", "-m", "alexnet", "--top", "0", env={"COLUMNS": "120"}).stdout
    assert "narrow terminal" not in wide and " zeros " in wide and " ms" in wide
    assert "…" not in wide


def test_shapes_formulas_are_never_broken(cli) -> None:
    net = zoo.build("alexnet")
    formulas = [f for r in summarize(net, (3, 224, 224)).layers for f in r.formulas]
    merged = [f.replace("H_out =", "H_out = W_out =") for f in formulas if f.startswith("H_out")]
    merged += [f for f in formulas if not f.startswith(("H_out", "W_out"))]
    for columns in (80, 120, 200):
        run = cli("shapes", "alexnet", "--formulas", env={"COLUMNS": str(columns)})
        assert run.code == 0, run.stderr
        lines = _lines(run.stdout)
        assert max(len(line) for line in lines) <= columns
        assert "…" not in run.stdout
        for formula in merged:  # each one whole on one line
            assert any(formula in line for line in lines), (columns, formula)
        heads = [i for i, line in enumerate(lines) if line.startswith("Output size formulas")]
        assert bool(heads) == (columns < 200), columns
        if heads:  # said where they are, and the arithmetic is not in the table too
            assert "too wide for the table" in lines[heads[0]]
            assert all("⌊" not in line for line in lines[: heads[0]])
        else:
            assert "Output size formula" in run.stdout  # the table's column
    # 80 columns: whole columns left out first, the formulas below, named by layer
    narrow = _lines(cli("shapes", "alexnet", "--formulas", env={"COLUMNS": "80"}).stdout)
    start = next(i for i, line in enumerate(narrow) if line.startswith("Output size formulas"))
    assert narrow[start + 1 : start + 3] == [
        "  feature_extraction.0",
        "    H_out = W_out = ⌊(224 + 2·2 − 1·(11 − 1) − 1) / 4⌋ + 1 = 55",
    ]
    assert "  classifier.4  y = x·Wᵀ + b: 4096 → 1000" in narrow


def test_shapes_depth_2_fits_80_columns(cli) -> None:
    for columns in (80, 120):
        run = cli("shapes", "resnet18", "--depth", "2", env={"COLUMNS": str(columns)})
        assert run.code == 0, run.stderr
        assert max(len(line) for line in _lines(run.stdout)) <= columns
        assert "…" not in run.stdout and "layer4.1" in run.stdout


def test_labels_are_counted_by_newlines_only(tmp_path: Path) -> None:
    from cnncli.io.network import read_labels

    path = tmp_path / "labels.txt"
    path.write_bytes("cat\r\ndog\x1c1\rx\r\nbird \x85\n\n\n".encode())
    assert read_labels(path) == ["cat", "dog\x1c1\rx", "bird"]
