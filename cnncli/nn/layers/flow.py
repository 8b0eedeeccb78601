"""Blocks whose children are not simply applied in order: their data flow, written out.

A :class:`Block` registers its children by name (PyTorch's ``print(model)`` and state_dict
order) and declares, separately, how data flows through them (the order of PyTorch's
``forward``), as a small tree of three kinds of node:

- :class:`Step` ``("conv1")``: call the child named ``conv1`` on the running value;
- :class:`Path` ``(a, b, c)``: the nodes one after another (``Path()`` is the identity);
- :class:`Join` ``("cat" | "add" | "mul", (p1, p2, ...))``: every path on the same input,
  their outputs combined: ``torch.cat(outs, 1)``, ``sum(outs)`` or the product (broadcast,
  as squeeze-and-excitation's ``scale * input``).

One interpreter (:meth:`Block.forward`, :meth:`Block.backward`, :meth:`Block.output_shape`)
runs every such block, and ``cnncli shapes`` walks the same tree, so a block's forward, its
backward and its table cannot disagree. For example torchvision's Fire module is::

    Path(Step("squeeze"), Step("squeeze_activation"),
         Join("cat", (Path(Step("expand1x1"), Step("expand1x1_activation")),
                      Path(Step("expand3x3"), Step("expand3x3_activation")))))

Backward of a join, with ``g`` the gradient of its output:

- cat: path ``i`` gets ``g[:, c_i : c_i + C_i]`` (its own channels);
- add: every path gets ``g``;
- mul: path ``i`` gets ``g · Π_{j≠i} out_j``, summed over the axes it was broadcast along;

and the join's ``dx`` is the sum of the paths' ``dx`` (every path read the same input).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnncli.errors import ShapeError
from cnncli.nn.layers.base import Layer, Shape, _fmt_shape


@dataclass(frozen=True, eq=False)
class Step:
    """Call the child ``name`` on the running value."""

    name: str


@dataclass(frozen=True, eq=False)
class Path:
    """``nodes`` one after another; ``Path()`` is the identity."""

    nodes: tuple[Node, ...] = ()

    def __init__(self, *nodes: Node | str) -> None:
        object.__setattr__(
            self, "nodes", tuple(Step(n) if isinstance(n, str) else n for n in nodes)
        )


@dataclass(frozen=True, eq=False)
class Join:
    """Every path on the same input, outputs combined by ``op``: cat (dim 1), add or mul."""

    op: str
    paths: tuple[Node, ...]
    #: What to call each path in an error (a branch's name); "path 0", "path 1" ... by default.
    labels: tuple[str, ...] = ()


Node = Step | Path | Join

#: How each join is written in PyTorch, for messages.
JOIN_TEXT = {"cat": "torch.cat(dim=1)", "add": "the residual add", "mul": "the product"}


def join_shape(
    op: str, shapes: list[Shape], owner: str = "", labels: tuple[str, ...] = ()
) -> Shape:
    """The output shape of a join of paths with ``shapes``, or a ShapeError naming them.

    cat: (N, C_1, H, W), (N, C_2, H, W), … → (N, C_1 + C_2 + …, H, W);
    add: every shape equal; mul: the shapes broadcast (NumPy's rule, sizes equal or 1).
    """
    names = labels or tuple(f"path {i}" for i in range(len(shapes)))
    listing = ", ".join(f"{n} gives {_fmt_shape(s)}" for n, s in zip(names, shapes, strict=True))
    where = f"{owner}: " if owner else ""
    if op == "cat":
        first = shapes[0]
        if any(len(s) != len(first) or s[:1] + s[2:] != first[:1] + first[2:] for s in shapes):
            raise ShapeError(
                f"{where}{JOIN_TEXT[op]} needs the same batch, height and width on every "
                f"path; {listing}",
                hint="pad or crop one path, or change a stride, so that the sizes agree",
            )
        return (first[0], sum(s[1] for s in shapes), *first[2:])
    if op == "add":
        if any(s != shapes[0] for s in shapes):
            raise ShapeError(
                f"{where}{JOIN_TEXT[op]} needs the same shape on every path; {listing}",
                hint="add a shortcut (e.g. a 1x1 Conv2d with the same stride) that matches",
            )
        return shapes[0]
    try:
        return tuple(int(v) for v in np.broadcast_shapes(*shapes))
    except ValueError:
        raise ShapeError(
            f"{where}{JOIN_TEXT[op]} needs shapes that broadcast (each size equal or 1); {listing}",
            hint="a gate usually ends in (N, C, 1, 1) with the input's channel count C",
        ) from None


class Block(Layer):
    """Named children (``children()``, PyTorch's registration order) and a data flow
    (:meth:`flow`, the order of PyTorch's ``forward``), run by one interpreter.

    Shapes: whatever the flow gives (see :func:`join_shape`). A child called more than
    once (torchvision's Bottleneck calls its ``relu`` three times) has its forward cache
    kept per call, and put back before that call's backward.
    """

    #: The PyTorch class name shown by print(model) (``_DenseBlock``); the class's own by default.
    torch_name: str | None = None

    def __init__(self, children: list[tuple[str, Layer]]) -> None:
        super().__init__()
        self._children = list(children)
        self._flow: Node | None = None
        self._caches: dict[int, Any] = {}
        self._reused: set[str] = set()
        self._by_name: dict[str, Layer] = {}

    @property
    def type_name(self) -> str:
        return self.torch_name or type(self).__name__

    def children(self) -> list[tuple[str, Layer]]:
        return self._children

    def child(self, name: str) -> Layer:
        """The child registered as ``name``."""
        if len(self._by_name) != len(self._children):
            self._by_name = dict(self._children)
        return self._by_name[name]

    def flow(self) -> Node:
        """The data flow; by default every child in registration order."""
        return Path(*(name for name, _ in self._children))

    @property
    def graph(self) -> Node:
        """:meth:`flow`, built once."""
        if self._flow is None:
            self._flow = self.flow()
            counts: dict[str, int] = {}
            for step in _steps(self._flow):
                counts[step.name] = counts.get(step.name, 0) + 1
            self._reused = {name for name, n in counts.items() if n > 1}
        return self._flow

    # ---- shapes ---------------------------------------------------------------------
    def output_shape(self, input_shape: Shape) -> Shape:
        return self._shape(self.graph, tuple(input_shape))

    def _shape(self, node: Node, shape: Shape) -> Shape:
        if isinstance(node, Step):
            return self.child(node.name).output_shape(shape)
        if isinstance(node, Path):
            for sub in node.nodes:
                shape = self._shape(sub, shape)
            return shape
        shapes = [self._shape(p, shape) for p in node.paths]
        return join_shape(node.op, shapes, self.type_name, node.labels)

    # ---- compute --------------------------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        self._caches = {}
        return self._run(self.graph, x)

    def _run(self, node: Node, x: np.ndarray) -> np.ndarray:
        if isinstance(node, Step):
            layer = self.child(node.name)
            out = layer(x)
            if node.name in self._reused:
                self._caches[id(node)] = dict(vars(layer))
            return out
        if isinstance(node, Path):
            for sub in node.nodes:
                x = self._run(sub, x)
            return x
        outs = [self._run(p, x) for p in node.paths]
        if node.op == "cat":
            self._caches[id(node)] = [o.shape[1] for o in outs]
            return np.concatenate(outs, axis=1)
        if node.op == "add":
            total = outs[0]
            for o in outs[1:]:
                total = total + o
            return total
        self._caches[id(node)] = outs
        product = outs[0]
        for o in outs[1:]:
            product = product * o
        return product

    def backward(self, grad: np.ndarray) -> np.ndarray:
        return self._back(self.graph, grad)

    def _back(self, node: Node, grad: np.ndarray) -> np.ndarray:
        if isinstance(node, Step):
            layer = self.child(node.name)
            if node.name in self._reused:
                vars(layer).update(self._caches[id(node)])
            return layer.backward(grad)
        if isinstance(node, Path):
            for sub in reversed(node.nodes):
                grad = self._back(sub, grad)
            return grad
        if node.op == "cat":
            bounds = np.cumsum(self._caches[id(node)])[:-1]
            grads = np.split(grad, bounds, axis=1)
        elif node.op == "add":
            grads = [grad] * len(node.paths)
        else:
            outs = self._caches[id(node)]
            grads = []
            for i, out in enumerate(outs):
                g = grad
                for j, other in enumerate(outs):
                    if j != i:
                        g = g * other
                grads.append(_unbroadcast(g, out.shape))
        dx: np.ndarray | None = None
        # the paths' backwards in reverse, as autograd visits them
        for path, g in reversed(list(zip(node.paths, grads, strict=True))):
            d = self._back(path, np.ascontiguousarray(g))
            dx = d if dx is None else dx + d
        assert dx is not None
        return dx


def first_join(node: Node) -> str:
    """The op of the first join in a flow ("cat", "add", "mul"), or "" for a plain sequence."""
    if isinstance(node, Join):
        return node.op
    if isinstance(node, Path):
        return next((op for sub in node.nodes if (op := first_join(sub))), "")
    return ""


def _unbroadcast(grad: np.ndarray, shape: Shape) -> np.ndarray:
    """Sum ``grad`` over the axes along which an operand of ``shape`` was broadcast."""
    axes = tuple(
        i for i, (g, s) in enumerate(zip(grad.shape, shape, strict=True)) if s == 1 and g != 1
    )
    return grad.sum(axis=axes, keepdims=True) if axes else grad


def _steps(node: Node) -> list[Step]:
    if isinstance(node, Step):
        return [node]
    subs = node.nodes if isinstance(node, Path) else node.paths
    return [s for sub in subs for s in _steps(sub)]


__all__ = ["Block", "Join", "Node", "Path", "Step", "first_join", "join_shape"]
