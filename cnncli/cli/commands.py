"""Imports every command module so that each registers itself on the app."""

from cnncli.cli import (
    forward,  # noqa: F401
    models,  # noqa: F401
    shapes,  # noqa: F401
)
