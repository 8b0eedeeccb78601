"""Layer objects over the engine, with PyTorch's class names, arguments and state_dict keys.

A layer is built without memory: its parameter *shapes* are known at once (so that
``cnncli shapes`` and the resource guard need no allocation), and its arrays are
made by :meth:`Layer.reset_parameters` (PyTorch's default initialisation from a
seeded ``np.random.Generator``) or filled by :meth:`Layer.load_state_dict`.

Every layer knows, for an input shape ``(N, C, H, W)`` (or ``(N, F)`` for
Linear), its output shape without computing (:meth:`Layer.output_shape`, through
:mod:`cnncli.engine.shapes`), its multiply-adds by torchinfo's convention
(:meth:`Layer.macs`), its forward (which caches what the backward needs) and its
backward, which returns ``dx`` and stores the parameter gradients in
``layer.grads`` under the parameter's own name (``weight``, ``bias``).

Engine ops are imported inside ``forward``/``backward`` so that shape work never
imports them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from cnncli.engine import shapes as S  # noqa: N812
from cnncli.engine.fast.frozen import freeze, is_frozen
from cnncli.errors import ParameterError, ShapeError, WeightsError

Shape = tuple[int, ...]
#: (kernel, stride, dilation) along H and along W, for receptive-field arithmetic.
RfStep = tuple[tuple[int, int, int], tuple[int, int, int]]
#: Called after each layer's forward: (layer, input, output, seconds).
Tracer = Callable[["Layer", np.ndarray, np.ndarray, float], None]

_TRACER: list[Tracer] = []


def _prod(values: Sequence[int]) -> int:
    return math.prod(int(v) for v in values)


def _fmt_shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _kaiming_uniform(rng: np.random.Generator, shape: Shape, fan_in: int) -> np.ndarray:
    """PyTorch's default weight init: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), +)."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return _uniform(rng, shape, bound)


def _uniform(rng: np.random.Generator, shape: Shape, bound: float) -> np.ndarray:
    # Generator.random in float32 avoids a float64 temporary for 100M-parameter layers.
    out = rng.random(shape, dtype=np.float32)
    out *= np.float32(2.0 * bound)
    out -= np.float32(bound)
    return out


class Layer:
    """Base class: parameters by state_dict name, shapes, forward, backward, modes.

    ``functional`` marks a step that PyTorch code writes inside ``forward()``
    (``x.view(...)``, ``torch.flatten(x, 1)``) rather than as a module: it shows
    in cnncli's tables but not in ``print(model)`` nor in torchinfo's rows.
    """

    functional = False
    #: Parameters kept immutable (:func:`cnncli.engine.fast.frozen.freeze`), so that what the
    #: engine derives from them is reused without comparing values; replaced, never changed.
    frozen_params: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.training = True
        self._params: dict[str, np.ndarray | None] = {}
        self._buffers: dict[str, np.ndarray | None] = {}
        self.grads: dict[str, np.ndarray] = {}

    # ---- identity -------------------------------------------------------------------
    @property
    def type_name(self) -> str:
        """The PyTorch class name (``Conv2d``, ``Sequential``, ``AlexNet`` ...)."""
        return type(self).__name__

    def children(self) -> list[tuple[str, Layer]]:
        """Named sub-layers in registration order (empty for leaves)."""
        return []

    @property
    def is_leaf(self) -> bool:
        return not self.children()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Layer]]:
        """Yield ``(state_dict path, layer)`` for this layer and every descendant."""
        yield prefix, self
        for name, child in self.children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    # ---- parameters -----------------------------------------------------------------
    def param_shapes(self) -> dict[str, Shape]:
        """Own trainable parameters: name -> shape (no allocation)."""
        return {}

    def buffer_shapes(self) -> dict[str, Shape]:
        """Own buffers (BatchNorm running statistics): name -> shape."""
        return {}

    def num_params(self) -> int:
        """Number of trainable parameters in this layer and its children."""
        own = sum(_prod(s) for s in self.param_shapes().values())
        return own + sum(c.num_params() for _, c in self.children())

    def num_buffer_values(self) -> int:
        own = sum(_prod(s) for s in self.buffer_shapes().values())
        return own + sum(c.num_buffer_values() for _, c in self.children())

    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Initialise own parameters as PyTorch does, then the children's, in order."""
        self._reset_own(rng)
        self._freeze_own()
        for _, child in self.children():
            child.reset_parameters(rng)

    def _reset_own(self, rng: np.random.Generator) -> None:
        pass

    def _freeze_own(self) -> None:
        """Replace each of :attr:`frozen_params` by an immutable copy (once)."""
        for name in self.frozen_params:
            value = self._params.get(name)
            if value is not None and not is_frozen(value):
                self._params[name] = freeze(value)

    def _param(self, name: str) -> np.ndarray:
        value = self._params.get(name)
        if value is None:
            raise ParameterError(
                f"{self.type_name}.{name} has no values yet",
                hint="initialise the model (reset_parameters) or load weights first",
            )
        return value

    def parameters(self) -> dict[str, np.ndarray]:
        """Trainable parameters by state_dict name (``features.0.weight`` ...)."""
        out: dict[str, np.ndarray] = {}
        for path, layer in self.named_modules():
            for name in layer.param_shapes():
                out[f"{path}.{name}" if path else name] = layer._param(name)
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters and buffers by PyTorch's state_dict names, in PyTorch's order."""
        out: dict[str, np.ndarray] = {}
        for path, layer in self.named_modules():
            for name in layer.param_shapes():
                out[f"{path}.{name}" if path else name] = layer._param(name)
            for name in layer.buffer_shapes():
                value = layer._buffers.get(name)
                if value is None:
                    raise ParameterError(f"{layer.type_name}.{name} has no values yet")
                out[f"{path}.{name}" if path else name] = value
        return out

    def expected_state(self) -> dict[str, Shape]:
        """state_dict names -> shapes, without allocating anything."""
        out: dict[str, Shape] = {}
        for path, layer in self.named_modules():
            for name, shape in {**layer.param_shapes(), **layer.buffer_shapes()}.items():
                out[f"{path}.{name}" if path else name] = shape
        return out

    def load_state_dict(self, state: dict[str, np.ndarray], dtype: Any = np.float32) -> None:
        """Fill every parameter and buffer from ``state``; report every problem at once.

        Missing keys, unexpected keys and shape mismatches are collected and raised
        together as one :class:`WeightsError`.
        """
        expected = self.expected_state()
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in expected]
        mismatched = [
            f"{k}: file {_fmt_shape(np.shape(state[k]))} vs model {_fmt_shape(shape)}"
            for k, shape in expected.items()
            if k in state and tuple(np.shape(state[k])) != tuple(shape)
        ]
        bad_dtype = [
            f"{k} ({np.asarray(state[k]).dtype})"
            for k in expected
            if k in state
            and not k.endswith("num_batches_tracked")
            and np.asarray(state[k]).dtype.kind not in "fiu"
        ]
        problems = []
        if missing:
            problems.append(_listing(len(missing), "missing key", missing))
        if unexpected:
            problems.append(_listing(len(unexpected), "unexpected key", unexpected))
        if mismatched:
            problems.append(_listing(len(mismatched), "shape mismatch", mismatched))
        if bad_dtype:
            problems.append(_listing(len(bad_dtype), "non-numeric array", bad_dtype))
        if problems:
            raise WeightsError(
                "the weights do not fit the model: " + "; ".join(problems),
                hint="export them from PyTorch with np.savez('w.npz', **{k: v.numpy() "
                "for k, v in model.state_dict().items()})",
            )
        for path, layer in self.named_modules():
            for name in layer.param_shapes():
                key = f"{path}.{name}" if path else name
                # No copy when the file's array already has the dtype (100M-value layers).
                layer._params[name] = np.ascontiguousarray(state[key], dtype=dtype)
            layer._freeze_own()
            for name in layer.buffer_shapes():
                key = f"{path}.{name}" if path else name
                kind = np.int64 if name == "num_batches_tracked" else dtype
                layer._buffers[name] = np.array(state[key], dtype=kind)  # updated in place

    def named_grads(self) -> dict[str, np.ndarray]:
        """Parameter gradients of the last backward, by state_dict name."""
        out: dict[str, np.ndarray] = {}
        for path, layer in self.named_modules():
            for name, grad in layer.grads.items():
                out[f"{path}.{name}" if path else name] = grad
        return out

    # ---- modes ----------------------------------------------------------------------
    def train(self, mode: bool = True) -> Layer:
        """Training mode (dropout active, batch statistics in BatchNorm), recursively."""
        self.training = mode
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Layer:
        """Evaluation mode, recursively (as PyTorch's ``model.eval()``)."""
        return self.train(False)

    # ---- shapes ---------------------------------------------------------------------
    def output_shape(self, input_shape: Shape) -> Shape:
        """Output shape for ``input_shape`` (batch included), computed without data."""
        return tuple(input_shape)

    def macs(self, input_shape: Shape, output_shape: Shape) -> int:
        """Own multiply-adds, torchinfo's convention: N × (weight + bias count) for
        dense layers, (weight + bias count) × N × OH × OW for convolutions."""
        params = sum(_prod(s) for s in self.param_shapes().values())
        return int(output_shape[0]) * params if params else 0

    def geometry(self) -> dict[str, str]:
        """Kernel / stride / padding / dilation for display (empty when none)."""
        return {}

    def rf_step(self, input_shape: Shape) -> RfStep | None:
        """(kernel, stride, dilation) per axis; None when every output sees the whole input."""
        return ((1, 1, 1), (1, 1, 1))

    def formulas(self, input_shape: Shape) -> list[str]:
        """The output-size arithmetic with this input's numbers."""
        return []

    def workspace_bytes(self, input_shape: Shape, itemsize: int = 4) -> int:
        """Temporary memory the forward needs beyond its output (im2col for convolutions)."""
        return 0

    # ---- compute --------------------------------------------------------------------
    def __call__(self, x: np.ndarray) -> np.ndarray:
        if not _TRACER:
            return self.forward(x)
        start = time.perf_counter()
        out = self.forward(x)
        _TRACER[-1](self, x, out, time.perf_counter() - start)
        return out

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Compute the output and cache what :meth:`backward` needs."""
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """Gradient with respect to the last forward's input; parameter grads go to ``grads``."""
        raise NotImplementedError

    # ---- printing -------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        """The text of PyTorch's ``print(model)`` for the same network."""
        lines = []
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = []
        for name, child in self.children():
            if child.functional:
                continue
            text = repr(child).replace("\n", "\n  ")
            child_lines.append(f"({name}): {text}")
        lines = extra_lines + child_lines
        main = self.type_name + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _listing(count: int, what: str, items: list[str], limit: int = 6) -> str:
    noun = what + ("" if count == 1 else ("es" if what.endswith("ch") else "s"))
    shown = ", ".join(items[:limit]) + (f", ... ({count - limit} more)" if count > limit else "")
    return f"{count} {noun} ({shown})"


class trace:  # noqa: N801 - used as a context manager, like torch.no_grad
    """Context manager: call ``tracer(layer, x, out, seconds)`` after every layer's forward."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    def __enter__(self) -> trace:
        _TRACER.append(self.tracer)
        return self

    def __exit__(self, *exc: object) -> None:
        _TRACER.pop()


# ---------------------------------------------------------------------------------------
# Convolution and pooling
# ---------------------------------------------------------------------------------------
def _int_or_pair_repr(value: Any) -> str:
    return str(tuple(value)) if isinstance(value, (list, tuple)) else str(value)


class Conv2d(Layer):
    """2-D convolution (cross-correlation), as ``torch.nn.Conv2d``.

    Shapes: input (N, C, H, W), weight (F, C/groups, KH, KW), bias (F,) → (N, F, OH, OW).
    ``OH = ⌊(H + pad_top + pad_bottom − dilation·(KH − 1) − 1) / stride⌋ + 1``, likewise OW.
    The weight is immutable (read-only, backed by bytes): conv2d then reuses its Winograd
    transform from call to call without comparing it; load new weights to change it.
    """

    frozen_params = ("weight",)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] | str = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("groups", groups),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"Conv2d {name} must be a positive integer, got {value!r}")
        if in_channels % groups:
            raise ParameterError(
                f"Conv2d groups={groups} does not divide in_channels={in_channels}"
            )
        if out_channels % groups:
            raise ParameterError(
                f"Conv2d groups={groups} does not divide out_channels={out_channels}"
            )
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ParameterError(
                f"Conv2d padding_mode must be zeros, reflect, replicate or circular, "
                f"got {padding_mode!r}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = S.pair(kernel_size, "kernel_size")
        S.check_positive(self.kernel_size, "kernel_size")
        self.stride = S.pair(stride, "stride")
        S.check_positive(self.stride, "stride")
        self.dilation = S.pair(dilation, "dilation")
        S.check_positive(self.dilation, "dilation")
        self.padding: tuple[int, ...] | str
        if isinstance(padding, str):
            self.padding = padding.lower()
        elif isinstance(padding, int) and not isinstance(padding, bool):
            self.padding = (padding, padding)
        else:
            self.padding = tuple(int(p) for p in padding)  # type: ignore[union-attr]
        # Validates the padding form now (raises ParameterError for a bad one).
        self._pad4 = S.conv_padding(self.padding, self.kernel_size, self.dilation, self.stride)
        self.groups = groups
        self.bias = bias
        self.padding_mode = padding_mode
        self._params = {"weight": None, **({"bias": None} if bias else {})}

    def param_shapes(self) -> dict[str, Shape]:
        F, (KH, KW) = self.out_channels, self.kernel_size
        shapes: dict[str, Shape] = {"weight": (F, self.in_channels // self.groups, KH, KW)}
        if self.bias:
            shapes["bias"] = (F,)
        return shapes

    def _fan_in(self) -> int:
        return (self.in_channels // self.groups) * self.kernel_size[0] * self.kernel_size[1]

    def _reset_own(self, rng: np.random.Generator) -> None:
        shapes = self.param_shapes()
        self._params["weight"] = _kaiming_uniform(rng, shapes["weight"], self._fan_in())
        if self.bias:
            bound = 1.0 / math.sqrt(self._fan_in())
            self._params["bias"] = _uniform(rng, shapes["bias"], bound)

    def _geometry(self, input_shape: Shape) -> S.Conv2dGeometry:
        return S.conv2d_geometry(
            tuple(input_shape),
            self.param_shapes()["weight"],
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )

    def output_shape(self, input_shape: Shape) -> Shape:
        try:
            g = self._geometry(input_shape)
        except ShapeError as exc:
            raise _with_formula(exc, self, input_shape) from None
        return (g.N, g.F, g.OH, g.OW)

    def macs(self, input_shape: Shape, output_shape: Shape) -> int:
        params = sum(_prod(s) for s in self.param_shapes().values())
        N, _, OH, OW = output_shape
        return params * N * OH * OW

    def geometry(self) -> dict[str, str]:
        pad = self.padding if isinstance(self.padding, str) else _pad_text(self._pad4)
        return {
            "kernel": _pair_text(self.kernel_size),
            "stride": _pair_text(self.stride),
            "padding": pad,
            "dilation": _pair_text(self.dilation),
        }

    def rf_step(self, input_shape: Shape) -> RfStep:
        (KH, KW), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        return ((KH, sh, dh), (KW, sw, dw))

    def formulas(self, input_shape: Shape) -> list[str]:
        left, right, top, bottom = self._pad4
        _, _, H, W = input_shape
        return [
            conv_formula(
                H, self.kernel_size[0], self.stride[0], (top, bottom), self.dilation[0], "H"
            ),
            conv_formula(
                W, self.kernel_size[1], self.stride[1], (left, right), self.dilation[1], "W"
            ),
        ]

    def workspace_bytes(self, input_shape: Shape, itemsize: int = 4) -> int:
        N, C, _, _ = input_shape
        _, _, OH, OW = self.output_shape(input_shape)
        KH, KW = self.kernel_size
        return N * OH * OW * C * KH * KW * itemsize

    def _padding_arg(self) -> Any:
        return self.padding if isinstance(self.padding, str) else self._pad4

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.conv import conv2d

        self._x = x
        return conv2d(
            x,
            self._param("weight"),
            self._params.get("bias"),
            stride=self.stride,
            padding=self._padding_arg(),
            dilation=self.dilation,
            groups=self.groups,
            padding_mode=self.padding_mode,
        )

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.conv import conv2d_backward

        dx, dw, db = conv2d_backward(
            grad,
            self._x,
            self._param("weight"),
            stride=self.stride,
            padding=self._padding_arg(),
            dilation=self.dilation,
            groups=self.groups,
            padding_mode=self.padding_mode,
            bias=self.bias,
        )
        self.grads = {"weight": dw}
        if self.bias and db is not None:
            self.grads["bias"] = db
        return dx

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if isinstance(self.padding, str) or any(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if not self.bias:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


def _with_formula(exc: ShapeError, layer: Layer, input_shape: Shape) -> ShapeError:
    """The same error with the failing output-size formula (numbers filled in) as its hint."""
    try:
        failing = [f for f in layer.formulas(input_shape) if "< 1" in f]
    except Exception:  # wrong rank: there is no formula to show
        failing = []
    return ShapeError(exc.message, hint="; ".join(failing) or exc.hint)


def _pair_text(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"


def _pad_text(p: tuple[int, int, int, int]) -> str:
    left, right, top, bottom = p
    if left == right == top == bottom:
        return str(left)
    if left == right and top == bottom:
        return f"{top}x{left}"
    return f"l{left} r{right} t{top} b{bottom}"


def conv_formula(
    size: int, kernel: int, stride: int, padding: tuple[int, int], dilation: int, axis: str
) -> str:
    """The conv output-size formula with numbers; shows the value even when it is < 1."""
    try:
        return S.conv_size_formula(size, kernel, stride, padding, dilation, axis)
    except ShapeError:
        before, after = padding
        pad = f"2·{before}" if before == after else f"{before} + {after}"
        raw = (size + before + after - dilation * (kernel - 1) - 1) // stride + 1
        return (
            f"{axis}_out = ⌊({size} + {pad} − {dilation}·({kernel} − 1) − 1) / {stride}⌋ + 1 "
            f"= {raw} (< 1: the kernel does not fit)"
        )


def pool_formula(
    size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool, axis: str
) -> str:
    """The pooling output-size formula with numbers; shows the value even when it is < 1."""
    try:
        return S.pool_size_formula(size, kernel, stride, padding, dilation, ceil_mode, axis)
    except (ShapeError, ParameterError):
        lb, rb = ("⌈", "⌉") if ceil_mode else ("⌊", "⌋")
        num = size + 2 * padding - dilation * (kernel - 1) - 1
        raw = (-(-num // stride) if ceil_mode else num // stride) + 1
        return (
            f"{axis}_out = {lb}({size} + 2·{padding} − {dilation}·({kernel} − 1) − 1) / "
            f"{stride}{rb} + 1 = {raw} (< 1: the window does not fit)"
        )


class _Pool2d(Layer):
    kind = "max"

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size if isinstance(kernel_size, int) else tuple(kernel_size)
        k = S.pair(kernel_size, "kernel_size")
        S.check_positive(k, "kernel_size")
        self._k = k
        self.stride = (
            self.kernel_size
            if stride is None
            else stride
            if isinstance(stride, int)
            else tuple(stride)
        )
        self._s = S.pair(self.stride, "stride")
        S.check_positive(self._s, "stride")
        self.padding = padding if isinstance(padding, int) else tuple(padding)
        self._p = S.pair(self.padding, "padding")
        S.check_non_negative(self._p, "padding")
        for axis, p, kk in (("H", self._p[0], k[0]), ("W", self._p[1], k[1])):
            if p > kk // 2:
                raise ParameterError(
                    f"{self.type_name} padding {p} along {axis} must be at most half the "
                    f"kernel size ({kk} // 2 = {kk // 2}), as in PyTorch"
                )
        self.dilation = dilation if isinstance(dilation, int) else tuple(dilation)
        self._d = S.pair(self.dilation, "dilation")
        S.check_positive(self._d, "dilation")
        self.ceil_mode = bool(ceil_mode)

    def _geom(self, input_shape: Shape) -> S.Pool2dGeometry:
        return S.pool2d_geometry(
            tuple(input_shape), self._k, self._s, self._p, self._d, self.ceil_mode
        )

    def output_shape(self, input_shape: Shape) -> Shape:
        try:
            g = self._geom(input_shape)
        except ShapeError as exc:
            raise _with_formula(exc, self, input_shape) from None
        return (g.N, g.C, g.OH, g.OW)

    def geometry(self) -> dict[str, str]:
        return {
            "kernel": _pair_text(self._k),
            "stride": _pair_text(self._s),
            "padding": _pair_text(self._p),
            "dilation": _pair_text(self._d),
        }

    def rf_step(self, input_shape: Shape) -> RfStep:
        return ((self._k[0], self._s[0], self._d[0]), (self._k[1], self._s[1], self._d[1]))

    def formulas(self, input_shape: Shape) -> list[str]:
        _, _, H, W = input_shape
        return [
            pool_formula(H, self._k[0], self._s[0], self._p[0], self._d[0], self.ceil_mode, "H"),
            pool_formula(W, self._k[1], self._s[1], self._p[1], self._d[1], self.ceil_mode, "W"),
        ]


class MaxPool2d(_Pool2d):
    """Max pooling, as ``torch.nn.MaxPool2d`` (stride defaults to kernel_size).

    Shapes: (N, C, H, W) → (N, C, OH, OW),
    ``OH = ⌊(H + 2·padding − dilation·(KH − 1) − 1) / stride⌋ + 1`` (⌈⌉ with ceil_mode).
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        if return_indices:
            raise ParameterError("MaxPool2d return_indices=True is not supported in a network")
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import max_pool2d

        self._x = x
        return max_pool2d(x, self._k, self._s, self._p, self._d, self.ceil_mode)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import max_pool2d_backward

        return max_pool2d_backward(
            grad, self._x, self._k, self._s, self._p, self._d, self.ceil_mode
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(_Pool2d):
    """Average pooling, as ``torch.nn.AvgPool2d``.

    Shapes: (N, C, H, W) → (N, C, OH, OW), ``OH = ⌊(H + 2·padding − KH) / stride⌋ + 1``;
    each output is the window sum divided by KH·KW (or by the cells inside the
    input when ``count_include_pad=False``, or by ``divisor_override``).
    """

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        if divisor_override is not None and (
            isinstance(divisor_override, bool)
            or not isinstance(divisor_override, int)
            or divisor_override < 1
        ):
            raise ParameterError(
                f"AvgPool2d divisor_override must be a positive integer, got {divisor_override!r}"
            )
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def geometry(self) -> dict[str, str]:
        g = super().geometry()
        g.pop("dilation")
        return g

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import avg_pool2d

        self._x = x
        return avg_pool2d(
            x,
            self._k,
            self._s,
            self._p,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import avg_pool2d_backward

        return avg_pool2d_backward(
            grad,
            self._x,
            self._k,
            self._s,
            self._p,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        s = f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        # PyTorch's AvgPool2d.extra_repr prints only these three.
        return s


class AdaptiveAvgPool2d(Layer):
    """Adaptive average pooling to a fixed output size, as ``torch.nn.AdaptiveAvgPool2d``.

    Shapes: (N, C, H, W) → (N, C, OH, OW); bin i spans ``[⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉)``.
    """

    def __init__(self, output_size: int | Sequence[int | None]) -> None:
        super().__init__()
        if isinstance(output_size, int) and not isinstance(output_size, bool):
            sizes: tuple[int | None, int | None] = (output_size, output_size)
        else:
            items = tuple(output_size)  # type: ignore[arg-type]
            if len(items) != 2:
                raise ParameterError(
                    f"AdaptiveAvgPool2d output_size must be an integer or a pair, got {output_size!r}"
                )
            sizes = (items[0], items[1])
        for s in sizes:
            if s is not None and (isinstance(s, bool) or not isinstance(s, int) or s < 1):
                raise ParameterError(
                    f"AdaptiveAvgPool2d output_size must be positive integers, got {output_size!r}"
                )
        self.output_size = output_size if isinstance(output_size, int) else tuple(output_size)
        self._out = sizes

    def _target(self, input_shape: Shape) -> tuple[int, int]:
        _, _, H, W = S.check_nchw(tuple(input_shape))
        oh = self._out[0] if self._out[0] is not None else H
        ow = self._out[1] if self._out[1] is not None else W
        return oh, ow

    def output_shape(self, input_shape: Shape) -> Shape:
        N, C, _, _ = S.check_nchw(tuple(input_shape))
        return (N, C, *self._target(input_shape))

    def rf_step(self, input_shape: Shape) -> RfStep | None:
        _, _, H, W = input_shape
        oh, ow = self._target(input_shape)
        if H % oh == 0 and W % ow == 0:  # then it is an ordinary pooling window
            return ((H // oh, H // oh, 1), (W // ow, W // ow, 1))
        return None

    def geometry(self) -> dict[str, str]:
        return {"kernel": "adaptive"}

    def formulas(self, input_shape: Shape) -> list[str]:
        _, _, H, W = input_shape
        oh, ow = self._target(input_shape)
        return [
            f"H_out = {oh} (bin i = [⌊i·{H}/{oh}⌋, ⌈(i+1)·{H}/{oh}⌉))",
            f"W_out = {ow} (bin j = [⌊j·{W}/{ow}⌋, ⌈(j+1)·{W}/{ow}⌉))",
        ]

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import adaptive_avg_pool2d

        self._x = x
        return adaptive_avg_pool2d(x, self._target(x.shape))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.pool import adaptive_avg_pool2d_backward

        return adaptive_avg_pool2d_backward(grad, self._x)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


# ---------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------
class ReLU(Layer):
    """``max(0, x)`` element-wise, as ``torch.nn.ReLU`` (``inplace`` is accepted and shown)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import relu

        self._x = x
        return relu(x)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import relu_backward

        return relu_backward(grad, self._x)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Layer):
    """``x`` if ``x > 0`` else ``negative_slope·x``, as ``torch.nn.LeakyReLU``."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import leaky_relu

        self._x = x
        return leaky_relu(x, self.negative_slope)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import leaky_relu_backward

        return leaky_relu_backward(grad, self._x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Layer):
    """``1 / (1 + exp(−x))`` element-wise, as ``torch.nn.Sigmoid``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import sigmoid

        self._y = sigmoid(x)
        return self._y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import sigmoid_backward

        return sigmoid_backward(grad, self._y)


class Tanh(Layer):
    """``tanh(x)`` element-wise, as ``torch.nn.Tanh``."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import tanh

        self._y = tanh(x)
        return self._y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import tanh_backward

        return tanh_backward(grad, self._y)


class Softmax(Layer):
    """``exp(x_i) / Σ_j exp(x_j)`` along ``dim``, as ``torch.nn.Softmax``.

    ``dim=None`` follows PyTorch's legacy rule: dim 0 for 0-, 1- and 3-D input, else 1.
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int)):
            raise ParameterError(f"Softmax dim must be an integer, got {dim!r}")
        self.dim = dim

    def _dim(self, ndim: int) -> int:
        if self.dim is None:
            return 0 if ndim in (0, 1, 3) else 1
        return self.dim

    def output_shape(self, input_shape: Shape) -> Shape:
        ndim = len(input_shape)
        if not -ndim <= self._dim(ndim) < ndim:
            raise ShapeError(f"Softmax dim={self.dim} is out of range for a {ndim}-D input")
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import softmax

        self._y = softmax(x, self._dim(x.ndim))
        return self._y

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import softmax_backward

        return softmax_backward(grad, self._y, self._dim(grad.ndim))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# ---------------------------------------------------------------------------------------
# Reshaping, dropout, dense and normalisation layers
# ---------------------------------------------------------------------------------------
class Flatten(Layer):
    """Flatten dims ``start_dim..end_dim`` into one, as ``torch.nn.Flatten``.

    Shapes: (N, C, H, W) → (N, C·H·W) with the defaults.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1, functional: bool = False) -> None:
        super().__init__()
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParameterError(f"Flatten {name} must be an integer, got {value!r}")
        self.start_dim = start_dim
        self.end_dim = end_dim
        self.functional = functional

    def _dims(self, ndim: int) -> tuple[int, int]:
        s = self.start_dim + ndim if self.start_dim < 0 else self.start_dim
        e = self.end_dim + ndim if self.end_dim < 0 else self.end_dim
        if not (0 <= s < ndim and 0 <= e < ndim) or s > e:
            raise ShapeError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit a "
                f"{ndim}-D input"
            )
        return s, e

    def output_shape(self, input_shape: Shape) -> Shape:
        s, e = self._dims(len(input_shape))
        return (*input_shape[:s], _prod(input_shape[s : e + 1]), *input_shape[e + 1 :])

    def rf_step(self, input_shape: Shape) -> RfStep | None:
        return None

    def formulas(self, input_shape: Shape) -> list[str]:
        s, e = self._dims(len(input_shape))
        parts = input_shape[s : e + 1]
        return [f"{'·'.join(str(p) for p in parts)} = {_prod(parts)} values per sample"]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(self.output_shape(x.shape))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self._shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class View(Layer):
    """``x.view(x.size(0), features)`` written in a model's forward (the seed's AlexNet).

    Shapes: (N, C, H, W) → (N, features); C·H·W must equal ``features``.
    """

    functional = True

    def __init__(self, features: int, text: str | None = None) -> None:
        super().__init__()
        self.features = features
        self.text = text or str(features)

    @property
    def type_name(self) -> str:
        return "view"

    def output_shape(self, input_shape: Shape) -> Shape:
        per_sample = _prod(input_shape[1:])
        if per_sample != self.features:
            dims = "·".join(str(s) for s in input_shape[1:])
            raise ShapeError(
                f"x.view(x.size(0), {self.text}) needs {self.features} values per sample, "
                f"but the input {_fmt_shape(input_shape)} has {dims} = {per_sample}"
            )
        return (int(input_shape[0]), self.features)

    def rf_step(self, input_shape: Shape) -> RfStep | None:
        return None

    def formulas(self, input_shape: Shape) -> list[str]:
        dims = "·".join(str(s) for s in input_shape[1:])
        return [f"{dims} = {_prod(input_shape[1:])} (view needs {self.text} = {self.features})"]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._shape = x.shape
        return x.reshape(self.output_shape(x.shape))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return grad.reshape(self._shape)


class Dropout(Layer):
    """Zero each value with probability ``p`` in training, scale the rest by 1/(1−p).

    As ``torch.nn.Dropout``; the identity in eval mode. The mask comes from the
    layer's own seeded generator (``set_generator``), so runs are reproducible.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
            raise ParameterError(f"Dropout p must be between 0 and 1, got {p!r}")
        self.p = float(p)
        self.inplace = bool(inplace)
        self.generator = np.random.default_rng(0)
        self._mask: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        from cnncli.engine.linear import dropout

        out, mask = dropout(x, self.p, training=True, generator=self.generator, return_mask=True)
        self._mask = mask
        return out  # type: ignore[no-any-return]

    def backward(self, grad: np.ndarray) -> np.ndarray:
        if self._mask is None:
            return grad
        from cnncli.engine.linear import dropout_backward

        return dropout_backward(grad, self._mask, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Linear(Layer):
    """Fully connected layer, as ``torch.nn.Linear``: ``y = x·Wᵀ + b``.

    Shapes: input (*, in_features), weight (out_features, in_features), bias
    (out_features,) → (*, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"Linear {name} must be a positive integer, got {value!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.bias = bias
        self._params = {"weight": None, **({"bias": None} if bias else {})}

    def param_shapes(self) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {"weight": (self.out_features, self.in_features)}
        if self.bias:
            shapes["bias"] = (self.out_features,)
        return shapes

    def _reset_own(self, rng: np.random.Generator) -> None:
        self._params["weight"] = _kaiming_uniform(
            rng, (self.out_features, self.in_features), self.in_features
        )
        if self.bias:
            bound = 1.0 / math.sqrt(self.in_features)
            self._params["bias"] = _uniform(rng, (self.out_features,), bound)

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 1 or input_shape[-1] != self.in_features:
            raise ShapeError(
                f"Linear expects {self.in_features} input features, but the input "
                f"{_fmt_shape(input_shape)} has {input_shape[-1] if input_shape else 0} "
                "in its last dimension",
                hint="flatten first, or set in_features to match",
            )
        return (*input_shape[:-1], self.out_features)

    def rf_step(self, input_shape: Shape) -> RfStep | None:
        return None

    def formulas(self, input_shape: Shape) -> list[str]:
        b = " + b" if self.bias else ""
        return [f"y = x·Wᵀ{b}: {self.in_features} → {self.out_features}"]

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.linear import linear

        self._x = x
        return linear(x, self._param("weight"), self._params.get("bias"))

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.linear import linear_backward

        dx, dw, db = linear_backward(grad, self._x, self._param("weight"), bias=self.bias)
        self.grads = {"weight": dw}
        if self.bias and db is not None:
            self.grads["bias"] = db
        return dx

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias}"


class BatchNorm2d(Layer):
    """Batch normalisation over (N, H, W) per channel, as ``torch.nn.BatchNorm2d``.

    Shapes: (N, C, H, W) → same. ``y = (x − mean) / sqrt(var + eps) · weight + bias``;
    batch statistics in training (running statistics updated with ``momentum``),
    running statistics in eval.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise ParameterError(
                f"BatchNorm2d num_features must be a positive integer, got {num_features!r}"
            )
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ParameterError(f"BatchNorm2d eps must be positive, got {eps!r}")
        if momentum is not None and (
            isinstance(momentum, bool)
            or not isinstance(momentum, (int, float))
            or not 0 <= momentum <= 1
        ):
            raise ParameterError(f"BatchNorm2d momentum must be between 0 and 1, got {momentum!r}")
        self.num_features = num_features
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.bias = self.affine and bool(bias)
        if self.affine:
            self._params = {"weight": None, **({"bias": None} if self.bias else {})}
        if self.track_running_stats:
            self._buffers = {"running_mean": None, "running_var": None, "num_batches_tracked": None}

    def param_shapes(self) -> dict[str, Shape]:
        C = self.num_features
        if not self.affine:
            return {}
        return {"weight": (C,), "bias": (C,)} if self.bias else {"weight": (C,)}

    def buffer_shapes(self) -> dict[str, Shape]:
        C = self.num_features
        if not self.track_running_stats:
            return {}
        return {"running_mean": (C,), "running_var": (C,), "num_batches_tracked": ()}

    def _reset_own(self, rng: np.random.Generator) -> None:
        C = self.num_features
        if self.affine:
            self._params["weight"] = np.ones(C, dtype=np.float32)
            if self.bias:
                self._params["bias"] = np.zeros(C, dtype=np.float32)
        if self.track_running_stats:
            self._buffers["running_mean"] = np.zeros(C, dtype=np.float32)
            self._buffers["running_var"] = np.ones(C, dtype=np.float32)
            self._buffers["num_batches_tracked"] = np.array(0, dtype=np.int64)

    def output_shape(self, input_shape: Shape) -> Shape:
        _, C, _, _ = S.check_nchw(tuple(input_shape))
        if self.num_features != C:
            raise ShapeError(
                f"BatchNorm2d expects {self.num_features} channels, but the input "
                f"{_fmt_shape(input_shape)} has {C}"
            )
        return tuple(input_shape)

    def _stats(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Running mean/var to use and whether batch statistics are used."""
        use_batch = self.training or not self.track_running_stats
        if self.track_running_stats:
            mean = self._buffers["running_mean"]
            var = self._buffers["running_var"]
            if mean is None or var is None:
                raise ParameterError("BatchNorm2d has no running statistics yet")
            return mean, var, use_batch
        C = self.num_features
        return np.zeros(C, dtype=x.dtype), np.ones(C, dtype=x.dtype), True

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.norm import batch_norm

        self.output_shape(x.shape)
        mean, var, use_batch = self._stats(x)
        momentum = self.momentum
        if self.training and self.track_running_stats:
            count = self._buffers["num_batches_tracked"]
            count = np.array((0 if count is None else int(count)) + 1, dtype=np.int64)
            self._buffers["num_batches_tracked"] = count
            if momentum is None:  # cumulative moving average, as PyTorch
                momentum = 1.0 / float(count)
        self._x = x
        self._use_batch = use_batch
        return batch_norm(
            x,
            mean,
            var,
            self._params.get("weight"),
            self._params.get("bias"),
            training=use_batch,
            momentum=0.0 if momentum is None else momentum,
            eps=self.eps,
        )

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.norm import batch_norm_backward

        mean, var, _ = self._stats(self._x)
        dx, dweight, dbias = batch_norm_backward(
            grad, self._x, self._params.get("weight"), mean, var, self._use_batch, self.eps
        )
        self.grads = {}
        if self.affine:
            self.grads = {"weight": dweight}
            if self.bias:
                self.grads["bias"] = dbias
        return dx

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias}, "
            f"track_running_stats={self.track_running_stats}"
        )


# ---------------------------------------------------------------------------------------
# Containers
# ---------------------------------------------------------------------------------------
class Sequential(Layer):
    """Layers applied in order, named ``0, 1, ...`` or by the names given, as ``nn.Sequential``."""

    def __init__(self, *layers: Layer | tuple[str, Layer]) -> None:
        super().__init__()
        self._children: list[tuple[str, Layer]] = []
        for i, item in enumerate(layers):
            if isinstance(item, tuple):
                self._children.append(item)
            else:
                self._children.append((str(i), item))

    def children(self) -> list[tuple[str, Layer]]:
        return self._children

    def __getitem__(self, key: int | str) -> Layer:
        if isinstance(key, int):
            return self._children[key][1]
        return dict(self._children)[key]

    def __len__(self) -> int:
        return len(self._children)

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        for _, child in self._children:
            shape = child.output_shape(shape)
        return shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        for _, child in self._children:
            x = child(x)
        return x

    def backward(self, grad: np.ndarray) -> np.ndarray:
        for _, child in reversed(self._children):
            grad = child.backward(grad)
        return grad


class Network(Sequential):
    """A named model (``AlexNet``, ``ResNet`` ...): children applied in order, printed
    under the model's class name, with a description, a default input and class count."""

    def __init__(
        self,
        class_name: str,
        children: list[tuple[str, Layer]],
        description: str = "",
        input_shape: tuple[int, int, int] | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__(*children)
        self.class_name = class_name
        self.description = description
        self.input_shape = input_shape
        self.num_classes = num_classes
        #: What the user called it: the zoo name or the spec's name.
        self.title = class_name

    @property
    def type_name(self) -> str:
        return self.class_name


class BasicBlock(Layer):
    """ResNet's basic residual block, torchvision's layout and state_dict names.

    Shapes: (N, C, H, W) → (N, planes, ⌈H/stride⌉, ⌈W/stride⌉).
    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` where the shortcut
    is ``downsample`` (1×1 conv with stride + BatchNorm2d) or the identity.
    """

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: Sequential | bool | None = None,
    ) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.planes = planes
        self.stride = stride
        self.conv1 = Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU(inplace=True)
        self.conv2 = Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = BatchNorm2d(planes)
        if downsample is None:
            downsample = stride != 1 or inplanes != planes
        if downsample is True:
            downsample = Sequential(
                Conv2d(inplanes, planes, 1, stride=stride, bias=False), BatchNorm2d(planes)
            )
        self.downsample: Sequential | None = (
            downsample if isinstance(downsample, Sequential) else None
        )

    def children(self) -> list[tuple[str, Layer]]:
        kids: list[tuple[str, Layer]] = [
            ("conv1", self.conv1),
            ("bn1", self.bn1),
            ("relu", self.relu),
            ("conv2", self.conv2),
            ("bn2", self.bn2),
        ]
        if self.downsample is not None:
            kids.append(("downsample", self.downsample))
        return kids

    def output_shape(self, input_shape: Shape) -> Shape:
        main = self.bn2.output_shape(
            self.conv2.output_shape(self.bn1.output_shape(self.conv1.output_shape(input_shape)))
        )
        short = (
            tuple(input_shape)
            if self.downsample is None
            else self.downsample.output_shape(input_shape)
        )
        if main != short:
            raise ShapeError(
                f"residual add: the main path gives {_fmt_shape(main)} but the shortcut gives "
                f"{_fmt_shape(short)}",
                hint="use a downsample (1x1 conv with the block's stride) when channels or size change",
            )
        return main

    def forward(self, x: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import relu

        out = self.bn1(self.conv1(x))
        self._pre1 = out
        out = self.relu(out)
        out = self.bn2(self.conv2(out))
        identity = self.downsample(x) if self.downsample is not None else x
        total = out + identity
        self._pre2 = total
        if _TRACER:  # show the second use of relu in traces, as PyTorch's hooks would
            return self.relu(total)
        return relu(total)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        from cnncli.engine.activations import relu_backward

        grad = relu_backward(grad, self._pre2)
        g = self.conv2.backward(self.bn2.backward(grad))
        g = relu_backward(g, self._pre1)
        dx = self.conv1.backward(self.bn1.backward(g))
        dshort = self.downsample.backward(grad) if self.downsample is not None else grad
        return dx + dshort  # type: ignore[no-any-return]


class Residual(Layer):
    """A general residual block from a spec: ``out = act(main(x) + shortcut(x))``.

    ``main`` and ``shortcut`` are Sequentials (an empty shortcut is the identity);
    ``act`` is ReLU or nothing. Shapes: both paths must give the same shape.
    """

    def __init__(
        self, main: Sequential, shortcut: Sequential | None = None, relu: bool = True
    ) -> None:
        super().__init__()
        self.main = main
        self.shortcut = shortcut if shortcut is not None and len(shortcut) else None
        self.relu = ReLU() if relu else None

    def children(self) -> list[tuple[str, Layer]]:
        kids: list[tuple[str, Layer]] = [("main", self.main)]
        if self.shortcut is not None:
            kids.append(("shortcut", self.shortcut))
        if self.relu is not None:
            kids.append(("relu", self.relu))
        return kids

    def output_shape(self, input_shape: Shape) -> Shape:
        main = self.main.output_shape(input_shape)
        short = (
            tuple(input_shape) if self.shortcut is None else self.shortcut.output_shape(input_shape)
        )
        if main != short:
            raise ShapeError(
                f"residual add: the main path gives {_fmt_shape(main)} but the shortcut gives "
                f"{_fmt_shape(short)}",
                hint="add a shortcut (e.g. a 1x1 Conv2d with the same stride) that matches",
            )
        return main

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self.main(x)
        identity = self.shortcut(x) if self.shortcut is not None else x
        total = out + identity
        return self.relu(total) if self.relu is not None else total

    def backward(self, grad: np.ndarray) -> np.ndarray:
        if self.relu is not None:
            grad = self.relu.backward(grad)
        dx = self.main.backward(grad)
        dshort = self.shortcut.backward(grad) if self.shortcut is not None else grad
        return dx + dshort  # type: ignore[no-any-return]


#: Layer classes a spec may name, by PyTorch class name.
LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Conv2d,
        MaxPool2d,
        AvgPool2d,
        AdaptiveAvgPool2d,
        ReLU,
        LeakyReLU,
        Sigmoid,
        Tanh,
        Softmax,
        Flatten,
        Dropout,
        Linear,
        BatchNorm2d,
        Sequential,
        BasicBlock,
        Residual,
    )
}


def set_dropout_seed(model: Layer, seed: int) -> None:
    """Give every Dropout its own generator derived from ``seed`` (reproducible masks)."""
    for i, (_, layer) in enumerate(model.named_modules()):
        if isinstance(layer, Dropout):
            layer.generator = np.random.default_rng([seed, i])


def initialize(model: Layer, seed: int = 0) -> Layer:
    """Initialise every parameter with PyTorch's default scheme from ``seed``."""
    model.reset_parameters(np.random.default_rng(seed))
    set_dropout_seed(model, seed)
    return model
