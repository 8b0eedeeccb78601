"""``cnncli pool``, ``pad``, ``flatten``, ``act``, ``linear``, ``dropout`` against PyTorch and arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cnncli.examples import SEED_POOL_INPUT
from tests.oracle import assert_close
from tests.oracle import to_torch as _t

torch = pytest.importorskip("torch", reason="PyTorch is the oracle for the ops")
F = torch.nn.functional


@pytest.fixture
def x2(npy) -> tuple[np.ndarray, str]:
    x = np.random.default_rng(7).normal(size=(2, 2, 7, 8)).astype(np.float32)
    return x, npy(x)


# ------------------------------------------------------------------ pool ---


def test_pool_on_the_seed_matrix_gives_the_arithmetic_not_the_printed_average(
    cli, tmp_path: Path
) -> None:
    out = tmp_path / "y.npy"
    r = cli("pool", "-o", str(out))
    assert r.code == 0, r.stderr
    assert "no INPUT given" in r.stdout and "pooling section" in r.stdout
    blocks = SEED_POOL_INPUT.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(2, 2, 4)
    np.testing.assert_array_equal(np.load(out)[0, 0], blocks.max(axis=2))
    np.testing.assert_array_equal(np.load(out)[0, 0], [[9, 7], [8, 8]])
    r = cli("pool", "--mode", "avg", "-o", str(out))
    np.testing.assert_array_equal(np.load(out)[0, 0], blocks.mean(axis=2))
    np.testing.assert_array_equal(np.load(out)[0, 0], [[4.75, 4.25], [6.25, 4.25]])
    assert "4.7500" in r.stdout and "H_out = ⌊(4 + 2·0 − 1·(2 − 1) − 1) / 2⌋ + 1 = 2" in r.stdout


@pytest.mark.parametrize(
    ("opts", "fn", "kwargs"),
    [
        (["-k", "3"], "max", {"kernel_size": 3}),
        (["-k", "3", "-s", "2", "-p", "1"], "max", {"kernel_size": 3, "stride": 2, "padding": 1}),
        (["-k", "2,3", "-s", "1,2"], "max", {"kernel_size": (2, 3), "stride": (1, 2)}),
        (["-k", "3", "--dilation", "2"], "max", {"kernel_size": 3, "dilation": 2}),
        (["-k", "3", "-s", "2", "--ceil-mode"], "max", {"kernel_size": 3, "stride": 2, "ceil_mode": True}),
        (["--mode", "avg", "-k", "3", "-s", "2", "-p", "1"], "avg", {"kernel_size": 3, "stride": 2, "padding": 1}),
        (["--mode", "avg", "-k", "3", "-s", "2", "-p", "1", "--no-count-include-pad"], "avg",
         {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
        (["--mode", "avg", "-k", "3", "-s", "2", "--ceil-mode", "-p", "1"], "avg",
         {"kernel_size": 3, "stride": 2, "ceil_mode": True, "padding": 1}),
        (["--mode", "avg", "-k", "2", "--divisor-override", "3"], "avg", {"kernel_size": 2, "divisor_override": 3}),
    ],
)  # fmt: skip
def test_pool_options_match_pytorch(cli, x2, tmp_path: Path, opts, fn, kwargs) -> None:
    x, path = x2
    out = tmp_path / "y.npy"
    r = cli("pool", path, *opts, "-o", str(out))
    assert r.code == 0, r.stderr
    ref = (F.max_pool2d if fn == "max" else F.avg_pool2d)(_t(x), **kwargs)
    assert_close(np.load(out), ref)


def test_global_pooling(cli, x2, tmp_path: Path) -> None:
    x, path = x2
    out = tmp_path / "y.npy"
    assert cli("pool", path, "--global", "-o", str(out)).code == 0
    assert_close(np.load(out), _t(x).amax(dim=(2, 3), keepdim=True))
    assert cli("pool", path, "--global", "--mode", "avg", "-o", str(out)).code == 0
    assert_close(np.load(out), _t(x).mean(dim=(2, 3), keepdim=True))


def test_pool_explain_max_and_mean_with_divisor(cli, npy) -> None:
    r = cli("pool", "--explain", "0,1")
    assert r.code == 0, r.stderr
    assert "max of 4 values = 7 at input row 1, column 2" in r.stdout
    r = cli("pool", "--mode", "avg", "--explain", "1,0")
    assert "mean = 25 / 4 = 6.25" in r.stdout and "✓" in r.stdout
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    data = json.loads(
        cli("pool", npy(x), "--mode", "avg", "-k", "3", "-s", "2", "-p", "1", "--no-count-include-pad",
            "--explain", "0,0", "--json").stdout
    )  # fmt: skip
    e = data["explain"]
    assert e["divisor"] == 4 and e["sum"] == 0 + 1 + 4 + 5
    assert e["value"] == pytest.approx(2.5) == data["output"]["values"][0][0][0][0]


@pytest.mark.parametrize("engine", ["plain", "fast"])
@pytest.mark.parametrize(
    ("args", "op"),
    [
        ((), "max_pool2d"),
        (("--mode", "avg"), "avg_pool2d"),
        (("--adaptive", "2"), "adaptive_max_pool2d"),
    ],
)
def test_pool_explain_names_the_path_that_computed_the_value(
    cli, engine: str, args: tuple[str, ...], op: str
) -> None:
    from cnncli.engine import pool2d_method, use_engine

    with use_engine(engine):
        method = pool2d_method(op)
    assert method.startswith(engine + ": ")
    r = cli("--engine", engine, "pool", *args, "--explain", "0,1")
    assert r.code == 0, r.stderr
    assert "computed on the " + method.replace(": ", " path: ", 1) in r.stdout
    data = json.loads(cli("--engine", engine, "pool", *args, "--explain", "0,1", "--json").stdout)
    assert data["explain"]["engine_path"] == method


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_grad_matches_pytorch(cli, x2, tmp_path: Path, mode: str) -> None:
    x, path = x2
    out = tmp_path / "g.npz"
    r = cli(
        "pool",
        path,
        "--mode",
        mode,
        "-k",
        "3",
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
    tx = _t(x).requires_grad_()
    y = (F.max_pool2d if mode == "max" else F.avg_pool2d)(tx, 3, 2, 1)
    y.sum().backward()
    with np.load(out) as z:
        assert set(z.files) == {"output", "grad_input"}
        assert_close(z["grad_input"], tx.grad)


# ------------------------------------------------------------------- pad ---


@pytest.mark.parametrize(
    ("mode", "np_mode"),
    [("zeros", "constant"), ("reflect", "reflect"), ("symmetric", "symmetric"),
     ("replicate", "edge"), ("circular", "wrap")],
)  # fmt: skip
def test_pad_modes_in_f_pad_order(cli, x2, tmp_path: Path, mode: str, np_mode: str) -> None:
    x, path = x2
    out = tmp_path / "y.npy"
    r = cli("pad", path, "-p", "1,2,3,0", "--mode", mode, "-o", str(out))
    assert r.code == 0, r.stderr
    expected = np.pad(x, ((0, 0), (0, 0), (3, 0), (1, 2)), mode=np_mode)
    assert_close(np.load(out), expected)
    assert "left 1, right 2, top 3, bottom 0" in r.stdout
    assert "H_out = 7 + 3 + 0 = 10" in r.stdout and "W_out = 8 + 1 + 2 = 11" in r.stdout


def test_pad_constant_value_and_default(cli, tmp_path: Path) -> None:
    out = tmp_path / "y.npy"
    r = cli("pad", "--mode", "constant", "--value", "-7", "-o", str(out))
    assert r.code == 0, r.stderr
    np.testing.assert_array_equal(
        np.load(out)[0, 0], np.pad(SEED_POOL_INPUT, 1, constant_values=-7)
    )
    assert cli("pad", "--mode", "reflect", "--value", "1").code == 2


# --------------------------------------------------------------- flatten ---


def test_flatten_chw_and_hwc(cli, tmp_path: Path, npy) -> None:
    x = np.arange(3 * 7 * 7, dtype=np.float32).reshape(1, 3, 7, 7)
    out = tmp_path / "y.npy"
    r = cli("flatten", npy(x), "-o", str(out))
    assert r.code == 0, r.stderr
    np.testing.assert_array_equal(np.load(out), x.reshape(1, 147))
    assert "(1, 3·7·7) = (1, 147)" in r.stdout
    assert "x[0, 2, 6, 6]" in r.stdout and "x[0, 0, 0, 1]" in r.stdout
    r = cli("flatten", npy(x), "--order", "hwc", "-o", str(out))
    np.testing.assert_array_equal(np.load(out), x.transpose(0, 2, 3, 1).reshape(1, 147))
    data = json.loads(cli("flatten", npy(x), "--order", "hwc", "--json").stdout)
    first = data["positions"][1]
    assert (first["k"], first["c"], first["h"], first["w"]) == (1, 1, 0, 0)
    assert first["value"] == x[0, 1, 0, 0]


# ------------------------------------------------------------------- act ---

ACTS = {
    "relu": lambda t: F.relu(t),
    "leaky-relu": lambda t: F.leaky_relu(t, 0.3),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda t: F.softmax(t, dim=1),
    "log-softmax": lambda t: F.log_softmax(t, dim=1),
    "relu6": F.relu6,
    "hardtanh": F.hardtanh,
    "silu": F.silu,
    "gelu": F.gelu,
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "elu": F.elu,
    "mish": F.mish,
}


@pytest.mark.parametrize("fn", list(ACTS))
def test_act_and_its_grad_match_pytorch(cli, x2, npy, tmp_path: Path, fn: str) -> None:
    x, path = x2
    dy = np.random.default_rng(8).normal(size=x.shape).astype(np.float32)
    out = tmp_path / "g.npz"
    r = cli("act", path, "-f", fn, "--slope", "0.3", "--grad", npy(dy, "dy.npy"), "-o", str(out))
    assert r.code == 0, r.stderr
    tx = _t(x).requires_grad_()
    y = ACTS[fn](tx)
    y.backward(_t(dy))
    with np.load(out) as z:
        assert_close(z["output"], y)
        assert_close(z["grad_input"], tx.grad)


@pytest.mark.parametrize(
    ("options", "fn"),
    [
        (
            ["-f", "hardtanh", "--min-val", "-0.5", "--max-val", "0.25"],
            lambda t: F.hardtanh(t, -0.5, 0.25),
        ),
        (["-f", "elu", "--alpha", "0.4"], lambda t: F.elu(t, 0.4)),
        (["-f", "gelu", "--approximate", "tanh"], lambda t: F.gelu(t, approximate="tanh")),
    ],
)
def test_act_parameters_of_the_later_activations(cli, x2, tmp_path: Path, options, fn) -> None:
    x, path = x2
    out = tmp_path / "g.npz"
    r = cli("act", path, *options, "--grad", "ones", "-o", str(out))
    assert r.code == 0, r.stderr
    tx = _t(x).requires_grad_()
    fn(tx).sum().backward()
    with np.load(out) as z:
        assert_close(z["output"], fn(_t(x)))
        assert_close(z["grad_input"], tx.grad)


def test_act_header_shows_the_formula_and_parameters(cli) -> None:
    r = cli("act", "-f", "gelu", "--approximate", "tanh")
    assert r.code == 0, r.stderr
    assert "gelu (approximate tanh)" in r.stdout and "tanh(√(2/π)" in r.stdout
    r = cli("act", "-f", "hardtanh", "--min-val", "2", "--max-val", "1")
    assert r.code == 2
    assert r.stderr.strip().splitlines()[-1] == "error: min_val 2 cannot be greater than max_val 1"


def test_softmax_dim_option_and_size_one_note(cli, tmp_path: Path) -> None:
    out = tmp_path / "y.npy"
    r = cli("act", "-f", "softmax", "--dim", "3", "-o", str(out))
    assert r.code == 0, r.stderr
    assert_close(np.load(out), F.softmax(_t(SEED_POOL_INPUT[None, None]), dim=3))
    assert "size 1" in cli("act", "-f", "softmax").stdout


# ---------------------------------------------------------------- linear ---


def test_linear_with_weight_and_bias_files(cli, x2, npy, tmp_path: Path) -> None:
    x, path = x2
    w = np.random.default_rng(9).normal(size=(5, 112)).astype(np.float32)
    b = np.arange(5, dtype=np.float32)
    out = tmp_path / "y.npy"
    r = cli("linear", path, "-w", npy(w, "w.npy"), "-b", npy(b, "b.npy"), "-o", str(out))
    assert r.code == 0, r.stderr
    assert_close(np.load(out), F.linear(_t(x.reshape(2, -1)), _t(w), _t(b)))
    assert "W (5×112) · X (112) + b (5) = Y (5)" in r.stdout
    assert "flatten (2, 2, 7, 8) → X (2, 112)" in r.stdout
    r = cli("linear", path, "-w", npy(w, "w.npy"), "-b", "1", "-o", str(out))
    assert_close(np.load(out), F.linear(_t(x.reshape(2, -1)), _t(w), torch.ones(5)))


def test_linear_seeded_random_layer_is_reproducible_and_grad_matches(cli, tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    r = cli("linear", "--out", "4", "--seed", "3", "--grad", "ones", "-o", str(a))
    assert r.code == 0, r.stderr
    assert cli("linear", "--out", "4", "--seed", "3", "--grad", "ones", "-o", str(b)).code == 0
    data = json.loads(cli("linear", "--out", "4", "--seed", "3", "--json").stdout)
    w, bias = np.asarray(data["weight"], np.float32), np.asarray(data["bias"], np.float32)
    assert w.shape == (4, 16) and np.abs(w).max() <= 0.25
    x = _t(SEED_POOL_INPUT.reshape(1, 16).copy()).requires_grad_()
    tw, tb = _t(w).requires_grad_(), _t(bias).requires_grad_()
    y = F.linear(x, tw, tb)
    y.sum().backward()
    with np.load(a) as za, np.load(b) as zb:
        for key in ("output", "grad_input", "grad_weight", "grad_bias"):
            np.testing.assert_array_equal(za[key], zb[key])
        assert_close(za["output"], y)
        assert_close(za["grad_input"], x.grad.reshape(1, 1, 4, 4))
        assert_close(za["grad_weight"], tw.grad)
        assert_close(za["grad_bias"], tb.grad)


def test_linear_weight_of_the_wrong_width_is_refused(cli, npy) -> None:
    r = cli("linear", "-w", npy(np.ones((3, 15), np.float32), "w.npy"))
    assert r.code == 2 and "(out, 16)" in r.stderr


# --------------------------------------------------------------- dropout ---


def test_dropout_train_scales_the_kept_units_and_is_seeded(cli, tmp_path: Path) -> None:
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    r = cli("dropout", "--p", "0.25", "--seed", "4", "-o", str(a))
    assert r.code == 0, r.stderr
    assert cli("dropout", "--p", "0.25", "--seed", "4", "-o", str(b)).code == 0
    y = np.load(a)
    np.testing.assert_array_equal(y, np.load(b))
    kept = y != 0
    assert_close(y[kept], SEED_POOL_INPUT[None, None][kept] / 0.75)
    dropped = int((~kept).sum())
    assert f"dropped {dropped} of 16 units" in r.stdout
    assert "1/(1 − 0.25) = 1.33333" in r.stdout


def test_dropout_eval_passes_through(cli, tmp_path: Path) -> None:
    out = tmp_path / "y.npy"
    r = cli("dropout", "--eval", "-o", str(out))
    assert r.code == 0, r.stderr
    np.testing.assert_array_equal(np.load(out)[0, 0], SEED_POOL_INPUT)
    assert "passes through unchanged" in r.stdout
    assert cli("dropout", "--p", "1.5").code == 2


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_adaptive_pooling_forward_grad_and_explain(cli, x2, tmp_path: Path, mode: str) -> None:
    x, path = x2
    out = tmp_path / "g.npz"
    r = cli("pool", path, "--mode", mode, "--adaptive", "3,5", "--grad", "ones", "-o", str(out))
    assert r.code == 0, r.stderr
    assert "start = ⌊i·7/3⌋, end = ⌈(i+1)·7/3⌉: [0,3) [2,5) [4,7)" in r.stdout
    fn = F.adaptive_max_pool2d if mode == "max" else F.adaptive_avg_pool2d
    tx = _t(x).requires_grad_()
    y = fn(tx, (3, 5))
    y.sum().backward()
    with np.load(out) as z:
        assert_close(z["output"], y)
        assert_close(z["grad_input"], tx.grad)
    data = json.loads(cli("pool", path, "--mode", mode, "--adaptive", "3,5", "--explain", "1,1,2,4",
                          "--json").stdout)  # fmt: skip
    e = data["explain"]
    assert e["rows"] == [4, 5, 6] and e["cols"] == [6, 7]
    window = x[1, 1, 4:7, 6:8]
    expected = window.max() if mode == "max" else window.mean()
    assert e["value"] == pytest.approx(float(expected), rel=1e-6)
    assert cli("pool", path, "--adaptive", "2", "--global").code == 2
