"""Every user mistake of issue 3: exit status 2, one ``error:`` line, no traceback, no file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def _assert_usage_error(r, *needles: str) -> None:
    assert r.code == 2, (r.code, r.stdout, r.stderr)
    assert r.stderr.startswith("error: "), r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) <= 2  # error + at most a hint
    assert "Traceback" not in r.stderr + r.stdout
    for needle in needles:
        assert needle in r.stderr


def test_missing_file(cli, tmp_path: Path) -> None:
    _assert_usage_error(cli("pool", str(tmp_path / "nope.csv")), "nope.csv")


def test_directory(cli, tmp_path: Path) -> None:
    _assert_usage_error(cli("pool", str(tmp_path)))


def test_empty_file(cli, tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("")
    _assert_usage_error(cli("pool", str(tmp_path / "e.csv")))


def test_corrupt_and_truncated_image(cli, tmp_path: Path) -> None:
    from PIL import Image

    good = tmp_path / "g.png"
    Image.fromarray(np.full((20, 20), 7, np.uint8)).save(good)
    data = good.read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "r.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    _assert_usage_error(cli("conv", str(tmp_path / "t.png")))
    _assert_usage_error(cli("conv", str(tmp_path / "r.png")))


@pytest.mark.parametrize("text", ["1,2,3\n4,5\n", "1,2\nx,4\n"])
def test_ragged_or_non_numeric_csv(cli, tmp_path: Path, text: str) -> None:
    (tmp_path / "bad.csv").write_text(text)
    _assert_usage_error(cli("pool", str(tmp_path / "bad.csv")))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nonfinite_input_names_the_position(cli, npy, value: float) -> None:
    x = np.zeros((1, 1, 3, 3), np.float32)
    x[0, 0, 2, 1] = value
    r = cli("conv", npy(x), "-k", "identity")
    _assert_usage_error(r)
    assert "2" in r.stderr and "1" in r.stderr


def test_kernel_of_wrong_rank(cli, npy) -> None:
    _assert_usage_error(
        cli("conv", "-k", npy(np.ones((1, 1, 1, 3, 3), np.float32), "k5.npy")), "kernel"
    )
    _assert_usage_error(cli("conv", "-k", npy(np.ones(3, np.float32), "k1.npy")), "kernel")


def test_kernel_of_wrong_channel_count(cli, npy) -> None:
    x = npy(np.ones((1, 3, 5, 5), np.float32))
    _assert_usage_error(
        cli("conv", x, "-k", npy(np.ones((2, 3, 3), np.float32), "k3.npy")), "channel"
    )
    _assert_usage_error(
        cli("conv", x, "-k", npy(np.ones((1, 2, 3, 3), np.float32), "k4.npy")), "channel"
    )


def test_kernel_larger_than_the_padded_input(cli, npy) -> None:
    x = npy(np.ones((1, 1, 3, 3), np.float32))
    _assert_usage_error(cli("conv", x, "-k", "gaussian5"), "larger than the padded input")
    assert cli("conv", x, "-k", "gaussian5", "-p", "1").code == 0


def test_bank_of_mixed_sizes(cli) -> None:
    _assert_usage_error(cli("conv", "-k", "box", "-k", "gaussian5"), "one size")


@pytest.mark.parametrize("command", ["conv", "pool"])
def test_stride_zero(cli, command: str) -> None:
    _assert_usage_error(cli(command, "-s", "0"), "stride")


def test_unknown_kernel_name_lists_close_ones(cli) -> None:
    r = cli("conv", "-k", "gausian3")
    _assert_usage_error(r, "gausian3", "gaussian3")
    assert "hint:" in r.stderr


def test_unsupported_input_and_output_extensions(cli, tmp_path: Path) -> None:
    (tmp_path / "x.xyz").write_text("1,2\n3,4\n")
    _assert_usage_error(cli("pool", str(tmp_path / "x.xyz")))
    _assert_usage_error(cli("pool", "-o", str(tmp_path / "y.xyz")))
    assert not (tmp_path / "y.xyz").exists()


def test_unwritable_output(cli, tmp_path: Path) -> None:
    _assert_usage_error(cli("pool", "-o", str(tmp_path / "no" / "such" / "dir" / "y.npy")))
    (tmp_path / "afile").write_text("")
    _assert_usage_error(cli("pool", "-o", str(tmp_path / "afile" / "y.npy")))  # even for root
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        # Root writes into a read-only folder anyway (as in CI); there the refusal is
        # proven by tests/hostile/test_outputs.py, which simulates EROFS and EACCES.
        if not os.access(locked, os.W_OK):
            _assert_usage_error(cli("pool", "-o", str(locked / "y.npy")))
            assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["conv", "--explain", "99,0"], "out of range"), (["conv", "--explain", "5,0,0"], "channel F=5"),
     (["pool", "--explain", "2,0"], "row I=2"), (["pool", "--explain", "a,b"], "--explain")],
)  # fmt: skip
def test_explain_out_of_range(cli, args: list[str], needle: str) -> None:
    _assert_usage_error(cli(*args), needle)


def test_bad_parameters(cli) -> None:
    _assert_usage_error(cli("conv", "-p", "1,2,3"), "padding")
    _assert_usage_error(cli("conv", "-p", "same", "-s", "2"), "same")
    _assert_usage_error(cli("conv", "-b", "1,2,3"), "--bias")
    _assert_usage_error(cli("conv", "--depthwise", "-g", "2"), "depthwise")
    _assert_usage_error(cli("conv", "-g", "2"), "groups")
    _assert_usage_error(cli("pool", "-k", "2", "-p", "2"), "half")
    _assert_usage_error(cli("pool", "--mode", "avg", "--dilation", "2"), "dilation")
    _assert_usage_error(cli("pool", "--mode", "fancy"))
    _assert_usage_error(cli("act", "-f", "softmax", "--dim", "7"), "dim")
    _assert_usage_error(cli("conv", "--grad", "ones", "--magnitude"), "magnitude")


def test_grad_file_of_the_wrong_shape(cli, npy) -> None:
    _assert_usage_error(cli("pool", "--grad", npy(np.ones((3, 3), np.float32), "g.npy")), "shape")


@pytest.mark.parametrize(
    "args",
    [["conv", "-p", "2000000"], ["pad", "-p", "3000000"], ["pool", "-k", "2", "-s", "1", "--max-memory", "100"],
     ["conv", "-k", "box", "--max-memory", "2K"]],
)  # fmt: skip
def test_work_above_the_memory_limit_is_refused_before_allocating(cli, args: list[str]) -> None:
    r = cli(*args)
    _assert_usage_error(r, "limit")


def test_max_memory_must_be_a_size(cli) -> None:
    _assert_usage_error(cli("pad", "--max-memory", "lots"), "--max-memory")


def test_npz_kernel_needs_a_key_and_says_how(cli) -> None:
    sample = Path(__file__).resolve().parents[2] / "samples" / "seed_multichannel.npz"
    r = cli("conv", "-k", str(sample))
    _assert_usage_error(r, "FILE.npz:KEY")
