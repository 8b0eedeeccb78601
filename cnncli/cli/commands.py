"""Imports every command module so that each registers itself on the app."""

from cnncli.cli import (
    act,  # noqa: F401
    conv,  # noqa: F401
    dropout,  # noqa: F401
    flatten,  # noqa: F401
    kernels,  # noqa: F401
    linear,  # noqa: F401
    pad,  # noqa: F401
    pool,  # noqa: F401
)
