"""``cnncli conv``: a 2-D convolution (cross-correlation, as PyTorch) with its work shown."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cnncli.cli import options as opt
from cnncli.cli.argtypes import parse_floats, parse_index, parse_padding, parse_pair
from cnncli.cli.core import begin, check_memory
from cnncli.cli.main import app
from cnncli.errors import ParameterError

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np

    from cnncli.render.header import Header


@app.command(
    rich_help_panel="Tensor ops",
    epilog=opt.examples(
        "cnncli conv  # the built-in digit 8 with the Sobel pair",
        "cnncli conv samples/shapes.png -k sobel --magnitude -p same",
        "cnncli conv samples/seed_pool.csv -k laplacian -p 1 --grad ones",
    ),
)
def conv(
    ctx: typer.Context,
    input: opt.InputArg = None,
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
        opt.ConvPadMode, typer.Option("--pad-mode", help="How padding is filled.")
    ] = "zeros",
    dilation: Annotated[str, typer.Option("-d", "--dilation", help="N or H,W.")] = "1",
    groups: Annotated[int, typer.Option("-g", "--groups", help="Channel groups.")] = 1,
    transpose: Annotated[
        bool,
        typer.Option(
            "--transpose",
            help="The transposed convolution (ConvTranspose2d; conv2d's dL/dX): each input "
            "cell adds input·kernel into the output, stride apart. Padding N or H,W crops.",
        ),
    ] = False,
    output_padding: Annotated[
        str,
        typer.Option(
            "--output-padding",
            help="With --transpose: N or H,W more rows/columns at the bottom/right "
            "(smaller than the stride or the dilation).",
        ),
    ] = "0",
    activation: Annotated[
        opt.Activation | None,
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
    grad: opt.GradOpt = None,
    max_memory: opt.MaxMemoryOpt = None,
    layout: opt.LayoutOpt = None,
    key: opt.KeyOpt = None,
    gray: opt.GrayOpt = False,
    scale: opt.ScaleOpt = "raw",
    dtype: opt.DtypeOpt = "float32",
    allow_nonfinite: opt.NonfiniteOpt = False,
    show: opt.ShowOpt = None,
    channels: opt.ChannelsOpt = None,
    region: opt.RegionOpt = None,
    json_: opt.JsonOpt = False,
    output: opt.OutputOpt = None,
    png_scale: opt.PngScaleOpt = "minmax",
    animate: opt.AnimateOpt = None,
    fps: opt.FpsOpt = None,
    png_mode: opt.PngModeOpt = "auto",
) -> None:
    """Convolve an image or matrix with named, file or inline kernels and show the maps."""

    from cnncli import engine
    from cnncli.cli import animation
    from cnncli.engine import shapes
    from cnncli.engine.activations import activation_backward, activation_forward
    from cnncli.nn.kernels import build_weight

    animation.check_options(animate, fps, [input, *(kernel or [])])
    run = begin(ctx, "digit8", files=kernel or [])
    x, out, notes = run.x, run.out, run.notes
    specs = list(kernel or [])
    if not specs:
        specs = ["sobel"]
        notes.append("no -k given: using sobel (sobel-x and sobel-y, two maps)")
    if transpose:
        if animate is not None or pad_mode != "zeros":
            raise ParameterError(
                "--transpose pads with zeros and has no window to animate: leave out "
                + ("--animate" if animate is not None else "--pad-mode")
            )
        from cnncli.cli.conv_transpose import transposed

        transposed(
            run, specs, depthwise, groups, lambda F, dt: _bias(bias, F, dt), stride, padding,
            output_padding, dilation, magnitude, activation, slope, explain, grad, max_memory,
        )  # fmt: skip
        return
    if output_padding.strip() != "0":
        raise ParameterError("--output-padding is for the transposed convolution: add --transpose")
    if depthwise and groups != 1:
        raise ParameterError("--depthwise sets groups = C itself; leave out -g")
    G = x.shape[1] if depthwise else groups
    st, pd, dl = parse_pair(stride, "stride"), parse_padding(padding), parse_pair(dilation, "dilation")  # fmt: skip
    check = _memory_check(x, st, pd, dl, G, pad_mode, grad is not None, max_memory)
    weight, labels = build_weight(specs, x.shape[1], G, depthwise, x.dtype, notes, check)
    kernel_labels = list(labels)
    b = _bias(bias, weight.shape[0], x.dtype)
    geo = shapes.conv2d_geometry(x.shape, weight.shape, st, pd, dl, G)
    y = engine.conv2d(x, weight, b, st, pd, dl, G, pad_mode)
    result = y
    if magnitude:
        result, labels = _magnitude(y, labels)
    pre_act = result
    if activation:
        result = activation_forward(activation, result, slope, 1)
    _describe(run.header, x.shape, geo, weight.shape, kernel_labels, b, pad_mode, depthwise,
              magnitude, activation, slope, result.shape)  # fmt: skip
    # depthwise: output channel c comes from input channel c (a .png stays in colour)
    out.keeps_channels = G == x.shape[1] == result.shape[1]
    sections: list[Any] = [out.maps(result, "output")]
    parameters = {
        "kernels": labels, "stride": geo.stride, "padding": geo.padding,
        "padding_order": "left,right,top,bottom", "padding_mode": pad_mode,
        "dilation": geo.dilation, "groups": G, "depthwise": depthwise,
        "magnitude": magnitude, "activation": activation, "bias": b,
    }  # fmt: skip
    payload = run.base_payload("conv2d", parameters, result, weight=weight)
    save: Any = result
    if explain is not None:
        idx = parse_index(explain, y.shape)
        sections += _explain(x, weight, b, y, idx, geo, G, pad_mode, payload)
        if magnitude or activation:
            sections.append(_after_note(magnitude, activation, idx, result, pre_act))
    if grad is not None:
        if magnitude:
            raise ParameterError("--grad does not go through --magnitude; leave one out")
        dy = run.grad(grad, result.shape)
        if activation:
            dy = activation_backward(activation, dy, pre_act, result, slope, 1)
        dx, dw, db = engine.conv2d_backward(dy, x, weight, st, pd, dl, G, pad_mode, bias=True)
        more, save = grad_sections(out, grad, result, (dx, dw, db), payload)
        sections += more
    wrote = None
    if animate is not None:
        after = "; before " + " and ".join(
            f for f, on in (("--magnitude", magnitude), ("-a", activation)) if on
        )
        anim = animation.conv(x, y, weight, geo, pad_mode, after if magnitude or activation else "")
        wrote = animation.write(animate, anim, fps, "conv")
    out.finish(run.header, sections, payload, save, labels)
    animation.announce(wrote)


def _memory_check(
    x: "np.ndarray",
    st: int | tuple[int, int],
    pd: int | tuple[int, ...] | str,
    dl: int | tuple[int, int],
    G: int,
    pad_mode: str,
    backward: bool,
    max_memory: str | None,
) -> "Callable[[tuple[int, ...]], None]":
    """The check :func:`build_weight` runs on the weight's shape before stacking the bank."""
    from cnncli.engine import conv2d_workspace_bytes, shapes

    itemsize = max(x.itemsize, 4)  # float16 computes in float32

    def check(weight_shape: tuple[int, ...]) -> None:
        """Refuse, before the bank is stacked, buffers above --max-memory."""
        geo = shapes.conv2d_geometry(x.shape, weight_shape, st, pd, dl, G)
        output = geo.N * geo.F * geo.OH * geo.OW * itemsize
        needed = conv2d_workspace_bytes(geo, itemsize, pad_mode) + output
        if backward:  # the backward pass's own workspace, dL/dX and dL/dW
            weight = geo.F * (geo.C // geo.groups) * geo.KH * geo.KW * itemsize
            needed = 2 * needed + x.size * itemsize + weight
        check_memory(needed, max_memory, "this convolution")

    return check


def _bias(text: str | None, F: int, dtype: Any) -> "np.ndarray | None":
    """``-b`` text: one value for every map, or one per map."""
    import numpy as np

    if text is None:
        return None
    values = parse_floats(text, "--bias")
    if len(values) not in (1, F):
        raise ParameterError(
            f"--bias takes 1 value or {F} (one per output channel), got {len(values)}"
        )
    return np.asarray(values * F if len(values) == 1 else values, dtype=dtype)


def _magnitude(y: "np.ndarray", labels: list[str]) -> "tuple[np.ndarray, list[str]]":
    """``--magnitude``: sqrt(x² + y²) of the map pairs, with a label per pair."""
    from cnncli.nn.kernels import magnitude

    F = y.shape[1]
    if F % 2:
        raise ParameterError(f"--magnitude combines maps in (x, y) pairs, but there are {F} maps")
    pairs = [f"|{labels[2 * k]}, {labels[2 * k + 1]}|" for k in range(F // 2)]
    return magnitude(y), pairs


def _describe(
    header: "Header",
    x_shape: tuple[int, ...],
    geo: Any,
    weight_shape: tuple[int, ...],
    kernel_labels: list[str],
    b: "np.ndarray | None",
    pad_mode: str,
    depthwise: bool,
    magnitude: bool,
    activation: str | None,
    slope: float,
    out_shape: tuple[int, ...],
) -> None:
    """The header's op line (weight, parameters, what follows) and output line (the formulas)."""
    from cnncli.engine import shapes
    from cnncli.engine.activations import activation_text
    from cnncli.render.format import fmt_shape
    from cnncli.render.header import padding_by_name

    H, W = x_shape[2:]
    conv_kind = "depthwise " if depthwise else ""
    header.add(
        "op",
        f"{conv_kind}conv2d  weight {fmt_shape(weight_shape)} (F, C/groups, KH, KW)  kernels {_names(kernel_labels)}",
        f"stride {_pair(geo.stride)}  padding {padding_by_name(geo.padding)} ({pad_mode})  "
        f"dilation {_pair(geo.dilation)}  groups {geo.groups}  bias {'none' if b is None else ', '.join(f'{v:g}' for v in b.tolist())}",
        *( ["then sqrt(x² + y²) of each map pair"] if magnitude else []),
        *( [f"then {activation_text(activation, slope, 1)}"] if activation else []),
    )  # fmt: skip
    header.add(
        "output",
        f"{fmt_shape(out_shape)}",
        shapes.conv_size_formula(H, geo.KH, geo.stride[0], geo.padding[2:], geo.dilation[0], "H"),
        shapes.conv_size_formula(W, geo.KW, geo.stride[1], geo.padding[:2], geo.dilation[1], "W"),
    )


def _explain(
    x: "np.ndarray",
    weight: "np.ndarray",
    b: "np.ndarray | None",
    y: "np.ndarray",
    idx: tuple[int, int, int, int],
    geo: Any,
    G: int,
    pad_mode: str,
    payload: dict[str, Any],
) -> list[Any]:
    """``--explain``: the cell recomputed step by step, added to the JSON object too."""
    from cnncli.engine import conv2d_method
    from cnncli.nn.explain import conv_cell
    from cnncli.render.explain import conv_explanation

    cell = conv_cell(x, weight, b, y, idx, geo.stride, geo.padding, geo.dilation, G, pad_mode)
    payload["explain"] = {
        "index": idx, "channels": cell.channels, "rows": cell.rows, "cols": cell.cols,
        "patch": cell.patch, "kernel": cell.kernel, "products": cell.products,
        "channel_sums": cell.sums, "sum": cell.total, "bias": cell.bias, "value": cell.engine_value,
    }  # fmt: skip
    method = conv2d_method(x, weight, geo.stride, geo.padding, geo.dilation, G, pad_mode)
    payload["explain"]["engine_path"] = method
    return [conv_explanation(cell, x.shape[2], x.shape[3], "conv", method)]


def _pair(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]},{p[1]}"


def _names(labels: list[str], limit: int = 6) -> str:
    """The kernels' labels, the first few when the bank is large."""
    unique = list(dict.fromkeys(labels))
    if len(unique) <= limit:
        return ", ".join(unique)
    return ", ".join(unique[:limit]) + f", … ({len(unique)} in all)"


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


def grad_sections(
    out: Any, grad: str, result: Any, grads: tuple[Any, Any, Any], payload: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """``--grad``'s maps (dL/dX, dL/dW, dL/db) and what ``-o`` saves; the JSON gets them too.

    Shared by ``conv`` and ``conv --transpose``.
    """
    import numpy as np

    dx, dw, db = grads
    payload["grad"] = {"grad_output": "ones" if grad.lower() == "ones" else grad,
                       "grad_input": dx, "grad_weight": dw, "grad_bias": db}  # fmt: skip
    sections = [
        out.maps(dx, "dL/dX"),
        out.maps(dw, "dL/dW", follow_picks=False),
        out.maps(np.asarray(db), "dL/db"),
    ]
    return sections, {"output": result, "grad_input": dx, "grad_weight": dw, "grad_bias": db}
