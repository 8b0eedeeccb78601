"""conv2d / conv2d_backward: parity with PyTorch (forward and autograd), gradients, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from cnncli.engine import conv2d, conv2d_backward
from cnncli.engine.shapes import conv2d_geometry
from cnncli.errors import CnncliError, ParameterError, ResourceLimitError, ShapeError
from tests.oracle import assert_close, numerical_gradient, torch_conv2d

# PyTorch warns that it copies the input for 'same' with even kernels; the copy is what we compare with.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

MODES = ("zeros", "reflect", "replicate", "circular")


@st.composite
def conv_cases(
    draw: st.DrawFn, modes: tuple[str, ...] = MODES, small: bool = False
) -> dict[str, Any]:
    """A valid conv2d configuration over every option (rejects the invalid ones)."""
    groups = draw(st.integers(1, 3))
    cg, fg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    top = 8 if not small else 6
    h, w = draw(st.integers(1, top)), draw(st.integers(1, top))
    padding_mode = draw(st.sampled_from(modes))
    kind = draw(st.sampled_from(("int", "hw", "four", "same", "valid")))
    stride = 1 if kind == "same" else draw(st.sampled_from((1, 2, 3, (1, 2), (3, 1), 5)))
    dilation = draw(st.sampled_from((1, 2, (2, 1))))
    padding: Any
    if kind == "int":
        padding = draw(st.integers(0, 3))
    elif kind == "hw":
        padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    elif kind == "four":
        padding = tuple(draw(st.integers(0, 3)) for _ in range(4))
    else:
        padding = kind
    try:
        geom = conv2d_geometry(
            (1, cg * groups, h, w), (fg * groups, cg, kh, kw), stride, padding, dilation, groups
        )
    except CnncliError:
        assume(False)
        raise
    if padding_mode == "reflect":
        left, right, t, bottom = geom.padding
        assume(max(left, right) < w and max(t, bottom) < h)
    if padding_mode == "circular":
        left, right, t, bottom = geom.padding
        assume(max(left, right) <= w and max(t, bottom) <= h)
    n = draw(st.integers(1, 3))
    dtype = draw(st.sampled_from((np.float32, np.float64)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    return {
        "x": rng.standard_normal((n, cg * groups, h, w)).astype(dtype),
        "w": rng.standard_normal((fg * groups, cg, kh, kw)).astype(dtype),
        "b": rng.standard_normal(fg * groups).astype(dtype) if draw(st.booleans()) else None,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": padding_mode,
    }


def _params(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in ("stride", "padding", "dilation", "groups", "padding_mode")}


@settings(max_examples=80, deadline=None)
@given(conv_cases())
def test_conv2d_forward_and_backward_equal_torch(case: dict[str, Any]) -> None:
    x, w, b = case["x"], case["w"], case["b"]
    y = conv2d(x, w, b, **_params(case))
    assert y.dtype == x.dtype
    g = np.random.default_rng(7).standard_normal(y.shape).astype(x.dtype)
    yt, dxt, dwt, dbt = torch_conv2d(x, w, b, **_params(case), grad_output=g)
    assert_close(y, yt)
    dx, dw, db = conv2d_backward(g, x, w, **_params(case), bias=b is not None)
    assert_close(dx, dxt)
    assert_close(dw, dwt)
    if b is None:
        assert db is None
    else:
        assert_close(db, dbt)


# Named configurations the issue asks for, each run in float32 and float64.
NAMED = {
    "non-square input and kernel": (
        (2, 3, 7, 11),
        (4, 3, 2, 5),
        {"stride": (1, 2), "padding": (1, 2)},
    ),
    "stride larger than kernel": ((2, 2, 12, 10), (3, 2, 2, 2), {"stride": 5}),
    "kernel equal to input": ((3, 2, 5, 4), (4, 2, 5, 4), {}),
    "even kernel with same": ((2, 3, 6, 7), (2, 3, 4, 2), {"padding": "same"}),
    "even dilated kernel with same": (
        (1, 2, 9, 8),
        (2, 2, 2, 4),
        {"padding": "same", "dilation": 3},
    ),
    "dilation with padding": ((2, 2, 9, 9), (3, 2, 3, 3), {"padding": 2, "dilation": 2}),
    "depthwise groups = C": ((2, 4, 8, 6), (4, 1, 3, 3), {"groups": 4, "padding": 1}),
    "depthwise multiplier 3": ((2, 3, 6, 6), (9, 1, 3, 2), {"groups": 3, "stride": 2}),
    "grouped 2": ((2, 4, 6, 6), (6, 2, 3, 3), {"groups": 2, "padding": 1}),
    "1x1 input": ((3, 5, 1, 1), (2, 5, 1, 1), {}),
    "1x1 input padded": ((2, 2, 1, 1), (3, 2, 3, 3), {"padding": 1}),
    "1x1 kernel strided": ((2, 6, 7, 5), (4, 6, 1, 1), {"stride": 2}),
    "1x1 kernel padded": ((1, 3, 4, 4), (2, 3, 1, 1), {"padding": 1}),
    "asymmetric four-value padding": ((2, 3, 6, 5), (2, 3, 3, 3), {"padding": (0, 2, 1, 3)}),
    "valid": ((1, 2, 6, 6), (2, 2, 3, 3), {"padding": "valid"}),
    "single channel sobel-like": ((1, 1, 16, 13), (1, 1, 3, 3), {"padding": 1}),
    "single channel many filters": ((2, 1, 9, 9), (8, 1, 5, 5), {"padding": 2}),
    "batch 1": ((1, 3, 9, 9), (4, 3, 3, 3), {"padding": 1}),
    "reflect": ((2, 3, 6, 7), (2, 3, 3, 3), {"padding": (2, 1), "padding_mode": "reflect"}),
    "replicate four": (
        (2, 2, 5, 5),
        (2, 2, 3, 2),
        {"padding": (3, 0, 1, 2), "padding_mode": "replicate"},
    ),
    "circular same": ((2, 2, 5, 6), (3, 2, 4, 3), {"padding": "same", "padding_mode": "circular"}),
    "depthwise reflect": (
        (2, 3, 6, 6),
        (3, 1, 3, 3),
        {"groups": 3, "padding": 1, "padding_mode": "reflect"},
    ),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_configurations_equal_torch(name: str, dtype: type) -> None:
    xs, ws, params = NAMED[name]
    params = {"padding_mode": "zeros", **params}
    groups = params.get("groups", 1)
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    y = conv2d(x, w, b, **params)
    g = rng.standard_normal(y.shape).astype(dtype)
    yt, dxt, dwt, dbt = torch_conv2d(
        x, w, b, groups=groups, grad_output=g, **{k: v for k, v in params.items() if k != "groups"}
    )
    assert_close(y, yt)
    dx, dw, db = conv2d_backward(g, x, w, **params)
    assert_close(dx, dxt)
    assert_close(dw, dwt)
    assert_close(db, dbt)


@pytest.mark.parametrize(
    "params", [{}, {"padding": 1, "stride": 2}, {"groups": 2, "padding": (0, 1, 2, 1)}]
)
def test_numerical_gradients(params: dict[str, Any]) -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 2, 5, 4))
    w = rng.standard_normal((2, 2 // params.get("groups", 1), 3, 2))
    b = rng.standard_normal(2)
    y = conv2d(x, w, b, **params)
    g = rng.standard_normal(y.shape)
    dx, dw, db = conv2d_backward(g, x, w, **params)
    assert_close(dx, numerical_gradient(lambda v: conv2d(v, w, b, **params), x, g), tol=1e-8)
    assert_close(dw, numerical_gradient(lambda v: conv2d(x, v, b, **params), w, g), tol=1e-8)
    assert db is not None
    assert_close(db, numerical_gradient(lambda v: conv2d(x, w, v, **params), b, g), tol=1e-8)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_numerical_gradient_dx_with_padding_modes(mode: str) -> None:
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 2, 4, 5))
    params: dict[str, Any] = {"padding": (2, 1, 1, 2), "padding_mode": mode}
    w = rng.standard_normal((3, 2, 3, 3))
    y = conv2d(x, w, None, **params)
    g = rng.standard_normal(y.shape)
    dx, _, db = conv2d_backward(g, x, w, bias=False, **params)
    assert db is None
    assert_close(dx, numerical_gradient(lambda v: conv2d(v, w, None, **params), x, g), tol=1e-8)


def test_float32_stays_float32_and_float16_rounds_once() -> None:
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    for groups_w in (w, w[:3, :1]):
        groups = 1 if groups_w.shape[1] == 3 else 3
        assert conv2d(x, groups_w, groups=groups).dtype == np.float32
        dx, dw, db = conv2d_backward(
            np.ones((2, groups_w.shape[0], 4, 4), np.float32), x, groups_w, groups=groups
        )
        assert dx.dtype == dw.dtype == np.float32 and db is not None and db.dtype == np.float32
    y16 = conv2d(x.astype(np.float16), w.astype(np.float16))
    assert y16.dtype == np.float16
    ref = conv2d(x.astype(np.float16).astype(np.float32), w.astype(np.float16).astype(np.float32))
    np.testing.assert_array_equal(y16, ref.astype(np.float16))


def test_output_is_c_contiguous() -> None:
    rng = np.random.default_rng(15)
    x = rng.standard_normal((3, 4, 6, 6))
    for w, groups in (
        (rng.standard_normal((5, 4, 3, 3)), 1),
        (rng.standard_normal((4, 1, 3, 3)), 4),
    ):
        assert conv2d(x, w, groups=groups, padding=1).flags.c_contiguous


def _err(call: Any) -> str:
    with pytest.raises(CnncliError) as info:
        call()
    return str(info.value)


X = np.zeros((2, 3, 5, 5))
W = np.zeros((4, 3, 3, 3))


@pytest.mark.parametrize(
    ("call", "error", "fragments"),
    [
        (lambda: conv2d(X[0], W), ShapeError, ["input", "4-D", "3-D", "(3, 5, 5)"]),
        (lambda: conv2d(X, W[0]), ShapeError, ["weight", "4-D", "3-D", "(3, 3, 3)"]),
        (lambda: conv2d(X, np.zeros((4, 2, 3, 3))), ShapeError, ["2 input channels", "C=3"]),
        (lambda: conv2d(X, np.zeros((4, 1, 3, 3)), groups=2), ShapeError, ["groups=2", "C=3"]),
        (
            lambda: conv2d(np.zeros((1, 4, 5, 5)), np.zeros((3, 2, 3, 3)), groups=2),
            ShapeError,
            ["groups=2", "F=3"],
        ),
        (lambda: conv2d(X, W, groups=0), ParameterError, ["groups", "0"]),
        (lambda: conv2d(X, W, stride=0), ParameterError, ["stride", "0"]),
        (lambda: conv2d(X, W, dilation=(1, 0)), ParameterError, ["dilation", "(1, 0)"]),
        (lambda: conv2d(X, W, padding=-1), ParameterError, ["padding", "negative", "-1"]),
        (lambda: conv2d(X, W, padding="full"), ParameterError, ["'full'", "same"]),
        (lambda: conv2d(X, W, padding=(1, 2, 3)), ParameterError, ["3", "(1, 2, 3)"]),
        (lambda: conv2d(X, W, padding="same", stride=2), ParameterError, ["same", "stride 2"]),
        (
            lambda: conv2d(X, np.zeros((4, 3, 4, 4)), dilation=2),
            ShapeError,
            ["kernel 4", "dilation 2", "7", "5"],
        ),
        (lambda: conv2d(X, W, padding_mode="mirror"), ParameterError, ["'mirror'", "reflect"]),
        (lambda: conv2d(X, W, np.zeros(3)), ShapeError, ["bias", "(4,)", "(3,)"]),
        (lambda: conv2d(X.astype(int), W), ParameterError, ["input", "int64"]),
        (
            lambda: conv2d(X, W, padding=5, padding_mode="reflect"),
            ParameterError,
            ["reflect", "(5, 5)", "size 5"],
        ),
        (
            lambda: conv2d(X, W, padding=2**20),
            ResourceLimitError,
            ["conv2d", "(2, 3, 5, 5)", "(4, 3, 3, 3)", str(2**21 + 3), "too large"],
        ),
        (
            lambda: conv2d_backward(
                np.broadcast_to(0.0, (2, 4, 2**21 + 3, 2**21 + 3)), X, W, padding=2**20
            ),
            ResourceLimitError,
            ["conv2d_backward", "too large"],
        ),
        (
            lambda: conv2d_backward(np.zeros((2, 4, 4, 4)), X, W),
            ShapeError,
            ["grad_output", "(2, 4, 4, 4)", "(2, 4, 3, 3)"],
        ),
    ],
)
def test_each_error_names_its_values(call: Any, error: type, fragments: list[str]) -> None:
    with pytest.raises(error) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


@st.composite
def nonsense_calls(draw: st.DrawFn) -> dict[str, Any]:
    """Shapes and parameters that are often valid and often not (every kind of mistake).

    Half the draws are "plausible" (consistent channels, positive sizes), so that
    kernel-versus-input and padding-limit errors meet correct results; the other
    half may break anything.
    """
    plausible = draw(st.booleans())
    g = draw(st.integers(1, 3))
    groups = g if plausible else draw(st.sampled_from((g, 0, -1, 4)))

    def size(hi: int) -> st.SearchStrategy[int]:
        return st.integers(1, hi) if plausible else st.integers(0, hi)

    cg = draw(size(3))
    c = cg * g if plausible else draw(st.sampled_from((cg * g, cg * g + 1, max(cg * g - 1, 0))))
    f = draw(size(3)) * g if plausible else draw(size(5))
    x_shape = [draw(size(2)), c, draw(size(7)), draw(size(7))]
    w_shape = [f, cg, draw(size(4)), draw(size(4))]
    damage = (
        "none"
        if plausible
        else draw(st.sampled_from(("none", "drop_x", "add_x", "drop_w", "add_w")))
    )
    if damage == "drop_x":
        x_shape.pop(0)
    elif damage == "add_x":
        x_shape.append(2)
    elif damage == "drop_w":
        w_shape.pop(0)
    elif damage == "add_w":
        w_shape.append(1)
    small = st.integers(1, 3)
    bad = st.integers(-1, 0)
    return {
        "x_shape": x_shape,
        "w_shape": w_shape,
        "stride": draw(small if plausible else st.one_of(bad, st.tuples(st.integers(0, 3), small))),
        "padding": draw(
            st.one_of(
                st.integers(0, 3),
                st.tuples(st.integers(0, 3), st.integers(0, 3)),
                st.tuples(*[st.integers(0, 3)] * 4),
                st.sampled_from(("same", "valid")),
            )
            if plausible
            else st.one_of(
                st.integers(-2, 3),
                st.tuples(st.integers(-1, 3), st.integers(0, 3)),
                st.tuples(*[st.integers(-1, 3)] * 4),
                st.sampled_from(("same", "valid", "full")),
            )
        ),
        "dilation": draw(
            small if plausible else st.one_of(bad, st.tuples(st.integers(0, 2), small))
        ),
        "groups": groups,
        "padding_mode": draw(st.sampled_from(MODES if plausible else (*MODES, "symmetric"))),
        "with_bias": draw(st.booleans()),
    }


@settings(max_examples=120, deadline=None)
@given(nonsense_calls())
def test_nonsense_gives_a_correct_result_or_our_error(call: dict[str, Any]) -> None:
    x_shape, w_shape, with_bias = call["x_shape"], call["w_shape"], call["with_bias"]
    stride, padding, dilation = call["stride"], call["padding"], call["dilation"]
    groups, padding_mode = call["groups"], call["padding_mode"]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0] if w_shape else 1) if with_bias else None
    params = {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": padding_mode,
    }
    try:
        y = conv2d(x, w, b, **params)
    except CnncliError as error:
        event(type(error).__name__)
        return
    event("computed")
    g = rng.standard_normal(y.shape)
    yt, dxt, dwt, dbt = torch_conv2d(x, w, b, grad_output=g, **params)
    assert_close(y, yt)
    dx, dw, db = conv2d_backward(g, x, w, bias=with_bias, **params)
    assert_close(dx, dxt)
    assert_close(dw, dwt)
    if with_bias:
        assert_close(db, dbt)


SOBEL_X = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


@pytest.mark.parametrize(
    "weight",
    [SOBEL_X[None, None], np.array([[[[0.0, 1.0], [2.0, 0.0]]]]), np.zeros((1, 1, 2, 2))],
)
def test_non_finite_inputs_give_torchs_nan_and_inf(weight: np.ndarray) -> None:
    """0 * inf is NaN: skipping zero taps or splitting a kernel must not hide it."""
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(17).standard_normal((1, 1, 8, 9))
    x[0, 0, 2, 3] = np.inf
    x[0, 0, 6, 1] = -np.inf
    x[0, 0, 4, 7] = np.nan
    y = conv2d(x, weight, padding=1)
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(weight), padding=1).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_array_equal(np.isposinf(y), np.isposinf(expected))
    np.testing.assert_array_equal(np.isneginf(y), np.isneginf(expected))
    finite = np.isfinite(expected)
    assert_close(y[finite], expected[finite])


@pytest.mark.parametrize(
    ("ws", "params"),
    [
        ((4, 6, 3, 3), {"padding": 1}),  # im2col + GEMM
        ((6, 1, 3, 3), {"padding": 1, "groups": 6}),  # shift-and-add, depthwise
        ((5, 6, 1, 1), {"stride": 2}),  # 1x1 as a matrix product
    ],
)
def test_non_contiguous_inputs(ws: tuple[int, ...], params: dict[str, Any]) -> None:
    """Views (channels-last memory, strided slices) give the same numbers as copies."""
    rng = np.random.default_rng(18)
    nhwc = rng.standard_normal((2, 9, 8, 6))
    x = nhwc.transpose(0, 3, 1, 2)  # NCHW view of channels-last memory
    w = rng.standard_normal(ws)[:, :, ::-1, :]
    b = rng.standard_normal(ws[0])[::-1]
    y = conv2d(x, w, b, **params)
    assert_close(y, conv2d(x.copy(), w.copy(), b.copy(), **params), tol=1e-14)
    (expected,) = torch_conv2d(x.copy(), w.copy(), b.copy(), **params)
    assert_close(y, expected)
    g = rng.standard_normal(y.shape)
    for got, want in zip(
        conv2d_backward(g[:, :, :, :], x, w, **params),
        conv2d_backward(g, x.copy(), w.copy(), **params),
        strict=True,
    ):
        assert got is not None and want is not None
        assert_close(got, want, tol=1e-14)
