"""The named kernel bank and ``cnncli kernels``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnncli.errors import ParameterError
from cnncli.nn import kernels as bank

ISSUE_NAMES = [
    "identity", "box", "gaussian3", "gaussian5", "sharpen", "laplacian", "laplacian8",
    "sobel-x", "sobel-y", "prewitt-x", "prewitt-y", "scharr-x", "scharr-y", "emboss", "outline",
]  # fmt: skip


def test_every_kernel_named_in_the_issue_exists() -> None:
    assert set(ISSUE_NAMES) <= set(bank.KERNELS)
    assert set(bank.PAIRS) == {"sobel", "prewitt", "scharr"}


@pytest.mark.parametrize("name", ["box", "gaussian3", "gaussian5", "identity", "sharpen"])
def test_smoothing_kernels_keep_a_constant_image(name: str) -> None:
    assert bank.resolve(name)[0].array().sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["laplacian", "laplacian8", "sobel-x", "sobel-y", "outline"])
def test_edge_kernels_give_zero_on_a_constant_image(name: str) -> None:
    assert bank.resolve(name)[0].array().sum() == 0


def test_gaussian5_is_the_binomial_outer_product() -> None:
    row = np.array([1, 4, 6, 4, 1], dtype=np.float64)
    np.testing.assert_array_equal(bank.resolve("gaussian5")[0].array(), np.outer(row, row) / 256)


@pytest.mark.parametrize("family", ["sobel", "prewitt", "scharr"])
def test_y_kernels_are_x_kernels_transposed(family: str) -> None:
    x, y = bank.resolve(family)
    np.testing.assert_array_equal(y.array(), x.array().T)
    assert (x.name, y.name) == (f"{family}-x", f"{family}-y")


def test_sobel_x_is_pytorch_cross_correlation_responding_to_left_to_right_increase() -> None:
    torch = pytest.importorskip("torch")
    ramp = np.tile(np.arange(5, dtype=np.float32), (5, 1))  # increases left → right
    k = bank.resolve("sobel-x")[0].array(np.float32)
    np.testing.assert_array_equal(k, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    out = torch.nn.functional.conv2d(
        torch.from_numpy(ramp)[None, None], torch.from_numpy(k)[None, None]
    )
    assert (out.numpy() > 0).all()
    down = torch.nn.functional.conv2d(
        torch.from_numpy(ramp.T.copy())[None, None],
        torch.from_numpy(bank.resolve("sobel-y")[0].array(np.float32))[None, None],
    )
    assert (down.numpy() > 0).all()


def test_unknown_name_lists_close_names() -> None:
    with pytest.raises(ParameterError) as info:
        bank.resolve("sobel_x")
    assert "sobel-x" in info.value.message
    assert "cnncli kernels" in (info.value.hint or "")


def test_kernels_command_lists_every_kernel_with_its_matrix(cli) -> None:
    r = cli("kernels")
    assert r.code == 0, r.stderr
    for name in ISSUE_NAMES:
        assert name in r.stdout
    assert "(1/9 ×)" in r.stdout and "(1/256 ×)" in r.stdout
    assert "cross-correlation" in r.stdout
    assert "sobel = sobel-x + sobel-y" in r.stdout


def test_kernels_command_json_and_one_name(cli) -> None:
    r = cli("kernels", "--json")
    data = json.loads(r.stdout)
    assert data["kernels"]["sobel-x"]["values"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert data["kernels"]["box"]["divisor"] == 9
    r = cli("kernels", "scharr")
    assert "scharr-x" in r.stdout and "scharr-y" in r.stdout and "prewitt-x" not in r.stdout


def test_kernels_command_unknown_name_is_a_usage_error(cli) -> None:
    r = cli("kernels", "sobl")
    assert r.code == 2
    assert r.stderr.startswith("error: unknown kernel name 'sobl'; did you mean sobel")
