"""cnncli: see how a convolutional neural network works, in the terminal.

Layers of the package, imports pointing one way only::

    engine/   NumPy ops (forward, backward, naive references, shape arithmetic)
    nn/       layer objects, the model zoo, architecture specs, summaries, weights
    io/       files to arrays and arrays to files
    render/   results to Rich renderables (prints nothing)
    cli/      the Typer commands: parse, load, compute, render, print

This module stays import-light: importing ``cnncli.engine`` must not pull in
Typer, Rich or Pillow.
"""

__version__ = "0.1.0"
