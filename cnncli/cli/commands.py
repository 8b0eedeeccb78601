"""Imports every command module so that each registers itself on the app.

The order here is the order of ``cnncli --help``: single layers first, in the
order a CNN applies them, then whole networks.
"""

from cnncli.cli import (  # noqa: F401, I001  (the order is the help order)
    conv,
    pad,
    pool,
    act,
    flatten,
    linear,
    dropout,
    kernels,
    shapes,
    forward,
    models,
    datasets,
    train,
    evaluate,
    export,
)
