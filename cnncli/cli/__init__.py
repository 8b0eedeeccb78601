"""The Typer command-line layer: the only part of cnncli that knows Typer."""
