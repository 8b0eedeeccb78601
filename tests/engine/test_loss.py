"""cross_entropy against PyTorch: every option forward and backward, numerical gradients, bad targets."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncli.engine import (
    batch_norm,
    batch_norm_backward,
    cross_entropy,
    cross_entropy_backward,
    dropout,
    dropout_backward,
    flatten,
    flatten_backward,
    linear,
    linear_backward,
    relu,
    relu_backward,
    softmax,
)
from cnncli.errors import CnncliError, ParameterError, ShapeError
from tests.oracle import assert_close, numerical_gradient

torch = pytest.importorskip("torch")
F = torch.nn.functional


pytestmark = pytest.mark.usefixtures("one_torch_thread")


DTYPES = [np.float32, np.float64]
# (input shape, target shape); the class axis is 1 (0 for unbatched input).
LAYOUTS = [((4, 5), (4,)), ((1, 3), (1,)), ((6,), ()), ((2, 3, 4), (2, 4)), ((2, 4, 3, 2), (2, 3, 2)),
           ((3, 1), (3,))]  # fmt: skip


def _torch_ce(x, t, g, **kw):
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t)
    if "weight" in kw and kw["weight"] is not None:
        kw["weight"] = torch.tensor(kw["weight"])
    loss = F.cross_entropy(xt, tt, **kw)
    loss.backward(torch.tensor(g))
    return loss, xt.grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("xshape", "tshape"), LAYOUTS)
def test_index_targets_match_torch(dtype, xshape, tshape, rng) -> None:
    C = xshape[0] if len(xshape) == 1 else xshape[1]
    x = (rng.standard_normal(xshape) * 3).astype(dtype)
    t = rng.integers(0, C, tshape)
    options = itertools.product(["mean", "sum", "none"], [None, "w"], [-100, 0], [0.0, 0.1, 1.0])
    for reduction, use_w, ignore_index, smoothing in options:
        w = rng.uniform(0.2, 2.0, C).astype(dtype) if use_w else None
        g = rng.standard_normal(tshape if reduction == "none" else ()).astype(dtype)
        kw = {"ignore_index": ignore_index, "reduction": reduction, "label_smoothing": smoothing}
        loss_t, grad_t = _torch_ce(x, t, g, weight=w, **kw)
        loss = cross_entropy(x, t, w, **kw)
        assert isinstance(loss, np.ndarray)
        if np.all(t == ignore_index) and reduction == "mean":
            assert np.isnan(loss) and torch.isnan(loss_t)
        else:
            assert_close(loss, loss_t)
        assert_close(cross_entropy_backward(x, t, reduction, weight=w, grad_output=g, **{
            k: v for k, v in kw.items() if k != "reduction"}), grad_t)  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("xshape", "tshape"), LAYOUTS)
def test_probability_targets_match_torch(dtype, xshape, tshape, rng) -> None:
    C = xshape[0] if len(xshape) == 1 else xshape[1]
    x = (rng.standard_normal(xshape) * 3).astype(dtype)
    q = softmax(rng.standard_normal(xshape), 0 if len(xshape) == 1 else 1).astype(dtype)
    for reduction, use_w, smoothing in itertools.product(
        ["mean", "sum", "none"], [0, 1], [0.0, 0.3]
    ):
        w = rng.uniform(0.2, 2.0, C).astype(dtype) if use_w else None
        g = rng.standard_normal(tshape if reduction == "none" else ()).astype(dtype)
        kw = {"reduction": reduction, "label_smoothing": smoothing}
        loss_t, grad_t = _torch_ce(x, q, g, weight=w, **kw)
        assert_close(cross_entropy(x, q, w, **kw), loss_t)
        dx = cross_entropy_backward(
            x, q, reduction, weight=w, label_smoothing=smoothing, grad_output=g
        )
        assert_close(dx, grad_t)


def test_mean_gradient_is_softmax_minus_onehot_over_n(rng) -> None:
    x = rng.standard_normal((5, 4))
    t = np.array([0, 3, 1, 1, 2])
    onehot = np.eye(4)[t]
    np.testing.assert_allclose(
        cross_entropy_backward(x, t), (softmax(x, 1) - onehot) / 5, atol=1e-15
    )
    # loss = mean_n -log softmax(x_n)[t_n]
    expected = -np.mean(np.log(softmax(x, 1)[np.arange(5), t]))
    np.testing.assert_allclose(cross_entropy(x, t), expected, rtol=1e-12)


def test_huge_logits_stay_finite() -> None:
    x = np.array([[1000.0, 0.0, -1000.0], [-1000.0, 0.0, 1000.0]], dtype=np.float32)
    t = np.array([0, 0])
    loss = cross_entropy(x, t, reduction="none")
    np.testing.assert_array_equal(loss, np.array([0.0, 2000.0], dtype=np.float32))
    assert np.all(np.isfinite(cross_entropy_backward(x, t)))


@pytest.mark.parametrize(
    "kw",
    [{}, {"reduction": "sum"}, {"label_smoothing": 0.2}, {"ignore_index": 1},
     {"weight": np.array([0.5, 2.0, 1.0, 3.0])}, {"reduction": "none", "label_smoothing": 0.4}],
)  # fmt: skip
def test_numerical_gradients(kw, rng) -> None:
    x = rng.standard_normal((3, 4, 2))
    t = np.array([[0, 1], [3, 1], [2, 2]])
    reduction = kw.get("reduction", "mean")
    g = rng.standard_normal((3, 2)) if reduction == "none" else np.float64(1.3)
    rest = {k: v for k, v in kw.items() if k != "reduction"}
    weight = rest.pop("weight", None)
    dx = cross_entropy_backward(x, t, reduction, weight=weight, grad_output=g, **rest)
    num = numerical_gradient(
        lambda a: cross_entropy(a, t, weight, reduction=reduction, **rest), x, g
    )
    np.testing.assert_allclose(dx, num, atol=1e-8)


def test_probability_numerical_gradient(rng) -> None:
    x = rng.standard_normal((3, 4))
    q = softmax(rng.standard_normal((3, 4)), 1)
    w = np.array([1.0, 2.0, 0.5, 1.5])
    dx = cross_entropy_backward(x, q, weight=w, label_smoothing=0.1)
    num = numerical_gradient(
        lambda a: cross_entropy(a, q, w, label_smoothing=0.1), x, np.float64(1.0)
    )
    np.testing.assert_allclose(dx, num, atol=1e-8)


def test_bad_targets_and_options() -> None:
    x = np.zeros((3, 4))
    with pytest.raises(ParameterError, match="out of range for 4 classes"):
        cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(ParameterError, match="out of range"):
        cross_entropy(x, np.array([0, -1, 1]))
    with pytest.raises(ParameterError, match="integer class indices"):
        cross_entropy(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ParameterError, match="integer"):
        cross_entropy(x, np.array([True, False, True]))
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        cross_entropy(x, np.zeros((3, 1), dtype=int))
    with pytest.raises(ShapeError, match="0-D"):
        cross_entropy(np.float64(1.0), np.array(0))
    with pytest.raises(ParameterError, match="reduction"):
        cross_entropy(x, np.zeros(3, dtype=int), reduction="avg")
    with pytest.raises(ParameterError, match="reduction"):
        cross_entropy_backward(x, np.zeros(3, dtype=int), "avg")
    with pytest.raises(ParameterError, match="label_smoothing"):
        cross_entropy(x, np.zeros(3, dtype=int), label_smoothing=1.5)
    with pytest.raises(ShapeError, match="weight"):
        cross_entropy(x, np.zeros(3, dtype=int), np.ones(3))
    with pytest.raises(ParameterError, match="third argument is the class weight") as info:
        cross_entropy(x, np.zeros(3, dtype=int), "sum")  # type: ignore[arg-type]
    assert info.value.hint == "pass the reduction by name: reduction='sum'"
    with pytest.raises(ParameterError, match="ignore_index"):
        cross_entropy(x, np.full((3, 4), 0.25), ignore_index=1)
    with pytest.raises(ParameterError):
        cross_entropy(x.astype(np.int64), np.zeros(3, dtype=int))
    with pytest.raises(ShapeError, match="grad_output"):
        cross_entropy_backward(x, np.zeros(3, dtype=int), "none", grad_output=np.ones(2))
    with pytest.raises(ShapeError, match="scalar"):
        cross_entropy_backward(x, np.zeros(3, dtype=int), "sum", grad_output=np.ones(2))


def test_empty_batch_gives_nan_mean_like_torch() -> None:
    x = np.zeros((0, 4))
    t = np.zeros(0, dtype=np.int64)
    assert np.isnan(cross_entropy(x, t))
    assert torch.isnan(F.cross_entropy(torch.tensor(x), torch.tensor(t)))
    assert cross_entropy(x, t, reduction="sum") == 0
    assert cross_entropy_backward(x, t).shape == (0, 4)


_dims = st.lists(st.integers(0, 4), min_size=0, max_size=4)


@settings(max_examples=80, deadline=None)
@given(
    xs=_dims,
    ts=_dims,
    tvals=st.integers(-3, 5),
    tdtype=st.sampled_from(["int64", "int8", "float64", "bool", "uint8"]),
    reduction=st.sampled_from(["mean", "sum", "none", "max"]),
    ignore_index=st.integers(-3, 3),
    smoothing=st.floats(-0.5, 1.5),
    ws=st.one_of(st.none(), _dims),
    backward=st.booleans(),
)
def test_random_calls_give_a_result_or_a_project_error(
    xs, ts, tvals, tdtype, reduction, ignore_index, smoothing, ws, backward
) -> None:
    x = np.linspace(-2, 2, int(np.prod(xs))).reshape(xs)
    t = np.full(ts, tvals).astype(tdtype)
    w = None if ws is None else np.ones(ws)
    kw = {"ignore_index": ignore_index, "label_smoothing": smoothing}
    try:
        if backward:
            dx = cross_entropy_backward(x, t, reduction, weight=w, **kw)
            assert dx.shape == x.shape
        else:
            loss = cross_entropy(x, t, w, reduction=reduction, **kw)
            assert isinstance(loss, np.ndarray)
    except CnncliError:
        return
    if backward:
        return
    xt, tt = torch.tensor(x), torch.tensor(t)
    if tt.dtype != torch.float64:
        tt = tt.long()
    expected = F.cross_entropy(
        xt, tt, None if w is None else torch.tensor(w), reduction=reduction, **kw
    )
    if torch.isnan(expected).all():
        assert np.all(np.isnan(loss))
    else:
        assert_close(loss, expected)


def test_float16_is_computed_in_float32_and_rounded_once(rng) -> None:
    x = rng.standard_normal((6, 5)).astype(np.float16)
    t = rng.integers(0, 5, 6)
    for reduction in ("mean", "sum", "none"):
        g = np.ones(6 if reduction == "none" else (), dtype=np.float16)
        loss_t, grad_t = _torch_ce(x, t, g, reduction=reduction, label_smoothing=0.1)
        loss = cross_entropy(x, t, reduction=reduction, label_smoothing=0.1)
        assert loss.dtype == np.float16
        assert_close(loss, loss_t, tol=2e-3)
        dx = cross_entropy_backward(x, t, reduction, label_smoothing=0.1, grad_output=g)
        assert_close(dx, grad_t, tol=2e-3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_network_gradients_equal_torch_autograd(dtype, rng) -> None:
    """flatten -> linear -> batch_norm -> relu -> dropout -> linear -> cross_entropy, chained by hand."""
    x = rng.standard_normal((6, 2, 3, 3)).astype(dtype)
    t = rng.integers(0, 4, 6)
    w1 = (rng.standard_normal((8, 18)) * 0.3).astype(dtype)
    b1 = rng.standard_normal(8).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, 8).astype(dtype)
    beta = rng.standard_normal(8).astype(dtype)
    w2 = (rng.standard_normal((4, 8)) * 0.3).astype(dtype)
    b2 = rng.standard_normal(4).astype(dtype)
    rm, rv = np.zeros(8, dtype), np.ones(8, dtype)

    # Forward, keeping what each backward needs.
    f = flatten(x)
    h = linear(f, w1, b1)
    n = batch_norm(h, rm.copy(), rv.copy(), gamma, beta, training=True)
    r = relu(n)
    d, mask = dropout(r, 0.25, generator=3, return_mask=True)
    z = linear(d, w2, b2)
    loss = cross_entropy(z, t, label_smoothing=0.05)
    # Backward, in reverse.
    dz = cross_entropy_backward(z, t, label_smoothing=0.05)
    dd, dw2, db2 = linear_backward(dz, d, w2)
    dr = dropout_backward(dd, mask, 0.25)
    dn = relu_backward(dr, n)
    dh, dgamma, dbeta = batch_norm_backward(dn, h, gamma, None, None, True)
    df, dw1, db1 = linear_backward(dh, f, w1)
    dx = flatten_backward(df, x.shape)

    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in
              {"x": x, "w1": w1, "b1": b1, "gamma": gamma, "beta": beta, "w2": w2, "b2": b2}.items()}  # fmt: skip
    L = leaves
    ht = F.linear(torch.flatten(L["x"], 1), L["w1"], L["b1"])
    nt = F.batch_norm(ht, None, None, L["gamma"], L["beta"], training=True)
    dt_ = F.relu(nt) * torch.tensor(mask) / 0.75  # the same mask as ours
    lt = F.cross_entropy(F.linear(dt_, L["w2"], L["b2"]), torch.tensor(t), label_smoothing=0.05)
    lt.backward()
    assert_close(loss, lt)
    ours = {"x": dx, "w1": dw1, "b1": db1, "gamma": dgamma, "beta": dbeta, "w2": dw2, "b2": db2}
    for name, grad in ours.items():
        assert_close(grad, L[name].grad)
