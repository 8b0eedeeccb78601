"""pad / pad_backward: parity with F.pad, np.pad and SciPy, gradients, and errors."""

from __future__ import annotations

import importlib
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncli.engine import pad as pad_fn
from cnncli.engine import pad_backward
from cnncli.engine.pad import PAD_MODES
from cnncli.errors import CnncliError, ParameterError, ResourceLimitError, ShapeError
from tests.oracle import assert_close, numerical_gradient

TORCH_MODES = ("constant", "reflect", "replicate", "circular")


def _limit_ok(mode: str, amounts: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """Whether PyTorch's (and our) limits allow these amounts."""
    pairs = [(amounts[0], amounts[1], shape[-1])]
    if len(amounts) == 4:
        pairs.append((amounts[2], amounts[3], shape[-2]))
    for before, after, size in pairs:
        if mode == "reflect" and max(before, after) >= size:
            return False
        if mode in ("circular", "symmetric") and max(before, after) > size:
            return False
    return True


@st.composite
def pad_cases(draw: st.DrawFn) -> tuple[np.ndarray, tuple[int, ...], str, float]:
    mode = draw(st.sampled_from(TORCH_MODES))
    four = draw(st.booleans())
    ndim = draw(st.sampled_from((3, 4) if four else (2, 3)))
    shape = tuple(draw(st.integers(1, 3)) for _ in range(ndim - 2)) + tuple(
        draw(st.integers(1, 6)) for _ in range(2)
    )
    amounts = tuple(draw(st.integers(0, 5)) for _ in range(4 if four else 2))
    dtype = draw(st.sampled_from((np.float32, np.float64)))
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    value = draw(st.sampled_from((0.0, 1.5, -2.0)))
    return x, amounts, mode, value


@settings(max_examples=80, deadline=None)
@given(pad_cases())
def test_pad_and_backward_equal_torch(case: tuple[np.ndarray, tuple[int, ...], str, float]) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, amounts, mode, value = case
    if not _limit_ok(mode, amounts, x.shape):
        with pytest.raises(ParameterError):
            pad_fn(x, amounts, mode)
        with pytest.raises((RuntimeError, ValueError, NotImplementedError)):
            F.pad(torch.tensor(x), amounts, mode=mode)
        return
    out = pad_fn(x, amounts, mode, value)
    xt = torch.tensor(x, requires_grad=True)
    expected = F.pad(xt, amounts, mode=mode, value=value if mode == "constant" else None)
    assert_close(out, expected)
    g = np.random.default_rng(1).standard_normal(out.shape).astype(x.dtype)
    expected.backward(torch.tensor(g))
    dx = pad_backward(g, amounts, mode)
    assert dx.shape == x.shape
    assert_close(dx, xt.grad)


# The naming table of the module docstring, checked against the libraries it names:
# each row's NumPy and SciPy names must give exactly what cnncli's mode gives.
NAMING = {
    "constant": ("constant", "constant"),
    "zeros": ("constant", "constant"),
    "reflect": ("reflect", "mirror"),
    "symmetric": ("symmetric", "reflect"),
    "replicate": ("edge", "nearest"),
    "circular": ("wrap", "grid-wrap"),
}


def test_docstring_table_names_match_this_check() -> None:
    # cnncli.engine.pad is the function; the module is reached through importlib.
    doc = importlib.import_module("cnncli.engine.pad").__doc__ or ""
    for mode, (np_name, scipy_name) in NAMING.items():
        row = next(line for line in doc.splitlines() if re.match(rf"{mode}\s", line))
        assert f"'{np_name}'" in row and f"'{scipy_name}'" in row, row


@pytest.mark.parametrize("mode", sorted(NAMING))
@pytest.mark.parametrize("amounts", [(2, 1, 3, 0), (0, 3, 1, 2), (4, 4, 3, 3)])
def test_pad_equals_numpy_and_scipy_by_the_table(mode: str, amounts: tuple[int, ...]) -> None:
    ndimage = pytest.importorskip("scipy.ndimage")
    x = np.random.default_rng(3).standard_normal((5, 6))
    left, right, top, bottom = amounts
    value = 0.0 if mode == "zeros" else 0.25
    ours = pad_fn(x, amounts, mode, value)
    np_name, scipy_name = NAMING[mode]
    kwargs = {"constant_values": value} if np_name == "constant" else {}
    np.testing.assert_array_equal(
        ours, np.pad(x, ((top, bottom), (left, right)), np_name, **kwargs)
    )
    rows = np.arange(-top, x.shape[0] + bottom)
    cols = np.arange(-left, x.shape[1] + right)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    scipy_out = ndimage.map_coordinates(x, [rr, cc], order=0, mode=scipy_name, cval=value)
    np.testing.assert_array_equal(ours, scipy_out)


def test_reflect_and_symmetric_differ_by_the_edge() -> None:
    row = np.array([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(pad_fn(row, (2, 2), "reflect"), [[3, 2, 1, 2, 3, 4, 3, 2]])
    np.testing.assert_array_equal(pad_fn(row, (2, 2), "symmetric"), [[2, 1, 1, 2, 3, 4, 4, 3]])
    np.testing.assert_array_equal(pad_fn(row, (2, 2), "replicate"), [[1, 1, 1, 2, 3, 4, 4, 4]])
    np.testing.assert_array_equal(pad_fn(row, (2, 2), "circular"), [[3, 4, 1, 2, 3, 4, 1, 2]])
    np.testing.assert_array_equal(pad_fn(row, (1, 2), "constant", 7.0), [[7, 1, 2, 3, 4, 7, 7]])


@pytest.mark.parametrize("mode", PAD_MODES)
@pytest.mark.parametrize("amounts", [(2, 1, 0, 3), (1, 0), (3, 3, 3, 3)])
def test_pad_backward_numerical_gradient(mode: str, amounts: tuple[int, ...]) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 5))
    g = rng.standard_normal(pad_fn(x, amounts, mode).shape)
    num = numerical_gradient(lambda v: pad_fn(v, amounts, mode), x, g)
    assert_close(pad_backward(g, amounts, mode), num, tol=1e-8)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_pad_keeps_dtype_and_any_leading_dims(dtype: type) -> None:
    x = np.ones((2, 1, 2, 3, 4), dtype=dtype)
    for mode in PAD_MODES:
        out = pad_fn(x, (1, 2, 2, 1), mode)
        assert out.dtype == dtype and out.shape == (2, 1, 2, 6, 7)
        assert pad_backward(out, (1, 2, 2, 1), mode).dtype == dtype
    assert pad_fn(np.arange(3.0), (1, 1), "reflect").tolist() == [1.0, 0.0, 1.0, 2.0, 1.0]


def test_pad_symmetric_on_full_size_and_circular_on_full_size() -> None:
    x = np.arange(3.0)
    np.testing.assert_array_equal(pad_fn(x, (3, 3), "symmetric"), np.pad(x, 3, "symmetric"))
    np.testing.assert_array_equal(pad_fn(x, (3, 3), "circular"), np.pad(x, 3, "wrap"))


@pytest.mark.parametrize(
    ("call", "error", "fragments"),
    [
        (
            lambda: pad_fn(np.ones((3, 3)), (1, 1), "mirror"),
            ParameterError,
            ["'mirror'", "reflect"],
        ),
        (lambda: pad_fn(np.ones((3, 3)), (1, 1, 1)), ParameterError, ["(1, 1, 1)", "left, right"]),
        (lambda: pad_fn(np.ones((3, 3)), 2), ParameterError, ["got 2"]),  # type: ignore[arg-type]
        (lambda: pad_fn(np.ones((3, 3)), (1, -2)), ParameterError, ["(1, -2)", "negative"]),
        (lambda: pad_fn(np.ones(3), (1, 1, 1, 1)), ShapeError, ["4 amounts", "1-D"]),
        (
            lambda: pad_fn(np.ones((2, 3)), (3, 0), "reflect"),
            ParameterError,
            ["reflect", "(3, 0)", "along W", "size 3"],
        ),
        (
            lambda: pad_fn(np.ones((2, 3)), (0, 0, 0, 2), "reflect"),
            ParameterError,
            ["(0, 2)", "along H", "size 2"],
        ),
        (
            lambda: pad_fn(np.ones((2, 3)), (4, 0), "circular"),
            ParameterError,
            ["circular", "(4, 0)", "size 3", "wrap around"],
        ),
        (
            lambda: pad_fn(np.ones((2, 3)), (0, 4), "symmetric"),
            ParameterError,
            ["symmetric", "(0, 4)", "size 3"],
        ),
        (
            lambda: pad_fn(np.ones((2, 0)), (1, 0), "replicate"),
            ParameterError,
            ["replicate", "size 0"],
        ),
        (lambda: pad_fn(np.ones((2, 2), dtype=int), (1, 1)), ParameterError, ["int64"]),
        (
            lambda: pad_fn(np.ones((2, 2)), (0, 0, 2**40, 1)),
            ResourceLimitError,
            ["(2, 2)", str(2**40 + 3), "too large"],
        ),
        (
            lambda: pad_backward(np.ones((2, 2)), (2, 1)),
            ShapeError,
            ["size 2", "2 + 1"],
        ),
    ],
)
def test_pad_errors_name_the_values(call: object, error: type, fragments: list[str]) -> None:
    with pytest.raises(error) as info:
        call()  # type: ignore[operator]
    assert isinstance(info.value, CnncliError)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


@settings(max_examples=80, deadline=None)
@given(
    shape=st.lists(st.integers(0, 4), min_size=0, max_size=4),
    amounts=st.one_of(
        st.lists(st.integers(-2, 6), min_size=0, max_size=5),
        st.just("x"),
        st.just(None),
    ),
    mode=st.sampled_from((*PAD_MODES, "edge", "")),
)
def test_pad_nonsense_gives_a_result_or_our_error(
    shape: list[int], amounts: object, mode: str
) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    try:
        out = pad_fn(x, amounts, mode)  # type: ignore[arg-type]
    except CnncliError:
        return
    assert isinstance(amounts, list)
    pairs = list(zip(amounts[::2], amounts[1::2], strict=True))
    widths = [(0, 0)] * (x.ndim - len(pairs)) + [(int(b), int(a)) for b, a in reversed(pairs)]
    np_mode = {"zeros": "constant", "replicate": "edge", "circular": "wrap"}.get(mode, mode)
    if x.size == 0 and np_mode != "constant":
        assert out.shape == tuple(s + b + a for s, (b, a) in zip(x.shape, widths, strict=True))
        return
    np.testing.assert_array_equal(out, np.pad(x, widths, np_mode))  # type: ignore[call-overload]
