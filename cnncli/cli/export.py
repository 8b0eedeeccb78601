"""``cnncli export MODEL|SPEC [-w WEIGHTS] --to FILE``: a network as ONNX, PyTorch or a spec."""

from pathlib import Path
from typing import Annotated, Any

import typer

from cnncli.cli import options as opt
from cnncli.cli.main import app

_KINDS = {".onnx": "onnx", ".py": "torch", ".toml": "toml", ".json": "json"}


@app.command(
    rich_help_panel="Whole networks",
    epilog=opt.examples(
        "cnncli export lenet5-mnist --to lenet5.onnx  # the trained LeNet-5 as ONNX",
        "cnncli export resnet18 --to resnet18.py  # plain torch.nn source",
        "cnncli export tinyvgg --to tinyvgg.toml  # a spec to edit and train",
    ),
)
def export(
    model: opt.ModelArg,
    to: Annotated[
        Path,
        typer.Option(
            "--to",
            help="FILE.onnx (the network with its weights), FILE.py (PyTorch source) or "
            "FILE.toml / FILE.json (a spec).",
            rich_help_panel=opt.OUTPUT_PANEL,
        ),
    ],
    weights: opt.WeightsOpt = None,
    input: opt.InputSizeOpt = None,
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, help="Seed of the random weights when there are none."),
    ] = 0,
) -> None:
    """Write a network as an ONNX model, PyTorch source or a spec, to run or edit elsewhere."""
    from cnncli.cli.output import say_wrote
    from cnncli.errors import ParameterError, SpecError
    from cnncli.io import check_output_path
    from cnncli.io.write import atomic_write_bytes
    from cnncli.nn.spec import load_model, parse_input_shape

    kind = _KINDS.get(to.suffix.lower())
    if kind is None:
        raise ParameterError(f"--to must end in .onnx, .py, .toml or .json, got {to.name!r}")
    check_output_path(to, [model, weights])
    override = parse_input_shape(input) if input else None
    net, declared = load_model(model, override)
    chw = override or declared
    if chw is None and kind in ("onnx",):
        raise SpecError(f"{model}: no input size; give --input CxHxW or input = [C, H, W]")
    notes: list[str] = []
    if kind == "onnx":
        from cnncli.nn.onnx_export import OPSET, to_onnx

        notes.append(_set_weights(net, model, weights, seed))
        net.eval()
        data = to_onnx(net, chw, net.title)  # type: ignore[arg-type]
        what = (
            f"ONNX opset {OPSET}, input (N, {', '.join(map(str, chw or ()))}), {len(data):,} bytes"
        )
    elif kind == "torch":
        from cnncli.nn.export_text import torch_source

        data = torch_source(net).encode()
        what = "PyTorch source; load cnncli's .npz weights with load_npz(model, path)"
    else:
        import json

        from cnncli.nn.export_spec import spec_data, spec_toml, written_by_flow

        spec = spec_data(net, chw)
        text = spec_toml(spec) if kind == "toml" else json.dumps(spec, indent=2) + "\n"
        data = text.encode()
        what = f"spec, {len(spec['layers'])} top-level layers"
        if written_by_flow(net):
            notes.append(
                f"{net.title}'s skips are written as nested blocks: the same layers and "
                "parameters in the same order, under the blocks' state_dict names"
            )
    atomic_write_bytes(to, data)
    typer.echo(f"{net.title}: {net.num_params():,} parameters → {to.name} ({what})")
    for note in notes:
        typer.echo(f"note: {note}", err=True)
    say_wrote(to, what)


def _set_weights(net: Any, model: str, weights: Path | None, seed: int) -> str:
    """-w, the file's own (ONNX), the shipped trained ones, or random from ``seed``."""
    from cnncli.nn import zoo
    from cnncli.nn.layers import initialize
    from cnncli.nn.resources import default_limit
    from cnncli.nn.spec import is_spec_path
    from cnncli.nn.weights import load_weights

    if weights is None and getattr(net, "weights_source", None):
        return f"weights: the ones in {net.weights_source}"
    if weights is None and not is_spec_path(model) and not model.lower().endswith(".onnx"):
        weights = zoo.packaged_weights(model)
    if weights is None:
        initialize(net, seed)
        return f"weights are random (PyTorch's default initialisation, seed {seed}); -w FILE"
    net.load_state_dict(load_weights(weights, default_limit()))
    return f"weights from {weights.name}"
