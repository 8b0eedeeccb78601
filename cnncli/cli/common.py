"""What every tensor command shares: input options, parameter text, display and saving.

Parsing of parameter text (``"1"``, ``"1,2"``, ``"1,1,0,2"``, ``"same"``), the
input options (INPUT, --layout, --key, --gray, --scale, --dtype,
--allow-nonfinite), the output options (--show, --channels, --json, -o,
--png-scale) and the one place a command's result is printed or saved.

NumPy, Rich and the io/render modules are imported inside the functions, so
that importing this module (and ``cnncli --help``) stays fast.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from cnncli.errors import ParameterError, ShapeError

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console, RenderableType

    from cnncli.render.header import Header

# ---------------------------------------------------------------- options ---

INPUT_PANEL = "Input"
OUTPUT_PANEL = "Output"

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
ShowOpt = Annotated[
    Literal["auto", "table", "heatmap", "stats", "none"] | None,
    typer.Option(
        "--show",
        help="How to show maps: auto (a table when it fits, else a heat map), table, heatmap, "
        "stats, none.  [default: auto]",
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
    typer.Option(
        "--json", help="Print one JSON object instead of tables.", rich_help_panel=OUTPUT_PANEL
    ),
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

# ------------------------------------------------------- parameter text ---


def _ints(text: str, name: str) -> list[int]:
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ParameterError(f"{name} must be integers separated by commas, got {text!r}") from None


def parse_pair(text: str, name: str) -> int | tuple[int, int]:
    """``"2"`` → 2, ``"2,3"`` → (2, 3) (height, width)."""
    values = _ints(text, name)
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return (values[0], values[1])
    raise ParameterError(f"{name} takes 1 value or 2 (height, width), got {len(values)}: {text!r}")


def parse_padding(text: str, *, words: bool = True) -> int | tuple[int, ...] | str:
    """Padding text: ``N``, ``H,W``, ``L,R,T,B`` (F.pad's order) or ``same``/``valid``."""
    t = text.strip().lower()
    if t in ("same", "valid"):
        if not words:
            raise ParameterError(f"padding {text!r} is for conv only; give N, H,W or L,R,T,B")
        return t
    values = _ints(t, "padding")
    if len(values) == 1:
        return values[0]
    if len(values) in (2, 4):
        return tuple(values)
    raise ParameterError(
        f"padding takes 1 value (all sides), 2 (H,W) or 4 (left,right,top,bottom), "
        f"got {len(values)}: {text!r}"
    )


def lrtb(padding: int | tuple[int, ...]) -> tuple[int, int, int, int]:
    """``N``/``(H, W)``/``(L, R, T, B)`` as (left, right, top, bottom)."""
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[1], padding[1], padding[0], padding[0])
    left, right, top, bottom = padding
    return (left, right, top, bottom)


def parse_floats(text: str, name: str) -> list[float]:
    """``"0.5"`` or ``"1,-1,0.25"`` → floats (finite)."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ParameterError(f"{name} must be numbers separated by commas, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ParameterError(f"{name} must be finite numbers, got {text!r}")
    return values


def looks_numeric(text: str) -> bool:
    """Whether ``text`` is inline numbers rather than a file name."""
    try:
        parse_floats(text, "value")
    except ParameterError:
        return False
    return True


def parse_channels(text: str | None, N: int, C: int) -> list[tuple[int | None, int]] | None:
    """``--channels`` text → (n, c) pairs (n None: every batch item), checked against N, C."""
    if text is None:
        return None
    picks: list[tuple[int | None, int]] = []
    for raw in text.split(","):
        token = raw.strip()
        if not token:
            continue
        try:
            if ":" in token:
                a, b = token.split(":", 1)
                n, c = int(a), int(b)
                if not 0 <= n < N:
                    raise ParameterError(
                        f"--channels {token}: batch item {n} is out of range 0..{N - 1}"
                    )
                items: list[tuple[int | None, int]] = [(n, c)]
            elif "-" in token[1:]:
                a, b = token.split("-", 1)
                items = [(None, c) for c in range(int(a), int(b) + 1)]
            else:
                items = [(None, int(token))]
        except ValueError:
            raise ParameterError(
                f"--channels takes indices like 0,3 or 0-5 or 1:0, got {text!r}"
            ) from None
        for n_pick, c_pick in items:
            if not 0 <= c_pick < C:
                raise ParameterError(f"--channels: channel {c_pick} is out of range 0..{C - 1}")
            picks.append((n_pick, c_pick))
    if not picks:
        raise ParameterError(f"--channels picked nothing: {text!r}")
    return picks


def parse_index(
    text: str, shape: tuple[int, ...], what: str = "--explain"
) -> tuple[int, int, int, int]:
    """``I,J`` / ``F,I,J`` / ``N,F,I,J`` → (n, f, i, j), checked against the output (N, F, OH, OW)."""
    values = _ints(text, what)
    if not 2 <= len(values) <= 4:
        raise ParameterError(f"{what} takes I,J or F,I,J or N,F,I,J, got {text!r}")
    full = [0] * (4 - len(values)) + values
    names = ("batch item N", "channel F", "row I", "column J")
    for v, size, nm in zip(full, shape, names, strict=True):
        if not 0 <= v < size:
            raise ParameterError(
                f"{what} {text}: {nm}={v} is out of range 0..{size - 1} "
                f"for the output of shape {tuple(shape)}"
            )
    return (full[0], full[1], full[2], full[3])


# ---------------------------------------------------------------- input ---


def load_input(
    source: str | None,
    *,
    default: Literal["seed", "digit8"],
    layout: str | None = None,
    key: str | None = None,
    gray: bool = False,
    scale: str = "raw",
    dtype: str = "float32",
    allow_nonfinite: bool = False,
) -> tuple[Any, np.ndarray, list[str]]:
    """Load INPUT (or the built-in example): the Loaded record, its (N, C, H, W) array, notes."""
    import numpy as np

    from cnncli import io as cio

    target = np.float64 if dtype == "float64" else np.float32
    if source is None:
        from cnncli.io import builtin

        if default == "seed":
            loaded = builtin.seed_pool_matrix(dtype=dtype)
        else:
            loaded = builtin.digit8(scale=scale, dtype=dtype)
    else:
        kwargs: dict[str, Any] = {
            "layout": layout,
            "key": key,
            "gray": gray,
            "scale": scale,
            "dtype": dtype,
            "allow_nonfinite": allow_nonfinite,
        }
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if source == "-":
            kwargs["stdin"] = getattr(sys.stdin, "buffer", sys.stdin)
        loaded = cio.load_tensor(source, **kwargs)
    array = np.asarray(loaded.array)
    if array.dtype != target:
        array = array.astype(target)
    # The input line of the header already says "→ tensor (N, C, H, W)".
    notes = [str(n) for n in (getattr(loaded, "notes", None) or []) if "→ tensor" not in str(n)]
    return loaded, array, notes


def describe_input(loaded: Any, array: np.ndarray) -> str:
    """``x.png: PNG image, 28×28 RGB (mode RGB) → tensor (1, 3, 28, 28) float32``."""
    from cnncli.render.format import fmt_shape

    src = str(getattr(loaded, "source", "?"))
    what = str(getattr(loaded, "description", "") or "")
    if not what:
        orig = getattr(loaded, "original_shape", None)
        layout = getattr(loaded, "original_layout", "")
        what = f"{getattr(loaded, 'kind', '')} {fmt_shape(orig) if orig else ''} {layout}".strip()
    return f"{src}: {what} → tensor {fmt_shape(array.shape)} {array.dtype}"


def load_grad(
    spec: str,
    shape: tuple[int, ...],
    dtype: Any,
    input_path: str | None,
    notes: list[str] | None = None,
) -> np.ndarray:
    """dL/dY for ``--grad``: ``ones`` or a file with as many values as the output.

    The file's conversions (integers, bools, float64) are appended to ``notes``.
    """
    import numpy as np

    from cnncli import io as cio

    if spec.strip().lower() == "ones":
        return np.ones(shape, dtype=dtype)
    if spec == "-" and input_path == "-":
        raise ParameterError("--grad - and INPUT - cannot both read standard input")
    kwargs: dict[str, Any] = {"allow_nonfinite": False}
    if spec == "-":
        kwargs["stdin"] = getattr(sys.stdin, "buffer", sys.stdin)
    loaded = cio.load_tensor(spec, **kwargs)
    if notes is not None:
        notes += [f"--grad: {note}" for note in loaded.notes]
    g = np.asarray(loaded.array)
    if g.size != math.prod(shape):
        orig = getattr(loaded, "original_shape", g.shape)
        raise ShapeError(
            f"--grad {spec} has shape {tuple(orig)} but the output has shape {tuple(shape)}"
        )
    return g.reshape(shape).astype(dtype, copy=False)


# --------------------------------------------------------------- output ---


def jsonable(value: Any) -> Any:
    """Arrays to nested lists (non-finite → null), tuples to lists, recursively."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


@dataclass
class Output:
    """The output options of one command and the one place its result leaves the process."""

    show: str | None = None
    channels: str | None = None
    as_json: bool = False
    path: str | None = None
    png_scale: str = "minmax"
    inputs: list[str] = field(default_factory=list)
    _console: Console | None = None

    def __post_init__(self) -> None:
        if self.as_json and self.path == "-":
            raise ParameterError("--json and -o - both write to standard output; choose one")
        if self.path is not None and self.path != "-":
            import os

            from cnncli.errors import OutputFileError
            from cnncli.io import OUTPUT_EXTENSIONS
            from cnncli.io.write import check_output_path

            ext = os.path.splitext(self.path)[1].lower()
            if ext not in OUTPUT_EXTENSIONS:
                raise OutputFileError(
                    f"{self.path}: unsupported output type {ext or '(no extension)'}; "
                    f"cnncli writes {' '.join(OUTPUT_EXTENSIONS)} or - (standard output)"
                )
            check_output_path(self.path, [p for p in self.inputs if p and p != "-"])

    @property
    def to_stdout_pipe(self) -> bool:
        return self.path == "-"

    @property
    def mode(self) -> str:
        """The effective --show (none when stdout carries data and --show was not given)."""
        if self.show is not None:
            return self.show
        return "none" if self.to_stdout_pipe else "auto"

    @property
    def console(self) -> Console:
        if self._console is None:
            from cnncli.render.console import make_console

            self._console = make_console(stderr=self.to_stdout_pipe)
        return self._console

    @property
    def width(self) -> int:
        return int(self.console.width)

    @property
    def color(self) -> bool:
        return self.console.color_system is not None

    def picks(self, shape: tuple[int, ...]) -> list[tuple[int | None, int]] | None:
        return parse_channels(self.channels, shape[0], shape[1]) if len(shape) == 4 else None

    def maps(
        self, array: np.ndarray, name: str, follow_picks: bool = True
    ) -> RenderableType | None:
        """A 4-D array's maps (or a 1-D/2-D array as vectors) as --show asks."""
        from rich.console import Group

        from cnncli.render.maps import render_maps, render_vector

        mode: Any = self.mode
        if array.ndim == 4:
            picks = self.picks(array.shape) if follow_picks else None
            return render_maps(array, name, mode, self.width, self.color, picks)
        rows = array.reshape(1, -1) if array.ndim < 2 else array.reshape(array.shape[0], -1)
        parts = [
            render_vector(rows[n], f"{name}[{n}]" if rows.shape[0] > 1 else name, self.width, mode)
            for n in range(min(rows.shape[0], 4))
        ]
        shown = [p for p in parts if p is not None]
        return Group(*shown) if shown else None

    def finish(
        self,
        header: Header,
        sections: list[RenderableType | None],
        payload: dict[str, Any],
        save: np.ndarray | dict[str, np.ndarray],
        labels: list[str] | None = None,
    ) -> None:
        """Save (-o), then print once: the header and sections, or the JSON object."""
        if self.path is not None:
            from cnncli.io.write import save_result

            kwargs: dict[str, Any] = {"png_scale": self.png_scale, "labels": labels}
            if self.path == "-":
                kwargs["stdout"] = sys.stdout.buffer
            if isinstance(save, dict) and not self.path.lower().endswith(".npz"):
                save = save["output"]  # gradients go to an .npz only
            header.notes += list(save_result(self.path, save, **kwargs) or [])
        if self.as_json:
            import json

            for n in header.notes:
                sys.stderr.write(f"note: {n}\n")
            sys.stdout.write(json.dumps(jsonable(payload)) + "\n")
            sys.stdout.flush()
            return
        if self.mode == "none" and self.to_stdout_pipe:
            for n in header.notes:
                sys.stderr.write(f"note: {n}\n")
            return
        from rich.console import Group

        from cnncli.render.header import render_header

        shown = [s for s in sections if s is not None]
        self.console.print(Group(render_header(header), *shown))


# ---------------------------------------------------------- activations ---

Activation = Literal["relu", "leaky-relu", "sigmoid", "tanh", "softmax", "log-softmax"]


def activation_forward(name: str, x: np.ndarray, slope: float = 0.01, dim: int = 1) -> np.ndarray:
    """Apply the named activation with the engine (softmax and log-softmax over ``dim``)."""
    from cnncli import engine

    if name == "relu":
        return engine.relu(x)
    if name == "leaky-relu":
        return engine.leaky_relu(x, negative_slope=slope)
    if name == "sigmoid":
        return engine.sigmoid(x)
    if name == "tanh":
        return engine.tanh(x)
    if name == "softmax":
        return engine.softmax(x, dim=dim)
    if name == "log-softmax":
        return engine.log_softmax(x, dim=dim)
    raise ParameterError(f"unknown activation {name!r}")


def activation_backward(
    name: str, dy: np.ndarray, x: np.ndarray, y: np.ndarray, slope: float = 0.01, dim: int = 1
) -> np.ndarray:
    """dL/dX of the named activation, given dL/dY, its input x and its output y."""
    from cnncli import engine

    if name == "relu":
        return engine.relu_backward(dy, x)
    if name == "leaky-relu":
        return engine.leaky_relu_backward(dy, x, negative_slope=slope)
    if name == "sigmoid":
        return engine.sigmoid_backward(dy, y)
    if name == "tanh":
        return engine.tanh_backward(dy, y)
    if name == "softmax":
        return engine.softmax_backward(dy, y, dim=dim)
    if name == "log-softmax":
        return engine.log_softmax_backward(dy, y, dim=dim)
    raise ParameterError(f"unknown activation {name!r}")


def activation_text(name: str, slope: float, dim: int) -> str:
    """``leaky-relu (negative_slope 0.01)``, ``softmax over dim 1``, or the name."""
    if name == "leaky-relu":
        return f"leaky-relu (negative_slope {slope:g})"
    if name in ("softmax", "log-softmax"):
        return f"{name} over dim {dim}"
    return name


# ---------------------------------------------------------------- memory ---

MaxMemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        help="Refuse work estimated above this size (512M, 2G). [default: half the free memory]",
        rich_help_panel=INPUT_PANEL,
        show_default=False,
    ),
]


def check_memory(elements: int, itemsize: int, max_memory: str | None, what: str) -> None:
    """Refuse (ResourceLimitError) work whose buffers hold more than the limit, before allocating.

    The limit is ``--max-memory`` or half the memory available now, read as
    ``cnncli forward`` reads it (:mod:`cnncli.nn.resources`).
    """
    from cnncli.errors import ResourceLimitError
    from cnncli.nn import resources

    limit = resources.parse_size(max_memory) if max_memory else resources.default_limit()
    needed = elements * itemsize
    if needed > limit:
        raise ResourceLimitError(
            f"{what} would need about {resources.format_bytes(needed)} of buffers, more than "
            f"the limit {resources.format_bytes(limit)}",
            hint="use a smaller input, padding or kernel, or raise the limit with --max-memory",
        )
