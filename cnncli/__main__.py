"""``python -m cnncli`` and the ``cnncli`` command: run the command-line interface."""

import sys

from cnncli.cli.status import ExitStatus


def main() -> None:
    """Load the interface and run it; Ctrl-C while it loads exits as an interrupt too."""
    try:
        from cnncli.cli.main import run
    except KeyboardInterrupt:  # Typer and Rich take a moment to import
        sys.stderr.write("interrupted\n")
        raise SystemExit(ExitStatus.INTERRUPTED) from None
    run()


if __name__ == "__main__":
    main()
