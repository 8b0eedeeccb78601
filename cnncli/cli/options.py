"""The options and arguments the commands share, declared once, in named help groups.

This module only declares (as httpie's ``cli/definition.py``): each alias is an
``Annotated`` type that a command puts in its signature.  Parsing their text is
:mod:`cnncli.cli.argtypes`; what happens with the values is the command's.

Help groups (``rich_help_panel``): Input, Output, Network.  Each short flag means
one thing in every command (the README's "Short flags" table).  Importing this
module imports Typer only, so that ``--help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

INPUT_PANEL = "Input"
OUTPUT_PANEL = "Output"
NETWORK_PANEL = "Network"

# ---------------------------------------------------------- the one list ---

#: The padding modes of ``cnncli pad`` (the engine's ``cnncli.engine.pad.PAD_MODES``).
PadMode = Literal["zeros", "constant", "reflect", "symmetric", "replicate", "circular"]
#: The padding modes of ``cnncli conv`` (the engine's ``cnncli.engine.shapes.PADDING_MODES``).
ConvPadMode = Literal["zeros", "reflect", "replicate", "circular"]
#: The activations by name (the keys of ``cnncli.engine.activations.ACTIVATIONS``).
Activation = Literal[
    "relu",
    "leaky-relu",
    "sigmoid",
    "tanh",
    "softmax",
    "log-softmax",
    "relu6",
    "hardtanh",
    "silu",
    "gelu",
    "hardswish",
    "hardsigmoid",
    "elu",
    "mish",
]
#: gelu's approximations (the engine's ``cnncli.engine.activations_modern.GELU_APPROXIMATIONS``).
GeluApproximation = Literal["none", "tanh"]

# ------------------------------------------------------------------ input ---

InputArg = Annotated[
    str | None,
    typer.Argument(
        help="Image or matrix file (.png .jpg .csv .tsv .txt .npy .npz .json), or '-' for "
        "standard input. Omitted: a built-in example.",
        show_default=False,
    ),
]
LayoutOpt = Annotated[
    Literal["chw", "hwc"] | None,
    typer.Option(
        "--layout",
        help="Axis order of a 3-D/4-D array file: chw (NCHW, PyTorch) or hwc (channels last).",
        rich_help_panel=INPUT_PANEL,
        show_default=False,
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option("--key", help="Array name inside an .npz file.", rich_help_panel=INPUT_PANEL),
]
GrayOpt = Annotated[
    bool,
    typer.Option(
        "--gray", help="Convert an image to luminance first.", rich_help_panel=INPUT_PANEL
    ),
]
ScaleOpt = Annotated[
    Literal["raw", "unit"],
    typer.Option(
        "--scale",
        help="Image pixel values: raw 0–255 or unit 0–1.",
        rich_help_panel=INPUT_PANEL,
    ),
]
DtypeOpt = Annotated[
    Literal["float32", "float64"],
    typer.Option("--dtype", help="Compute in this precision.", rich_help_panel=INPUT_PANEL),
]
NonfiniteOpt = Annotated[
    bool,
    typer.Option(
        "--allow-nonfinite",
        help="Accept NaN and infinity in the input (refused by default).",
        rich_help_panel=INPUT_PANEL,
    ),
]
MaxMemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        help="Refuse work estimated above this size (512M, 2G). \\[default: half the free memory]",
        rich_help_panel=INPUT_PANEL,
        show_default=False,
    ),
]

# ----------------------------------------------------------------- output ---

ShowOpt = Annotated[
    Literal["auto", "table", "heatmap", "stats", "none"] | None,
    typer.Option(
        "--show",
        help="How to show maps: auto (a table when it fits, else a heat map), table, heatmap, "
        "stats, none.  \\[default: auto]",
        rich_help_panel=OUTPUT_PANEL,
        show_default=False,
    ),
]
ChannelsOpt = Annotated[
    str | None,
    typer.Option(
        "--channels",
        help="Which maps to show: channel indices '0,3', a range '0-5', or batch:channel '1:0'.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print JSON instead of tables.", rich_help_panel=OUTPUT_PANEL),
]
OutputOpt = Annotated[
    str | None,
    typer.Option(
        "-o",
        "--output",
        help="Save the result: .npy .npz .csv .json .png; '-' writes .npy to standard output.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
PngScaleOpt = Annotated[
    Literal["minmax", "clip", "abs"],
    typer.Option(
        "--png-scale",
        help="How a .png output maps values to 0–255.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
GradOpt = Annotated[
    str | None,
    typer.Option(
        "--grad",
        help="Run the backward pass for dL/dY: 'ones' (L = sum of Y) or a file of the "
        "output's shape.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]

# ---------------------------------------------------------------- network ---

ModelArg = Annotated[
    str,
    typer.Argument(
        help="A built-in model (see `cnncli models`), a .toml/.json spec or a .onnx file."
    ),
]
ModelOpt = Annotated[
    str,
    typer.Option(
        "-m",
        "--model",
        help="A built-in model or a .toml/.json spec.",
        rich_help_panel=NETWORK_PANEL,
    ),
]
InputSizeOpt = Annotated[
    str | None,
    typer.Option(
        "-i",
        "--input",
        help="Input size CxHxW (default: the model's own).",
        rich_help_panel=NETWORK_PANEL,
    ),
]
BatchOpt = Annotated[
    int,
    typer.Option("-n", "--batch", min=1, help="Batch size N.", rich_help_panel=NETWORK_PANEL),
]
WeightsOpt = Annotated[
    Path | None,
    typer.Option(
        "-w",
        "--weights",
        help="Weights: .npz or .safetensors keyed by PyTorch state_dict names.",
        rich_help_panel=NETWORK_PANEL,
    ),
]

# ------------------------------------------- issue 15, item 18: --animate ---

AnimateOpt = Annotated[
    str | None,
    typer.Option(
        "--animate",
        metavar="FILE.gif",
        help="Write an animated GIF of the op: the padded input, the cells each output cell "
        "reads, the output filling cell by cell (batch 0, channel 0; one frame per output "
        "cell, at most 400).",
        rich_help_panel=OUTPUT_PANEL,
        show_default=False,
    ),
]
FpsOpt = Annotated[
    float | None,
    typer.Option(
        "--fps",
        min=0.1,
        max=50.0,
        help="Frames per second of --animate (the last frame stays 4 times as long). "
        "\\[default: 2]",
        rich_help_panel=OUTPUT_PANEL,
        show_default=False,
    ),
]

# ------------------------------------ issue 15, items 5–7 and 12 (h15-outputs) ---

PngModeOpt = Annotated[
    Literal["auto", "rgb", "grid"],
    typer.Option(
        "--png-mode",
        help="How a .png output draws the maps: rgb (3 channels as one colour image), grid "
        "(a grey tile per map), auto (rgb when the 3 channels are an RGB image's, as after "
        "pad, pool, act, dropout or a depthwise conv; else grid).",
        rich_help_panel=OUTPUT_PANEL,
    ),
]

# ------------------------------------- issue 15 items 1, 2: --region (maps) ---

RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="Show this window of each map (tables and heat maps): ROWS,COLS as Python slices, "
        "e.g. 100:112,200:212 or :20,:20.",
        rich_help_panel=OUTPUT_PANEL,
        show_default=False,
    ),
]

# ------------------------------------------------- datasets (train, evaluate) ---

DATA_PANEL = "Data"
DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="A built-in dataset (cnncli datasets) or a .npz, .csv, MNIST IDX or image "
        "folder. Default: mnist-5k for models with 1x28x28 inputs.",
        rich_help_panel=DATA_PANEL,
    ),
]
KeyXOpt = Annotated[
    str, typer.Option("--key-x", help="The images' array in a .npz.", rich_help_panel=DATA_PANEL)
]
KeyYOpt = Annotated[
    str, typer.Option("--key-y", help="The labels' array in a .npz.", rich_help_panel=DATA_PANEL)
]
LabelColumnOpt = Annotated[
    Literal["first", "last"],
    typer.Option("--label-column", help="Where a CSV row's label is.", rich_help_panel=DATA_PANEL),
]
SkipBadOpt = Annotated[
    bool,
    typer.Option(
        "--skip-bad",
        help="Skip unreadable images in a folder, counting them.",
        rich_help_panel=DATA_PANEL,
    ),
]

# ------------------------------- issue 15 item 13: --help examples (h15-readme) ---


def examples(*lines: str) -> str:
    """A command's ``--help`` epilog: "Examples:" then one runnable command a line.

    Each line is ``cnncli ...`` run from the repository root (samples/ files or the
    built-in examples), optionally followed by ``  # a comment``; at most 78
    characters, so that an 80-column terminal does not wrap it (tests/cli/test_help_examples.py).
    """
    return "Examples:\n" + "\n".join(lines)
