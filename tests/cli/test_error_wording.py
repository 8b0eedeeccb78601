"""Issue 15 item 14: the exact wording of a new user's first mistakes.

Each case asserts the whole of stderr: one ``error:`` line (plus at most one ``hint:``),
exit status 2, nothing on stdout, no traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def _stderr_of(r) -> str:
    assert r.code == 2, (r.code, r.stdout, r.stderr)
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), lines
    return str(r.stderr)


@pytest.mark.parametrize("command", ["conv", "pool", "pad", "act", "flatten"])
def test_a_directory_as_input_is_called_a_directory(cli, tmp_path: Path, command: str) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    assert _stderr_of(cli(command, str(folder))) == f"error: {folder}: is a directory, not a file\n"


def test_a_directory_as_a_kernel_file_is_called_a_directory(cli, tmp_path: Path) -> None:
    assert _stderr_of(cli("conv", "-k", str(tmp_path))) == (
        f"error: {tmp_path}: is a directory, not a file\n"
    )


def test_a_missing_file_without_extension_is_missing_not_unsupported(cli, tmp_path: Path) -> None:
    assert _stderr_of(cli("conv", str(tmp_path / "photo"))) == (
        f"error: {tmp_path / 'photo'}: no such file\n"
    )


def test_a_file_without_extension_is_still_an_unsupported_type(cli, tmp_path: Path) -> None:
    path = tmp_path / "data"
    path.write_text("1,2\n3,4\n")
    assert "unsupported file type (no extension)" in _stderr_of(cli("conv", str(path)))


def test_comma_separated_kernel_names_say_to_repeat_k(cli) -> None:
    assert _stderr_of(cli("conv", "-k", "sobel-x,laplacian")) == (
        "error: -k takes one kernel name, got 'sobel-x,laplacian'; repeat -k for several: "
        "-k sobel-x -k laplacian\n"
    )


def test_repeating_k_as_the_error_says_works(cli) -> None:
    r = cli("conv", "-k", "sobel-x", "-k", "laplacian", "--json")
    assert r.code == 0, r.stderr
    payload = json.loads(r.stdout)
    assert payload["output"]["shape"] == [1, 2, 26, 26]
    assert payload["weight"][1][0] == [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]


def test_a_comma_list_with_an_unknown_name_still_offers_close_names(cli) -> None:
    err = _stderr_of(cli("conv", "-k", "sobel-x,laplaciann"))
    assert err.startswith("error: unknown kernel name 'sobel-x,laplaciann'")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["conv", "-s", "0"], "error: stride must be at least 1, got 0\n"),
        (["conv", "-s", "2,0"], "error: stride must be at least 1, got (2, 0)\n"),
        (["pool", "-s", "0"], "error: stride must be at least 1, got 0\n"),
        (["conv", "-d", "0"], "error: dilation must be at least 1, got 0\n"),
        (["conv", "-p", "-1"], "error: padding must not be negative, got -1\n"),
    ],
)
def test_a_zero_stride_says_the_value_given(cli, argv: list[str], expected: str) -> None:
    assert _stderr_of(cli(*argv)) == expected


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pool", "--mode", "median"], "error: --mode must be one of max, avg, got 'median'\n"),
        (
            ["conv", "--show", "chart"],
            "error: --show must be one of auto, table, heatmap, stats, none, got 'chart'\n",
        ),
    ],
)
def test_a_bad_choice_names_the_choices_without_typer_wording(
    cli, argv: list[str], expected: str
) -> None:
    err = _stderr_of(cli(*argv))
    assert err == expected
    assert "Value error" not in err and "Invalid value" not in err


def test_pool_m_says_it_is_not_an_option_and_suggests_mode(cli) -> None:
    assert _stderr_of(cli("pool", "-m", "median")) == (
        "error: -m is not an option of pool\n"
        "hint: did you mean --mode median? (-m is no longer short for --mode)\n"
    )


def test_an_unknown_option_names_the_command_and_the_close_options(cli) -> None:
    assert _stderr_of(cli("conv", "--gard", "ones")) == (
        "error: --gard is not an option of conv\nhint: did you mean --grad or --gray?\n"
    )
    assert _stderr_of(cli("conv", "--zzz")) == (
        "error: --zzz is not an option of conv\nhint: run `cnncli conv --help` for its options\n"
    )


def test_a_root_option_after_the_command_says_where_it_goes(cli) -> None:
    assert _stderr_of(cli("pool", "--engine", "plain")) == (
        "error: --engine is not an option of pool\n"
        "hint: --engine goes before the command: cnncli --engine ... pool ...\n"
    )


def test_channels_blames_the_batch_item_not_the_syntax(cli) -> None:
    assert _stderr_of(cli("conv", "--channels", "1:0")) == (
        "error: --channels 1:0: batch item 1 is out of range 0..0 (the input has 1 batch item)\n"
    )


def test_channels_with_bad_syntax_still_shows_the_syntax(cli) -> None:
    assert _stderr_of(cli("conv", "--channels", "x:1")) == (
        "error: --channels takes indices like 0,3 or 0-5 or 1:0, got 'x:1'\n"
    )


def test_channels_in_range_batch_item_works(cli, npy) -> None:
    path = npy(np.arange(2 * 1 * 4 * 4, dtype=np.float32).reshape(2, 1, 4, 4))
    r = cli("pool", path, "--channels", "1:0", "--show", "table")
    assert r.code == 0, r.stderr
    assert "output[1, 0]" in r.stdout and "output[0, 0]" not in r.stdout


@pytest.mark.parametrize("word", ["zeros", "random", "1"])
def test_grad_with_a_word_says_what_grad_takes(cli, word: str) -> None:
    assert _stderr_of(cli("conv", "--grad", word)) == (
        f"error: --grad takes 'ones' or a file of dL/dY with the output's shape "
        f"(1, 2, 26, 26), got '{word}'\n"
        "hint: --grad ones for L = sum of Y; or save an array of that shape as .npy and give "
        "its path\n"
    )


def test_grad_hint_values_work(cli, npy) -> None:
    """Both things the hint suggests run: ``ones`` and a .npy of the output's shape."""
    assert cli("conv", "--grad", "ones", "--show", "none").code == 0
    path = npy(np.ones((1, 2, 26, 26), dtype=np.float32), "dy.npy")
    r = cli("conv", "--grad", path, "--show", "none")
    assert r.code == 0, r.stderr


def test_a_missing_weights_file_is_worded_like_a_missing_input(cli, tmp_path: Path) -> None:
    missing = tmp_path / "alexnet.npz"
    weights = _stderr_of(cli("forward", "-m", "lenet5", "-w", str(missing)))
    data = _stderr_of(cli("conv", str(tmp_path / "photo.png")))
    assert weights == f"error: {missing}: no such file\n"
    assert data == f"error: {tmp_path / 'photo.png'}: no such file\n"


def test_a_directory_as_weights_is_called_a_directory(cli, tmp_path: Path) -> None:
    assert _stderr_of(cli("forward", "-m", "lenet5", "-w", str(tmp_path))) == (
        f"error: {tmp_path}: is a directory, not a file\n"
    )


def test_a_spec_with_three_errors_reports_all_three(cli, tmp_path: Path) -> None:
    spec = tmp_path / "net.toml"
    spec.write_text(
        "input = [3, 32, 32]\n"
        "layers = [\n"
        '  { type = "Conv2d", out_channels = 8, kernal_size = 3 },\n'
        '  { type = "ReLU" },\n'
        '  { type = "MaxPool2d", kernel_size = 0 },\n'
        '  { type = "Conv2D", out_channels = 4, kernel_size = 3 },\n'
        "]\n"
    )
    assert _stderr_of(cli("shapes", str(spec))) == (
        "error: net.toml: 3 problems: "
        "layers[0] (Conv2d): unknown key 'kernal_size' (did you mean kernel_size?); "
        "layers[2] (MaxPool2d): key 'kernel_size' must be at least 1, got 0; "
        "layers[3] (Conv2D): unknown layer type (did you mean Conv2d?)\n"
        "hint: known layer types: Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, ReLU, "
        "LeakyReLU, Sigmoid, Tanh, Softmax, Flatten, Dropout, Linear, BatchNorm2d, BasicBlock, "
        "Sequential, Residual, Bottleneck, Concat, Multiply, SqueezeExcitation, Fire, Inception, "
        "BasicConv2d, ConvTranspose2d, Upsample, ZeroPad2d, AdaptiveMaxPool2d, ReLU6, Hardtanh, "
        "SiLU, GELU, Hardswish, Hardsigmoid, ELU, Mish, Identity, Dropout2d, BatchNorm1d, "
        "GroupNorm, DenseBlock, Transition, Conv2dNormActivation, InvertedResidual\n"
    )


def test_an_unsupported_pytorch_layer_says_so(cli, tmp_path: Path) -> None:
    spec = tmp_path / "up.json"
    spec.write_text(
        '{"input": [3, 8, 8], "layers": [{"type": "Conv2d", "out_channels": 4, '
        '"kernel_size": 3}, {"type": "ConvTranspose3d", "out_channels": 2, "kernel_size": 2}]}'
    )
    err = _stderr_of(cli("shapes", str(spec)))
    assert err.startswith(
        "error: up.json: layers[1] (ConvTranspose3d): ConvTranspose3d is a PyTorch layer that "
        "cnncli does not support yet; cnncli's layer types: Conv2d, "
    )
    assert "did you mean" not in err and "hint:" not in err
