"""Every bad dataset a person might hand ``cnncli train``: one ``error:`` line, exit 2, no
traceback, and nothing written (no weights, no checkpoint, no pictures)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.conftest import run_cli


def _digit_png(
    path: Path, value: int = 200, size: tuple[int, int] = (28, 28), mode: str = "L"
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 0, 0)).save(path)


def _folder(root: Path, classes: dict[str, int]) -> Path:
    for name, count in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            _digit_png(root / name / f"{i}.png", 40 * i + 10)
    return root


def truncated_idx(tmp: Path) -> tuple[str, str]:
    images = bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    (tmp / "train-images-idx3-ubyte").write_bytes(images + bytes(28 * 28 * 3))  # 3 of 10
    labels = bytes([0, 0, 8, 1]) + (10).to_bytes(4, "big") + bytes(10)
    (tmp / "train-labels-idx1-ubyte").write_bytes(labels)
    return str(tmp), "train-images-idx3-ubyte"


def truncated_idx_gz(tmp: Path) -> tuple[str, str]:
    folder, _ = truncated_idx(tmp)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        raw = (tmp / name).read_bytes()
        (tmp / f"{name}.gz").write_bytes(gzip.compress(raw)[:-12])  # the gzip stream cut short
        (tmp / name).unlink()
    return folder, "train-"


def folder_with_a_text_file(tmp: Path) -> tuple[str, str]:
    root = _folder(tmp / "data", {"a": 2, "b": 2})
    (root / "a" / "notes.txt").write_text("not an image")
    return str(root), "notes.txt"


def folder_with_a_corrupt_png(tmp: Path) -> tuple[str, str]:
    root = _folder(tmp / "data", {"a": 2, "b": 2})
    (root / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    return str(root), "broken.png"


def one_class_only(tmp: Path) -> tuple[str, str]:
    return str(_folder(tmp / "data", {"a": 3})), "class"


def an_empty_class_folder(tmp: Path) -> tuple[str, str]:
    root = _folder(tmp / "data", {"a": 2, "b": 2})
    (root / "c").mkdir()
    return str(root), "c"


def csv_with_a_bad_row(tmp: Path) -> tuple[str, str]:
    rows = [",".join(["1"] + ["0"] * 784), ",".join(["2"] + ["x"] * 784)]
    (tmp / "d.csv").write_text("\n".join(rows) + "\n")
    return str(tmp / "d.csv"), "row 2"


def labels_out_of_range(tmp: Path) -> tuple[str, str]:
    np.savez(tmp / "d.npz", x=np.zeros((4, 28, 28), np.uint8), y=np.array([0, 1, 2, 11]))
    return str(tmp / "d.npz"), "12 classes"


def negative_labels(tmp: Path) -> tuple[str, str]:
    np.savez(tmp / "d.npz", x=np.zeros((2, 28, 28), np.uint8), y=np.array([0, -1]))
    return str(tmp / "d.npz"), "labels must be 0 or more"


def x_and_y_of_different_lengths(tmp: Path) -> tuple[str, str]:
    np.savez(tmp / "d.npz", x=np.zeros((3, 28, 28), np.uint8), y=np.array([0, 1]))
    return str(tmp / "d.npz"), "3 images but 2 labels"


def images_that_do_not_fit(tmp: Path) -> tuple[str, str]:
    np.savez(tmp / "d.npz", x=np.zeros((4, 3, 32, 32), np.uint8), y=np.array([0, 1, 0, 1]))
    return str(tmp / "d.npz"), "but lenet5 takes 1x28x28"


CASES: dict[str, Callable[[Path], tuple[str, str]]] = {
    f.__name__: f
    for f in (
        truncated_idx, truncated_idx_gz, folder_with_a_text_file, folder_with_a_corrupt_png,
        one_class_only, an_empty_class_folder, csv_with_a_bad_row, labels_out_of_range,
        negative_labels, x_and_y_of_different_lengths, images_that_do_not_fit,
    )
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_dataset_is_one_error_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    source = tmp_path / "in"
    source.mkdir()
    data, named = CASES[case](source)
    out = tmp_path / "out"
    out.mkdir()
    r = run_cli("train", "lenet5", "--data", data, "--epochs", "1", "-o", str(out / "w.npz"),
                "--plot", str(out / "c.png"), "--checkpoint", str(out / "ck"))  # fmt: skip
    assert r.code == 2, (r.code, r.stderr)
    lines = r.stderr.splitlines()
    assert lines[0].startswith("error: ") and named in lines[0], r.stderr
    assert len(lines) <= 2 and all(line.startswith(("error: ", "hint: ")) for line in lines)
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert list(out.iterdir()) == []


def test_skip_bad_skips_unreadable_images_and_counts_them(tmp_path: Path) -> None:
    root = _folder(tmp_path / "data", {"a": 3, "b": 3})
    (root / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    (root / "a" / "notes.txt").write_text("not an image")
    r = run_cli("train", "lenet5", "--data", str(root), "--epochs", "1", "--skip-bad",
                "--val-split", "0.34", "--json")  # fmt: skip
    assert r.code == 0, r.stderr
    import json

    (note,) = [n for n in json.loads(r.stdout)["notes"] if n.startswith("--skip-bad")]
    assert note.startswith("--skip-bad: skipped 2 unreadable file(s): ")
    assert "broken.png" in note and "notes.txt" in note


def test_mixed_sizes_and_modes_are_converted_with_a_note(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _digit_png(root / "a" / "0.png", size=(28, 28))
    _digit_png(root / "a" / "1.png", size=(40, 30))
    _digit_png(root / "b" / "0.png", mode="RGB")
    _digit_png(root / "b" / "1.png", size=(14, 14), mode="RGB")
    r = run_cli("train", "lenet5", "--data", str(root), "--epochs", "1", "--val-split", "0.5")
    assert r.code == 0, r.stderr
    assert "note: " in r.stdout and "28x28" in r.stdout
