"""Immutable arrays: nothing can write them, and Winograd reuses their transform unchecked."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from cnncli.engine import conv2d, freeze
from cnncli.engine.fast.frozen import is_frozen
from cnncli.engine.reference.conv import conv2d_naive
from tests.engine.calls import count_calls
from tests.oracle import assert_close

fast_conv_module = importlib.import_module("cnncli.engine.fast.conv")
winograd_module = importlib.import_module("cnncli.engine.fast.winograd")


def test_a_frozen_array_has_the_values_and_cannot_be_written() -> None:
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)[:, ::-1]  # not contiguous
    f = freeze(a)
    np.testing.assert_array_equal(f, a)
    assert f.dtype == a.dtype and f.flags.c_contiguous and is_frozen(f)
    with pytest.raises(ValueError, match="read-only"):
        f[0, 0, 0] = 1
    for view in (f, f[1:], f.reshape(-1), f.T):
        assert is_frozen(view)
        with pytest.raises(ValueError):
            view.flags.writeable = True
    a[0, 0, 0] = 99  # the original stays an ordinary array, and the copy does not follow it
    assert f[0, 0, 0] != 99


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.ones((2, 2)),
        lambda: np.ones((2, 2))[::2],
        lambda: np.frombuffer(bytearray(16), dtype=np.float32),  # a writeable buffer
        lambda: np.ones((2, 2)).view(np.float32).copy(),
    ],
)
def test_ordinary_arrays_are_not_frozen(make: object) -> None:
    a = make()  # type: ignore[operator]
    a.flags.writeable = False  # read-only is not enough: the memory can still change
    assert not is_frozen(a)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the Winograd path's calls, every size qualifying, with an empty memo."""
    monkeypatch.setattr(winograd_module, "_MEMO", type(winograd_module._MEMO)())
    monkeypatch.setattr(fast_conv_module, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(
        fast_conv_module, "FLAT_MAX_CHANNELS", 0
    )  # small layers: Winograd, not the flat image
    monkeypatch.setattr(fast_conv_module, "WINOGRAD_MIN_TILES", 1)
    return count_calls(monkeypatch, fast_conv_module, "_conv_winograd")


def test_a_frozen_weight_is_transformed_once_and_never_compared(
    spy: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    made = count_calls(monkeypatch, winograd_module, "winograd_weight")
    compared = count_calls(monkeypatch, np, "array_equal")
    rng = np.random.default_rng(50)
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    w = freeze(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    first = conv2d(x, w, padding=1)
    for _ in range(3):
        np.testing.assert_array_equal(conv2d(x, w, padding=1), first)
    assert len(spy) == 4 and len(made) == 1 and not compared
    assert_close(first, conv2d_naive(x, w, padding=1).astype(np.float32))


def test_an_ordinary_weight_is_compared_on_every_remembered_call(
    spy: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    compared = count_calls(monkeypatch, np, "array_equal")
    rng = np.random.default_rng(51)
    x = rng.standard_normal((2, 3, 8, 8))
    w = rng.standard_normal((4, 3, 3, 3))
    for _ in range(3):
        conv2d(x, w, padding=1)
    assert len(spy) == 3 and len(compared) == 2
