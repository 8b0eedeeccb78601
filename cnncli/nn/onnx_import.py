"""An ONNX graph as cnncli layers: ``cnncli shapes model.onnx``, ``forward -m model.onnx``.

The file is read and checked by :mod:`cnncli.io.onnx_file`; here its nodes become a
:class:`~cnncli.nn.layers.Network` (one layer per node, by the table of
:mod:`cnncli.nn.onnx_ops`), so that shapes, feature maps, ``--show-layer`` and training
work as for a zoo model. In three passes:

1. **Constants.** Initializers, Constant nodes and every node of :data:`~onnx_ops.FOLDED`
   whose inputs are all constants are computed with NumPy (``Shape`` of a feature map gives
   its shape, the batch as a marker, so that ``x.view(x.size(0), -1)`` folds to (N, -1)).
   Every other node must have a converter: all that lack one are named in one error, before
   anything is built or run.
2. **Layers.** Each feature-map node becomes its layers, following the shapes from the
   graph's input (``--input`` fills dynamic H and W). A MatMul followed by the Add of a
   constant becomes one Linear with that bias; Add, Sub, Mul or Div of a map and another
   constant a :class:`~cnncli.nn.onnx_ops.ConstOp`.
3. **Structure.** The chain from input to output becomes the network's children; a fork
   whose two branches meet at an ``Add`` becomes a :class:`~cnncli.nn.layers.Residual`
   (main = the Add's first input, shortcut = its second, ``relu`` when a Relu follows).
   Other forks (Concat of branches) wait for arch16's containers.

Names: torch.onnx names a node by its module path (``/layer1/layer1.0/conv1/Conv``), so
that layer is ``layer1_0_conv1``; state_dict keys are these names plus ``weight`` ...
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnncli.errors import InputFileError, ParameterError, ShapeError
from cnncli.io.onnx_file import OnnxGraph, OnnxNode, read_onnx
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn.layers.base import Layer, Shape
from cnncli.nn.onnx_ops import FOLDED, OPS, ConstOp, fill, fold, unsupported

#: The batch size used while folding shapes of a graph whose batch is dynamic: a number no
#: model has, so that a Reshape target holding it is known to mean "the batch".
BATCH_MARK = 7919
#: Elementwise operators that take a feature map and a constant (a ConstOp).
ARITHMETIC = ("Add", "Sub", "Mul", "Div")


class OnnxNetwork(L.Network):
    """A network imported from an ONNX file, with the file's weights already in it."""

    weights_source: str = ""


@dataclass
class _Step:
    """One feature-map node converted: its layers, its feature-map inputs and output."""

    node: OnnxNode
    name: str
    layers: list[Layer]
    inputs: list[str]
    output: str


def load_onnx(
    path: str | Path, input_shape: tuple[int, int, int] | None = None
) -> tuple[L.Network, tuple[int, int, int] | None]:
    """Read ``path`` and build its network; returns it and its input (C, H, W)."""
    from cnncli.nn import resources

    graph = read_onnx(path, resources.default_limit())
    return import_graph(graph, input_shape)


def import_graph(
    graph: OnnxGraph, input_shape: tuple[int, int, int] | None = None
) -> tuple[OnnxNetwork, tuple[int, int, int]]:
    """Build the network of a checked graph (see the module docstring)."""
    return _Importer(graph).build(input_shape)


def _layer_name(node: OnnxNode, weight: str | None) -> str:
    """``/layer1/layer1.0/conv1/Conv`` → ``layer1_0_conv1``; else the weight's prefix."""
    scopes = [s for s in node.name.split("/")[:-1] if s]
    path = ""
    for s in scopes:  # torch.onnx repeats the parent: /layer1/layer1.0/downsample/downsample.0
        head = s.split(".")[0]
        if not path or s.startswith(path + "."):
            path = s
        elif "." in s and (path == head or path.endswith("." + head)):
            path = path[: len(path) - len(head)] + s
        else:
            path = f"{path}.{s}"
    if not path and weight and "." in weight and not weight.startswith("onnx::"):
        path = weight.rsplit(".", 1)[0]
    if not path:
        path = node.name or node.op_type.lower()
    name = re.sub(r"[^A-Za-z0-9_]", "_", path).strip("_")[:60] or node.op_type.lower()
    return name if not name[0].isdigit() else f"n{name}"


class _Importer:
    def __init__(self, graph: OnnxGraph) -> None:
        self.graph = graph
        self.source = graph.source
        self.opset = graph.opset
        self.consts: dict[str, np.ndarray] = dict(graph.initializers)
        self.shapes: dict[str, Shape] = {}
        self.alias: dict[str, str] = {}
        self.steps: dict[str, _Step] = {}
        self.users: dict[str, list[_Step]] = {}
        self.names: set[str] = set()

    # ---- the Ctx protocol of onnx_ops ------------------------------------------------
    def has_const(self, name: str) -> bool:
        return name in self.consts

    def const(self, name: str) -> np.ndarray:
        if name not in self.consts:
            raise InputFileError(
                f"{self.source}: tensor {name!r} must be a constant (an initializer) here"
            )
        return self.consts[name]

    # ---- the three passes ------------------------------------------------------------
    def build(
        self, input_shape: tuple[int, int, int] | None
    ) -> tuple[OnnxNetwork, tuple[int, int, int]]:
        g = self.graph
        if len(g.inputs) != 1 or len(g.outputs) != 1:
            raise InputFileError(
                f"{self.source}: cnncli runs graphs with one input and one output; this one "
                f"has {len(g.inputs)} inputs and {len(g.outputs)} outputs"
            )
        ((x_name, dims),) = g.inputs.items()
        chw = self._input_chw(dims, input_shape)
        batch = dims[0] if dims and isinstance(dims[0], int) else BATCH_MARK
        self.shapes[x_name] = (batch, *chw)
        self._check_operators()
        for node in g.nodes:
            self._node(node)
        children = self._chain(x_name, self._real(g.outputs[0]))
        title = Path(self.source).stem
        net = OnnxNetwork(
            "OnnxModel",
            children,
            f"imported from {self.source} ({g.producer or 'unknown producer'}, opset {g.opset})",
            chw,
        )
        net.title = title
        net.weights_source = self.source
        net.eval()
        return net, chw

    def _input_chw(
        self, dims: tuple[int | str | None, ...], given: tuple[int, int, int] | None
    ) -> tuple[int, int, int]:
        if len(dims) != 4:
            raise ShapeError(
                f"{self.source}: the input has {len(dims)} dimensions; cnncli runs images "
                "(N, C, H, W)"
            )
        if given is not None:
            fixed = [
                (i, d, g)
                for i, (d, g) in enumerate(zip(dims[1:], given, strict=True))
                if isinstance(d, int) and d != g
            ]
            if fixed and fixed[0][0] == 0:
                raise ParameterError(
                    f"--input has {given[0]} channels but {self.source} takes {fixed[0][1]}"
                )
            return given
        if not all(isinstance(d, int) for d in dims[1:]):
            shown = ", ".join(str(d) if d is not None else "?" for d in dims)
            raise ShapeError(
                f"{self.source}: the input (N, C, H, W) = ({shown}) has a dynamic size",
                hint="give --input CxHxW",
            )
        c, h, w = (int(d) for d in dims[1:])  # type: ignore[arg-type]
        return (c, h, w)

    def _is_const(self, node: OnnxNode, known: set[str]) -> bool:
        if node.op_type == "Constant":
            return True
        if node.op_type == "Shape":
            return True  # of a feature map: its shape, known by pass 2
        return node.op_type in FOLDED and all(not i or i in known for i in node.inputs)

    def _check_operators(self) -> None:
        """Every node without a converter, all named in one error before anything is built."""
        known = set(self.consts)
        missing: dict[str, list[str]] = {}
        made_by: dict[str, str] = {}
        for node in self.graph.nodes:
            made_by.update((out, node.op_type) for out in node.outputs)
            if self._is_const(node, known):
                known.update(node.outputs)
                continue
            op = node.op_type
            if node.domain not in ("", "ai.onnx"):
                op = f"{node.domain}.{op}"
            if op == "Add" and not any(i in known for i in node.inputs):
                continue  # two feature maps: a residual join
            if op in ARITHMETIC and sum(i in known for i in node.inputs) == 1:
                continue  # a feature map and a constant: a bias or a ConstOp
            if op == "Identity":
                continue
            if OPS.get(op) is None:
                missing.setdefault(op, []).append(node.name or node.outputs[0])
        if not missing:
            return
        parts = []
        for op, nodes in missing.items():
            more = f", {len(nodes)} such nodes" if len(nodes) > 1 else ", 1 such node"
            parts.append(f"{op} (node {nodes[0]!r}{more})")
        what = "operator" if len(parts) == 1 else f"{len(parts)} operators"
        raise InputFileError(
            f"{self.source}: unsupported ONNX {what}: {'; '.join(parts)}; nothing was run",
            hint="see the operator table in cnncli/nn/onnx_ops.py",
        )

    def _real(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def _node(self, node: OnnxNode) -> None:
        ins = [self._real(i) if i else "" for i in node.inputs]
        if node.op_type == "Shape" and ins[0] in self.shapes:
            dims = np.array(self.shapes[ins[0]], np.int64)
            start, end = int(node.attrs.get("start", 0)), node.attrs.get("end")
            self.consts[node.outputs[0]] = dims[start : None if end is None else int(end)]
            return
        if self._is_const(node, set(self.consts)) and all(not i or i in self.consts for i in ins):
            args = [self.consts[i] if i else None for i in ins]
            try:
                value = fold(node, args)
            except (ValueError, IndexError, TypeError, KeyError, AssertionError) as exc:
                raise unsupported(self, node, f"cannot compute this constant ({exc})") from None
            self.consts[node.outputs[0]] = value
            return
        streams = [i for i in ins if i in self.shapes]
        if node.op_type == "Identity":
            self.alias[node.outputs[0]] = streams[0]
            return
        if node.op_type == "Add" and len(streams) == 1 and self._bias(node, streams[0]):
            return
        if node.op_type in ARITHMETIC and len(streams) == 1:
            const = next(i for i in ins if i in self.consts)
            if node.op_type in ("Sub", "Div") and ins[0] != streams[0]:
                raise unsupported(self, node, "a constant minus or over a feature map")
            op = ConstOp(node.op_type, self.consts[const])
            try:
                out = op.output_shape(self.shapes[streams[0]])
            except (ShapeError, ValueError) as exc:
                raise unsupported(self, node, str(exc)) from None
            self._add_step(node, [op], streams, out)
            return
        if node.op_type == "Add":
            if len(streams) != 2 or self.shapes[streams[0]] != self.shapes[streams[1]]:
                raise unsupported(self, node, "only an Add of two same-shaped maps (a residual)")
            self._add_step(node, [], streams, self.shapes[streams[0]])
            return
        convert = OPS.get(node.op_type)
        assert convert is not None  # _check_operators has refused the others
        shape = self.shapes[streams[0]]
        node_for_ops = OnnxNode(node.op_type, node.name, ins, node.outputs, node.attrs, node.domain)
        try:
            layers = convert(node_for_ops, self, shape)
            out = shape
            for layer in layers:
                out = layer.output_shape(out)
        except (ParameterError, ShapeError) as exc:
            raise unsupported(self, node, exc.message) from None
        self._add_step(node, layers, streams[:1], out)

    def _bias(self, node: OnnxNode, stream: str) -> bool:
        """MatMul then Add of a constant (N, F) + (F,): the bias of the MatMul's Linear."""
        step = self.steps.get(stream)
        const = next((i for i in node.inputs if i in self.consts), None)
        if step is None or const is None or step.node.op_type != "MatMul":
            return False
        uses = sum(i == stream for n in self.graph.nodes for i in n.inputs)
        (old,) = step.layers
        if uses != 1 or not isinstance(old, L.Linear):
            return False
        bias = np.broadcast_to(self.consts[const], (old.out_features,))
        new = L.Linear(old.in_features, old.out_features, True)
        fill(new, weight=old._param("weight"), bias=bias)
        step.layers = [new]
        self.alias[node.outputs[0]] = stream
        return True

    def _add_step(self, node: OnnxNode, layers: list[Layer], inputs: list[str], out: Shape) -> None:
        weight = next((i for i in node.inputs[1:] if i in self.graph.initializers), None)
        base = _layer_name(node, weight)
        name, k = base, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        step = _Step(node, name, layers, inputs, node.outputs[0])
        self.steps[step.output] = step
        self.shapes[step.output] = out
        for i in inputs:
            self.users.setdefault(i, []).append(step)

    # ---- structure -------------------------------------------------------------------
    def _named(self, step: _Step) -> list[tuple[str, Layer]]:
        if len(step.layers) == 1:
            return [(step.name, step.layers[0])]
        return [(f"{step.name}_{i}", layer) for i, layer in enumerate(step.layers)]

    def _chain(self, start: str, end: str | None) -> list[tuple[str, Layer]]:
        """The layers from ``start`` up to ``end`` (or up to an Add, returned by _walk)."""
        out, t, join = self._walk(start)
        if join is not None or (end is not None and t != end):
            raise InputFileError(
                f"{self.source}: the graph does not end where its output is ({end!r}); "
                "cnncli runs a single chain with residual blocks"
            )
        return out

    def _walk(self, t: str) -> tuple[list[tuple[str, Layer]], str, _Step | None]:
        """Follow the chain from tensor ``t`` until the output or an Add (a join)."""
        out: list[tuple[str, Layer]] = []
        while True:
            users = self.users.get(t, [])
            if not users:
                return out, t, None
            if len(users) == 1:
                step = users[0]
                if _is_join(step):
                    return out, t, step
                out += self._named(step)
                t = step.output
                continue
            if len(users) != 2:
                raise self._fork_error(users)
            branches: list[tuple[list[tuple[str, Layer]], str, _Step | None]] = []
            for u in users:
                if _is_join(u):
                    branches.append(([], t, u))
                else:
                    layers, end, join = self._walk(u.output)
                    branches.append((self._named(u) + layers, end, join))
            joins = {id(b[2]) for b in branches}
            join = branches[0][2]
            if join is None or len(joins) != 1:
                raise self._fork_error(users)
            by_end = {b[1]: b[0] for b in branches}
            main_in, short_in = join.inputs
            main, short = by_end[main_in], by_end[short_in]
            relu_users = self.users.get(join.output, [])
            relu = len(relu_users) == 1 and relu_users[0].node.op_type == "Relu"
            block = L.Residual(
                L.Sequential(*_strip(join.name, main)),
                L.Sequential(*_strip(join.name, short)) if short else None,
                relu,
            )
            out.append((join.name, block))
            t = relu_users[0].output if relu else join.output

    def _fork_error(self, users: list[_Step]) -> InputFileError:
        ops = Counter(u.node.op_type for u in users)
        return InputFileError(
            f"{self.source}: a feature map feeds {len(users)} nodes "
            f"({', '.join(f'{k} ×{v}' for k, v in ops.items())}); cnncli maps forks that "
            "rejoin at one Add (residual blocks); branches that are concatenated wait for "
            "arch16's containers"
        )


def _is_join(step: _Step) -> bool:
    """An Add of two feature maps (a residual join): the one step without layers."""
    return step.node.op_type == "Add" and not step.layers


def _strip(block: str, named: list[tuple[str, Layer]]) -> list[tuple[str, Layer]]:
    """Inside block ``layer1_0``, ``layer1_0_conv1`` is ``conv1`` (when every name allows)."""
    cut = [n[len(block) + 1 :] for n, _ in named if n.startswith(block + "_")]
    if len(cut) != len(named) or len(set(cut)) != len(cut) or any(c[0].isdigit() for c in cut):
        return named
    return [(c, layer) for c, (_, layer) in zip(cut, named, strict=True)]


__all__ = ["BATCH_MARK", "OnnxNetwork", "import_graph", "load_onnx"]
