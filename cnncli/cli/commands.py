"""Imports every command module so that each registers itself on the app."""

from cnncli.cli import shapes  # noqa: F401
from cnncli.cli import models  # noqa: F401
from cnncli.cli import forward  # noqa: F401
