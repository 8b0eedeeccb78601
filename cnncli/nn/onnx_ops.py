"""The ONNX operator table: each operator a CNN file uses, and the cnncli layer it becomes.

:data:`OPS` maps an ONNX ``op_type`` to a converter ``(node, ctx, shape) -> [layers]``
(``shape`` is the input's (N, C, H, W) or (N, F); ``ctx.const(name)`` an initializer or a
folded constant), or to ``None``: an operator of the issue's list whose layer does not exist
yet. Each ``None`` entry says which layer it waits for; when that layer lands, its converter
is a few lines here. :data:`FOLDED` are the operators computed at import time when every
input is a constant (the Shape → Gather → Unsqueeze → Concat chains of ``x.view(N, -1)``).

Attributes follow the ONNX spec: ``pads`` are ``[top, left, bottom, right]`` (begin values
then end values), ``auto_pad`` SAME_UPPER puts the odd extra pixel at the end and
SAME_LOWER at the start, ``strides`` default to 1 (not to the kernel, as in PyTorch).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import numpy as np

from cnncli.errors import InputFileError
from cnncli.io.onnx_file import OnnxNode
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn.layers.base import Layer, Shape


class Ctx(Protocol):
    source: str

    def const(self, name: str) -> np.ndarray: ...

    def has_const(self, name: str) -> bool: ...


Converter = Callable[[OnnxNode, Ctx, Shape], list[Layer]]


class Pad2d(Layer):
    """Padding of H and W by (left, right, top, bottom), as ``F.pad`` (ONNX ``pads`` reordered).

    Shapes: (N, C, H, W) → (N, C, top + H + bottom, left + W + right). Put before a pooling
    layer whose ONNX padding is asymmetric or wider than PyTorch allows (−∞ for max pooling).
    """

    functional = True

    def __init__(self, pad: tuple[int, int, int, int], value: float = 0.0) -> None:
        super().__init__()
        self.pad = tuple(int(p) for p in pad)
        self.value = float(value)

    def output_shape(self, input_shape: Shape) -> Shape:
        left, right, top, bottom = self.pad
        N, C, H, W = input_shape
        return (N, C, H + top + bottom, W + left + right)

    def geometry(self) -> dict[str, str]:
        return {"padding": "l{} r{} t{} b{}".format(*self.pad)}

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.pad import pad

        return pad(x, self.pad, "constant", self.value).astype(x.dtype, copy=False)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.pad import pad_backward

        return pad_backward(grad, self.pad, "constant")

    def extra_repr(self) -> str:
        return f"pad={self.pad}, value={self.value}"


class ConstOp(Layer):
    """A feature map and a constant: ``x + c``, ``x − c``, ``x · c`` or ``x / c`` (ONNX Add,
    Sub, Mul, Div), as a model's forward writes ``(x - mean) / std``.

    Shapes: (N, ...) → the same; ``c`` broadcasts to the input without changing its shape.
    Backward: dx = grad (±), grad · c, grad / c.
    """

    functional = True
    _SYMBOL: ClassVar[dict[str, str]] = {"Add": "+", "Sub": "−", "Mul": "·", "Div": "/"}

    def __init__(self, op: str, value: np.ndarray) -> None:
        super().__init__()
        self.op = op
        self.value = np.asarray(value, np.float32)

    def output_shape(self, input_shape: Shape) -> Shape:
        if np.broadcast_shapes(tuple(input_shape), self.value.shape) != tuple(input_shape):
            from cnncli.errors import ShapeError

            raise ShapeError(f"a constant of shape {self.value.shape} does not fit {input_shape}")
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        c = self.value
        out = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide}[self.op](
            x, c
        )
        return out.astype(x.dtype, copy=False)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        if self.op in ("Add", "Sub"):
            return grad
        return grad * self.value if self.op == "Mul" else grad / self.value

    def extra_repr(self) -> str:
        return f"x {self._SYMBOL[self.op]} constant{self.value.shape}"


class LogSoftmax(Layer):
    """Log of the softmax along ``dim``, as ``torch.nn.LogSoftmax`` (ONNX LogSoftmax).

    Shapes: any → the same. ``y = x − log Σ exp(x)`` along ``dim``.
    """

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = int(dim)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import log_softmax

        self._y = log_softmax(x, self.dim)
        return self._y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import log_softmax_backward

        return log_softmax_backward(grad, self._y, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def unsupported(ctx: Ctx, node: OnnxNode, why: str) -> InputFileError:
    """One operator use that cnncli cannot map (an attribute value, a dynamic operand)."""
    return InputFileError(f"{ctx.source}: node {node.name!r} ({node.op_type}): {why}")


def _ints(node: OnnxNode, key: str, default: list[int]) -> list[int]:
    return [int(v) for v in node.attrs.get(key, default)]


def _spatial(node: OnnxNode, ctx: Ctx, shape: Shape, kernel: list[int]) -> dict[str, Any]:
    """strides, dilations and (left, right, top, bottom) pads of a 2-D conv or pool."""
    if len(shape) != 4 or len(kernel) != 2:
        raise unsupported(ctx, node, f"only 2-D inputs (N, C, H, W) are supported, got {shape}")
    strides = _ints(node, "strides", [1, 1])
    dilations = _ints(node, "dilations", [1, 1])
    auto = node.attrs.get("auto_pad", "NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads4 = []
        for size, k, s, d in zip(shape[2:], kernel, strides, dilations, strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small = total // 2
            pads4.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        (top, bottom), (left, right) = pads4
    elif auto in ("NOTSET", "VALID", ""):
        pads = _ints(node, "pads", [0, 0, 0, 0]) if auto != "VALID" else [0, 0, 0, 0]
        top, left, bottom, right = pads
    else:
        raise unsupported(ctx, node, f"auto_pad {auto!r} is not one the ONNX spec defines")
    return {
        "stride": tuple(strides),
        "dilation": tuple(dilations),
        "pad4": (left, right, top, bottom),
    }


def conv(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """Conv → Conv2d; weight (F, C/group, KH, KW), optional bias; any pads, group, dilations."""
    w = ctx.const(node.inputs[1])
    b = ctx.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    if w.ndim != 4:
        raise unsupported(ctx, node, f"only 2-D convolutions are supported (weight {w.shape})")
    group = int(node.attrs.get("group", 1))
    g = _spatial(node, ctx, shape, list(w.shape[2:]))
    left, right, top, bottom = g["pad4"]
    padding = (top, left) if (left, top) == (right, bottom) else g["pad4"]
    layer = L.Conv2d(
        w.shape[1] * group, w.shape[0], tuple(w.shape[2:]), g["stride"], padding,
        g["dilation"], group, b is not None,
    )  # fmt: skip
    fill(layer, weight=w, bias=b)
    return [layer]


def _pool(node: OnnxNode, ctx: Ctx, shape: Shape, kind: str) -> list[Layer]:
    kernel = _ints(node, "kernel_shape", [])
    g = _spatial(node, ctx, shape, kernel)
    left, right, top, bottom = g["pad4"]
    ceil_mode = bool(node.attrs.get("ceil_mode", 0))
    include = bool(node.attrs.get("count_include_pad", 0))
    fits = left == right and top == bottom and top <= kernel[0] // 2 and left <= kernel[1] // 2
    before: list[Layer] = []
    pad = (top, left)
    if not fits:  # PyTorch's pools pad symmetrically, at most half the kernel: pad first
        if kind == "avg" and not include:
            raise unsupported(
                ctx, node, "asymmetric pads with count_include_pad=0 have no PyTorch layer"
            )
        before = [Pad2d(g["pad4"], -math.inf if kind == "max" else 0.0)]
        pad = (0, 0)
    if kind == "max":
        return [
            *before,
            L.MaxPool2d(tuple(kernel), g["stride"], pad, g["dilation"], False, ceil_mode),
        ]
    if g["dilation"] != (1, 1):
        raise unsupported(ctx, node, "AveragePool with dilations has no PyTorch layer")
    return [*before, L.AvgPool2d(tuple(kernel), g["stride"], pad, ceil_mode, include)]


def gemm(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """Gemm → Linear: ``y = alpha·A·op(B) + beta·C``; weight = alpha·op(B)ᵀ, bias = beta·C."""
    if int(node.attrs.get("transA", 0)):
        raise unsupported(ctx, node, "transA=1 (a transposed input) has no Linear layer")
    B = ctx.const(node.inputs[1]).astype(np.float32, copy=False)
    weight = B if int(node.attrs.get("transB", 0)) else B.T
    alpha = float(node.attrs.get("alpha", 1.0))
    beta = float(node.attrs.get("beta", 1.0))
    if alpha != 1.0:
        weight = weight * np.float32(alpha)
    bias = None
    if len(node.inputs) > 2 and node.inputs[2]:
        bias = np.broadcast_to(ctx.const(node.inputs[2]), (weight.shape[0],)) * np.float32(beta)
    layer = L.Linear(weight.shape[1], weight.shape[0], bias is not None)
    fill(layer, weight=weight, bias=bias)
    return [layer]


def matmul(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """MatMul by a constant (in, out) matrix → Linear without bias."""
    if not ctx.has_const(node.inputs[1]) or len(shape) != 2:
        raise unsupported(ctx, node, "only (N, F) times a constant matrix maps onto Linear")
    w = ctx.const(node.inputs[1]).T
    layer = L.Linear(w.shape[1], w.shape[0], False)
    fill(layer, weight=w)
    return [layer]


def batch_norm(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """BatchNormalization (inference) → BatchNorm2d with its running statistics."""
    if len(shape) not in (2, 4):
        raise unsupported(ctx, node, f"BatchNormalization of a {len(shape)}-D input")
    scale, bias, mean, var = (ctx.const(n) for n in node.inputs[1:5])
    eps = float(node.attrs.get("epsilon", 1e-5))
    momentum = 1.0 - float(node.attrs.get("momentum", 0.9))
    cls = L.BatchNorm2d if len(shape) == 4 else L.BatchNorm1d
    layer = cls(scale.shape[0], eps, momentum)
    fill(layer, weight=scale, bias=bias)
    layer._buffers.update(
        running_mean=np.array(mean, np.float32),
        running_var=np.array(var, np.float32),
        num_batches_tracked=np.array(0, np.int64),
    )
    return [layer]


def flatten(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """Flatten(axis=1) → Flatten; a module's (nn.Flatten) when the node sits in a module scope."""
    axis = int(node.attrs.get("axis", 1))
    if axis not in (1, 1 - len(shape)):
        raise unsupported(ctx, node, f"axis {axis}: only Flatten(axis=1) keeps the batch")
    return [L.Flatten(1, functional=not in_module(node))]


def reshape(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """Reshape to (batch, features) (``x.view(x.size(0), -1)``) → Flatten(1)."""
    if not ctx.has_const(node.inputs[1]):
        raise unsupported(ctx, node, "the target shape is not a constant")
    target = [int(v) for v in ctx.const(node.inputs[1]).ravel()]
    batch = shape[0]
    features = math.prod(shape[1:])
    if len(target) == 2 and target[0] in (batch, -1, 0) and target[1] in (features, -1):
        return [L.Flatten(1, functional=not in_module(node))]
    raise unsupported(ctx, node, f"reshape of {shape} to {target}: only (N, -1) maps onto Flatten")


def squeeze(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """Squeeze of the 1×1 map a global pool leaves, (N, C, 1, 1) → (N, C): Flatten(1)."""
    axes = node.attrs.get("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        axes = [int(v) for v in ctx.const(node.inputs[1]).ravel()]
    if axes is None:
        axes = [i for i, d in enumerate(shape) if d == 1 and i > 0]
    axes = sorted(int(a) % len(shape) for a in axes)
    if len(shape) == 4 and shape[2:] == (1, 1) and axes == [2, 3]:
        return [L.Flatten(1, functional=True)]
    raise unsupported(ctx, node, f"only (N, C, 1, 1) → (N, C) is supported, not axes {axes}")


def softmax(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """Softmax / LogSoftmax along ``axis`` (default −1 from opset 13, 1 before)."""
    axis = int(node.attrs.get("axis", -1 if ctx_opset(ctx) >= 13 else 1))
    if axis < 0:
        axis += len(shape)
    if ctx_opset(ctx) < 13 and axis != len(shape) - 1:
        raise unsupported(ctx, node, f"{node.op_type} before opset 13 flattens the input")
    return [L.Softmax(dim=axis) if node.op_type == "Softmax" else LogSoftmax(dim=axis)]


def dropout(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    ratio = node.attrs.get("ratio", 0.5)
    if len(node.inputs) > 1 and node.inputs[1] and ctx.has_const(node.inputs[1]):
        ratio = float(ctx.const(node.inputs[1]))
    return [L.Dropout(float(ratio))]


def global_pool(node: OnnxNode, ctx: Ctx, shape: Shape) -> list[Layer]:
    """GlobalAveragePool → AdaptiveAvgPool2d((1, 1)); GlobalMaxPool → MaxPool2d((H, W))."""
    if len(shape) != 4:
        raise unsupported(ctx, node, "only 2-D global pooling is supported")
    if node.op_type == "GlobalAveragePool":
        return [L.AdaptiveAvgPool2d((1, 1))]
    return [L.MaxPool2d(tuple(shape[2:]))]


def ctx_opset(ctx: Ctx) -> int:
    return int(getattr(ctx, "opset", 13))


def in_module(node: OnnxNode) -> bool:
    """Whether torch.onnx named the node inside a module's scope (``/classifier.0/Flatten``)."""
    return node.name.startswith("/") and node.name.count("/") >= 2


def fill(layer: Layer, **arrays: np.ndarray | None) -> None:
    """Give ``layer`` its parameters from the file (float32), then freeze them as loading does."""
    for key, value in arrays.items():
        if value is not None:
            layer._params[key] = np.ascontiguousarray(value, dtype=np.float32)
    layer._freeze_own()


def _only_in(node: OnnxNode, ctx: Ctx, where: str) -> list[Layer]:
    raise unsupported(ctx, node, f"{node.op_type} is mapped only as part of {where}")


def _simple(cls: type[Layer], **fixed: Any) -> Converter:
    return lambda node, ctx, shape: [cls(**fixed)]


#: ONNX operator → converter; None marks an operator without a layer.
OPS: dict[str, Converter | None] = {
    "Conv": conv,
    "MaxPool": lambda n, c, s: _pool(n, c, s, "max"),
    "AveragePool": lambda n, c, s: _pool(n, c, s, "avg"),
    "GlobalAveragePool": global_pool,
    "GlobalMaxPool": global_pool,
    "Relu": _simple(L.ReLU),
    "LeakyRelu": lambda n, c, s: [L.LeakyReLU(float(n.attrs.get("alpha", 0.01)))],
    "Sigmoid": _simple(L.Sigmoid),
    "Tanh": _simple(L.Tanh),
    "Softmax": softmax,
    "LogSoftmax": softmax,  # the LogSoftmax layer above (nn.LogSoftmax's name)
    "Gemm": gemm,
    "MatMul": matmul,
    "Flatten": flatten,
    "Reshape": reshape,
    "BatchNormalization": batch_norm,
    "Dropout": dropout,
    # Add is built by the importer: of two feature maps, a residual join (Residual); of a
    # MatMul and a constant, that Linear's bias; of another map and a constant, a ConstOp.
    "Add": None,
    # ConvTranspose, Resize, Upsample, Clip, HardSigmoid, HardSwish, Elu, Gelu, Mish,
    # Softplus, Pad, GroupNormalization: cnncli.nn.onnx_ops16 (added below).
    # Concat and Mul of feature maps are joins, built by the importer (Concat, Multiply,
    # SiLU, SqueezeExcitation); a constant Concat is folded.
    "InstanceNormalization": lambda n, c, s: _only_in(n, c, "GroupNorm's ONNX form"),
    "Squeeze": squeeze,
    "Unsqueeze": None,
}

#: Operators computed at import time when all their inputs are constants.
FOLDED = {
    "Constant", "Identity", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Cast",
    "Slice", "Mul", "Add", "Sub", "Div", "Reshape", "ConstantOfShape", "Transpose",
}  # fmt: skip


def fold(node: OnnxNode, args: list[np.ndarray | None]) -> np.ndarray:
    """The value of a constant node (all ``args`` known), computed with NumPy."""
    op, a = node.op_type, node.attrs
    x = args[0] if args else None
    if op == "Constant":
        if "value" in a:
            return np.asarray(a["value"])
        for key in ("value_float", "value_int", "value_floats", "value_ints"):
            if key in a:
                return np.asarray(a[key], np.float32 if "float" in key else np.int64)
        raise ValueError("Constant without a value")
    assert x is not None
    if op == "ConstantOfShape":  # F.pad's pads are built from one (ZeroPad2d)
        value = np.asarray(a.get("value", np.zeros(1, np.float32))).ravel()
        return np.full([int(v) for v in x.ravel()], value[0], value.dtype)
    if op == "Transpose":
        perm = a.get("perm")
        return np.transpose(x, None if perm is None else [int(v) for v in perm])
    if op in ("Identity", "Cast"):
        if op == "Cast":
            from cnncli.io.onnx_file import DTYPES

            return x.astype(DTYPES.get(int(a.get("to", 1)), np.float32))
        return x
    if op == "Gather":
        return np.take(x, np.asarray(args[1]).astype(np.int64), axis=int(a.get("axis", 0)))
    if op in ("Unsqueeze", "Squeeze"):
        axes = a.get("axes")
        if axes is None and len(args) > 1 and args[1] is not None:
            axes = [int(v) for v in np.asarray(args[1]).ravel()]
        if op == "Squeeze":
            return np.squeeze(x, axis=tuple(axes) if axes else None)
        out = x
        axes = list(axes or [])
        for ax in sorted(int(v) % (x.ndim + len(axes)) for v in axes):
            out = np.expand_dims(out, ax)
        return out
    if op == "Concat":
        return np.concatenate(
            [np.atleast_1d(np.asarray(v)) for v in args], axis=int(a.get("axis", 0))
        )
    if op == "Slice":
        starts, ends = (np.asarray(v).ravel() for v in args[1:3])
        axes = (
            np.asarray(args[3]).ravel()
            if len(args) > 3 and args[3] is not None
            else range(len(starts))
        )
        steps = (
            np.asarray(args[4]).ravel()
            if len(args) > 4 and args[4] is not None
            else [1] * len(starts)
        )
        index = [slice(None)] * x.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps, strict=False):
            index[int(ax)] = slice(int(s), int(min(e, 2**62)), int(st))
        return x[tuple(index)]
    if op == "Reshape":
        return x.reshape([int(v) for v in np.asarray(args[1]).ravel()])
    y = args[1]
    assert y is not None
    if op == "Div" and x.dtype.kind in "iu":
        return np.asarray(x // y)
    return np.asarray(
        {"Mul": np.multiply, "Add": np.add, "Sub": np.subtract, "Div": np.divide}[op](x, y)
    )


from cnncli.nn.onnx_ops16 import MODERN  # noqa: E402  (its converters use the helpers above)

OPS.update(MODERN)
