"""``cnncli forward --input FILE``: pointed at the positional argument (issue 15, item 13)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.mark.parametrize("path", ["/work/data/china.jpg", "china.jpg", "photos/cat"])
def test_an_image_given_to_input_is_pointed_at_the_argument(
    cli: Callable[..., Any], path: str
) -> None:
    run = cli("forward", "--input", path, "-m", "alexnet")
    assert run.code == 2
    assert run.stderr == (
        "error: --input takes a size such as 3x224x224; give the image as the first "
        f"argument: cnncli forward {path} -m alexnet\n"
    )


def test_a_bad_size_keeps_the_size_error(cli: Callable[..., Any]) -> None:
    run = cli("forward", "--input", "3x224", "-m", "alexnet")
    assert run.code == 2
    assert "give the image" not in run.stderr
    assert "3x224" in run.stderr and run.stderr.startswith("error: --input")
