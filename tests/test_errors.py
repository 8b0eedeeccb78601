"""The error hierarchy keeps every message to one printable line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnncli.errors import CnncliError, InputFileError, one_line


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("plain text, ünïcode × ⌊⌋", "plain text, ünïcode × ⌊⌋"),
        ("two\nlines", "two\\nlines"),
        ("carriage\rreturn", "carriage\\rreturn"),
        ("tab\there", "tab\\there"),
        ("escape \x1b[31mred", "escape \\x1b[31mred"),
        ("nul\x00byte", "nul\\x00byte"),
    ],
)
def test_one_line_escapes_control_characters(raw: str, expected: str) -> None:
    assert one_line(raw) == expected


def test_error_message_and_hint_are_one_line() -> None:
    err = InputFileError("bad key 'a\nb'", hint="rename\nit")
    assert isinstance(err, CnncliError)
    assert err.message == "bad key 'a\\nb'"
    assert str(err) == err.message
    assert err.hint == "rename\\nit"


def test_json_key_with_a_newline_gives_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"a\nb": [[1, 2], [3, 4]], "c": [[1]]}), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "cnncli", "pool", str(path)], capture_output=True, text=True
    )
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert lines[0].startswith("error: ")
    assert len([ln for ln in lines if not ln.startswith("hint: ")]) == 1
    assert "Traceback" not in out.stderr


# Ctrl-C while ``python -m cnncli`` still imports Typer: the interrupt arrives as a
# KeyboardInterrupt from that import (simulated, since a real signal's timing is luck).
_INTERRUPT_WHILE_LOADING = """
import builtins, runpy, sys
real = builtins.__import__
def importing(name, *args, **kwargs):
    if name == "typer":
        raise KeyboardInterrupt
    return real(name, *args, **kwargs)
builtins.__import__ = importing
sys.argv = ["cnncli", "--help"]
runpy.run_module("cnncli", run_name="__main__")
"""


def test_ctrl_c_while_the_interface_loads_exits_130_without_a_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _INTERRUPT_WHILE_LOADING], capture_output=True, text=True
    )
    assert out.returncode == 130, out.stderr
    assert out.stderr == "interrupted\n"
