"""The ``cnncli`` application and the one place where errors become exit statuses.

The ``cnncli`` command and ``python -m cnncli`` start in :func:`cnncli.__main__.main`.

Commands live one per module in this package and are registered on :data:`app`.
:func:`main` calls the Typer app in standalone-off mode and maps

* :class:`cnncli.errors.CnncliError` → ``error: <message>`` (+ optional hint) on
  stderr, exit status 2;
* Typer usage errors → ``error: <message>``, exit status 2;
* ``KeyboardInterrupt`` → ``interrupted`` on stderr, exit status 130; a command that stopped
  cleanly at Ctrl-C (:class:`~cnncli.cli.status.Interrupted`) → its own message, 130;
* a closed stdout (``| head``) → a quiet exit;
* anything else → a short bug report request, exit status 1
  (``--debug`` or ``CNNCLI_DEBUG=1`` shows the traceback instead).
"""

from __future__ import annotations

import errno
import os
import re
import sys
from typing import Literal

import typer
from typer.exceptions import Abort, Exit, TyperException

from cnncli import __version__
from cnncli.cli.helpfast import load_help_renderer
from cnncli.cli.status import ExitStatus, Interrupted
from cnncli.errors import CnncliError

HELP_OPTIONS = ("-h", "--help")

#: Whether the running command line asks for help (then no engine is loaded for it).
_help_requested = False

app = typer.Typer(
    name="cnncli",
    help="See how a convolutional neural network works: convolution, pooling, padding, "
    "activations and whole networks, computed with NumPy and shown in the terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": list(HELP_OPTIONS)},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"cnncli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version_callback,
        is_eager=True,
        help="Show the version and exit.",
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show a full traceback on errors (or set CNNCLI_DEBUG=1)."
    ),
    engine: Literal["plain", "fast"] | None = typer.Option(
        None,
        "--engine",
        help="Engine path: 'fast' (the default: tuned methods where they fit) or 'plain' "
        "(every op as its formula reads: im2col and one matrix product). Same numbers. "
        "Or set CNNCLI_ENGINE.",
        show_default=False,
    ),
) -> None:
    """cnncli: CNN layers you can see."""
    if debug:
        os.environ["CNNCLI_DEBUG"] = "1"
    if not _help_requested:  # help draws without NumPy or the engine
        _use_engine(engine)


def _use_engine(choice: str | None) -> None:
    """Put the engine on the chosen path (None: CNNCLI_ENGINE, else fast) and set it up."""
    from cnncli.engine import fast, switch

    switch.set_engine(choice)
    if switch.fast_enabled():
        fast.setup()


def _register_commands() -> None:
    """Import the command modules so they attach themselves to :data:`app`."""
    from cnncli.cli import commands  # noqa: F401


def _debug_enabled(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("CNNCLI_DEBUG", "") not in ("", "0")


def _print_error(message: str, hint: str | None = None) -> None:
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    sys.stderr.write(f"error: {first}\n")
    if hint:
        sys.stderr.write(f"hint: {hint}\n")


#: Short flags a command lost (issue 14: one meaning per short flag), with the long option
#: that took their place there.
RETIRED_SHORT_FLAGS = {
    ("pool", "-m"): "--mode",
    ("pad", "-m"): "--mode",
    ("dropout", "-p"): "--p",
    ("forward", "-b"): "--batch",
    ("forward", "-s"): "--seed",
    ("forward", "-k"): "--top",
    ("shapes", "-b"): "--batch",
    ("shapes", "-d"): "--depth",
}

#: The options of ``cnncli`` itself, given before the command.
ROOT_OPTIONS = ("--engine", "--version")

_NOT_ONE_OF = re.compile(r"^Value error, (?P<value>.*) is not one of (?P<choices>.*?)\.?$")


def _option_name(param: object) -> str | None:
    """An option's longest name (``--mode``), or None for an argument."""
    opts = [o for o in getattr(param, "opts", []) if o.startswith("-")]
    return max(opts, key=len) if opts else None


def _usage_error(exc: TyperException, args: list[str]) -> tuple[str, str | None]:
    """A Typer usage error as cnncli's one ``error:`` line and an optional ``hint:``.

    A bad choice reads like cnncli's own ("--mode must be one of max, avg, got 'median'"),
    not Typer's "Value error, ..."; an unknown option names the command it is not an
    option of, and a short flag the command lost points to its long option.
    """
    from typer._click.exceptions import BadParameter, NoSuchOption

    raw = str(getattr(exc, "message", "") or "")
    command = getattr(getattr(exc, "ctx", None), "command", None)
    cmd = getattr(command, "name", None)
    if isinstance(exc, BadParameter) and raw.startswith("Value error, "):
        name = _option_name(exc.param) or "the value"
        found = _NOT_ONE_OF.match(raw)
        if found:
            choices = ", ".join(c.strip().strip("'") for c in found["choices"].split(","))
            return f"{name} must be one of {choices}, got {found['value']}", None
        return f"{name}: {raw.removeprefix('Value error, ')}", None
    if isinstance(exc, NoSuchOption) and cmd and cmd != "cnncli":
        flag = exc.option_name
        message = f"{flag} is not an option of {cmd}"
        new = RETIRED_SHORT_FLAGS.get((cmd, flag))
        if new is not None:
            at = args.index(flag) if flag in args else -1
            value = args[at + 1] if 0 <= at < len(args) - 1 else None
            example = f"{new} {value}" if value and not value.startswith("-") else new
            return message, f"did you mean {example}? ({flag} is no longer short for {new})"
        if flag in ROOT_OPTIONS:
            return message, f"{flag} goes before the command: cnncli {flag} ... {cmd} ..."
        if exc.possibilities:
            return message, f"did you mean {' or '.join(sorted(exc.possibilities))}?"
        return message, f"run `cnncli {cmd} --help` for its options"
    return exc.format_message(), None


def main(argv: list[str] | None = None) -> int:
    """Run cnncli with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    global _help_requested
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_enabled(args)
    _help_requested = not args or any(arg in HELP_OPTIONS for arg in args)
    try:
        if _help_requested:
            load_help_renderer()
        _register_commands()
        result = app(args=args, prog_name="cnncli", standalone_mode=False)
        if result == ExitStatus.INTERRUPTED:  # Typer's answer to a Ctrl-C inside a command
            sys.stderr.write("interrupted\n")
        return int(result) if isinstance(result, int) else ExitStatus.SUCCESS
    except CnncliError as exc:
        if debug:
            raise
        _print_error(exc.message, exc.hint)
        return ExitStatus.USAGE
    except Exit as exc:
        return int(exc.exit_code)
    except Abort:
        return ExitStatus.INTERRUPTED
    except TyperException as exc:  # Typer's (vendored Click's) usage errors
        if debug:
            raise
        message, hint = _usage_error(exc, args)
        if message.strip():  # empty for "no arguments: help was shown"
            _print_error(message, hint)
        return ExitStatus.USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return ExitStatus.INTERRUPTED
    except Interrupted as stop:  # a command that stopped cleanly at Ctrl-C says how
        sys.stderr.write(f"{stop.message}\n")
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return ExitStatus.SUCCESS
    except SystemExit as exc:
        # Typer turns a closed stdout (EPIPE) into sys.exit(1); a closed pipe is no error here.
        context = exc.__context__
        if isinstance(context, OSError) and context.errno == errno.EPIPE:
            _silence_stdout()
            return ExitStatus.SUCCESS
        raise
    except Exception as exc:
        if debug:
            raise
        sys.stderr.write(
            f"cnncli: internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in cnncli; please report it with the command you ran "
            "(run again with --debug for the traceback).\n"
        )
        return ExitStatus.BUG


def _silence_stdout() -> None:
    """After a closed pipe, point stdout at devnull so the interpreter's flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
