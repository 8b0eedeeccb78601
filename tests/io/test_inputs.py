"""What a tensor command reads (io/inputs.py) and the model input of ``forward`` (io/network.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from cnncli.errors import ParameterError, ShapeError
from cnncli.io.inputs import load_grad, load_input, load_matrix
from cnncli.io.network import load_model_input, resize, safe_file_name


def test_load_input_defaults_and_dtype(tmp_path: Path) -> None:
    _, x, _ = load_input(None, default="seed")
    assert x.shape == (1, 1, 4, 4) and x.dtype == np.float32
    _, x, _ = load_input(None, default="digit8", dtype="float64")
    assert x.dtype == np.float64 and x.ndim == 4
    np.save(tmp_path / "a.npy", np.arange(6.0).reshape(2, 3))
    _, x, _ = load_input("-", default="seed", stdin=io.BytesIO((tmp_path / "a.npy").read_bytes()))
    assert x.shape == (1, 1, 2, 3)


def test_load_grad(tmp_path: Path) -> None:
    assert load_grad("ones", (1, 2, 2, 2), np.float32, None).sum() == 8
    np.save(tmp_path / "g.npy", np.ones((2, 2)))
    with pytest.raises(ShapeError, match="has shape"):
        load_grad(str(tmp_path / "g.npy"), (1, 1, 3, 3), np.float32, None)
    with pytest.raises(ParameterError, match="cannot both read standard input"):
        load_grad("-", (1, 1, 2, 2), np.float32, "-")


def test_load_matrix_takes_a_1d_npy_vector(tmp_path: Path) -> None:
    np.save(tmp_path / "b.npy", np.array([1, 2, 3], dtype=np.int64))
    notes: list[str] = []
    b = load_matrix(str(tmp_path / "b.npy"), "bias", np.float32, notes)
    assert b.dtype == np.float32 and b.tolist() == [1, 2, 3] and notes


def test_load_model_input_resizes_and_normalises(tmp_path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.full((10, 12), 255, dtype=np.uint8)).save(tmp_path / "g.png")
    x, notes = load_model_input(str(tmp_path / "g.png"), (3, 4, 4), "imagenet", 1 << 30)
    assert x.shape == (1, 3, 4, 4) and x.dtype == np.float32
    assert any("repeated 3 times" in n for n in notes) and any("resized" in n for n in notes)
    np.testing.assert_allclose(
        x[0, :, 0, 0], (1 - np.array([0.485, 0.456, 0.406])) / [0.229, 0.224, 0.225], rtol=1e-5
    )
    with pytest.raises(ParameterError, match="needs 3 channels"):
        load_model_input(str(tmp_path / "g.png"), (1, 4, 4), "imagenet", 1 << 30)


def test_resize_keeps_a_constant_plane() -> None:
    out = resize(np.full((1, 2, 5, 7), 0.5, dtype=np.float32), 3, 4)
    assert out.shape == (1, 2, 3, 4)
    np.testing.assert_allclose(out, 0.5)


def test_safe_file_name() -> None:
    assert safe_file_name("../a/b") == "__a_b"
    assert safe_file_name("") == "layer"
