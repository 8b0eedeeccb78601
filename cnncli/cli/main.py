"""The ``cnncli`` application and the one place where errors become exit statuses.

The ``cnncli`` command and ``python -m cnncli`` start in :func:`cnncli.__main__.main`.

Commands live one per module in this package and are registered on :data:`app`.
:func:`main` calls the Typer app in standalone-off mode and maps

* :class:`cnncli.errors.CnncliError` → ``error: <message>`` (+ optional hint) on
  stderr, exit status 2;
* Typer usage errors → ``error: <message>``, exit status 2;
* ``KeyboardInterrupt`` → ``interrupted`` on stderr, exit status 130;
* a closed stdout (``| head``) → a quiet exit;
* anything else → a short bug report request, exit status 1
  (``--debug`` or ``CNNCLI_DEBUG=1`` shows the traceback instead).
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Literal

import typer
from typer.exceptions import Abort, Exit, TyperException

from cnncli import __version__
from cnncli.cli.helpfast import load_help_renderer
from cnncli.cli.status import ExitStatus
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
        message = exc.format_message()
        if message.strip():  # empty for "no arguments: help was shown"
            _print_error(message)
        return ExitStatus.USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
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
