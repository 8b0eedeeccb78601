"""``cnncli kernels``: every named kernel of ``conv -k NAME`` with its matrix."""

from typing import Annotated, Any

import typer

from cnncli.cli import options as opt
from cnncli.cli.main import app


@app.command(
    "kernels",
    rich_help_panel="Tensor ops",
    epilog=opt.examples(
        "cnncli kernels  # every named kernel with its matrix",
        "cnncli kernels sobel",
        "cnncli kernels gaussian5",
    ),
)
def kernels_(
    name: Annotated[
        str | None, typer.Argument(help="Show only this kernel or pair.", show_default=False)
    ] = None,
    json_: opt.JsonOpt = False,
) -> None:
    """List the named kernels (cross-correlation, as PyTorch: sobel-x responds to left → right)."""
    import json

    from cnncli.nn import kernels as bank
    from cnncli.render.kernels import render_kernels

    chosen = bank.resolve(name) if name else list(bank.KERNELS.values())
    if json_:
        payload: dict[str, Any] = {
            "kernels": {
                k.name: {
                    "values": k.array().tolist(),
                    "integers": k.values,
                    "divisor": k.divisor,
                    "description": k.description,
                }
                for k in chosen
            },
            "pairs": {p: list(xy) for p, xy in bank.PAIRS.items()},
        }
        typer.echo(json.dumps(payload))
        return
    from cnncli.render.console import make_console

    console = make_console()
    console.print(render_kernels(chosen, {} if name else bank.PAIRS, console.width))
