"""The Typer command-line layer: the only part of cnncli that knows Typer.

* ``main.py``: the app, its root options, and the one place errors become exit statuses.
* ``options.py``: the shared options and arguments, declared once, in help groups.
* ``argtypes.py``: parameter text (``2,3``, ``1,1,0,2``, ``same``, ``0-5``) to values.
* ``core.py``: :func:`~cnncli.cli.core.begin`, the preamble every tensor command shares.
* ``output.py``: :class:`~cnncli.cli.output.Output`, where a result is printed or saved.
* one module per command (``conv.py``, ``pool.py``, …): parse, load, compute, render.
"""
