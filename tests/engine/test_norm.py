"""batch_norm against PyTorch: training and evaluation, running statistics, gradients, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from cnncli.engine import batch_norm, batch_norm_backward
from cnncli.errors import CnncliError, ParameterError, ShapeError
from tests.oracle import assert_close, numerical_gradient, torch_op

torch = pytest.importorskip("torch")
F = torch.nn.functional


pytestmark = pytest.mark.usefixtures("one_torch_thread")


DTYPES = [np.float32, np.float64]
SHAPES = [
    (4, 3),
    (2, 3, 5),
    (2, 3, 4, 5),
    (1, 2, 3, 3),
    (5, 1, 1, 1),
    (2, 4, 1, 7),
    (2, 2, 2, 2, 2),
]


def _case(rng, shape, dtype, affine):
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
    rm = rng.standard_normal(C).astype(dtype)
    rv = rng.uniform(0.5, 2.0, C).astype(dtype)
    w = rng.standard_normal(C).astype(dtype) if affine else None
    b = rng.standard_normal(C).astype(dtype) if affine else None
    return x, rm, rv, w, b


def _torch_bn(x, rm, rv, w, b, training, momentum, eps, g):
    rmt = torch.tensor(rm) if rm is not None else None  # updated in place in training
    rvt = torch.tensor(rv) if rv is not None else None
    yt, (dxt, dwt, dbt) = torch_op(
        lambda xt, wt, bt: F.batch_norm(
            xt, rmt, rvt, wt, bt, training=training, momentum=momentum, eps=eps
        ),
        x,
        w,
        b,
        grad_output=g,
    )
    return yt, dxt, dwt, dbt, rmt, rvt


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch(dtype, shape, training, affine, rng) -> None:
    x, rm, rv, w, b = _case(rng, shape, dtype, affine)
    g = rng.standard_normal(shape).astype(dtype)
    for momentum, eps in ((0.1, 1e-5), (0.7, 1e-3), (0.0, 0.1), (1.0, 1e-5)):
        rm_ours, rv_ours = rm.copy(), rv.copy()
        y = batch_norm(x, rm_ours, rv_ours, w, b, training=training, momentum=momentum, eps=eps)
        yt, dxt, dwt, dbt, rmt, rvt = _torch_bn(x, rm, rv, w, b, training, momentum, eps, g)
        assert_close(y, yt)
        assert_close(rm_ours, rmt)
        assert_close(rv_ours, rvt)
        # The backward takes the running statistics as they were before the forward.
        dx, dw, db = batch_norm_backward(g, x, w, rm, rv, training, eps)
        assert_close(dx, dxt)
        if affine:
            assert_close(dw, dwt)
            assert_close(db, dbt)


@pytest.mark.parametrize("dtype", DTYPES)
def test_running_statistics_after_several_steps_equal_torch(dtype, rng) -> None:
    C = 3
    bn = torch.nn.BatchNorm2d(
        C, momentum=0.3, dtype=torch.float64 if dtype == np.float64 else torch.float32
    )
    rm = np.zeros(C, dtype=dtype)
    rv = np.ones(C, dtype=dtype)
    w = bn.weight.detach().numpy().copy()
    b = bn.bias.detach().numpy().copy()
    for step in range(6):
        x = (rng.standard_normal((4, C, 3, 5)) * (step + 1) + step).astype(dtype)
        y = batch_norm(x, rm, rv, w, b, training=True, momentum=0.3)
        assert_close(y, bn(torch.tensor(x)))
    assert_close(rm, bn.running_mean)
    assert_close(rv, bn.running_var)
    bn.eval()
    x = rng.standard_normal((2, C, 3, 3)).astype(dtype)
    assert_close(batch_norm(x, rm, rv, w, b), bn(torch.tensor(x)))


def test_running_var_uses_unbiased_variance_by_hand() -> None:
    # One channel, values 1, 2, 3, 6: mean 3, biased var 3.5, unbiased var 14/3.
    x = np.array([1.0, 2.0, 3.0, 6.0]).reshape(4, 1)
    rm, rv = np.zeros(1), np.ones(1)
    y = batch_norm(x, rm, rv, training=True, momentum=0.5, eps=0.25)
    np.testing.assert_allclose(rm, [0.5 * 0 + 0.5 * 3.0], rtol=1e-15)
    np.testing.assert_allclose(rv, [0.5 * 1 + 0.5 * 14 / 3], rtol=1e-15)
    np.testing.assert_allclose(y[:, 0], (x[:, 0] - 3.0) / np.sqrt(3.5 + 0.25), rtol=1e-15)


def test_training_without_running_statistics_matches_torch(rng) -> None:
    x = rng.standard_normal((3, 2, 4, 4))
    g = rng.standard_normal(x.shape)
    y = batch_norm(x, None, None, training=True)
    yt, dxt, *_ = _torch_bn(x, None, None, None, None, True, 0.1, 1e-5, g)
    assert_close(y, yt)
    dx, _, _ = batch_norm_backward(g, x, None, None, None, True, 1e-5)
    assert_close(dx, dxt)


def test_large_mean_small_spread_stays_accurate(rng) -> None:
    # float32 values near 1000 with spread 0.01: the statistics must not lose the spread.
    # The reference is the same computation in float64 (PyTorch's float32 result is off by
    # about 1e-3 here in both modes, so it is not the oracle for this case).
    x = (1000 + 0.01 * rng.standard_normal((8, 2, 4, 4))).astype(np.float32)
    rm, rv = np.full(2, 1000, dtype=np.float32), np.full(2, 1e-4, dtype=np.float32)
    for training in (True, False):
        y = batch_norm(x, rm.copy(), rv.copy(), training=training)
        x64, rm64, rv64 = (a.astype(np.float64) for a in (x, rm, rv))
        truth = batch_norm(x64, rm64, rv64, training=training)
        axes = (0, 2, 3)
        if training:
            mean = x64.mean(axis=axes, keepdims=True)
            var = x64.var(axis=axes, keepdims=True)
        else:
            mean, var = rm64.reshape(1, 2, 1, 1), rv64.reshape(1, 2, 1, 1)
        np.testing.assert_allclose(truth, (x64 - mean) / np.sqrt(var + 1e-5), rtol=1e-9, atol=1e-9)
        assert_close(y, truth.astype(np.float32), tol=1e-4)


def test_tiny_batch_variance_stays_close_to_float64(rng) -> None:
    # Batches of 2 with nearly equal values: the normalisation divides by a tiny standard
    # deviation and amplifies rounding (for N=2 the true dx is nearly 0, a difference of
    # terms of size |g| * invstd).  float32 results are judged against the same computation
    # in float64.  Ours stays within 1e-4 (measured: 3e-5 over 500 such cases); PyTorch's
    # float32 is off by up to 9e-4 here, so it is not the oracle for this case.
    worst = 0.0
    for _ in range(100):
        x = rng.standard_normal((2, 4)).astype(np.float32)
        x[1] = x[0] + rng.uniform(-0.05, 0.05, 4).astype(np.float32)
        g = rng.standard_normal(x.shape).astype(np.float32)
        w = rng.standard_normal(4).astype(np.float32)
        y = batch_norm(x, None, None, w, None, training=True)
        dx, dw, _ = batch_norm_backward(g, x, w, None, None, True)
        x64, g64, w64 = (a.astype(np.float64) for a in (x, g, w))
        y64 = batch_norm(x64, None, None, w64, None, training=True)
        dx64, dw64, _ = batch_norm_backward(g64, x64, w64, None, None, True)
        # The float64 reference itself agrees with PyTorch in float64.
        yt, dxt, dwt, *_ = _torch_bn(x64, None, None, w64, None, True, 0.1, 1e-5, g64)
        assert_close(y64, yt)
        assert_close(dx64, dxt)
        assert_close(dw64, dwt)
        for ours, truth in ((y, y64), (dx, dx64), (dw, dw64)):
            worst = max(
                worst, float(np.max(np.abs(ours - truth)) / max(1.0, np.max(np.abs(truth))))
            )
    assert worst <= 1e-4


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_numerical_gradients(training, rng) -> None:
    x = rng.standard_normal((3, 2, 2, 3))
    w = rng.standard_normal(2)
    b = rng.standard_normal(2)
    rm = rng.standard_normal(2)
    rv = rng.uniform(0.5, 1.5, 2)
    g = rng.standard_normal(x.shape)

    def run(xx, ww, bb):
        return batch_norm(xx, rm.copy(), rv.copy(), ww, bb, training=training, eps=1e-3)

    dx, dw, db = batch_norm_backward(g, x, w, rm, rv, training, 1e-3)
    np.testing.assert_allclose(dx, numerical_gradient(lambda a: run(a, w, b), x, g), atol=1e-7)
    np.testing.assert_allclose(dw, numerical_gradient(lambda a: run(x, a, b), w, g), atol=1e-7)
    np.testing.assert_allclose(db, numerical_gradient(lambda a: run(x, w, a), b, g), atol=1e-7)


def test_batch_norm_bad_input() -> None:
    x = np.zeros((2, 3, 4, 4))
    c3 = np.ones(3)
    with pytest.raises(ShapeError, match="at least 2"):
        batch_norm(np.zeros(3), c3, c3)
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        batch_norm(x, np.ones(4), c3)
    with pytest.raises(ShapeError, match="weight"):
        batch_norm(x, c3, c3, weight=np.ones(2))
    with pytest.raises(ShapeError, match="bias"):
        batch_norm(x, c3, c3, bias=np.ones((3, 1)))
    with pytest.raises(ShapeError, match="more than 1 value"):
        batch_norm(np.zeros((1, 3)), c3.copy(), c3.copy(), training=True)
    with pytest.raises(ParameterError, match="evaluation"):
        batch_norm(x, None, None)
    with pytest.raises(ParameterError, match="both"):
        batch_norm(x, c3, None, training=True)
    with pytest.raises(ParameterError, match="eps"):
        batch_norm(x, c3, c3, eps=-1.0)
    with pytest.raises(ParameterError, match="positive in training"):
        batch_norm(x, c3.copy(), c3.copy(), training=True, eps=0.0)
    with pytest.raises(ParameterError, match="positive in training"):
        batch_norm_backward(x, x, None, None, None, True, 0.0)
    with pytest.raises(ParameterError, match="momentum"):
        batch_norm(x, c3, c3, momentum=None)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="training"):
        batch_norm(x, c3, c3, training="yes")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="writeable"):
        frozen = np.zeros(3)
        frozen.flags.writeable = False
        batch_norm(x, frozen, c3.copy(), training=True)
    with pytest.raises(ParameterError):
        batch_norm(x.astype(np.int32), c3, c3)
    with pytest.raises(ShapeError, match="grad_output"):
        batch_norm_backward(np.zeros((2, 3)), x, None, c3, c3, False, 1e-5)


_dims = st.lists(st.integers(0, 4), min_size=0, max_size=5)


@settings(max_examples=80, deadline=None)
@given(
    xs=st.one_of(_dims, st.lists(st.integers(1, 4), min_size=2, max_size=4)),
    cs=st.lists(st.integers(0, 4), min_size=0, max_size=2),
    training=st.booleans(),
    affine=st.booleans(),
    momentum=st.one_of(st.just(0.1), st.floats(0, 1), st.floats(-1, 2), st.just(float("inf"))),
    eps=st.one_of(st.just(1e-5), st.floats(1e-6, 1), st.floats(-1, 1), st.just(float("nan"))),
    backward=st.booleans(),
    seed=st.integers(0, 2**16),
    fit=st.booleans(),
)
def test_random_calls_give_a_correct_result_or_a_project_error(
    xs, cs, training, affine, momentum, eps, backward, seed, fit
) -> None:
    rng = np.random.default_rng(seed)
    if fit and len(xs) >= 2:
        cs = [xs[1]]  # half the cases have statistics that fit, so that results get compared
    x = rng.standard_normal(xs)
    g = rng.standard_normal(xs)
    rm, rv = rng.standard_normal(cs), rng.uniform(0.5, 2.0, cs)
    w = rng.standard_normal(cs) if affine else None
    b = rng.standard_normal(cs) if affine else None
    rm_ours, rv_ours = rm.copy(), rv.copy()
    try:
        if backward:
            dx, dw, db = batch_norm_backward(g, x, w, rm, rv, training, eps)
        else:
            y = batch_norm(x, rm_ours, rv_ours, w, b, training=training, momentum=momentum, eps=eps)
    except CnncliError as exc:
        event(str(exc)[:40])
        return
    if x.size == 0:  # PyTorch's own backward fails on empty input (IndexError); shapes suffice
        assert (dx if backward else y).shape == x.shape
        return
    if training and np.min(x.var(axis=(0, *range(2, x.ndim)))) + eps < 1e-3:
        # Two nearly equal values per channel: 1/sqrt(var + eps) amplifies rounding in both
        # implementations; test_tiny_batch_variance covers this case against float64.
        event("ill-conditioned")
        return
    event("compared with torch")
    yt, dxt, dwt, dbt, rmt, rvt = _torch_bn(x, rm, rv, w, b, training, momentum, eps, g)
    if backward:
        assert_close(dx, dxt)
        if affine:
            assert_close(dw, dwt)
            assert_close(db, dbt)
    else:
        assert_close(y, yt)
        assert_close(rm_ours, rmt)
        assert_close(rv_ours, rvt)


@pytest.mark.parametrize("training", [True, False])
def test_float16_is_computed_in_float32_and_rounded_once(training, rng) -> None:
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float16)
    rm, rv = np.zeros(3, np.float16), np.ones(3, np.float16)
    g = rng.standard_normal(x.shape).astype(np.float16)
    rm_ours, rv_ours = rm.copy(), rv.copy()
    y = batch_norm(x, rm_ours, rv_ours, training=training)
    assert y.dtype == np.float16
    yt, dxt, _, _, rmt, rvt = _torch_bn(x, rm, rv, None, None, training, 0.1, 1e-5, g)
    assert_close(y, yt, tol=2e-3)
    assert_close(rm_ours, rmt, tol=2e-3)
    assert_close(rv_ours, rvt, tol=2e-3)
    dx, _, _ = batch_norm_backward(g, x, None, rm, rv, training, 1e-5)
    assert dx.dtype == np.float16
    assert_close(dx, dxt, tol=2e-3)
