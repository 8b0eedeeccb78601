"""Kept importable for older imports: the comparisons now live in :mod:`tests.oracle`."""

from tests.oracle import TOLERANCE, assert_close, numerical_gradient, scaled_error

__all__ = ["TOLERANCE", "assert_close", "numerical_gradient", "scaled_error"]
