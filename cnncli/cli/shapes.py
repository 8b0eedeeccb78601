"""``cnncli shapes MODEL|SPEC``: a network's shapes, parameters, MACs and receptive fields."""

from pathlib import Path
from typing import Annotated, Any

import typer

from cnncli.cli import options as opt
from cnncli.cli.main import app


@app.command(
    rich_help_panel="Whole networks",
    epilog=opt.examples(
        "cnncli shapes alexnet  # every layer's shape, parameters and MACs",
        "cnncli shapes lenet5 -n 4 --formulas  # batch 4, each output-size formula",
        "cnncli shapes samples/resnet_mini.toml --depth 2",
    ),
)
def shapes(
    model: opt.ModelArg,
    input: opt.InputSizeOpt = None,
    batch: opt.BatchOpt = 1,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            min=0,
            help="Show nested blocks down to this depth (default: all); --json and -o too.",
        ),
    ] = None,
    formulas: Annotated[
        bool, typer.Option("--formulas", help="Show each output-size formula with its numbers.")
    ] = False,
    as_json: opt.JsonOpt = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            help="Also write the rows to FILE.csv or FILE.json.",
            rich_help_panel=opt.OUTPUT_PANEL,
        ),
    ] = None,
    diagram: Annotated[
        Path | None,
        typer.Option(
            "--diagram",
            help="Also draw the architecture as a picture: FILE.svg or FILE.png.",
            rich_help_panel=opt.OUTPUT_PANEL,
        ),
    ] = None,
    max_memory: Annotated[
        str | None,
        typer.Option(
            "--max-memory",
            help="Refuse networks whose forward pass would need more (e.g. 2G).",
            rich_help_panel=opt.NETWORK_PANEL,
        ),
    ] = None,
) -> None:
    """Shapes, parameters, MACs and receptive fields of every layer, computed without data."""
    import json

    from cnncli.errors import ShapeError
    from cnncli.nn import resources
    from cnncli.nn.spec import load_model, parse_input_shape
    from cnncli.nn.summary import summarize
    from cnncli.render.console import make_console
    from cnncli.render.summary import merge_axes, render_summary

    override = parse_input_shape(input) if input else None
    net, declared = load_model(model, override)
    chw = override or declared
    if chw is None:
        from cnncli.errors import SpecError

        raise SpecError(
            f"{model}: no input size; give --input CxHxW or put input = [C, H, W] in the spec"
        )
    summary = summarize(net, chw, batch)
    summary.model = net.title
    needed = resources.estimate(net, summary)
    limit = resources.parse_size(max_memory) if max_memory else None
    if limit is not None:
        resources.check_memory(needed, limit, f"{net.title} at input {summary.input_shape}")
    if output is not None:
        from cnncli.io import check_output_path

        check_output_path(output, [model])
        if summary.failure is None:  # a failed run leaves an earlier file as it was
            from cnncli.cli.output import say_wrote

            say_wrote(output, _write_rows(output, summary, depth))
    if diagram is not None:
        _check_diagram_path(diagram, model)
        if summary.failure is None:  # a failed run leaves an earlier file as it was
            _write_diagram(diagram, summary)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(depth), indent=2))
    else:
        console = make_console()
        console.print(render_summary(summary, depth, formulas, limit, console.width))
        # stderr of a failing run holds only its error (and hint) line
        if summary.failure is None and limit is None and needed.total > resources.default_limit():
            make_console(stderr=True).print(
                f"note: a forward pass would need about {needed.describe()}, more than half "
                "of the memory available now; `cnncli forward` would refuse it"
            )
    if summary.failure is not None:
        f = summary.failure
        raise ShapeError(
            f"layer {f.name} ({f.type}) does not fit its input {tuple(f.input_shape)}: {f.message}",
            hint="; ".join(merge_axes(f.formulas)) or f.hint,
        )


def _write_rows(path: Path, summary: object, depth: int | None) -> str:
    """Write the summary as CSV (one row per layer down to ``depth``) or JSON, atomically;
    say what it holds."""
    import csv
    import io
    import json

    from cnncli.errors import OutputFileError
    from cnncli.io.write import atomic_write_bytes
    from cnncli.nn.summary import Summary

    assert isinstance(summary, Summary)
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = json.dumps(summary.to_dict(depth), indent=2).encode()
    elif suffix == ".csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        cols = [
            "name",
            "type",
            "depth",
            "kernel",
            "stride",
            "padding",
            "dilation",
            "output_shape",
            "params",
            "macs",
            "receptive_field",
            "jump",
        ]
        writer.writerow(cols)
        for rec in summary.rows(depth):
            d: dict[str, Any] = rec.to_dict()
            writer.writerow(
                [
                    "x".join(str(v) for v in d[c])
                    if isinstance(d[c], list)
                    else ("" if d[c] is None else d[c])
                    for c in cols
                ]
            )
        data = buf.getvalue().encode()
    else:
        raise OutputFileError(f"-o must end in .csv or .json, got {path.name!r}")
    atomic_write_bytes(path, data)
    kind = "JSON, the summary with" if suffix == ".json" else "CSV, one row for each of"
    return f"{kind} {len(summary.rows(depth))} layers"


def _check_diagram_path(path: Path, model: str) -> None:
    from cnncli.errors import OutputFileError
    from cnncli.io import check_output_path

    if path.suffix.lower() not in (".svg", ".png"):
        raise OutputFileError(f"--diagram must end in .svg or .png, got {path.name!r}")
    check_output_path(path, [model])


def _write_diagram(path: Path, summary: Any) -> None:
    """Draw the summary's blocks and write them atomically as SVG or PNG."""
    from cnncli.errors import ResourceLimitError
    from cnncli.io.write import atomic_write_bytes
    from cnncli.render import diagram as D  # noqa: N812

    drawn = D.blocks(summary)
    if len(drawn) > D.MAX_BLOCKS:
        raise ResourceLimitError(
            f"--diagram draws at most {D.MAX_BLOCKS} blocks; {summary.model} has {len(drawn)}",
            hint="use `cnncli shapes` without --diagram for the whole table",
        )
    title = f"{summary.model}  input {'x'.join(str(v) for v in summary.input_shape)}"
    picture = D.draw(title, drawn, summary.joins)
    svg = path.suffix.lower() == ".svg"
    atomic_write_bytes(path, picture.to_svg() if svg else picture.to_png())
    from cnncli.cli.output import say_wrote

    say_wrote(
        path,
        f"{'SVG' if svg else 'PNG'} diagram, {len(drawn)} blocks, {picture.width}x{picture.height}",
    )
