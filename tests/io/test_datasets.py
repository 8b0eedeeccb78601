"""Datasets for training: the built-in ones, and every file kind a user may hand over."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from cnncli.errors import InputFileError, ParameterError
from cnncli.io.datasets import BUILTIN, builtin_shape, load_builtin, load_dataset
from tests.cli.conftest import run_cli


@pytest.mark.parametrize(
    ("name", "shape", "per_class"),
    [("mnist-5k", (5000, 1, 28, 28), [500] * 10),
     ("digits", (1797, 1, 8, 8), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])],
)  # fmt: skip
def test_builtin_datasets_are_real_images_scaled_to_one(
    name: str, shape: tuple[int, ...], per_class: list[int]
) -> None:
    data = load_builtin(name)
    assert data.x.shape == shape and data.x.dtype == np.float32 and data.y.dtype == np.int64
    assert np.bincount(data.y).tolist() == per_class
    assert data.x.min() == 0.0 and data.x.max() == 1.0
    # Real handwriting, not noise: the mean image of each class differs from the others'.
    means = np.stack([data.x[data.y == k].mean(axis=0).ravel() for k in range(10)])
    distances = np.linalg.norm(means[:, None] - means[None], axis=2)
    assert distances[~np.eye(10, dtype=bool)].min() > 0.5
    assert builtin_shape(name) == (shape[0], shape[1:])


def test_cnncli_datasets_lists_them_with_licences() -> None:
    r = run_cli("datasets", "--json")
    assert r.code == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert set(rows) == set(BUILTIN)
    assert rows["mnist-5k"]["images"] == 5000 and rows["mnist-5k"]["shape"] == [1, 28, 28]
    assert (
        rows["digits"]["licence"] == "CC BY 4.0" and rows["mnist-5k"]["licence"] == "CC BY-SA 3.0"
    )
    text = run_cli("datasets").stdout
    assert "mnist-5k" in text and "1x8x8" in text
    assert (Path(__file__).parents[2] / "cnncli" / "data" / "DATASETS.md").is_file()


def test_npz_with_uint8_images_and_other_key_names(tmp_path: Path) -> None:
    x = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    np.savez(tmp_path / "d.npz", images=x, labels=np.array([1, 0]))
    data = load_dataset(str(tmp_path / "d.npz"), key_x="images", key_y="labels")
    assert data.x.shape == (2, 1, 4, 4)
    np.testing.assert_allclose(data.x[:, 0], x / 255, rtol=1e-6)
    assert data.y.tolist() == [1, 0] and data.classes == ["0", "1"]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"y": np.array([0])}, "no array 'x'"),
        ({"x": np.zeros((3, 4, 4)), "y": np.array([0, 1])}, "3 images but 2 labels"),
        ({"x": np.zeros((2, 4, 4)), "y": np.array([0, -1])}, "labels must be 0 or more"),
        ({"x": np.zeros((2, 4, 4)), "y": np.array([0.5, 1])}, "whole numbers"),
        ({"x": np.full((1, 4, 4), np.nan), "y": np.array([0])}, "NaN"),
        ({"x": np.zeros((2, 2)), "y": np.array([0, 1])}, "(N, C, H, W) or (N, H, W)"),
        ({"x": np.array([None, 1], dtype=object), "y": np.array([0, 1])}, "not a readable .npz"),
    ],
)
def test_bad_npz_files_are_one_error(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputFileError, match=r"bad\.npz") as info:
        load_dataset(str(path))
    assert message in info.value.message


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_pair_by_folder_or_by_either_file(tmp_path: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (5, 28, 28)), np.array([3, 1, 4, 1, 5])
    suffix = ".gz" if gz else ""
    for name, arr in (("train-images-idx3-ubyte", x), ("train-labels-idx1-ubyte", y)):
        data = _idx_bytes(arr)
        (tmp_path / (name + suffix)).write_bytes(gzip.compress(data) if gz else data)
    for source in (tmp_path, tmp_path / f"train-images-idx3-ubyte{suffix}",
                   tmp_path / f"train-labels-idx1-ubyte{suffix}"):  # fmt: skip
        data = load_dataset(str(source))
        np.testing.assert_array_equal(np.round(data.x[:, 0] * 255), x)
        assert data.y.tolist() == y.tolist()


def test_truncated_or_foreign_idx_files_are_one_error(tmp_path: Path) -> None:
    full = _idx_bytes(np.zeros((3, 28, 28)))
    (tmp_path / "t-images-idx3-ubyte").write_bytes(full[:-100])
    (tmp_path / "t-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3)))
    with pytest.raises(InputFileError, match="truncated"):
        load_dataset(str(tmp_path))
    (tmp_path / "t-images-idx3-ubyte").write_bytes(b"PK\x03\x04" + full[4:])
    with pytest.raises(InputFileError, match="not an MNIST IDX file"):
        load_dataset(str(tmp_path))
    (tmp_path / "t-labels-idx1-ubyte").unlink()
    with pytest.raises(InputFileError, match="found 1 and 0"):
        load_dataset(str(tmp_path))


@pytest.mark.parametrize("column", ["first", "last"])
def test_csv_with_header_and_label_in_either_column(tmp_path: Path, column: str) -> None:
    pixels = np.arange(2 * 9).reshape(2, 9) * 10
    labels = np.array([[7], [2]])
    table = np.hstack([labels, pixels] if column == "first" else [pixels, labels])
    header = ",".join(["label"] + [f"p{i}" for i in range(9)])
    body = "\n".join(",".join(str(v) for v in row) for row in table)
    path = tmp_path / "d.csv"
    path.write_text(header + "\n" + body + "\n")
    data = load_dataset(str(path), label_column=column)
    assert data.y.tolist() == [7, 2] and data.x.shape == (2, 1, 3, 3)
    np.testing.assert_allclose(data.x.reshape(2, 9), pixels / 255, rtol=1e-6)
    assert any("header" in n for n in data.notes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3,4,0\n1,2,x,4,1\n", "row 2 holds something that is not a number"),
        ("1,2,3,4,0\n1,2,3,1\n", "row 2 has 4 values, the first 5"),
        ("1,2,3,0\n", "not a square image"),
    ],
)
def test_bad_csv_rows_are_one_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputFileError) as info:
        load_dataset(str(path))
    assert message in info.value.message and "bad.csv" in info.value.message


def test_unknown_sources(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        load_dataset(str(tmp_path / "missing.bin"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputFileError, match="not a dataset cnncli reads"):
        load_dataset(str(tmp_path / "notes.txt"))
    with pytest.raises(ParameterError, match="no built-in dataset"):
        load_builtin("cifar")


def _folder(tmp_path: Path, sizes: dict[str, list[tuple[int, int]]], mode: str = "L") -> Path:
    from PIL import Image

    root = tmp_path / "imgs"
    rng = np.random.default_rng(2)
    for cls, shapes in sizes.items():
        (root / cls).mkdir(parents=True)
        for i, (h, w) in enumerate(shapes):
            shape = (h, w) if mode == "L" else (h, w, 3)
            pixels = rng.integers(0, 256, shape).astype(np.uint8)
            Image.fromarray(pixels, mode).save(root / cls / f"{i}.png")
    return root


def test_image_folder_classes_in_sorted_order_and_exact_pixels(tmp_path: Path) -> None:
    from PIL import Image

    root = _folder(tmp_path, {"zebra": [(6, 5)] * 2, "ant": [(6, 5)] * 3})
    data = load_dataset(str(root))
    assert data.classes == ["ant", "zebra"] and data.y.tolist() == [0, 0, 0, 1, 1]
    assert data.x.shape == (5, 1, 6, 5)
    first = np.asarray(Image.open(root / "ant" / "0.png"), dtype=np.float32) / 255
    np.testing.assert_array_equal(data.x[0, 0], first)


def test_image_folder_converted_and_resized_to_the_models_input(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"a": [(10, 12), (7, 7)], "b": [(28, 28)]}, mode="RGB")
    with pytest.raises(InputFileError, match=r"images of different sizes: 0\.png is 3x10x12"):
        load_dataset(str(root))
    data = load_dataset(str(root), image_shape=(1, 28, 28))
    assert data.x.shape == (3, 1, 28, 28) and data.x.dtype == np.float32
    assert any("resized to 28x28" in n for n in data.notes)
    assert load_dataset(str(root), image_shape=(3, 8, 8)).x.shape == (3, 3, 8, 8)


def test_image_folder_problems_name_the_file_or_folder(tmp_path: Path) -> None:
    root = _folder(tmp_path, {"a": [(4, 4)], "b": [(4, 4)]})
    (root / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(InputFileError, match=r"broken\.png: not an image") as info:
        load_dataset(str(root))
    assert "--skip-bad" in (info.value.hint or "")
    data = load_dataset(str(root), skip_bad=True)
    assert len(data.y) == 2 and any(
        "skipped 1 unreadable file(s): broken.png" in n for n in data.notes
    )
    (root / "c").mkdir()
    with pytest.raises(InputFileError, match="class folder 'c' has no images"):
        load_dataset(str(root))
    one = _folder(tmp_path / "one", {"only": [(4, 4)]})
    with pytest.raises(InputFileError, match="one class only"):
        load_dataset(str(one))


def test_stratified_split_holds_out_each_class_alike_and_is_seeded() -> None:
    from cnncli.io.datasets import stratified_split

    y = load_builtin("digits").y
    train, val = stratified_split(y, 0.1, seed=3)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(y)
    counts = np.bincount(y[val], minlength=10)
    assert np.all(np.abs(counts - 0.1 * np.bincount(y)) <= 1)  # 17-18 of each class
    again = stratified_split(y, 0.1, seed=3)
    np.testing.assert_array_equal(val, again[1])
    assert not np.array_equal(val, stratified_split(y, 0.1, seed=4)[1])
    with pytest.raises(ParameterError, match="--val-split"):
        stratified_split(y, 1.0)
