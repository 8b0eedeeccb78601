"""Helpers for the CLI tests: run ``cnncli`` in-process, write input files, golden files.

Golden files (``tests/cli/golden/*.txt``) hold rendered output at COLUMNS=100 with
NO_COLOR=1.  Regenerate them after an intended change of the output with::

    CNNCLI_REGEN_GOLDEN=1 python -m pytest tests/cli -k golden

and review the diff before committing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncli.cli.main import main

GOLDEN_DIR = Path(__file__).parent / "golden"
REGEN = os.environ.get("CNNCLI_REGEN_GOLDEN", "") not in ("", "0")


@dataclass
class Run:
    """What one ``cnncli`` call gave: exit status, stdout (text and bytes), stderr."""

    code: int
    stdout: str
    stderr: str
    stdout_bytes: bytes


def run_cli(*args: str, input: bytes | str | None = None, env: dict[str, str] | None = None) -> Run:
    """Run ``cnncli ARGS`` in-process through ``main`` (the error mapping included)."""
    full_env = {"COLUMNS": "100", "NO_COLOR": "1", "CNNCLI_DEBUG": None, **(env or {})}
    with CliRunner().isolation(input=input, env=full_env) as (out, err, _):  # type: ignore[arg-type]
        code = main(list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        raw = out.getvalue()
        errs = err.getvalue()
    return Run(int(code), raw.decode("utf-8", "replace"), errs.decode("utf-8", "replace"), raw)


@pytest.fixture
def cli() -> Callable[..., Run]:
    return run_cli


@pytest.fixture
def npy(tmp_path: Path) -> Callable[..., str]:
    """Write an array to ``tmp_path/name`` (.npy) and return its path."""

    def write(array: np.ndarray, name: str = "x.npy") -> str:
        path = tmp_path / name
        np.save(path, array)
        return str(path)

    return write


def check_golden(name: str, text: str) -> None:
    """Compare ``text`` (trailing spaces stripped per line) with ``golden/NAME.txt``."""
    cleaned = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    path = GOLDEN_DIR / f"{name}.txt"
    if REGEN or not path.exists():
        if not REGEN:
            pytest.fail(
                f"golden file {path} is missing; run with CNNCLI_REGEN_GOLDEN=1 to create it"
            )
        path.write_text(cleaned, encoding="utf-8")
    assert cleaned == path.read_text(encoding="utf-8")
