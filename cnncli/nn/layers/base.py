"""The Layer protocol: parameters by state_dict name, shapes without data, forward, backward.

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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from cnncli.engine.fast import blas
from cnncli.engine.fast.frozen import freeze, is_frozen
from cnncli.errors import ParameterError, ShapeError, WeightsError
from cnncli.nn.receptive import RfAxes, RfAxis

Shape = tuple[int, ...]
#: (kernel, stride, dilation) along H and along W, for receptive-field arithmetic.
RfStep = tuple[tuple[int, int, int], tuple[int, int, int]]
#: Called after each layer's forward: (layer, input, output, seconds).
Tracer = Callable[["Layer", np.ndarray, np.ndarray, float], None]

_TRACER: list[Tracer] = []
#: How deep the current Layer call is nested (0: outside any), so that the outermost one
#: alone fits OpenBLAS's threads to the free cores (:func:`blas.within_free_cores`).
_DEPTH = [0]


def conv_macs(layer: Layer, output_shape: Shape) -> int:
    """torchinfo's rule for a convolution, transposed or not: (weight + bias values) × N ×
    OH × OW, each output position costing every parameter once."""
    params = sum(_prod(s) for s in layer.param_shapes().values())
    N, _, OH, OW = output_shape
    return params * N * OH * OW


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
    #: False where nothing upstream wants dL/dx: the first layer of a network in training,
    #: whose input is the images (PyTorch's ``requires_grad=False``).  A layer may then skip
    #: computing it (Conv2d does) and return a read-only array of zeros in its place.
    #: :class:`~cnncli.nn.layers.Sequential` hands its own value to its first child.
    needs_input_grad = True

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

    def set_parameters(self, values: dict[str, np.ndarray], fresh: bool = False) -> None:
        """Replace parameters by state_dict name, as an optimizer step does.

        Each value must have its parameter's shape; it is stored as a new array (a
        frozen parameter is frozen again), never written into the old one, so that
        nothing derived from the old weights (a remembered Winograd transform) is
        taken for the new ones.  ``fresh=True`` says the values are new arrays that
        nothing else holds (an optimizer step's): those of the parameter's dtype are
        kept as they are instead of copied.
        """
        layers = dict(self.named_modules())
        for key, value in values.items():
            path, _, name = key.rpartition(".")
            layer = layers.get(path)
            if layer is None or name not in layer.param_shapes():
                raise ParameterError(f"{key} is not a parameter of this model")
            old = layer._param(name)
            if np.shape(value) != old.shape:
                raise ShapeError(
                    f"{key} has shape {_fmt_shape(old.shape)}, got {_fmt_shape(np.shape(value))}"
                )
            layer._params[name] = (np.asarray if fresh else np.array)(value, dtype=old.dtype)
            layer._freeze_own()

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

    def rf_axes(self, input_shape: Shape) -> RfAxes:
        """How each output index reaches input indices along H and W
        (:mod:`cnncli.nn.receptive`): by default a window of :meth:`rf_step` without padding."""
        step = self.rf_step(input_shape)
        if step is None:
            return None
        (kh, sh, dh), (kw, sw, dw) = step
        return (RfAxis("conv", kh, sh, dh), RfAxis("conv", kw, sw, dw))

    def formulas(self, input_shape: Shape) -> list[str]:
        """The output-size arithmetic with this input's numbers."""
        return []

    def workspace_bytes(self, input_shape: Shape, itemsize: int = 4) -> int:
        """Temporary memory the forward needs beyond its output (im2col for convolutions)."""
        return 0

    # ---- compute --------------------------------------------------------------------
    def __call__(self, x: np.ndarray) -> np.ndarray:
        if _DEPTH[0] == 0:  # the outermost call: BLAS on the cores others leave free
            _DEPTH[0] += 1
            try:
                with blas.within_free_cores():
                    return self._traced(x)
            finally:
                _DEPTH[0] -= 1
        return self._traced(x)

    def _traced(self, x: np.ndarray) -> np.ndarray:
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


def _with_formula(exc: ShapeError, layer: Layer, input_shape: Shape) -> ShapeError:
    """The same error with the failing output-size formula (numbers filled in) as its hint."""
    try:
        failing = [f for f in layer.formulas(input_shape) if "< 1" in f]
    except Exception:  # wrong rank: there is no formula to show
        failing = []
    return ShapeError(exc.message, hint="; ".join(failing) or exc.hint)


def _pair_text(p: tuple[int, int]) -> str:
    return str(p[0]) if p[0] == p[1] else f"{p[0]}x{p[1]}"
