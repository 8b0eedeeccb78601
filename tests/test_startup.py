"""Start-up stays light: help imports no NumPy, Pillow, engine, io, nn or render.

Structural checks only (no time is asserted): each ``--help`` runs as
``python -X importtime -m cnncli ... --help`` in a subprocess, and the modules
named in the import-time report are compared with the ones help must not need.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.core
import typer.main

from cnncli.cli.main import _register_commands, app

ROOT = Path(__file__).resolve().parents[1]
# Heavy, or only needed once a command computes something.
FORBIDDEN = ("numpy", "PIL", "cnncli.engine", "cnncli.io", "cnncli.nn", "cnncli.render")
# What typer.rich_utils imports and cnncli's help never uses (cnncli.cli.helpfast defers them).
DEFERRED = ("rich.markdown", "rich.traceback", "markdown_it", "pygments")
_IMPORT_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$")


def _command_names() -> list[str]:
    _register_commands()
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return list(group.commands)


def _imported_modules(args: list[str]) -> tuple[set[str], str]:
    """Run ``python -X importtime -m cnncli *args``; return (modules imported, stdout)."""
    env = dict(os.environ, COLUMNS="100", PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cnncli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    modules = set()
    for line in out.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            modules.add(match.group(1))
    # The report must have been parsed, or every "not imported" below would pass vacuously.
    assert {"typer", "cnncli.cli.main"} <= modules, out.stderr[:2000]
    return modules, out.stdout


def _forbidden_in(modules: set[str], names: tuple[str, ...] = FORBIDDEN + DEFERRED) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in names))


def test_root_help_imports_nothing_heavy_and_keeps_the_panels() -> None:
    modules, stdout = _imported_modules(["--help"])
    assert _forbidden_in(modules) == []
    # The cheap way out (no Rich help) is not taken: the command groups are still shown.
    assert "Tensor ops" in stdout
    assert "Whole networks" in stdout


def test_kernels_help_imports_nothing_heavy() -> None:
    modules, stdout = _imported_modules(["kernels", "--help"])
    assert _forbidden_in(modules) == []
    assert "kernels" in stdout


@pytest.mark.parametrize("command", sorted(set(_command_names()) - {"kernels"}))
def test_every_command_help_imports_nothing_heavy(command: str) -> None:
    modules, stdout = _imported_modules([command, "--help"])
    assert _forbidden_in(modules) == []
    assert command in stdout


def test_command_modules_evaluate_their_annotations_once() -> None:
    """Typer evaluates string annotations (PEP 563) twice per command on every start-up.

    Without ``from __future__ import annotations`` a command's Annotated[..., typer.Option()]
    types are built once, at import; with it, building the app costs about twice as much.
    """
    _register_commands()
    offenders = []
    for info in app.registered_commands:
        callback = info.callback
        assert callback is not None
        if any(isinstance(a, str) for a in callback.__annotations__.values()):
            offenders.append(f"{callback.__module__}.{callback.__name__}")
    assert offenders == []


# Runs cnncli in-process after importing the deferred modules for real, so that help is drawn
# by typer.rich_utils exactly as Typer imports it.
_EAGER = "import rich.markdown, rich.traceback, sys; from cnncli.__main__ import main; main()"


@pytest.mark.parametrize("args", [["--help"], [], ["conv", "--help"], ["forward", "-h"]])
@pytest.mark.parametrize("color", [False, True])
def test_help_is_the_same_with_the_deferred_modules(args: list[str], color: bool) -> None:
    """The stand-ins change nothing that is drawn, in plain text and in colour."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(COLUMNS="100", PYTHONPATH=str(ROOT), **({"FORCE_COLOR": "1"} if color else {}))
    outputs = []
    for argv in (["-m", "cnncli", *args], ["-c", _EAGER, *args]):
        out = subprocess.run(
            [sys.executable, *argv], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
        )
        assert out.returncode in (0, 2), out.stderr[-2000:]
        outputs.append((out.returncode, out.stdout, out.stderr))
    assert outputs[0] == outputs[1]
    assert ("\x1b[" in outputs[0][1]) == color
    assert "Usage: cnncli" in re.sub(r"\x1b\[[0-9;]*m", "", outputs[0][1])


def test_the_deferred_modules_load_for_real_when_used() -> None:
    """After help, rich.markdown is the real module and the stand-in makes real instances."""
    code = (
        "from cnncli.cli.helpfast import load_help_renderer\n"
        "load_help_renderer()\n"
        "import sys, typer.rich_utils as ru\n"
        "assert 'rich.markdown' not in sys.modules\n"
        "made = ru.Markdown('# title')\n"
        "import rich.markdown, rich.traceback\n"
        "assert type(made) is rich.markdown.Markdown, type(made)\n"
        "assert hasattr(rich.markdown, 'Heading') and hasattr(rich.traceback, 'install')\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
