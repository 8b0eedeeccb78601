"""``cnncli conv``: a 2-D convolution (cross-correlation, as PyTorch) with its work shown."""

import os
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from cnncli.cli import common as cm
from cnncli.cli.main import app
from cnncli.errors import InputFileError, ParameterError, ShapeError

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

KERNEL_EXTENSIONS = (".npy", ".npz", ".csv", ".tsv", ".txt", ".json")


@app.command(rich_help_panel="Tensor ops")
def conv(
    input: cm.InputArg = None,
    kernel: Annotated[
        list[str] | None,
        typer.Option(
            "-k",
            "--kernel",
            help="Kernel: a name (see `cnncli kernels`), a file (.npy .csv .txt .json, "
            "FILE.npz:KEY) or inline "
            "'1,0,-1;2,0,-2;1,0,-1'. Repeat to stack a bank. 2-D: one map summed over channels; "
            "3-D (C, KH, KW): a slice per channel; 4-D (F, C/groups, KH, KW): a whole weight. "
            "Default: sobel.",
            show_default=False,
        ),
    ] = None,
    depthwise: Annotated[
        bool, typer.Option("--depthwise", help="Filter each input channel on its own (groups = C).")
    ] = False,
    magnitude: Annotated[
        bool,
        typer.Option("--magnitude", help="Combine map pairs (x, y) into sqrt(gx² + gy²)."),
    ] = False,
    bias: Annotated[
        str | None,
        typer.Option("-b", "--bias", help="One value, or one per output channel: '0.5' or '1,-1'."),
    ] = None,
    stride: Annotated[str, typer.Option("-s", "--stride", help="N or H,W.")] = "1",
    padding: Annotated[
        str,
        typer.Option(
            "-p",
            "--padding",
            help="N | H,W | L,R,T,B (F.pad's order: left, right, top, bottom) | same | valid.",
        ),
    ] = "0",
    pad_mode: Annotated[
        Literal["zeros", "reflect", "replicate", "circular"],
        typer.Option("--pad-mode", help="How padding is filled."),
    ] = "zeros",
    dilation: Annotated[str, typer.Option("-d", "--dilation", help="N or H,W.")] = "1",
    groups: Annotated[int, typer.Option("-g", "--groups", help="Channel groups.")] = 1,
    activation: Annotated[
        cm.Activation | None,
        typer.Option("-a", "--activation", help="Apply after the convolution.", show_default=False),
    ] = None,
    slope: Annotated[float, typer.Option("--slope", help="Negative slope of leaky-relu.")] = 0.01,
    explain: Annotated[
        str | None,
        typer.Option(
            "--explain",
            help="Compute one output cell step by step: I,J or F,I,J (indices of the "
            "convolution's own maps, before --magnitude and -a).",
        ),
    ] = None,
    grad: cm.GradOpt = None,
    max_memory: cm.MaxMemoryOpt = None,
    layout: cm.LayoutOpt = None,
    key: cm.KeyOpt = None,
    gray: cm.GrayOpt = False,
    scale: cm.ScaleOpt = "raw",
    dtype: cm.DtypeOpt = "float32",
    allow_nonfinite: cm.NonfiniteOpt = False,
    show: cm.ShowOpt = None,
    channels: cm.ChannelsOpt = None,
    json_: cm.JsonOpt = False,
    output: cm.OutputOpt = None,
    png_scale: cm.PngScaleOpt = "minmax",
) -> None:
    """Convolve an image or matrix with named, file or inline kernels and show the maps."""
    import numpy as np

    from cnncli import engine
    from cnncli.engine import shapes
    from cnncli.render.format import fmt_shape
    from cnncli.render.header import Header, padding_by_name

    out = cm.Output(show, channels, json_, output, png_scale, inputs=[input or "", *(kernel or [])])
    loaded, x, notes = cm.load_input(
        input, default="digit8", layout=layout, key=key, gray=gray, scale=scale,
        dtype=dtype, allow_nonfinite=allow_nonfinite,
    )  # fmt: skip
    N, C, H, W = x.shape
    specs = list(kernel or [])
    if not specs:
        specs = ["sobel"]
        notes.append("no -k given: using sobel (sobel-x and sobel-y, two maps)")
    if depthwise and groups != 1:
        raise ParameterError("--depthwise sets groups = C itself; leave out -g")
    G = C if depthwise else groups
    st = cm.parse_pair(stride, "stride")
    pd = cm.parse_padding(padding)
    dl = cm.parse_pair(dilation, "dilation")

    def check_memory(weight_shape: tuple[int, ...]) -> None:
        """Refuse, before the bank is stacked, buffers above --max-memory."""
        geo = shapes.conv2d_geometry(x.shape, weight_shape, st, pd, dl, G)
        left, right, top, bottom = geo.padding
        padded = N * C * (H + top + bottom) * (W + left + right)
        cols = N * geo.OH * geo.OW * (C // G) * geo.KH * geo.KW  # an im2col buffer
        outs = N * geo.F * geo.OH * geo.OW
        factor = 2 if grad is not None else 1
        cm.check_memory(
            factor * (padded + cols + 2 * outs), x.itemsize, max_memory, "this convolution"
        )

    weight, labels = build_weight(specs, C, G, depthwise, x.dtype, notes, check_memory)
    kernel_labels = list(labels)
    F = weight.shape[0]
    b = None
    if bias is not None:
        values = cm.parse_floats(bias, "--bias")
        if len(values) not in (1, F):
            raise ParameterError(
                f"--bias takes 1 value or {F} (one per output channel), got {len(values)}"
            )
        b = np.asarray(values * F if len(values) == 1 else values, dtype=x.dtype)
    geo = shapes.conv2d_geometry(x.shape, weight.shape, st, pd, dl, G)
    y = engine.conv2d(x, weight, b, st, pd, dl, G, pad_mode)
    result = y
    if magnitude:
        if F % 2:
            raise ParameterError(
                f"--magnitude combines maps in (x, y) pairs, but there are {F} maps"
            )
        result = _magnitude(y)
        labels = [f"|{labels[2 * k]}, {labels[2 * k + 1]}|" for k in range(F // 2)]
    pre_act = result
    if activation:
        result = cm.activation_forward(activation, result, slope, 1)

    header = Header(notes=notes)
    header.add("input", cm.describe_input(loaded, x))
    conv_kind = "depthwise " if depthwise else ""
    header.add(
        "op",
        f"{conv_kind}conv2d  weight {fmt_shape(weight.shape)} (F, C/groups, KH, KW)  kernels {_names(kernel_labels)}",
        f"stride {_pair(geo.stride)}  padding {padding_by_name(geo.padding)} ({pad_mode})  "
        f"dilation {_pair(geo.dilation)}  groups {G}  bias {'none' if b is None else ', '.join(f'{v:g}' for v in b.tolist())}",
        *( ["then sqrt(x² + y²) of each map pair"] if magnitude else []),
        *( [f"then {cm.activation_text(activation, slope, 1)}"] if activation else []),
    )  # fmt: skip
    header.add(
        "output",
        f"{fmt_shape(result.shape)}",
        shapes.conv_size_formula(H, geo.KH, geo.stride[0], geo.padding[2:], geo.dilation[0], "H"),
        shapes.conv_size_formula(W, geo.KW, geo.stride[1], geo.padding[:2], geo.dilation[1], "W"),
    )
    sections: list[Any] = [out.maps(result, "output")]
    payload: dict[str, Any] = {
        "op": "conv2d",
        "parameters": {
            "kernels": labels, "stride": geo.stride, "padding": geo.padding,
            "padding_order": "left,right,top,bottom", "padding_mode": pad_mode,
            "dilation": geo.dilation, "groups": G, "depthwise": depthwise,
            "magnitude": magnitude, "activation": activation, "bias": b,
        },
        "input": {"source": str(loaded.source), "shape": x.shape},
        "weight": weight,
        "output": {"shape": result.shape, "values": result},
    }  # fmt: skip
    save: Any = result
    if explain is not None:
        from cnncli.cli.explain import conv_cell
        from cnncli.render.explain import conv_explanation

        idx = cm.parse_index(explain, y.shape)
        cell = conv_cell(x, weight, b, y, idx, geo.stride, geo.padding, geo.dilation, G, pad_mode)
        sections.append(conv_explanation(cell, H, W, "conv"))
        if magnitude or activation:
            sections.append(_after_note(magnitude, activation, idx, result, pre_act))
        payload["explain"] = {
            "index": idx, "channels": cell.channels, "rows": cell.rows, "cols": cell.cols,
            "patch": cell.patch, "kernel": cell.kernel, "products": cell.products,
            "channel_sums": cell.sums, "sum": cell.total, "bias": cell.bias, "value": cell.engine_value,
        }  # fmt: skip
    if grad is not None:
        if magnitude:
            raise ParameterError("--grad does not go through --magnitude; leave one out")
        dy = cm.load_grad(grad, result.shape, x.dtype, input, notes)
        if activation:
            dy = cm.activation_backward(activation, dy, pre_act, result, slope, 1)
        dx, dw, db = engine.conv2d_backward(dy, x, weight, st, pd, dl, G, pad_mode, bias=True)
        sections += [
            out.maps(dx, "dL/dX"),
            out.maps(dw, "dL/dW", follow_picks=False),
            out.maps(np.asarray(db), "dL/db"),
        ]
        payload["grad"] = {"grad_output": "ones" if grad.lower() == "ones" else grad,
                           "grad_input": dx, "grad_weight": dw, "grad_bias": db}  # fmt: skip
        save = {"output": result, "grad_input": dx, "grad_weight": dw, "grad_bias": db}
    out.finish(header, sections, payload, save, labels)


def _pair(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]},{p[1]}"


def _names(labels: list[str], limit: int = 6) -> str:
    """The kernels' labels, the first few when the bank is large."""
    unique = list(dict.fromkeys(labels))
    if len(unique) <= limit:
        return ", ".join(unique)
    return ", ".join(unique[:limit]) + f", … ({len(unique)} in all)"


def _magnitude(y: Any) -> Any:
    """sqrt(x² + y²) of the map pairs (0, 1), (2, 3), ...: (N, F, H, W) → (N, F/2, H, W).

    The same numbers as ``np.sqrt(y[:, 0::2] ** 2 + y[:, 1::2] ** 2)``, made in the
    output array with one row block of temporary, so that an 8192x8192 image needs
    no three map-sized temporaries.
    """
    import numpy as np

    gx, gy = y[:, 0::2], y[:, 1::2]
    out = np.multiply(gx, gx)
    rows = max(1, (4 << 20) // max(1, gy[0, 0, 0].nbytes))
    for r in range(0, y.shape[2], rows):
        block = gy[:, :, r : r + rows]
        out[:, :, r : r + rows] += block * block
    return np.sqrt(out, out=out)


def _after_note(
    magnitude: bool, activation: str | None, idx: tuple[int, int, int, int], result: Any, pre: Any
) -> Any:
    from rich.text import Text

    from cnncli.render.format import fmt_number

    n, f, i, j = idx
    k = f // 2 if magnitude else f
    steps = []
    if magnitude:
        steps.append(
            f"sqrt(x² + y²) of maps {2 * k} and {2 * k + 1} = {fmt_number(pre[n, k, i, j])}"
        )
    if activation:
        steps.append(f"{activation} → {fmt_number(result[n, k, i, j])}")
    return Text(f"then output[{n}, {k}, {i}, {j}]: " + "; ".join(steps))


def _kernel_array(
    spec: str, dtype: Any, notes: list[str] | None = None
) -> "tuple[list[np.ndarray], list[str]]":
    """One -k value as arrays with labels: a name (a pair gives two), a file, or inline text.

    A file's conversions (integers, bools, float64) are appended to ``notes``.
    """
    import numpy as np

    from cnncli import io as cio
    from cnncli.nn import kernels as bank

    text = spec.strip()
    if bank.is_name(text):
        return [k.array(dtype) for k in bank.resolve(text)], [k.name for k in bank.resolve(text)]
    path, npz_key = text, None
    if ".npz:" in text.lower():  # FILE.npz:KEY picks one array of an archive
        cut = text.lower().rindex(".npz:") + 4
        path, npz_key = text[:cut], text[cut + 1 :]
    ext = os.path.splitext(path)[1].lower()
    if os.path.exists(path) or ext in KERNEL_EXTENSIONS or os.sep in path:
        try:
            converted: list[str] = []
            arr = np.asarray(
                cio.load_kernel_file(path, key=npz_key, dtype=np.dtype(dtype).name, notes=converted)
            )
            if notes is not None:
                notes += [f"kernel {os.path.basename(text)}: {n}" for n in converted]
        except InputFileError as exc:
            if ext == ".npz" and npz_key is None and "--key" in exc.message:
                raise InputFileError(
                    exc.message.replace("with --key", "with -k FILE.npz:KEY"),
                    hint=f"for example -k {path}:weight",
                ) from None
            raise
        label = os.path.basename(text)
    elif text[:1] in "[-+.0123456789":
        arr = np.asarray(cio.parse_inline_matrix(text, dtype=np.dtype(dtype).name))
        label = f"'{text}'" if len(text) <= 24 else "inline"
    else:
        bank.resolve(text)  # raises with the close names
        raise AssertionError("unreachable")
    if arr.dtype.kind not in "fiub":
        raise ShapeError(f"kernel {label} must hold numbers, got dtype {arr.dtype}")
    arr = arr.astype(dtype)
    if not np.isfinite(arr).all():
        raise ParameterError(f"kernel {label} holds NaN or infinity")
    return [arr], [label]


def build_weight(
    specs: list[str],
    C: int,
    groups: int,
    depthwise: bool,
    dtype: Any,
    notes: list[str] | None = None,
    check: "Callable[[tuple[int, ...]], None] | None" = None,
) -> "tuple[np.ndarray, list[str]]":
    """Stack the -k kernels into one weight (F, C/groups, KH, KW) and a label per map.

    ``check`` is called with the weight's shape before anything is stacked or
    labelled, so that a bank too large to run is refused without building it.

    2-D (KH, KW): one map whose kernel is the same slice for every input channel
    of its group; 3-D (C/groups, KH, KW): one map; 4-D: F maps.  Depthwise
    (groups = C): each 2-D kernel (or 3-D with one slice per channel) gives one
    map per input channel, PyTorch's order ``f = c * M + m``.
    """
    import numpy as np

    arrays: list[np.ndarray] = []
    labels: list[str] = []
    for spec in specs:
        got, got_labels = _kernel_array(spec, dtype, notes)
        arrays += got
        labels += got_labels
    if groups < 1:
        raise ParameterError(f"groups must be at least 1, got {groups}")
    if C % groups:
        raise ShapeError(f"groups={groups} does not divide the input channels C={C}")
    Cg = C // groups
    sizes = {a.shape[-2:] for a in arrays if a.ndim >= 2}
    for a, lab in zip(arrays, labels, strict=True):
        if a.ndim not in (2, 3, 4) or a.size == 0:
            raise ShapeError(
                f"kernel {lab} has shape {a.shape}: give (KH, KW), (C, KH, KW) or (F, C/groups, KH, KW)"
            )
    if len(sizes) > 1:
        raise ShapeError(
            "the kernels of a bank must share one size, got "
            + ", ".join(
                f"{lab} {a.shape[-2]}×{a.shape[-1]}" for a, lab in zip(arrays, labels, strict=True)
            )
        )
    # Blocks of whole output channels (F_i, Cg, KH, KW), joined by one concatenate: a 4-D
    # weight is never split into its F kernels (a bank of a million stays one array).
    if check is not None:
        KH, KW = next(iter(sizes))
        F = C * len(arrays) if depthwise else sum(a.shape[0] if a.ndim == 4 else 1 for a in arrays)
        check((F, 1 if depthwise else Cg, KH, KW))
    blocks: list[np.ndarray] = []
    names: list[str] = []
    if depthwise:
        slots: list[np.ndarray] = []
        for a, lab in zip(arrays, labels, strict=True):
            if a.ndim == 4:
                raise ShapeError(
                    f"kernel {lab} is 4-D; with --depthwise give 2-D or (C, KH, KW) kernels"
                )
            if a.ndim == 3 and a.shape[0] != C:
                raise ShapeError(
                    f"kernel {lab} has {a.shape[0]} channel slices but the input has C={C}"
                )
            slots.append(np.broadcast_to(a, (C, *a.shape[-2:])))
        for c in range(C):
            for slot, lab in zip(slots, labels, strict=True):
                blocks.append(slot[c][None, None])
                names.append(f"{lab}@c{c}" if C > 1 else lab)
    else:
        for a, lab in zip(arrays, labels, strict=True):
            if a.ndim == 2:
                blocks.append(np.broadcast_to(a, (1, Cg, *a.shape)))
                names.append(lab)
                if Cg > 1 and notes is not None and not any("summed to" in n for n in notes):
                    notes.append(
                        f"2-D kernels run over all {Cg} channels, summed to one map each "
                        "(--depthwise: a map per channel)"
                    )
            elif a.ndim == 3:
                if a.shape[0] != Cg:
                    raise ShapeError(
                        f"kernel {lab} has {a.shape[0]} channel slices but the input has "
                        f"{Cg} channel(s) per group (C={C}, groups={groups})"
                    )
                blocks.append(a[None])
                names.append(lab)
            else:
                if a.shape[1] != Cg:
                    raise ShapeError(
                        f"kernel {lab} of shape {a.shape} expects {a.shape[1]} channel(s) per group "
                        f"but the input has {Cg} (C={C}, groups={groups})"
                    )
                blocks.append(a)
                names.extend(
                    [lab] if a.shape[0] == 1 else [f"{lab}[{f}]" for f in range(a.shape[0])]
                )
    weight = np.concatenate(blocks).astype(dtype, copy=False)
    return weight, names
