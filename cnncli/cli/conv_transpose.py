"""``cnncli conv --transpose``: the transposed convolution (ConvTranspose2d) with its work shown.

The same kernels as ``cnncli conv`` (output map f uses kernel f on each input channel), but
each input cell adds its value times the kernel into the output, ``stride`` apart, instead
of each output cell gathering a window: conv2d's dL/dX.  The header gives the output-size
formula with the numbers, ``--explain`` lists every input cell and kernel tap that reaches
one output cell, ``--grad`` gives dL/dX, dL/dW (PyTorch's layout) and dL/db.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnncli.cli.argtypes import parse_index, parse_pair
from cnncli.cli.core import Run, check_memory
from cnncli.errors import ParameterError

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np


def transposed(
    run: Run,
    specs: list[str],
    depthwise: bool,
    groups: int,
    bias: Any,
    stride: str,
    padding: str,
    output_padding: str,
    dilation: str,
    magnitude: bool,
    activation: str | None,
    slope: float,
    explain: str | None,
    grad: str | None,
    max_memory: str | None,
) -> None:
    """Compute, describe and print the transposed convolution of ``run.x``.

    ``bias`` is a function (F, dtype) → bias or None (conv's ``-b`` parser).
    """

    from cnncli import engine
    from cnncli.engine import shapes
    from cnncli.engine.activations import activation_backward, activation_forward
    from cnncli.nn.kernels import build_weight, transposed_weight

    x, out, notes = run.x, run.out, run.notes
    if depthwise and groups != 1:
        raise ParameterError("--depthwise sets groups = C itself; leave out -g")
    G = x.shape[1] if depthwise else groups
    st, dl = parse_pair(stride, "stride"), parse_pair(dilation, "dilation")
    op = parse_pair(output_padding, "--output-padding")
    if padding.strip().lower() in ("same", "valid") or len(padding.split(",")) > 2:
        raise ParameterError(
            f"--transpose takes padding N or H,W (cropped from both sides, as PyTorch), "
            f"got {padding!r}"
        )
    pd = parse_pair(padding, "padding")
    check = _memory_check(x, st, pd, op, dl, G, grad is not None, max_memory)
    conv_weight, labels = build_weight(
        specs, x.shape[1], G, depthwise, x.dtype, notes, check, transposed=True
    )
    weight = transposed_weight(conv_weight, G)  # (C, F/groups, KH, KW)
    F = conv_weight.shape[0]
    b = bias(F, x.dtype)
    geo = shapes.conv_transpose2d_geometry(x.shape, weight.shape, st, pd, op, G, dl)
    y = engine.conv_transpose2d(x, weight, b, st, pd, op, G, dl)
    result, names = y, list(labels)
    if magnitude:
        from cnncli.cli.conv import _magnitude

        result, names = _magnitude(y, names)
    pre_act = result
    if activation:
        result = activation_forward(activation, result, slope, 1)
    _describe(run, geo, weight.shape, labels, b, depthwise, magnitude, activation, slope, result.shape)  # fmt: skip
    out.keeps_channels = G == x.shape[1] == result.shape[1]
    sections: list[Any] = [out.maps(result, "output")]
    parameters = {
        "kernels": names, "stride": geo.stride, "padding": geo.padding,
        "output_padding": geo.output_padding, "dilation": geo.dilation, "groups": G,
        "depthwise": depthwise, "magnitude": magnitude, "activation": activation, "bias": b,
    }  # fmt: skip
    payload = run.base_payload("conv_transpose2d", parameters, result, weight=weight)
    save: Any = result
    if explain is not None:
        sections += _explain(x, weight, b, y, parse_index(explain, y.shape), geo, payload)
        if magnitude or activation:
            from cnncli.cli.conv import _after_note

            idx = parse_index(explain, y.shape)
            sections.append(_after_note(magnitude, activation, idx, result, pre_act))
    if grad is not None:
        if magnitude:
            raise ParameterError("--grad does not go through --magnitude; leave one out")
        dy = run.grad(grad, result.shape)
        if activation:
            dy = activation_backward(activation, dy, pre_act, result, slope, 1)
        dx, dw, db = engine.conv_transpose2d_backward(dy, x, weight, st, pd, op, G, dl, bias=True)
        from cnncli.cli.conv import grad_sections

        more, save = grad_sections(out, grad, result, (dx, dw, db), payload)
        sections += more
    out.finish(run.header, sections, payload, save, names)


def _memory_check(
    x: np.ndarray,
    st: int | tuple[int, int],
    pd: int | tuple[int, int],
    op: int | tuple[int, int],
    dl: int | tuple[int, int],
    G: int,
    backward: bool,
    max_memory: str | None,
) -> Callable[[tuple[int, ...]], None]:
    """The check :func:`build_weight` runs on the (conv-layout) weight shape before stacking."""
    from cnncli.engine import shapes

    itemsize = max(x.itemsize, 4)

    def check(conv_shape: tuple[int, ...]) -> None:
        F, _, KH, KW = conv_shape
        geo = shapes.conv_transpose2d_geometry(
            x.shape,
            (x.shape[1], F // G, KH, KW),
            st,
            pd,
            op,
            G,
            dl,  # type: ignore[arg-type]
        )
        output = geo.N * geo.F * geo.OH * geo.OW
        cols = geo.N * geo.F * KH * KW * geo.H * geo.W  # col2im's matrix
        full = geo.N * geo.F * geo.conv.H * geo.conv.W  # the output before the crop
        needed = (output + cols + full) * itemsize
        if backward:
            needed = 2 * needed + x.size * itemsize
        check_memory(needed, max_memory, "this transposed convolution")

    return check


def _describe(
    run: Run,
    geo: Any,
    weight_shape: tuple[int, ...],
    labels: list[str],
    b: np.ndarray | None,
    depthwise: bool,
    magnitude: bool,
    activation: str | None,
    slope: float,
    out_shape: tuple[int, ...],
) -> None:
    """The header's op line (weight, parameters, what it is) and output line (the formulas)."""
    from cnncli.cli.conv import _names, _pair
    from cnncli.engine import shapes
    from cnncli.engine.activations import activation_text
    from cnncli.render.format import fmt_shape

    kind = "depthwise " if depthwise else ""
    bias = "none" if b is None else ", ".join(f"{v:g}" for v in b.tolist())
    run.header.add(
        "op",
        f"{kind}conv_transpose2d  weight {fmt_shape(weight_shape)} (C, F/groups, KH, KW)  kernels {_names(labels)}",
        f"stride {_pair(geo.stride)}  padding {_pair(geo.padding)} (cropped)  output_padding "
        f"{_pair(geo.output_padding)}  dilation {_pair(geo.dilation)}  groups {geo.groups}  bias {bias}",
        "each input cell adds input·kernel into the output, stride apart (conv2d's dL/dX)",
        *( ["then sqrt(x² + y²) of each map pair"] if magnitude else []),
        *( [f"then {activation_text(activation, slope, 1)}"] if activation else []),
    )  # fmt: skip
    formulas = [
        shapes.conv_transpose_size_formula(
            size, k, geo.stride[a], geo.padding[a], geo.output_padding[a], geo.dilation[a], axis
        )
        for a, (axis, size, k) in enumerate((("H", geo.H, geo.KH), ("W", geo.W, geo.KW)))
    ]
    run.header.add("output", fmt_shape(out_shape), *formulas)


def _explain(
    x: np.ndarray,
    weight: np.ndarray,
    b: np.ndarray | None,
    y: np.ndarray,
    idx: tuple[int, int, int, int],
    geo: Any,
    payload: dict[str, Any],
) -> list[Any]:
    """``--explain``: every input cell and tap reaching the cell, added to the JSON object too."""
    from cnncli.nn.explain import conv_transpose_cell
    from cnncli.render.explain import conv_transpose_explanation

    cell = conv_transpose_cell(x, weight, b, y, idx, geo.stride, geo.padding, geo.dilation, geo.groups)  # fmt: skip
    payload["explain"] = {
        "index": idx,
        "channels": cell.channels,
        "terms": [
            {
                "channel": c,
                "input_cell": [r, q],
                "tap": [m, k],
                "input": xv,
                "weight": wv,
                "product": pv,
            }
            for c, r, q, m, k, xv, wv, pv in cell.terms
        ],
        "channel_sums": cell.sums,
        "sum": cell.total,
        "bias": cell.bias,
        "value": cell.engine_value,
    }
    return [conv_transpose_explanation(cell)]
