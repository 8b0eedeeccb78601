"""The ONNX operators of issue 16's layers, as torch.onnx (opsets 17 to 21) writes them.

Each converter ``(node, ctx, shape) -> [layers]`` is registered in
:data:`cnncli.nn.onnx_ops.OPS`. Operators that torch.onnx writes as a small pattern of
others are put together by the importer (:mod:`cnncli.nn.onnx_import`): SiLU
(``x · Sigmoid(x)``), Mish (``x · Tanh(Softplus(x))``) and GroupNorm (Reshape to
(N, G, −1) → InstanceNormalization → Reshape back → Mul, Add per channel). The blocks
the importer makes of forks are here too: :class:`Joined` (a Concat or product of
branches) and :func:`squeeze_excitation` (torchvision's SE gate, recognised).
"""

from __future__ import annotations

import math

import numpy as np

from cnncli.io.onnx_file import OnnxNode
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn.layers import flow as F  # noqa: N812
from cnncli.nn.layers.base import Layer, Shape
from cnncli.nn.onnx_ops import Converter, Ctx, Pad2d, _ints, _spatial, fill, unsupported


class Softplus(Layer):
    """``log(1 + exp(x))``, as ``torch.nn.Softplus()`` (beta 1; ONNX Softplus).

    Shapes: any → the same. Backward: ``dx = grad · sigmoid(x)``. Alone it is this layer;
    followed by Tanh and a product with its input it is Mish (the importer's pattern).
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        return np.logaddexp(np.zeros((), x.dtype), x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad / (1 + np.exp(-self._x))


class Joined(L.Concat):
    """An imported fork: paths on one input, concatenated (``cat``) or multiplied (``mul``).

    Shapes: as :class:`~cnncli.nn.layers.Concat` / :class:`~cnncli.nn.layers.Multiply`.
    A path that is the identity (``None``) is no child, as in torchvision's DenseNet
    (``torch.cat([x, layer(x)], 1)``), so that it is no row of the summary; the other
    children are named by their path's index.
    """

    def __init__(self, op: str, paths: list[L.Sequential | None]) -> None:
        self.op = op
        self.torch_name = "Concat" if op == "cat" else "Multiply"
        self._identity = [p is None for p in paths]
        super().__init__(*((str(i), p) for i, p in enumerate(paths) if p is not None))

    def flow(self) -> F.Node:
        paths = [F.Path() if ident else F.Path(str(i)) for i, ident in enumerate(self._identity)]
        return F.Join(self.op, tuple(paths), tuple(f"branch {i}" for i in range(len(paths))))


def squeeze_excitation(seqs: list[L.Sequential]) -> L.SqueezeExcitation | None:
    """torchvision's SqueezeExcitation when one path is the identity and the other
    AdaptiveAvgPool2d(1) → 1×1 Conv2d → activation → 1×1 Conv2d → scale activation."""
    if len(seqs) != 2 or sorted(len(s) for s in seqs) != [0, 5]:
        return None
    pool, fc1, act, fc2, scale = (layer for s in seqs for _, layer in s.children())
    ok = (
        isinstance(pool, L.AdaptiveAvgPool2d)
        and pool._target((1, 1, 2, 2)) == (1, 1)
        and isinstance(fc1, L.Conv2d)
        and isinstance(fc2, L.Conv2d)
        and fc1.kernel_size == fc2.kernel_size == (1, 1)
        and fc1.bias
        and fc2.bias
        and fc2.out_channels == fc1.in_channels
        and not act.param_shapes()
        and not scale.param_shapes()
    )
    if not ok or not isinstance(fc1, L.Conv2d):
        return None
    se = L.SqueezeExcitation(fc1.in_channels, fc1.out_channels, act, scale)
    se._children = [("avgpool", pool), ("fc1", fc1), ("fc2", fc2), ("activation", act),
                    ("scale_activation", scale)]  # fmt: skip
    se._by_name = {}
    return se


def _attr(node: OnnxNode, key: str, default: str) -> str:
    value = node.attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def conv_transpose(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """ConvTranspose → ConvTranspose2d; weight (C, F/group, KH, KW); symmetric pads only."""
    w = ctx.const(node.inputs[1])
    b = ctx.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    if w.ndim != 4:
        raise unsupported(ctx, node, f"only 2-D transposed convolutions (weight {w.shape})")
    if "output_shape" in node.attrs:
        raise unsupported(ctx, node, "output_shape has no ConvTranspose2d argument")
    group = int(node.attrs.get("group", 1))
    g = _spatial(node, ctx, shape, list(w.shape[2:]))
    left, right, top, bottom = g["pad4"]
    if (left, top) != (right, bottom):
        raise unsupported(ctx, node, f"asymmetric pads {g['pad4']} have no ConvTranspose2d form")
    layer = L.ConvTranspose2d(
        w.shape[0], w.shape[1] * group, tuple(w.shape[2:]), g["stride"], (top, left),
        tuple(_ints(node, "output_padding", [0, 0])), group, b is not None, g["dilation"],
    )  # fmt: skip
    fill(layer, weight=w, bias=b)
    return [layer]


def resize(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """Resize / Upsample → Upsample: nearest (asymmetric, floor: PyTorch's nearest) or
    linear (half_pixel / pytorch_half_pixel, or align_corners), by scales or sizes."""
    mode = _attr(node, "mode", "nearest")
    ctm = _attr(node, "coordinate_transformation_mode", "half_pixel")
    if node.op_type == "Upsample":
        ctm = "asymmetric"
    if len(shape) != 4:
        raise unsupported(ctx, node, "only (N, C, H, W) maps are resized")
    floor = _attr(node, "nearest_mode", "round_prefer_floor") == "floor"
    if mode == "nearest":
        if node.op_type == "Resize" and (ctm != "asymmetric" or not floor):
            raise unsupported(ctx, node, "nearest is PyTorch's only as asymmetric + floor")
        kind, corners = "nearest", None
    elif mode in ("linear", "bilinear"):
        if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
            raise unsupported(ctx, node, f"coordinate_transformation_mode {ctm!r}")
        kind, corners = "bilinear", ctm == "align_corners"
    else:
        raise unsupported(ctx, node, f"mode {mode!r}: only nearest and (bi)linear")
    ins = node.inputs
    scales_name = ins[1] if node.op_type == "Upsample" else (ins[2] if len(ins) > 2 else "")
    sizes_name = ins[3] if node.op_type == "Resize" and len(ins) > 3 else ""
    if sizes_name:
        size = [int(v) for v in ctx.const(sizes_name).ravel()]
        if len(size) != 4 or size[1] != shape[1]:
            raise unsupported(ctx, node, f"sizes {size}: only H and W may change")
        return [L.Upsample(size=(size[2], size[3]), mode=kind, align_corners=corners)]
    if not scales_name:
        raise unsupported(ctx, node, "neither scales nor sizes is given")
    scales = [float(v) for v in ctx.const(scales_name).ravel()]
    if len(scales) != 4 or scales[:2] != [1.0, 1.0]:
        raise unsupported(ctx, node, f"scales {scales}: only H and W may be scaled")
    factor = scales[2] if scales[2] == scales[3] else (scales[2], scales[3])
    return [L.Upsample(scale_factor=factor, mode=kind, align_corners=corners)]


def clip(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """Clip(min, max) → ReLU6 for (0, 6), else Hardtanh(min, max)."""
    bounds = [-math.inf, math.inf]
    for i, key in ((1, "min"), (2, "max")):
        if len(node.inputs) > i and node.inputs[i]:
            bounds[i - 1] = float(ctx.const(node.inputs[i]).ravel()[0])
        elif key in node.attrs:
            bounds[i - 1] = float(node.attrs[key])
    if bounds == [0.0, 6.0]:
        return [L.ReLU6()]
    if not all(math.isfinite(b) for b in bounds):
        raise unsupported(ctx, node, f"Clip {bounds} has no PyTorch layer (Hardtanh has both)")
    return [L.Hardtanh(bounds[0], bounds[1])]


def hard_sigmoid(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """HardSigmoid(alpha 1/6, beta 0.5) → Hardsigmoid, ``relu6(x + 3) / 6``."""
    alpha = float(node.attrs.get("alpha", 0.2))
    beta = float(node.attrs.get("beta", 0.5))
    if not (np.isclose(alpha, 1 / 6, rtol=1e-6) and beta == 0.5):
        raise unsupported(ctx, node, f"alpha {alpha}, beta {beta}: PyTorch's is 1/6 and 0.5")
    return [L.Hardsigmoid()]


def gelu(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """Gelu (opset 20) → GELU(approximate 'none' or 'tanh')."""
    return [L.GELU(_attr(node, "approximate", "none"))]


def pad(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """Pad (constant mode, H and W only) → ZeroPad2d for zeros, else a constant Pad2d."""
    mode = _attr(node, "mode", "constant")
    if mode != "constant":
        raise unsupported(ctx, node, f"mode {mode!r}: only constant padding maps onto a layer")
    pads = node.attrs.get("pads")
    if pads is None:
        pads = ctx.const(node.inputs[1]).ravel()
    pads = [int(p) for p in pads]
    value = 0.0
    if len(node.inputs) > 2 and node.inputs[2]:
        value = float(ctx.const(node.inputs[2]).ravel()[0])
    if len(node.inputs) > 3 and node.inputs[3]:
        raise unsupported(ctx, node, "the axes input is not supported")
    if len(shape) != 4 or len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)):
        raise unsupported(ctx, node, f"pads {pads}: only H and W of (N, C, H, W) are padded")
    if min(pads) < 0:
        raise unsupported(ctx, node, f"pads {pads}: negative pads crop, no padding layer does")
    four = (pads[3], pads[7], pads[2], pads[6])  # left, right, top, bottom
    return [L.ZeroPad2d(four)] if value == 0.0 else [Pad2d(four, value)]


def group_norm(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """GroupNormalization → GroupNorm; scale and bias per channel (opset 21) or per
    group (opsets 18-20, repeated over each group's channels)."""
    G = int(node.attrs["num_groups"])
    C = shape[1]
    scale, bias = ctx.const(node.inputs[1]), ctx.const(node.inputs[2])
    if scale.size == G and G != C:
        scale, bias = np.repeat(scale, C // G), np.repeat(bias, C // G)
    layer = L.GroupNorm(G, C, float(node.attrs.get("epsilon", 1e-5)))
    fill(layer, weight=scale, bias=bias)
    return [layer]


#: The operators above, for :data:`cnncli.nn.onnx_ops.OPS`.
MODERN: dict[str, Converter] = {
    "ConvTranspose": conv_transpose,
    "Resize": resize,
    "Upsample": resize,
    "Clip": clip,
    "HardSigmoid": hard_sigmoid,
    "HardSwish": lambda n, c, s: [L.Hardswish()],
    "Elu": lambda n, c, s: [L.ELU(float(n.attrs.get("alpha", 1.0)))],
    "Gelu": gelu,
    "Mish": lambda n, c, s: [L.Mish()],
    "Softplus": lambda n, c, s: [Softplus()],
    "Pad": pad,
    "GroupNormalization": group_norm,
}
