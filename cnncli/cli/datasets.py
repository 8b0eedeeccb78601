"""``cnncli datasets``: the datasets built into the package, for training and evaluation."""

import typer

from cnncli.cli import options as opt
from cnncli.cli.main import app


@app.command(
    rich_help_panel="Whole networks",
    epilog=opt.examples(
        "cnncli datasets  # name, images, image shape, classes, licence",
        "cnncli datasets --json",
    ),
)
def datasets(
    as_json: opt.JsonOpt = False,
) -> None:
    """List the built-in datasets: name, images, image shape, classes, licence."""
    import json

    from rich.table import Table

    from cnncli.io.datasets import BUILTIN, builtin_shape
    from cnncli.render.console import make_console

    rows = []
    for name, info in BUILTIN.items():
        n, shape = builtin_shape(name)
        rows.append({"name": name, "images": n, "shape": list(shape), "classes": 10,
                     "description": info.description, "source": info.source,
                     "licence": info.licence})  # fmt: skip
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="Built-in datasets (inside the package; nothing is downloaded)",
                  title_justify="left")  # fmt: skip
    for column, justify in (("Name", "left"), ("Images", "right"), ("Shape", "left"),
                            ("Classes", "right"), ("Licence", "left"), ("Source", "left")):  # fmt: skip
        table.add_column(column, justify=justify, no_wrap=column != "Source")  # type: ignore[arg-type]
    for row in rows:
        dims = "x".join(str(v) for v in row["shape"])  # type: ignore[attr-defined]
        table.add_row(str(row["name"]), f"{row['images']:,}", dims,
                      str(row["classes"]), str(row["licence"]), str(row["source"]))  # fmt: skip
    make_console().print(table)
