"""``cnncli conv --transpose``: the output, --grad and --explain equal PyTorch's
conv_transpose2d with the same kernels; the header's formula; errors as one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.oracle import assert_close

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _t(a: np.ndarray) -> object:
    return torch.from_numpy(np.ascontiguousarray(a))


@pytest.fixture
def x2(npy) -> tuple[np.ndarray, str]:
    x = np.random.default_rng(7).normal(size=(2, 2, 4, 5)).astype(np.float32)
    return x, npy(x)


def test_output_and_grads_equal_torch_with_the_same_kernels(cli, x2, npy, tmp_path: Path) -> None:
    """Two 3-D kernels (one slice per input channel), as conv reads them: map f uses kernel f
    on channel c, that is ConvTranspose2d's weight[c, f] = kernel_f[c]."""
    x, path = x2
    rng = np.random.default_rng(8)
    k0, k1 = rng.normal(size=(2, 3, 3)).astype(np.float32), rng.normal(size=(2, 3, 3)).astype(np.float32)  # fmt: skip
    out = tmp_path / "g.npz"
    r = cli(
        "conv", path, "--transpose", "-k", npy(k0, "k0.npy"), "-k", npy(k1, "k1.npy"),
        "-s", "2", "-p", "1", "--output-padding", "1", "-b", "0.5,-1", "--grad", "ones",
        "-o", str(out),
    )  # fmt: skip
    assert r.code == 0, r.stderr
    w = np.stack([k0, k1], axis=1)  # (C, F, KH, KW)
    tx, tw = _t(x).requires_grad_(), _t(w).requires_grad_()
    tb = torch.tensor([0.5, -1.0], requires_grad=True)
    y = F.conv_transpose2d(tx, tw, tb, stride=2, padding=1, output_padding=1)
    y.sum().backward()
    with np.load(out) as z:
        assert z["output"].shape == (2, 2, 8, 10)
        assert_close(z["output"], y)
        assert_close(z["grad_input"], tx.grad)
        assert_close(z["grad_weight"], tw.grad)
        assert_close(z["grad_bias"], tb.grad)
    assert "conv_transpose2d  weight (2, 2, 3, 3) (C, F/groups, KH, KW)" in r.stdout
    assert "H_out = (4 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 8" in r.stdout
    assert "W_out = (5 − 1)·2 − 2·1 + 1·(3 − 1) + 1 + 1 = 10" in r.stdout


def test_a_4d_kernel_is_pytorchs_conv_transpose_weight(cli, x2, npy, tmp_path: Path) -> None:
    x, path = x2
    w = np.random.default_rng(9).normal(size=(2, 3, 2, 3)).astype(np.float32)  # (C, F/groups, ..)
    out = tmp_path / "y.npy"
    r = cli("conv", path, "--transpose", "-k", npy(w, "w.npy"), "-g", "2", "-d", "2", "-s", "1,2", "-o", str(out))  # fmt: skip
    assert r.code == 0, r.stderr
    assert_close(np.load(out), F.conv_transpose2d(_t(x), _t(w), None, stride=(1, 2), groups=2, dilation=2))  # fmt: skip


def test_explain_lists_every_input_cell_and_tap(cli, x2, tmp_path: Path) -> None:
    x, path = x2
    r = cli("conv", path, "--transpose", "-k", "1,2;3,4", "-s", "2", "--explain", "0,3,4", "--json")  # fmt: skip
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    terms = data["explain"]["terms"]
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    # output row 3 = r·2 + m: (r, m) = (1, 1); column 4 = q·2 + k: (q, k) = (2, 0); both channels
    assert [(t["channel"], t["input_cell"], t["tap"]) for t in terms] == [
        (0, [1, 2], [1, 0]),
        (1, [1, 2], [1, 0]),
    ]
    want = float(x[0, 0, 1, 2] * w[1, 0] + x[0, 1, 1, 2] * w[1, 0])
    assert data["explain"]["value"] == pytest.approx(want, rel=1e-6)
    text = cli("conv", path, "--transpose", "-k", "1,2;3,4", "-s", "2", "--explain", "0,3,4")
    assert "output[0, 0, 3, 4] step by step" in text.stdout and "✓" in text.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-s", "2", "--output-padding", "2"],
            "error: output_padding 2 along H must be smaller than either the stride 2 or the dilation 1, as in PyTorch",
        ),
        (
            ["-p", "same"],
            "error: --transpose takes padding N or H,W (cropped from both sides, as PyTorch), got 'same'",
        ),
        (
            ["--pad-mode", "reflect"],
            "error: --transpose pads with zeros and has no window to animate: leave out --pad-mode",
        ),
        (["-p", "5"], "error: transposed convolution output along H is -4"),
    ],
)
def test_errors_are_one_line_with_exit_2(cli, x2, args: list[str], message: str) -> None:
    _, path = x2
    r = cli("conv", path, "--transpose", "-k", "box", *args)
    assert r.code == 2
    lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(message), r.stderr


def test_output_padding_needs_transpose(cli, x2) -> None:
    _, path = x2
    r = cli("conv", path, "-k", "box", "--output-padding", "1")
    assert r.code == 2
    assert "error: --output-padding is for the transposed convolution: add --transpose" in r.stderr


def test_a_spec_with_a_bad_output_padding_is_one_error_line(cli, tmp_path: Path) -> None:
    spec = tmp_path / "up.json"
    spec.write_text(
        '{"input": [3, 8, 8], "layers": [{"type": "ConvTranspose2d", "out_channels": 2, '
        '"kernel_size": 3, "stride": 2, "output_padding": [1, 2]}]}'
    )
    r = cli("shapes", str(spec))
    assert r.code == 2
    assert r.stderr.strip().splitlines() == [
        "error: up.json: layers[0] (ConvTranspose2d): ConvTranspose2d output_padding 2 along W "
        "must be smaller than either the stride 2 or the dilation 1, as in PyTorch"
    ]
