"""GELU as torch.onnx writes it below opset 20: a pattern of elementwise nodes, one layer.

ONNX has a ``Gelu`` operator from opset 20 on; at opsets 17 to 19 torch.onnx writes
``nn.GELU()`` as its formula, node by node, and the importer
(:mod:`cnncli.nn.onnx_import`) puts it back into one :class:`~cnncli.nn.layers.GELU`
(so that ``shapes`` shows one GELU row, as torchinfo does). The two forms, with ``x`` the
map that enters and every other intermediate used by the next node only:

- approximate ``none``: ``Div(x, √2) → Erf → Add 1 → Mul x → Mul 0.5``, that is
  ``0.5 · x · (1 + erf(x / √2))``; ``Mul(x, 1/√2)`` is taken for the Div;
- approximate ``tanh``: ``Mul(x, x) → Mul x → Mul 0.044715 → Add x → Mul √(2/π) → Tanh →
  Add 1 → Mul x → Mul 0.5``, that is ``0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))``;
  ``Pow(x, 3)`` is taken for the first two Muls.

Mul and Add take their operands in either order; a constant is an initializer or a
Constant node holding one number, compared within float32 rounding. Anything else is
left alone: an Erf outside the pattern stays an unsupported operator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnncli.io.onnx_file import OnnxGraph, OnnxNode
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn.onnx_ops import fold


@dataclass
class FusedGelu:
    """A GELU pattern found: its layer, the map ``x`` it reads, the tensor it gives, and its
    nodes (the first in graph order first)."""

    layer: L.GELU
    x: str
    output: str
    nodes: list[OnnxNode]


class _Finder:
    """Users, producers and scalar constants of a graph, to follow a pattern node by node."""

    def __init__(self, graph: OnnxGraph) -> None:
        self.inits = graph.initializers
        self.users: dict[str, list[OnnxNode]] = {}
        self.made_by: dict[str, OnnxNode] = {}
        for node in graph.nodes:
            for t in node.inputs:
                self.users.setdefault(t, []).append(node)
            self.made_by.update((t, node) for t in node.outputs)

    def scalar(self, name: str) -> float | None:
        """The one number held by constant ``name``, or None."""
        value = self.inits.get(name)
        node = self.made_by.get(name)
        if value is None and node is not None and node.op_type == "Constant":
            try:
                value = fold(node, [])
            except (ValueError, KeyError, TypeError):
                return None
        if value is None or np.asarray(value).size != 1:
            return None
        return float(np.asarray(value).ravel()[0])

    def only(self, t: str, op: str) -> OnnxNode | None:
        """The one node that reads ``t``, when it is an ``op``."""
        users = self.users.get(t, [])
        return users[0] if len(users) == 1 and users[0].op_type == op else None

    def with_const(self, node: OnnxNode | None, t: str, value: float) -> OnnxNode | None:
        """``node`` when its operands are ``t`` and a constant equal to ``value``."""
        if node is None or len(node.inputs) != 2 or t not in node.inputs:
            return None
        other = node.inputs[1] if node.inputs[0] == t else node.inputs[0]
        if node.op_type in ("Div", "Sub", "Pow") and node.inputs[0] != t:
            return None
        c = self.scalar(other)
        return node if c is not None and math.isclose(c, value, rel_tol=1e-6) else None

    def with_x(self, node: OnnxNode | None, t: str, x: str) -> OnnxNode | None:
        """``node`` when its operands are ``t`` and ``x``."""
        if node is None or sorted(node.inputs) != sorted((t, x)):
            return None
        return node

    def step(self, t: str, op: str, value: float) -> OnnxNode | None:
        """The only reader of ``t``: an ``op`` of ``t`` and the constant ``value``."""
        return self.with_const(self.only(t, op), t, value)

    def tail(self, nodes: list[OnnxNode | None], x: str) -> list[OnnxNode] | None:
        """``nodes`` (all found) followed by ``Add 1 → Mul x → Mul 0.5``, both forms' end."""
        if any(n is None for n in nodes):
            return None
        last = nodes[-1].outputs[0]  # type: ignore[union-attr]
        add = self.step(last, "Add", 1.0)
        mul = self.with_x(self.only(add.outputs[0], "Mul"), add.outputs[0], x) if add else None
        half = self.step(mul.outputs[0], "Mul", 0.5) if mul else None
        if half is None:
            return None
        return [*nodes, add, mul, half]  # type: ignore[list-item]

    def erf_form(self, first: OnnxNode) -> FusedGelu | None:
        x = first.inputs[0]
        div = self.with_const(first, x, math.sqrt(2.0) if first.op_type == "Div" else 0.5**0.5)
        erf = self.only(div.outputs[0], "Erf") if div else None
        found = self.tail([div, erf], x)
        return FusedGelu(L.GELU("none"), x, found[-1].outputs[0], found) if found else None

    def tanh_form(self, first: OnnxNode) -> FusedGelu | None:
        x = first.inputs[0]
        if first.op_type == "Pow":
            cubes = [self.with_const(first, x, 3.0)]
        else:
            square = first if first.inputs == [x, x] else None
            cube = self.with_x(self.only(first.outputs[0], "Mul"), first.outputs[0], x)
            cubes = [square, cube]
        if any(c is None for c in cubes):
            return None
        cubed = cubes[-1].outputs[0]  # type: ignore[union-attr]
        scaled = self.step(cubed, "Mul", 0.044715)
        inner = (
            self.with_x(self.only(scaled.outputs[0], "Add"), scaled.outputs[0], x)
            if scaled
            else None
        )
        arg = self.step(inner.outputs[0], "Mul", math.sqrt(2 / math.pi)) if inner else None
        tanh = self.only(arg.outputs[0], "Tanh") if arg else None
        found = self.tail([*cubes, scaled, inner, arg, tanh], x)
        return FusedGelu(L.GELU("tanh"), x, found[-1].outputs[0], found) if found else None


def find_gelus(graph: OnnxGraph) -> dict[int, FusedGelu]:
    """Every GELU pattern of ``graph`` (see the module docstring), by ``id`` of its first node."""
    finder = _Finder(graph)
    found: dict[int, FusedGelu] = {}
    taken: set[int] = set()
    for node in graph.nodes:
        if id(node) in taken or not node.inputs:
            continue
        match = None
        if node.op_type in ("Div", "Mul"):
            match = finder.erf_form(node)
        if match is None and node.op_type in ("Mul", "Pow"):
            match = finder.tanh_form(node)
        if match is not None and not taken & {id(n) for n in match.nodes}:
            found[id(node)] = match
            taken.update(id(n) for n in match.nodes)
    return found


__all__ = ["FusedGelu", "find_gelus"]
