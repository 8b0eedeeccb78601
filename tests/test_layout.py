"""The house stays readable: no source file in cnncli/ is longer than about 600 lines."""

from __future__ import annotations

from pathlib import Path

import cnncli

MAX_LINES = 600
PACKAGE = Path(cnncli.__file__).resolve().parent


def _line_count(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def test_no_source_file_is_longer_than_600_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE.parent)): n
        for path in sorted(PACKAGE.rglob("*.py"))
        if (n := _line_count(path)) > MAX_LINES
    }
    assert not long, "longer than 600 lines: " + ", ".join(f"{p} ({n})" for p, n in long.items())
