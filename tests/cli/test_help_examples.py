"""Every command's ``--help`` ends with two or three examples, and each one runs.

The examples are the lines starting ``cnncli `` after "Examples:" in ``cnncli CMD --help``
(the command's epilog, made by ``cnncli.cli.options.examples``).  Each is run in-process,
after shlex drops its comment, in a temporary folder where ``samples/`` is the
repository's (so that files an example writes land there).  An example that reads
``w.npz`` (trained weights) finds the weights of ``cnncli train lenet5 --epochs 1 -o w.npz``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import typer.core
import typer.main

from cnncli.cli.main import _register_commands, app
from tests.cli.conftest import run_cli

ROOT = Path(__file__).resolve().parents[2]


def _command_names() -> list[str]:
    _register_commands()
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return list(group.commands)


COMMANDS = _command_names()


def help_examples(command: str, columns: int = 80) -> list[str]:
    """The example lines of ``cnncli COMMAND --help`` drawn at ``columns`` columns."""
    r = run_cli(command, "--help", env={"COLUMNS": str(columns)})
    assert r.code == 0, r.stderr
    lines = [line.strip() for line in r.stdout.splitlines()]
    assert "Examples:" in lines, f"cnncli {command} --help has no Examples section"
    after = lines[lines.index("Examples:") + 1 :]
    return [line for line in after if line.startswith("cnncli ")]


def test_the_issue_s_commands_are_all_there() -> None:
    for name in ("conv", "pool", "pad", "act", "flatten", "linear", "dropout", "kernels"):
        assert name in COMMANDS
    for name in ("shapes", "forward", "models", "datasets"):
        assert name in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_two_or_three_examples_of_the_command(command: str) -> None:
    examples = help_examples(command)
    assert 2 <= len(examples) <= 3, examples
    for example in examples:
        assert shlex.split(example, comments=True)[:2] == ["cnncli", command], example
    # Not wrapped at 80 columns: the same lines as on a wide terminal.
    assert examples == help_examples(command, columns=200)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_example_runs(
    command: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    monkeypatch.chdir(tmp_path)
    for example in help_examples(command):
        args = shlex.split(example, comments=True)[1:]
        if "w.npz" in args and not (tmp_path / "w.npz").exists():
            assert run_cli("train", "lenet5", "--epochs", "1", "-o", "w.npz", "--json").code == 0
        r = run_cli(*args)
        assert r.code == 0, f"{example}: {r.stderr}"
        assert r.stdout.strip(), example
        assert "error:" not in r.stderr, example


def test_the_command_list_shows_no_examples() -> None:
    r = run_cli("--help")
    assert r.code == 0
    assert "Examples:" not in r.stdout
