"""``cnncli conv``: every option against PyTorch, the seed's multi-channel example, --explain, --grad."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnncli.examples import seed_multichannel
from tests.oracle import assert_close, torch_conv2d
from tests.oracle import to_torch as _t

torch = pytest.importorskip("torch", reason="PyTorch is the oracle for conv parity")
F = torch.nn.functional

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
SOBEL_Y = SOBEL_X.T.copy()


def _torch_conv(x, w, b=None, stride=1, pad=(0, 0, 0, 0), dilation=1, groups=1, mode="zeros"):
    """The oracle's conv2d with the command's spelling: four padding amounts, a mode."""
    (y,) = torch_conv2d(x, w, b, stride, pad, dilation, groups, mode)
    return y


@pytest.fixture
def x3(npy) -> tuple[np.ndarray, str]:
    x = np.random.default_rng(1).normal(size=(1, 3, 9, 8)).astype(np.float32)
    return x, npy(x)


def test_default_is_sobel_on_the_built_in_digit_with_notes(cli, tmp_path: Path) -> None:
    out = tmp_path / "y.npy"
    r = cli("conv", "-o", str(out))
    assert r.code == 0, r.stderr
    assert "no INPUT given" in r.stdout and "digit 8" in r.stdout
    assert "no -k given: using sobel" in r.stdout
    y = np.load(out)
    assert y.shape[1] == 2
    from cnncli.io import builtin

    x = builtin.digit8().array.astype(np.float32)
    w = np.stack([SOBEL_X, SOBEL_Y])[:, None]
    assert_close(y, _torch_conv(x, w))


def test_seed_multichannel_example_end_to_end(cli, npy, tmp_path: Path) -> None:
    x, w, b = seed_multichannel()
    xp, wp = npy(x, "seed_x.npy"), npy(w, "seed_w.npy")
    out = tmp_path / "y.npy"
    r = cli("conv", xp, "-k", wp, "-b", "1,0", "-s", "2", "-o", str(out))
    assert r.code == 0, r.stderr
    y = np.load(out)
    expected = np.zeros((1, 2, 3, 3))
    for f in range(2):  # the seed's arithmetic, written out
        for i in range(3):
            for j in range(3):
                expected[0, f, i, j] = (
                    x[0, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3] * w[f]
                ).sum() + b[f]
    assert_close(y, expected.astype(np.float32))
    assert "H_out = ⌊(7 + 2·0 − 1·(3 − 1) − 1) / 2⌋ + 1 = 3" in r.stdout


def test_seed_multichannel_sample_file(cli, tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "samples" / "seed_multichannel.npz"
    with np.load(sample, allow_pickle=False) as z:
        x, w, b = z["x"], z["weight"], z["bias"]
    wfile = tmp_path / "w.npy"
    np.save(wfile, w)
    out = tmp_path / "y.npy"
    bias = ",".join(str(float(v)) for v in b)
    r = cli(
        "conv", str(sample), "--key", "x", "-k", str(wfile), "-b", bias, "-s", "2", "-o", str(out)
    )
    assert r.code == 0, r.stderr
    assert_close(
        np.load(out),
        _torch_conv(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), stride=2),
    )


@pytest.mark.parametrize(
    ("opts", "torch_kwargs"),
    [
        ([], {}),
        (["-s", "2"], {"stride": 2}),
        (["-s", "2,1"], {"stride": (2, 1)}),
        (["-p", "1"], {"pad": (1, 1, 1, 1)}),
        (["-p", "2,1"], {"pad": (1, 1, 2, 2)}),
        (["-p", "1,2,0,3"], {"pad": (1, 2, 0, 3)}),
        (["-p", "same"], {"pad": (1, 1, 1, 1)}),
        (["-p", "valid"], {}),
        (["-p", "2", "--pad-mode", "reflect"], {"pad": (2, 2, 2, 2), "mode": "reflect"}),
        (["-p", "1", "--pad-mode", "replicate"], {"pad": (1, 1, 1, 1), "mode": "replicate"}),
        (["-p", "1,2,1,0", "--pad-mode", "circular"], {"pad": (1, 2, 1, 0), "mode": "circular"}),
        (["-d", "2"], {"dilation": 2}),
        (["-d", "2,1", "-p", "same"], {"dilation": (2, 1), "pad": (1, 1, 2, 2)}),
    ],
)
def test_conv_options_match_pytorch(cli, x3, tmp_path: Path, opts, torch_kwargs) -> None:
    x, path = x3
    out = tmp_path / "y.npy"
    r = cli("conv", path, "-k", "sobel-x", "-k", "sobel-y", *opts, "-o", str(out))
    assert r.code == 0, r.stderr
    w = np.stack([np.broadcast_to(SOBEL_X, (3, 3, 3)), np.broadcast_to(SOBEL_Y, (3, 3, 3))])
    assert_close(np.load(out), _torch_conv(x, w.astype(np.float32), **torch_kwargs))


def test_padding_is_printed_back_by_name(cli, x3) -> None:
    r = cli("conv", x3[1], "-k", "box", "-p", "1,2,3,4", "--show", "none")
    assert "padding left 1, right 2, top 3, bottom 4 (zeros)" in r.stdout
    assert "H_out = ⌊(9 + 3 + 4 − 1·(3 − 1) − 1) / 1⌋ + 1 = 14" in r.stdout


def test_kernel_forms_inline_file_3d_4d_and_bank(cli, x3, npy, tmp_path: Path) -> None:
    x, path = x3
    rng = np.random.default_rng(2)
    k3 = rng.normal(size=(3, 2, 2)).astype(np.float32)
    k4 = rng.normal(size=(2, 3, 2, 2)).astype(np.float32)
    csv = tmp_path / "k.csv"
    csv.write_text("1,0\n0,-1\n")
    out = tmp_path / "y.npy"
    r = cli(
        "conv", path, "-k", "1,2;3,4", "-k", "[[0,1],[1,0]]", "-k", str(csv),
        "-k", npy(k3, "k3.npy"), "-k", npy(k4, "k4.npy"), "-o", str(out),
    )  # fmt: skip
    assert r.code == 0, r.stderr
    two_d = [np.array([[1, 2], [3, 4]]), np.array([[0, 1], [1, 0]]), np.array([[1, 0], [0, -1]])]
    w = np.concatenate(
        [np.stack([np.broadcast_to(k, (3, 2, 2)) for k in two_d]), k3[None], k4]
    ).astype(np.float32)
    assert np.load(out).shape == (1, 6, 8, 7)
    assert_close(np.load(out), _torch_conv(x, w))


def test_pair_names_give_two_maps_and_magnitude_combines_them(cli, x3, tmp_path: Path) -> None:
    x, path = x3
    out = tmp_path / "m.npy"
    r = cli("conv", path, "-k", "scharr", "--magnitude", "-o", str(out))
    assert r.code == 0, r.stderr
    assert "2-D kernels run over all 3 channels, summed to one map each" in r.stdout
    sx = np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], dtype=np.float32)
    w = np.stack([np.broadcast_to(sx, (3, 3, 3)), np.broadcast_to(sx.T, (3, 3, 3))])
    g = _torch_conv(x, w.astype(np.float32))
    assert_close(np.load(out), torch.sqrt(g[:, :1] ** 2 + g[:, 1:] ** 2))
    odd = cli("conv", path, "-k", "box", "--magnitude")
    assert odd.code == 2 and "pairs" in odd.stderr


def test_depthwise_matches_pytorch_groups_equal_channels(cli, x3, tmp_path: Path) -> None:
    x, path = x3
    out = tmp_path / "y.npy"
    r = cli("conv", path, "-k", "sobel", "--depthwise", "-o", str(out))
    assert r.code == 0, r.stderr
    w = np.stack([SOBEL_X, SOBEL_Y] * 3)[:, None]  # f = c*2 + m
    assert_close(np.load(out), _torch_conv(x, w, groups=3))
    assert "depthwise conv2d" in r.stdout and "groups 3" in r.stdout


def test_groups_bias_and_activation(cli, npy, tmp_path: Path) -> None:
    x = np.random.default_rng(3).normal(size=(2, 4, 6, 6)).astype(np.float32)
    w = np.random.default_rng(4).normal(size=(2, 2, 3, 3)).astype(np.float32)
    out = tmp_path / "y.npy"
    r = cli(
        "conv", npy(x), "-k", npy(w, "w.npy"), "-g", "2", "-b", "0.5,-1", "-a", "leaky-relu",
        "--slope", "0.2", "-o", str(out),
    )  # fmt: skip
    assert r.code == 0, r.stderr
    ref = F.leaky_relu(_torch_conv(x, w, np.array([0.5, -1], np.float32), groups=2), 0.2)
    assert_close(np.load(out), ref)
    r = cli("conv", npy(x), "-k", "box", "-b", "2", "-a", "relu", "-o", str(out))
    ref = F.relu(
        _torch_conv(x, np.full((1, 4, 3, 3), 1 / 9, np.float32), np.array([2], np.float32))
    )
    assert_close(np.load(out), ref)


def test_float64_is_kept(cli, x3, tmp_path: Path) -> None:
    x, path = x3
    out = tmp_path / "y.npy"
    r = cli("conv", path, "-k", "gaussian3", "--dtype", "float64", "-o", str(out))
    assert r.code == 0, r.stderr
    y = np.load(out)
    assert y.dtype == np.float64
    k = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16
    assert_close(y, _torch_conv(x.astype(np.float64), np.broadcast_to(k, (1, 3, 3, 3)).copy()))


def test_explain_shows_the_cell_step_by_step_and_equals_the_output(cli, npy) -> None:
    x, w, _b = seed_multichannel()
    r = cli("conv", npy(x), "-k", npy(w, "w.npy"), "-b", "1,0", "-s", "2", "--explain", "0,1,2")
    assert r.code == 0, r.stderr
    expected = float((x[0, :, 2:5, 4:7] * w[0]).sum() + 1)
    assert "input[0, 0] patch" in r.stdout and "weight[0, 2]" in r.stdout
    assert "sum over channels:" in r.stdout
    assert f"conv[0, 0, 1, 2] = {expected:g}" in r.stdout and "✓" in r.stdout
    data = json.loads(cli("conv", npy(x), "-k", npy(w, "w.npy"), "-b", "1,0", "-s", "2",
                          "--explain", "1,2,0", "--json").stdout)  # fmt: skip
    e = data["explain"]
    assert e["index"] == [0, 1, 2, 0]
    assert e["value"] == pytest.approx(float((x[0, :, 4:7, 0:3] * w[1]).sum()))
    assert np.sum(e["products"]) == pytest.approx(e["sum"])
    assert e["sum"] + e["bias"] == pytest.approx(data["output"]["values"][0][1][2][0])


@pytest.mark.parametrize(
    ("engine", "kernel", "method"),
    [
        ("plain", "sobel", "plain: im2col + matrix product"),
        ("fast", "sobel", "fast: one kernel on the channels' sum, shift-and-add"),
        ("fast", "w.npy", "fast: im2col on the NCHW windows, by chunks of images"),
    ],
)
def test_explain_names_the_path_that_computed_the_value(
    cli, npy, engine: str, kernel: str, method: str
) -> None:
    x, w, _b = seed_multichannel()
    kernel = npy(w, "w.npy") if kernel == "w.npy" else kernel
    args = ("--engine", engine, "conv", npy(x), "-k", kernel, "--explain", "0,1,2")
    r = cli(*args)
    assert r.code == 0, r.stderr
    path, how = method.split(": ", 1)
    assert f"computed on the {path} path: {how}" in r.stdout
    assert json.loads(cli(*args, "--json").stdout)["explain"]["engine_path"] == method


def test_explain_marks_padding_and_dilation(cli, npy) -> None:
    x = np.arange(25, dtype=np.float32).reshape(1, 1, 5, 5)
    r = cli("conv", npy(x), "-k", "laplacian", "-p", "2", "-d", "2", "--explain", "0,0", "--json")
    e = json.loads(r.stdout)["explain"]
    assert e["rows"] == [-2, 0, 2] and e["cols"] == [-2, 0, 2]
    text = cli("conv", npy(x), "-k", "laplacian", "-p", "2", "-d", "2", "--explain", "0,0").stdout
    assert "-2p" in text and "padding" in text


def test_grad_ones_matches_pytorch_autograd(cli, x3, tmp_path: Path) -> None:
    x, path = x3
    out = tmp_path / "g.npz"
    r = cli(
        "conv",
        path,
        "-k",
        "sobel",
        "-b",
        "1",
        "-s",
        "2",
        "-p",
        "1",
        "--grad",
        "ones",
        "-o",
        str(out),
    )
    assert r.code == 0, r.stderr
    assert "dL/dX" in r.stdout and "dL/dW" in r.stdout and "dL/db" in r.stdout
    w = np.stack([np.broadcast_to(SOBEL_X, (3, 3, 3)), np.broadcast_to(SOBEL_Y, (3, 3, 3))]).copy()
    tx, tw = _t(x).requires_grad_(), _t(w).requires_grad_()
    tb = torch.ones(2, requires_grad=True)
    y = F.conv2d(F.pad(tx, (1, 1, 1, 1)), tw, tb, 2)
    y.sum().backward()
    with np.load(out) as z:
        assert set(z.files) == {"output", "grad_input", "grad_weight", "grad_bias"}
        assert_close(z["output"], y)
        assert_close(z["grad_input"], tx.grad)
        assert_close(z["grad_weight"], tw.grad)
        assert_close(z["grad_bias"], tb.grad)


def test_grad_file_through_activation(cli, x3, npy, tmp_path: Path) -> None:
    x, path = x3
    dy = np.random.default_rng(5).normal(size=(1, 1, 7, 6)).astype(np.float32)
    out = tmp_path / "g.npz"
    r = cli("conv", path, "-k", "emboss", "-a", "tanh", "--grad", npy(dy, "dy.npy"), "-o", str(out))
    assert r.code == 0, r.stderr
    k = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)
    tx = _t(x).requires_grad_()
    y = torch.tanh(F.conv2d(tx, _t(np.broadcast_to(k, (1, 3, 3, 3)).copy())))
    y.backward(_t(dy))
    with np.load(out) as z:
        assert_close(z["grad_input"], tx.grad)


def test_json_output(cli, x3) -> None:
    _x, path = x3
    data = json.loads(cli("conv", path, "-k", "sharpen", "-p", "same", "--json").stdout)
    assert data["op"] == "conv2d"
    assert data["input"]["shape"] == [1, 3, 9, 8]
    assert data["output"]["shape"] == [1, 1, 9, 8]
    assert data["parameters"]["padding"] == [1, 1, 1, 1]
    assert np.asarray(data["output"]["values"]).shape == (1, 1, 9, 8)


def test_magnitude_is_exactly_sqrt_of_the_squares_across_row_blocks() -> None:
    """The block-wise --magnitude gives the numbers of the one-line formula, bit for bit."""
    from cnncli.nn.kernels import magnitude

    rng = np.random.default_rng(5)
    # Rows of 300,000 float32 values: a 4 MiB block holds 3 of them, so 7 rows take 3 blocks.
    y = rng.standard_normal((2, 4, 7, 300_000), dtype=np.float32)
    expected = np.sqrt(y[:, 0::2] ** 2 + y[:, 1::2] ** 2)
    np.testing.assert_array_equal(magnitude(y), expected)
