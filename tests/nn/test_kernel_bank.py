"""The kernel bank of ``conv -k`` (nn/kernels.py) and the model runner's top-k (nn/run.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnncli.errors import ParameterError, ShapeError
from cnncli.nn.kernels import build_weight, kernel_arrays, magnitude
from cnncli.nn.run import top_k


def test_kernel_arrays_reads_names_files_and_inline_text(tmp_path: Path) -> None:
    arrays, labels = kernel_arrays("sobel", np.float32)
    assert labels == ["sobel-x", "sobel-y"] and [a.shape for a in arrays] == [(3, 3)] * 2
    np.save(tmp_path / "k.npy", np.eye(3))
    arrays, labels = kernel_arrays(str(tmp_path / "k.npy"), np.float64)
    assert labels == ["k.npy"]
    np.testing.assert_array_equal(arrays[0], np.eye(3))
    arrays, labels = kernel_arrays("1,0;0,1", np.float32)
    assert labels == ["'1,0;0,1'"] and arrays[0].dtype == np.float32
    with pytest.raises(ParameterError, match="did you mean"):
        kernel_arrays("sobol", np.float32)


def test_build_weight_stacks_a_bank_in_pytorch_layout() -> None:
    notes: list[str] = []
    weight, labels = build_weight(["sobel", "box"], 3, 1, False, np.float32, notes)
    assert weight.shape == (3, 3, 3, 3) and labels == ["sobel-x", "sobel-y", "box"]
    assert any("summed to one map" in n for n in notes)
    weight, labels = build_weight(["sobel-x"], 2, 2, True, np.float32)
    assert weight.shape == (2, 1, 3, 3) and labels == ["sobel-x@c0", "sobel-x@c1"]
    with pytest.raises(ShapeError, match="share one size"):
        build_weight(["box", "gaussian5"], 1, 1, False, np.float32)


def test_build_weight_checks_the_shape_before_stacking() -> None:
    seen = []
    build_weight(["sobel"], 4, 2, False, np.float32, check=seen.append)
    assert seen == [(2, 2, 3, 3)]


def test_magnitude_of_map_pairs() -> None:
    y = np.array([3.0, 4.0, 6.0, 8.0], dtype=np.float32).reshape(1, 4, 1, 1)
    np.testing.assert_array_equal(magnitude(y).ravel(), [5.0, 10.0])


def test_top_k_is_softmax_order_with_ties_to_the_lower_index() -> None:
    logits = np.array([[0.0, 2.0, 2.0, -1.0], [5.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    rows = top_k(logits, 2)
    assert [i for i, _ in rows[0]] == [1, 2]
    assert [i for i, _ in rows[1]] == [0, 1]
    assert rows[1][0][1] == pytest.approx(np.exp(5) / (np.exp(5) + 3))
    assert len(top_k(logits, 10)[0]) == 4
