"""Imports every command module so that each registers itself on the app."""

from cnncli.cli import shapes  # noqa: F401
