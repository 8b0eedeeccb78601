"""``cnncli models``: the built-in networks with their input size and parameter count."""

import typer

from cnncli.cli import options as opt
from cnncli.cli.main import app


@app.command(
    rich_help_panel="Whole networks",
    epilog=opt.examples(
        "cnncli models  # name, description, input size, parameters",
        "cnncli models --json",
    ),
)
def models(
    as_json: opt.JsonOpt = False,
) -> None:
    """List the model zoo: name, description, default input, parameters, trained or not."""
    import json

    from rich.table import Table

    from cnncli.nn import zoo
    from cnncli.render.console import make_console

    rows = []
    for name, entry in zoo.ZOO.items():
        net = zoo.build(name)
        rows.append(
            {
                "name": name,
                "description": entry.description,
                "input": list(entry.input_shape),
                "num_classes": entry.num_classes,
                "params": net.num_params(),
                "trained": entry.trained_on,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(
        title="Built-in models (cnncli shapes NAME, cnncli forward -m NAME)", title_justify="left"
    )
    table.add_column("Name", no_wrap=True, style="bold")
    table.add_column("Description")
    table.add_column("Input", no_wrap=True)
    table.add_column("Params", justify="right", no_wrap=True)
    table.add_column("Weights", no_wrap=True)
    for row in rows:
        c, h, w = zoo.ZOO[str(row["name"])].input_shape
        table.add_row(
            str(row["name"]),
            str(row["description"]),
            f"{c}x{h}x{w}",
            f"{row['params']:,}",
            "[green]trained[/]" if row["trained"] else "[dim]random[/]",
        )
    make_console().print(table)
