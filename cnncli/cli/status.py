"""Exit statuses of the ``cnncli`` command."""

from enum import IntEnum


class ExitStatus(IntEnum):
    """What the process returns: 0 success, 1 a bug, 2 a user mistake, 130 Ctrl-C."""

    SUCCESS = 0
    BUG = 1
    USAGE = 2
    INTERRUPTED = 130
