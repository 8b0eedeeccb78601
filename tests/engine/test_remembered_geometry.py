"""Geometries, pooling divisors and taps remembered between calls (a layer asks for the
same ones at every step): the same answers as computed afresh, never one value's answer
for another that compares equal, and nothing a caller could change."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cnncli.engine import pool, shapes
from cnncli.engine.fast import pool as fast_pool
from cnncli.errors import ParameterError


def test_a_repeated_call_is_answered_from_memory() -> None:
    first = shapes.conv2d_geometry((2, 3, 9, 9), (4, 3, 3, 3), 2, (1, 0), 1, 1)
    again = shapes.conv2d_geometry((2, 3, 9, 9), (4, 3, 3, 3), 2, (1, 0), 1, 1)
    assert again is first
    assert again == shapes._conv2d_geometry((2, 3, 9, 9), (4, 3, 3, 3), 2, (1, 0), 1, 1)
    p = shapes.pool2d_geometry((1, 2, 7, 7), 3, None, 1, 1, True)
    assert shapes.pool2d_geometry((1, 2, 7, 7), 3, None, 1, 1, True) is p


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        ({"stride": 1}, {"stride": True}),
        ({"stride": (1, 1)}, {"stride": (1, True)}),
        ({"groups": 1}, {"groups": True}),
        ({"stride": 2}, {"stride": 2.0}),
        ({"padding": 1}, {"padding": 1.0}),
    ],
)
def test_a_value_equal_to_a_remembered_one_is_still_checked(
    good: dict[str, Any], bad: dict[str, Any]
) -> None:
    # True == 1 and 2.0 == 2: a memory keyed on values alone would answer the bad call.
    shapes.conv2d_geometry((1, 3, 8, 8), (2, 3, 3, 3), **good)
    with pytest.raises(ParameterError):
        shapes.conv2d_geometry((1, 3, 8, 8), (2, 3, 3, 3), **bad)


def test_arguments_that_are_not_plain_values_are_computed_afresh() -> None:
    want = shapes.conv2d_geometry((1, 3, 8, 8), (2, 3, 3, 3), (2, 1), (1, 1))
    got = shapes.conv2d_geometry([1, 3, 8, 8], np.array([2, 3, 3, 3]), [2, 1], [1, 1])  # type: ignore[arg-type]
    assert got == want and got is not want
    assert shapes.pool2d_geometry((1, 1, 6, 6), np.int64(2)) == shapes.pool2d_geometry(
        (1, 1, 6, 6), 2
    )
    with pytest.raises(ParameterError):
        shapes.pool2d_geometry((1, 1, 6, 6), [2, True])  # type: ignore[list-item]


def test_remembered_arrays_are_read_only() -> None:
    geom = shapes.pool2d_geometry((1, 1, 7, 7), 3, 2, 1, 1, True)
    divisor = pool._avg_divisor(geom, False, None, np.dtype(np.float32))
    assert not divisor.flags.writeable
    assert pool._avg_divisor(geom, False, None, np.dtype(np.float32)) is divisor
    sizes = [2, 3, 3, 2]  # windows [-1, 2), [1, 4), [3, 6), [5, 8) clipped to the 7 rows
    np.testing.assert_array_equal(divisor, np.outer(sizes, sizes))
    for axis in fast_pool._axes(geom):
        assert not axis.k0.flags.writeable and not axis.seen.flags.writeable
    other_batch = shapes.pool2d_geometry((5, 3, 7, 7), 3, 2, 1, 1, True)
    assert pool._avg_divisor(other_batch, False, None, np.float32) is divisor  # D has no N, C


def test_a_large_divisor_is_computed_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A photo's divisor would be megabytes: it is not kept, but it is the same.
    monkeypatch.setattr(pool, "REMEMBERED_DIVISOR_VALUES", 15)
    geom = shapes.pool2d_geometry((1, 1, 8, 8), 2)  # 4 x 4 = 16 windows
    first = pool._avg_divisor(geom, True, None, np.float32)
    again = pool._avg_divisor(geom, True, None, np.float32)
    assert first is not again and not first.flags.writeable
    np.testing.assert_array_equal(first, np.full((4, 4), 4.0))
    small = shapes.pool2d_geometry((1, 1, 6, 6), 2)  # 9 windows: kept
    assert pool._avg_divisor(small, True, None, np.float32) is pool._avg_divisor(
        small, True, None, np.float32
    )
