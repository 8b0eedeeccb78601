"""One meaning per short flag, the padding modes and activations from one list each."""

from __future__ import annotations

import typing

import pytest
import typer.core
import typer.main

from cnncli.cli import options as opt
from cnncli.cli.main import _register_commands, app
from tests.cli.test_errors import _assert_usage_error

#: Every short flag and the long option(s) it may stand for (README: "Short flags").
SHORT_FLAGS = {
    "-a": {"--activation"},
    "-b": {"--bias"},
    "-d": {"--dilation"},
    "-f": {"--fn"},
    "-g": {"--groups"},
    "-h": {"--help"},
    "-i": {"--input"},
    "-k": {"--kernel", "--kernel-size"},
    "-m": {"--model"},
    "-n": {"--batch"},
    "-o": {"--output"},
    "-p": {"--padding"},
    "-s": {"--stride"},
    "-w": {"--weight", "--weights"},
}


def _commands() -> dict[str, typer.core.TyperCommand]:
    _register_commands()
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return dict(group.commands)  # type: ignore[arg-type]


def test_each_short_flag_means_one_thing_in_every_command() -> None:
    seen = set()
    for name, command in _commands().items():
        for param in command.params:
            names = [*param.opts, *param.secondary_opts]
            longs = {o for o in names if o.startswith("--")}
            for short in (o for o in names if len(o) == 2 and o[0] == "-"):
                assert short in SHORT_FLAGS, f"{name} {short}: not in the README's table"
                assert longs & SHORT_FLAGS[short], f"{name} {short} is {longs}"
                seen.add(short)
    assert seen | {"-h"} == set(SHORT_FLAGS)


@pytest.mark.parametrize(
    ("argv", "flag", "hint"),
    [
        (
            ["pool", "-m", "avg"],
            "-m",
            "did you mean --mode avg? (-m is no longer short for --mode)",
        ),
        (["pad", "-m", "reflect"], "-m", "did you mean --mode reflect?"),
        (["dropout", "-p", "0.5"], "-p", "did you mean --p 0.5?"),
        (["forward", "-m", "lenet5", "-b", "2"], "-b", "did you mean --batch 2?"),
        (["forward", "-m", "lenet5", "-s", "1"], "-s", "did you mean --seed 1?"),
        (["forward", "-m", "lenet5", "-k", "3"], "-k", "did you mean --top 3?"),
        (["shapes", "lenet5", "-b", "2"], "-b", "did you mean --batch 2?"),
        (["shapes", "lenet5", "-d", "1"], "-d", "did you mean --depth 1?"),
    ],
)
def test_retired_short_flags_are_usage_errors(cli, argv: list[str], flag: str, hint: str) -> None:
    r = cli(*argv)
    _assert_usage_error(r, f"error: {flag} is not an option of {argv[0]}\nhint: {hint}")


def test_renamed_long_options_say_their_name(cli) -> None:
    _assert_usage_error(cli("pool", "-k", "1,2,3"), "--kernel-size")
    _assert_usage_error(cli("dropout", "--p", "1.5"), "--p must be between 0 and 1")


def test_new_short_flags(cli) -> None:
    a = cli("pool", "--kernel-size", "3", "-s", "1", "--dilation", "1", "--json")
    b = cli("pool", "-k", "3", "-s", "1", "-d", "1", "--json")
    assert a.code == b.code == 0 and a.stdout == b.stdout
    assert (
        cli("shapes", "lenet5", "-n", "2", "--json").stdout
        == cli("shapes", "lenet5", "--batch", "2", "--json").stdout
    )


def test_padding_modes_are_the_engines() -> None:
    from cnncli.engine.pad import PAD_MODES
    from cnncli.engine.shapes import PADDING_MODES

    assert set(typing.get_args(opt.PadMode)) == set(PAD_MODES)
    assert set(typing.get_args(opt.ConvPadMode)) == set(PADDING_MODES)
    assert set(PADDING_MODES) <= set(PAD_MODES)


def test_activation_names_are_the_engines_table() -> None:
    from cnncli.engine.activations import ACTIVATIONS

    assert list(typing.get_args(opt.Activation)) == list(ACTIVATIONS)
