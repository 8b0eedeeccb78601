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
   constant a :class:`~cnncli.nn.onnx_ops.ConstOp`; torch.onnx's GELU below opset 20
   (Erf or Tanh and their arithmetic) one GELU (:mod:`cnncli.nn.onnx_gelu`).
3. **Structure.** The chain from input to output becomes the network's children; a fork
   whose branches meet again at one join becomes a block: at an ``Add`` a
   :class:`~cnncli.nn.layers.Residual` (main = the Add's first input, shortcut = its
   second, ``relu`` when a Relu follows); at a ``Concat`` (axis 1) a :class:`~cnncli.nn.onnx_ops16.Joined` cat;
   at a ``Mul`` :class:`~cnncli.nn.layers.SiLU` (``x · sigmoid(x)``),
   :class:`~cnncli.nn.layers.Mish` (``x · tanh(softplus(x))``),
   :class:`~cnncli.nn.layers.SqueezeExcitation` (pool, 1×1 conv, activation, 1×1 conv,
   gate) or else a ``Joined`` product. Forks nest (a U-Net's skips), and branches
   that meet at an inner join first become one branch (SiLU beside other branches).
   torchvision's DenseNet concatenates all earlier maps at each layer; each such Concat
   is rewritten as the Concat of the previous one and the new map, so that they nest.

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
from cnncli.nn.layers.flow import join_shape
from cnncli.nn.onnx_gelu import find_gelus
from cnncli.nn.onnx_ops import FOLDED, OPS, ConstOp, fill, fold, unsupported
from cnncli.nn.onnx_ops16 import Joined, Softplus, squeeze_excitation

#: The batch size used while folding shapes of a graph whose batch is dynamic: a number no
#: model has, so that a Reshape target holding it is known to mean "the batch".
BATCH_MARK = 7919
#: Elementwise operators that take a feature map and a constant (a ConstOp).
ARITHMETIC = ("Add", "Sub", "Mul", "Div")
#: Operators of feature maps only that join branches: Add (residual), Mul (gate), Concat.
JOINS = ("Add", "Mul", "Concat")


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
        self.concats: dict[tuple[str, ...], str] = {}
        self.absorbed: set[int] = set()  # nodes put into a layer of an earlier node
        #: torch.onnx's GELU below opset 20, by its first node; the others are absorbed.
        self.gelus = find_gelus(graph)
        self.absorbed.update(id(n) for f in self.gelus.values() for n in f.nodes[1:])
        #: torch.onnx scopes that hold other scopes: modules with children. A parameter-free
        #: node named directly in one (``/conv1/Relu`` beside ``/conv1/conv/Conv``) is a
        #: step of that module's forward (F.relu), not a module of its own.
        self.containers = {
            "/".join(parts[:k])
            for n in graph.nodes
            if n.name.startswith("/")
            for parts in [n.name.split("/")[:-1]]  # "/a/b/Relu" → ["", "a", "b"]
            for k in range(2, len(parts))  # the ancestors "/a", not the scope "/a/b"
        }

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
            if id(node) in self.absorbed or id(node) in self.gelus:
                continue  # a GELU's nodes (Erf, Tanh, Mul ...): one layer
            op = node.op_type
            if node.domain not in ("", "ai.onnx"):
                op = f"{node.domain}.{op}"
            if op in JOINS and not any(i in known for i in node.inputs):
                continue  # feature maps only: a join (residual, gate, concatenation)
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
        if id(node) in self.absorbed:
            return
        gelu = self.gelus.get(id(node))
        if gelu is not None:
            x = self._real(gelu.x)
            self._add_step(node, [gelu.layer], [x], self.shapes[x], output=gelu.output)
            return
        streams = [i for i in ins if i in self.shapes]
        if node.op_type == "Reshape" and streams and self._group_norm(node, streams[0]):
            return
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
        if node.op_type in ("Mul", "Concat") and len(streams) == len(ins):
            self._join(node, streams)
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
        if node.name.startswith("/") and node.name.rsplit("/", 1)[0] in self.containers | {""}:
            for layer in layers:
                if not layer.param_shapes():
                    layer.functional = True
        self._add_step(node, layers, streams[:1], out)

    def _only_user(self, tensor: str, op: str) -> OnnxNode | None:
        users = [n for n in self.graph.nodes if tensor in n.inputs]
        return users[0] if len(users) == 1 and users[0].op_type == op else None

    def _group_norm(self, node: OnnxNode, x: str) -> bool:
        """torch.onnx's GroupNorm: Reshape x (N, C, H, W) to (N, G, −1) →
        InstanceNormalization (scale 1, bias 0) → Reshape to x's shape → Mul by the weight
        (C, 1, 1) → Add the bias: one GroupNorm layer (False when the nodes differ)."""
        shape = self.shapes[x]
        target = self.consts.get(node.inputs[1])
        if len(shape) != 4 or target is None or target.size != 3:
            return False
        G = int(target.ravel()[1])
        norm = self._only_user(node.outputs[0], "InstanceNormalization")
        if norm is None or not all(i in self.consts for i in norm.inputs[1:3]):
            return False
        if not (
            np.all(self.consts[norm.inputs[1]] == 1) and np.all(self.consts[norm.inputs[2]] == 0)
        ):
            return False
        back = self._only_user(norm.outputs[0], "Reshape")
        if back is None or G < 1 or shape[1] % G:
            return False
        used = [norm, back]
        C = shape[1]
        arrays: dict[str, np.ndarray | None] = {"weight": None, "bias": None}
        end = back.outputs[0]
        for key, op in (("weight", "Mul"), ("bias", "Add")):
            nxt = self._only_user(end, op)
            const = next((i for i in (nxt.inputs if nxt else []) if i in self.consts), None)
            if nxt is None or const is None or self.consts[const].size != C:
                break
            arrays[key] = self.consts[const].reshape(C)
            used.append(nxt)
            end = nxt.outputs[0]
        affine = arrays["weight"] is not None
        layer = L.GroupNorm(G, C, float(norm.attrs.get("epsilon", 1e-5)), affine=affine)
        if affine:
            bias = arrays["bias"] if arrays["bias"] is not None else np.zeros(C, np.float32)
            fill(layer, weight=arrays["weight"], bias=bias)
        self.absorbed.update(id(n) for n in used)
        self._add_step(node, [layer], [x], shape, output=end)
        return True

    def _join(self, node: OnnxNode, streams: list[str]) -> None:
        """Mul of two maps (a gate) or Concat of maps along the channels: a join step.
        A Concat of one map is that map; torchvision's DenseNet concatenates all earlier
        maps again at each layer, ``cat(x0, f1, f2)``, which is ``cat(cat(x0, f1), f2)``:
        the longest earlier Concat of a prefix stands in for it, so that joins nest."""
        shapes = [self.shapes[i] for i in streams]
        if node.op_type == "Mul":
            try:
                out = join_shape("mul", shapes, node.name)
            except ShapeError as exc:
                raise unsupported(self, node, exc.message) from None
            self._add_step(node, [], streams, out)
            return
        axis = int(node.attrs.get("axis", 1))
        if axis not in (1, 1 - len(shapes[0])):
            raise unsupported(self, node, f"a Concat along axis {axis}; cnncli joins channels")
        if len(streams) == 1:
            self.alias[node.outputs[0]] = streams[0]
            return
        try:
            out = join_shape("cat", shapes, node.name)
        except ShapeError as exc:
            raise unsupported(self, node, exc.message) from None
        ins = list(streams)
        for k in range(len(ins) - 1, 1, -1):
            earlier = self.concats.get(tuple(ins[:k]))
            if earlier is not None:
                ins = [earlier, *ins[k:]]
                break
        self.concats[tuple(streams)] = node.outputs[0]
        self._add_step(node, [], ins, out)

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

    def _add_step(
        self,
        node: OnnxNode,
        layers: list[Layer],
        inputs: list[str],
        out: Shape,
        output: str | None = None,
    ) -> None:
        weight = next((i for i in node.inputs[1:] if i in self.graph.initializers), None)
        base = _layer_name(node, weight)
        name, k = base, 1
        while name in self.names:
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        step = _Step(node, name, layers, inputs, output or node.outputs[0])
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
                "cnncli runs a chain of layers and of blocks whose branches meet again"
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
            branches: list[tuple[list[tuple[str, Layer]], str, _Step | None]] = []
            for u in users:
                if _is_join(u):
                    branches.append(([], t, u))
                else:
                    layers, end, join = self._walk(u.output)
                    branches.append((self._named(u) + layers, end, join))
            block, t = self._merge(branches, users)
            out.append(block)

    def _merge(
        self,
        branches: list[tuple[list[tuple[str, Layer]], str, _Step | None]],
        users: list[_Step],
    ) -> tuple[tuple[str, Layer], str]:
        """The block of a fork's branches (layers, end tensor, join reached), and the tensor
        after it. Branches that meet at an inner join first (SiLU's ``x · sigmoid(x)``
        beside other branches of the same ``x``) become one branch, until one join is left."""
        while True:
            groups: dict[int, list[tuple[list[tuple[str, Layer]], str, _Step | None]]] = {}
            for b in branches:
                groups.setdefault(id(b[2]), []).append(b)
            merged = False
            for members in groups.values():
                join = members[0][2]
                if join is None or sorted(b[1] for b in members) != sorted(join.inputs):
                    continue
                by_end = {b[1]: b[0] for b in members}
                block, after = self._join_block(join, [by_end[i] for i in join.inputs])
                if len(members) == len(branches):
                    return (join.name, block), after
                more, end, nxt = self._walk(after)
                rest = [b for b in branches if all(b is not m for m in members)]
                branches = [*rest, ([(join.name, block), *more], end, nxt)]
                merged = True
                break
            if not merged:
                raise self._fork_error(users)

    def _join_block(self, join: _Step, paths: list[list[tuple[str, Layer]]]) -> tuple[Layer, str]:
        """The block of a fork whose ``paths`` meet at ``join``, and the tensor after it.

        Add → :class:`Residual` (``relu`` when a Relu is the sum's only user); Mul of the
        map and its sigmoid → :class:`SiLU`, of the map and a squeeze-and-excitation gate →
        :class:`SqueezeExcitation`, else :class:`Multiply`; Concat → :class:`Concat`.
        """
        op = join.node.op_type
        seqs = [L.Sequential(*_strip(join.name, p)) for p in paths]
        if op == "Add":
            main, short = seqs
            if not len(main) and len(short):
                main, short = short, main  # the sum is the same; the identity is the shortcut
            relu_users = self.users.get(join.output, [])
            relu = len(relu_users) == 1 and relu_users[0].node.op_type == "Relu"
            block = L.Residual(main, short if len(short) else None, relu)
            return block, relu_users[0].output if relu else join.output
        if op == "Mul" and len(seqs) == 2 and sorted(len(s) for s in seqs) == [0, 1]:
            (only,) = [layer for s in seqs for _, layer in s.children()]
            if type(only) is L.Sigmoid:
                return L.SiLU(), join.output
            if type(only) is Softplus:
                raise unsupported(self, join.node, "x · Softplus(x) has no layer")
        kinds = sorted((type(c).__name__ for s in seqs for _, c in s.children()))
        if op == "Mul" and sorted(len(s) for s in seqs) == [0, 2] and kinds == ["Softplus", "Tanh"]:
            first = next(c for s in seqs for _, c in s.children())
            if type(first) is Softplus:  # x · tanh(softplus(x))
                return L.Mish(), join.output
        if op == "Mul":
            gate = squeeze_excitation(seqs)
            if gate is not None:
                return gate, join.output
        kept = [seq if len(seq) else None for seq in seqs]
        return Joined("cat" if op == "Concat" else "mul", kept), join.output

    def _fork_error(self, users: list[_Step]) -> InputFileError:
        ops = Counter(u.node.op_type for u in users)
        return InputFileError(
            f"{self.source}: a feature map feeds {len(users)} nodes "
            f"({', '.join(f'{k} ×{v}' for k, v in ops.items())}); cnncli maps forks that "
            "meet again at one join (Add, Mul or Concat of the branches)"
        )


def _is_join(step: _Step) -> bool:
    """An Add, Mul or Concat of feature maps (a join): the steps without layers."""
    return step.node.op_type in JOINS and not step.layers


def _strip(block: str, named: list[tuple[str, Layer]]) -> list[tuple[str, Layer]]:
    """Inside block ``layer1_0``, ``layer1_0_conv1`` is ``conv1`` (when every name allows)."""
    cut = [n[len(block) + 1 :] for n, _ in named if n.startswith(block + "_")]
    if len(cut) != len(named) or len(set(cut)) != len(cut) or any(c[0].isdigit() for c in cut):
        return named
    return [(c, layer) for c, (_, layer) in zip(cut, named, strict=True)]


__all__ = ["BATCH_MARK", "OnnxNetwork", "import_graph", "load_onnx"]
