"""The ``forward`` of a block in PyTorch source, written from its data flow.

:func:`forward_lines` turns a :class:`~cnncli.nn.layers.flow.Block`'s flow into the lines
of a ``forward`` method: one line per step (``x = self.conv1(x)``; a functional child as
``F.relu(x)``, ``torch.flatten(x, 1, -1)``), each join as ``torch.cat([...], 1)``, a sum or
a product of its paths' outputs. Used by :mod:`cnncli.nn.export_text`.
"""

from __future__ import annotations

import keyword

from cnncli.errors import ParameterError
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn.layers.base import Layer
from cnncli.nn.layers.flow import Block, Node, Path, Step
from cnncli.nn.onnx_ops import Pad2d


def identifier(name: str) -> bool:
    """Whether ``name`` can be written as ``self.name`` (not a keyword, not ``0``)."""
    return name.isidentifier() and not keyword.iskeyword(name)


def plain_flow(layer: Block) -> bool:
    """Whether ``layer`` runs its children in order (Sequential's flow, not its own)."""
    flow = layer.graph
    names = [n for n, _ in layer.children()]
    return isinstance(flow, Path) and [getattr(s, "name", None) for s in flow.nodes] == names


def _call(layer: Block, name: str, arg: str, used: set[str]) -> str:
    """The expression applying child ``name`` to ``arg`` (a functional child written out)."""
    child = layer.child(name)
    if child.functional:
        return _functional(child, arg, used)
    if identifier(name):
        return f"self.{name}({arg})"
    return f"self.get_submodule({name!r})({arg})"


def _functional(layer: Layer, x: str, used: set[str]) -> str:
    """A step PyTorch code writes in ``forward`` (torch.flatten, F.relu, ...)."""
    if isinstance(layer, L.Flatten):
        return f"torch.flatten({x}, {layer.start_dim}, {layer.end_dim})"
    if isinstance(layer, L.View):
        return f"{x}.view({x}.size(0), {layer.features})"
    used.add("F")
    if isinstance(layer, Pad2d):
        return f"F.pad({x}, {layer.pad}, value={layer.value!r})"
    if isinstance(layer, L.ReLU):
        return f"F.relu({x}, inplace={layer.inplace})" if layer.inplace else f"F.relu({x})"
    if isinstance(layer, L.AdaptiveAvgPool2d):
        size = layer.output_size
        return f"F.adaptive_avg_pool2d({x}, {tuple(size) if isinstance(size, list) else size!r})"
    raise ParameterError(f"a functional {layer.type_name} has no PyTorch source form yet")


def forward_lines(layer: Block, flow: Node, used: set[str]) -> list[str]:
    """The body of ``forward`` for ``flow``: one line per step, joins as torch.cat, + or *."""
    lines: list[str] = []
    count = [0]

    def emit(node: Node, src: str, dst: str) -> str:
        if isinstance(node, Step):
            lines.append(f"{dst} = {_call(layer, node.name, src, used)}")
            return dst
        if isinstance(node, Path):
            cur = src
            for sub in node.nodes:
                cur = emit(sub, cur, dst)
            return cur
        outs = []
        for path in node.paths:
            count[0] += 1
            outs.append(emit(path, src, f"out{count[0]}"))
        if node.op == "cat":
            lines.append(f"{dst} = torch.cat([{', '.join(outs)}], 1)")
        else:
            lines.append(f"{dst} = {(' + ' if node.op == 'add' else ' * ').join(outs)}")
        return dst

    lines.append(f"return {emit(flow, 'x', 'x')}")
    return lines


__all__ = ["forward_lines", "identifier", "plain_flow"]
