"""Bugs found by the hostile suite in files this branch may not edit (cnncli/cli/*, render/*).

Each is a strict xfail: it fails now, and turns into a failure (XPASS) once fixed, so
that whoever fixes it removes the mark.  Other such rows live in the tables of
test_table.py (conversion notes) and test_resources.py (estimates before allocating).
"""

from __future__ import annotations

import pytest

from tests.hostile import helpers as h


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(
            ["linear", "--seed", "-1", "--show", "none"],
            marks=pytest.mark.xfail(
                strict=True, reason="linear --seed -1: ValueError from NumPy, exit 1"
            ),
        ),
        pytest.param(
            ["dropout", "--seed", "-1", "--show", "none"],
            marks=pytest.mark.xfail(
                strict=True, reason="dropout --seed -1: ValueError from NumPy, exit 1"
            ),
        ),
        ["forward", "-m", "lenet5", "--seed", "-1", "--top", "0"],
    ],
    ids=lambda a: " ".join(a[:3]),
)
def test_negative_seed_is_a_usage_error(argv: list[str]) -> None:
    h.assert_clean(h.run_cli(*argv), "error")
