"""Exit statuses of the ``cnncli`` command."""

from enum import IntEnum


class ExitStatus(IntEnum):
    """What the process returns: 0 success, 1 a bug, 2 a user mistake, 130 Ctrl-C."""

    SUCCESS = 0
    BUG = 1
    USAGE = 2
    INTERRUPTED = 130


class Interrupted(Exception):  # noqa: N818 (the user's Ctrl-C, handled, not an error)
    """A command stopped at the user's Ctrl-C after tidying up; ``message`` says what was kept.

    :func:`cnncli.cli.main.main` prints the message on stderr and returns 130.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
