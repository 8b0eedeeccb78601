"""linear, flatten and dropout: PyTorch parity, numerical gradients, dropout statistics, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncli.engine import (
    dropout,
    dropout_backward,
    flatten,
    flatten_backward,
    linear,
    linear_backward,
)
from cnncli.errors import CnncliError, ParameterError, ShapeError
from tests.oracle import assert_close, numerical_gradient

torch = pytest.importorskip("torch")
F = torch.nn.functional


pytestmark = pytest.mark.usefixtures("one_torch_thread")


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("lead", "n_in", "n_out"),
    [((4,), 3, 5), ((1,), 1, 1), ((), 6, 2), ((2, 3), 4, 7), ((2, 1, 3), 5, 1), ((0,), 3, 2),
     ((3,), 147, 10), ((), 0, 3), ((2,), 0, 3), ((2,), 3, 0)],
)  # fmt: skip
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_torch(dtype, lead, n_in, n_out, with_bias, rng) -> None:
    x = rng.standard_normal((*lead, n_in)).astype(dtype)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype) if with_bias else None
    g = rng.standard_normal((*lead, n_out)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if b is not None else None
    yt = F.linear(xt, wt, bt)
    yt.backward(torch.tensor(g))
    assert_close(linear(x, w, b), yt)
    dx, dw, db = linear_backward(g, x, w, bias=with_bias)
    assert_close(dx, xt.grad)
    assert_close(dw, wt.grad)
    if with_bias:
        assert db is not None
        assert_close(db, bt.grad)
    else:
        assert db is None


def test_linear_formula_by_hand() -> None:
    x = np.array([[1.0, 2.0]])
    w = np.array([[3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    b = np.array([0.5, -1.0, 2.0])
    # y_o = sum_i x_i W[o, i] + b_o
    expected = [[1 * 3 + 2 * 4 + 0.5, 1 * 5 + 2 * 6 - 1.0, 1 * 7 + 2 * 8 + 2.0]]
    np.testing.assert_array_equal(linear(x, w, b), expected)


def test_linear_numerical_gradients(rng) -> None:
    x = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal((5, 4))
    b = rng.standard_normal(5)
    g = rng.standard_normal((2, 3, 5))
    dx, dw, db = linear_backward(g, x, w)
    np.testing.assert_allclose(dx, numerical_gradient(lambda a: linear(a, w, b), x, g), atol=1e-8)
    np.testing.assert_allclose(dw, numerical_gradient(lambda a: linear(x, a, b), w, g), atol=1e-8)
    np.testing.assert_allclose(db, numerical_gradient(lambda a: linear(x, w, a), b, g), atol=1e-8)


def test_linear_bad_shapes() -> None:
    x = np.zeros((2, 3))
    with pytest.raises(ShapeError, match="expects 4"):
        linear(x, np.zeros((5, 4)))
    with pytest.raises(ShapeError, match="bias"):
        linear(x, np.zeros((5, 3)), np.zeros(4))
    with pytest.raises(ShapeError, match="2-D"):
        linear(x, np.zeros((1, 5, 3)))
    with pytest.raises(ShapeError, match="2-D"):
        linear(x, np.zeros(3))
    with pytest.raises(ShapeError, match="0-D"):
        linear(np.float64(1.0), np.zeros((1, 1)))
    with pytest.raises(ShapeError, match="grad_output"):
        linear_backward(np.zeros((2, 4)), x, np.zeros((5, 3)))
    with pytest.raises(ParameterError):
        linear(np.zeros((2, 3), dtype=int), np.zeros((5, 3)))


@pytest.mark.parametrize(
    ("shape", "start", "end"),
    [((2, 3, 4, 5), 1, -1), ((2, 3, 4, 5), 0, -1), ((2, 3, 4, 5), 2, 3), ((2, 3, 4, 5), -3, -2),
     ((2, 3, 4, 5), 1, 1), ((2, 3, 4, 5), 0, 0), ((3,), 0, -1), ((), 0, -1), ((), -1, 0),
     ((2, 0, 3), 1, -1), ((1, 7, 7, 3), 1, -1)],
)  # fmt: skip
def test_flatten_matches_torch(shape, start, end, rng) -> None:
    x = rng.standard_normal(shape)
    y = flatten(x, start, end)
    expected = torch.flatten(torch.tensor(x), start, end)
    assert_close(y, expected)
    np.testing.assert_array_equal(flatten_backward(y, x.shape), x)


def test_flatten_and_dropout_numerical_gradients(rng) -> None:
    x = rng.standard_normal((2, 3, 2, 2))
    g = rng.standard_normal((2, 12))
    num = numerical_gradient(lambda a: flatten(a), x, g)
    np.testing.assert_allclose(flatten_backward(g, x.shape), num, atol=1e-8)
    g = rng.standard_normal(x.shape)
    for p in (0.0, 0.3, 0.7, 1.0):
        _, mask = dropout(x, p, generator=5, return_mask=True)
        # The same seed gives the same mask on every call, so dropout is a fixed linear map.
        num = numerical_gradient(lambda a, p=p: dropout(a, p, generator=5), x, g)
        np.testing.assert_allclose(dropout_backward(g, mask, p), num, atol=1e-8)


def test_flatten_seed_image_to_147_values() -> None:
    # The seed flattens a 7x7x3 input into 147 values; with a batch axis that is (1, 147).
    x = np.arange(147, dtype=np.float32).reshape(1, 3, 7, 7)
    y = flatten(x)
    assert y.shape == (1, 7 * 7 * 3)
    np.testing.assert_array_equal(y[0], np.arange(147, dtype=np.float32))


def test_flatten_bad_dims() -> None:
    x = np.zeros((2, 3, 4))
    with pytest.raises(ParameterError, match="out of range"):
        flatten(x, 3)
    with pytest.raises(ParameterError, match="out of range"):
        flatten(x, 0, -4)
    with pytest.raises(ParameterError, match="comes after"):
        flatten(x, 2, 1)
    with pytest.raises(ParameterError, match="out of range"):
        flatten(np.zeros(3))  # start_dim=1 on a 1-D array, as torch
    with pytest.raises(ParameterError):
        flatten(x, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ShapeError):
        flatten_backward(np.zeros((2, 12)), (2, 3, 5))
    for bad_shape in (2, (2, -12), (2.0, 12), None, np.zeros(2)):
        with pytest.raises(ParameterError, match="input_shape"):
            flatten_backward(np.zeros((2, 12)), bad_shape)  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.8, 1.0])
def test_dropout_scale_mask_and_backward(dtype, p) -> None:
    x = (np.arange(1, 2001, dtype=np.float64) / 7).astype(dtype).reshape(4, 500)
    y, mask = dropout(x, p, generator=np.random.default_rng(3), return_mask=True)
    assert y.dtype == dtype and mask.dtype == np.bool_ and mask.shape == x.shape
    scale = dtype(0.0) if p == 1 else dtype(1 / (1 - p))
    # Kept values are exactly x * 1/(1-p) in the input's dtype; dropped ones exactly 0.
    np.testing.assert_array_equal(y[mask], x[mask] * scale)
    np.testing.assert_array_equal(y[~mask], 0)
    if p == 0:
        assert mask.all()
    if p == 1:
        assert not mask.any()
    g = np.linspace(-1, 1, x.size).astype(dtype).reshape(x.shape)
    dx = dropout_backward(g, mask, p)
    np.testing.assert_array_equal(dx, np.where(mask, g * scale, 0))
    # Dropout is linear in x for a fixed mask, so its gradient is y(g) with the same mask.
    y_g = dropout(g, p, generator=np.random.default_rng(3))
    np.testing.assert_array_equal(dx, y_g)
    if p not in (0.0, 1.0):
        tx = torch.tensor(x, requires_grad=True)
        tm = torch.tensor(mask)
        (tx * tm / (1 - p)).backward(torch.tensor(g))  # the same mask through torch autograd
        assert_close(dx, tx.grad)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_dropout_drops_a_share_near_p(p) -> None:
    x = np.ones(200_000, dtype=np.float32)
    _, mask = dropout(x, p, generator=np.random.default_rng(11), return_mask=True)
    dropped = 1 - mask.mean()
    # Binomial: std of the share is sqrt(p(1-p)/n) <= 0.0012; allow 5 std.
    assert abs(dropped - p) < 5 * np.sqrt(p * (1 - p) / x.size)


def test_dropout_same_seed_same_mask_and_eval_passes_through(rng) -> None:
    x = rng.standard_normal((3, 4, 5))
    a = dropout(x, 0.4, generator=np.random.default_rng(7))
    b = dropout(x, 0.4, generator=np.random.default_rng(7))
    c = dropout(x, 0.4, generator=7)
    d = dropout(x, 0.4, generator=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, d)
    assert dropout(x, 0.4, training=False) is x
    out, mask = dropout(x, 0.4, training=False, return_mask=True)
    assert out is x and mask.all()


def test_dropout_bad_parameters() -> None:
    x = np.ones((2, 2))
    for p in (-0.1, 1.5, float("nan"), "0.5", True):
        with pytest.raises(ParameterError):
            dropout(x, p)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="generator"):
        dropout(x, 0.5, generator="seed")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="training"):
        dropout(x, 0.5, training="yes")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="bool"):
        dropout_backward(x, np.ones((2, 2)), 0.5)
    with pytest.raises(ShapeError):
        dropout_backward(x, np.ones((2, 3), dtype=bool), 0.5)
    with pytest.raises(ParameterError):
        dropout_backward(x, np.ones((2, 2), dtype=bool), 2.0)


_dims = st.lists(st.integers(0, 4), min_size=0, max_size=4)


@settings(max_examples=80, deadline=None)
@given(
    op=st.sampled_from(["linear", "linear_b", "flatten", "dropout", "dropout_b"]),
    xs=_dims,
    ws=_dims,
    bs=st.one_of(st.none(), _dims),
    a=st.integers(-5, 5),
    b=st.integers(-5, 5),
    p=st.one_of(st.floats(-1, 2), st.just(float("nan"))),
    dtype=st.sampled_from(["float32", "float64", "int64"]),
)
def test_random_calls_give_a_result_or_a_project_error(op, xs, ws, bs, a, b, p, dtype) -> None:
    x = np.ones(xs, dtype=dtype)
    w = np.ones(ws, dtype="float64")
    bias = None if bs is None else np.ones(bs)
    try:
        if op == "linear":
            y = linear(x, w, bias)
            xt = torch.tensor(x)
            wt = torch.tensor(w, dtype=xt.dtype)
            bt = None if bias is None else torch.tensor(bias, dtype=xt.dtype)
            assert_close(y.astype(x.dtype), F.linear(xt, wt, bt))
        elif op == "linear_b":
            outs = linear_backward(w, x, np.ones((3, *xs[-1:])))
            assert outs[0].shape == x.shape
        elif op == "flatten":
            y = flatten(x, a, b)
            assert y.shape == torch.flatten(torch.tensor(x), a, b).shape
        elif op == "dropout":
            y, mask = dropout(x, p, generator=np.random.default_rng(0), return_mask=True)
            assert y.shape == x.shape and y.dtype == x.dtype
            scale = x.dtype.type(0 if p == 1 else 1 / (1 - p))
            np.testing.assert_array_equal(y, np.where(mask, x * scale, 0))
        else:
            y = dropout_backward(x, np.ones(ws, dtype=bool), p)
            assert y.shape == x.shape
    except CnncliError:
        return


def test_float16_is_computed_in_float32_and_rounded_once(rng) -> None:
    x = rng.standard_normal((4, 6)).astype(np.float16)
    w = rng.standard_normal((3, 6)).astype(np.float16)
    b = rng.standard_normal(3).astype(np.float16)
    g = rng.standard_normal((4, 3)).astype(np.float16)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = F.linear(xt, wt, bt)
    yt.backward(torch.tensor(g))
    assert_close(linear(x, w, b), yt, tol=2e-3)
    for ours, theirs in zip(linear_backward(g, x, w), (xt.grad, wt.grad, bt.grad), strict=True):
        assert_close(ours, theirs, tol=2e-3)
    assert flatten(x.reshape(2, 2, 6)).dtype == np.float16
    assert dropout(x, 0.5, generator=1).dtype == np.float16


@pytest.mark.parametrize("chunk_rows", [None, 300])
@pytest.mark.parametrize("rows", [1, 2, 8, 256, 300])
def test_a_large_weight_at_a_small_batch_equals_torch(
    rows: int, chunk_rows: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path's weight-first product (2 to 256 rows, a weight of 2^20 values or
    more; in blocks of weight rows up to 32 rows, here also 300 weight rows a block, the
    last one ragged) and the plain one give PyTorch's numbers."""
    torch = pytest.importorskip("torch")
    from cnncli.engine.fast import linear as fast_linear

    if chunk_rows is not None:
        monkeypatch.setattr(fast_linear, "CHUNK_BYTES", chunk_rows * 1024 * 4)

    rng = np.random.default_rng(rows)
    w = rng.standard_normal((1024, 1024), dtype=np.float32) / 32
    x = rng.standard_normal((rows, 1024), dtype=np.float32)
    b = rng.standard_normal(1024, dtype=np.float32)
    assert fast_linear.fits(x, w) == (2 <= rows <= 256)
    y = linear(x, w, b)
    assert y.flags.c_contiguous and y.dtype == np.float32
    expected = torch.nn.functional.linear(*map(torch.from_numpy, (x, w, b))).numpy()
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
