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


# After a Ctrl-C that cnncli caught, CPython 3.11 may still hold a note of it
# (``_Py_UnhandledKeyboardInterrupt``, set when the interrupt passed through some of
# its C code), and ``python -m`` then ends the process by SIGINT (status -2) instead
# of with the status returned. A real signal sets the note by luck of timing; this
# launcher sets it through ctypes, then runs ``cnncli.__main__`` with a command that
# was interrupted. It is run as ``python -m``, the path that reads the note.
_NOTED_INTERRUPT = """
import ctypes
import cnncli.cli.main as cli
from cnncli.cli.status import ExitStatus
ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 1
cli.main = lambda argv=None: ExitStatus.INTERRUPTED
from cnncli.__main__ import main
print("printed before the interrupt", flush=False)
main()
"""


def test_ctrl_c_exits_130_under_python_m_even_with_cpythons_note_of_it(tmp_path: Path) -> None:
    import ctypes

    try:
        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt")
    except ValueError:
        pytest.skip("this CPython keeps no such note in libpython (3.12 moved it)")
    (tmp_path / "noted_interrupt.py").write_text(_NOTED_INTERRUPT, encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "noted_interrupt"], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 130, out.stderr
    assert out.stdout == "printed before the interrupt\n"  # flushed before the exit
    assert "Traceback" not in out.stderr
