"""A network's shapes, parameters, MACs and receptive fields, computed from shapes alone.

:func:`summarize` returns plain records (one per module call, in execution order,
as torchinfo lists them) so that tests assert numbers and the renderers only
format. Conventions, as torchinfo's:

* params: a leaf's own trainable parameters; a container's row holds the total of
  everything inside it (totals sum leaves only, so nothing is counted twice);
* MACs (1 MAC = one multiply-add): ``(weight + bias count) × N × OH × OW`` for
  convolutions, ``(weight + bias count) × N`` for Linear and BatchNorm2d, 0 for
  layers without parameters; FLOPs = 2 × MACs;
* receptive field ``r`` and jump ``j`` per axis:
  ``r_out = r_in + dilation·(kernel − 1)·j_in``, ``j_out = j_in·stride``
  (as :func:`cnncli.engine.shapes.receptive_fields`); an upsampling by ``s`` (a
  transposed conv's stride, Upsample's factor) divides the jump, ``j_out = j_in / s``
  (a fraction of a pixel: ``1/2``), and ``r`` is then counted exactly, output phase by
  output phase (:mod:`cnncli.nn.receptive`, which derives the rules); after a Flatten or
  Linear every output sees the whole input (shown as ``all``). Where parallel paths join
  (torch.cat, a residual add, a gate's product) each path starts from the join's input,
  and each output sees the union of what its paths see, lined up by their paddings
  (``all`` if a path sees everything, as a squeeze-and-excitation gate does);
* a block's rows follow its data flow (:mod:`cnncli.nn.layers.flow`): every child call
  in the order PyTorch's ``forward`` makes it, at torchinfo's depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from cnncli.errors import CnncliError
from cnncli.nn.layers import Block, Join, Layer, Path, Shape, Step
from cnncli.nn.layers.flow import Node, first_join, join_shape
from cnncli.nn.receptive import START, Span, advance, merge

RF = tuple[Span, Span] | None  # per axis (H, W); None: every output sees the whole input


@dataclass
class LayerRecord:
    """One row: a module call with its shapes and counts."""

    name: str
    type: str
    depth: int
    is_leaf: bool
    functional: bool
    input_shape: Shape
    output_shape: Shape | None = None
    kernel: str = ""
    stride: str = ""
    padding: str = ""
    dilation: str = ""
    params: int = 0
    trainable_params: int = 0
    macs: int = 0
    receptive_field: tuple[int, int] | None = None
    #: Input pixels between neighbouring outputs; a Fraction after an upsampling.
    jump: tuple[Fraction, Fraction] | None = None
    formulas: list[str] = field(default_factory=list)
    #: How this block joins its parallel paths: "cat", "add", "mul" (empty: it has none).
    join: str = ""
    #: Whether this row is one whole path of its parent's join (a branch, a shortcut).
    branch: bool = False
    #: Where the row runs: (join number, path index) of every join it is inside, outermost
    #: first (the joins are :attr:`Summary.joins`); empty outside any join.
    lanes: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.type,
            "depth": self.depth,
            "is_leaf": self.is_leaf,
            "input_shape": list(self.input_shape),
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "kernel": self.kernel,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "params": self.params,
            "macs": self.macs,
            "receptive_field": None if self.receptive_field is None else list(self.receptive_field),
            "jump": None if self.jump is None else [_number(j) for j in self.jump],
            "formulas": self.formulas,
            "join": self.join,
            "branch": self.branch,
        }


@dataclass
class LayerFailure:
    """The layer whose output size cannot be computed, why, and its arithmetic."""

    name: str
    type: str
    input_shape: Shape
    message: str
    formulas: list[str] = field(default_factory=list)
    hint: str | None = None


@dataclass
class Summary:
    """Every row plus the totals (see the module docstring for the conventions)."""

    model: str
    input_shape: Shape
    layers: list[LayerRecord]
    failure: LayerFailure | None = None
    itemsize: int = 4

    @property
    def leaves(self) -> list[LayerRecord]:
        return [r for r in self.layers if r.is_leaf]

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.leaves)

    @property
    def trainable_params(self) -> int:
        return sum(r.trainable_params for r in self.leaves)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    total_buffers: int = 0
    #: Every join in walk order: (op, number of paths, output shape).
    joins: list[tuple[str, int, Shape]] = field(default_factory=list)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.leaves)

    @property
    def total_flops(self) -> int:
        return 2 * self.total_macs

    @property
    def output_shape(self) -> Shape | None:
        if self.failure is not None or not self.layers:
            return None
        return self.layers[0].output_shape

    #: Values made where parallel paths join (a concatenation, a residual sum, a gate's product).
    join_values: int = 0

    @property
    def activation_bytes(self) -> int:
        """Every layer output kept in memory, and every join's output (views such as Flatten,
        and an identity branch (an empty Sequential), cost nothing)."""
        return self.itemsize * self.join_values + self.itemsize * sum(
            math.prod(r.output_shape)
            for r in self.leaves
            if r.output_shape is not None
            and not r.functional
            and r.type not in ("Flatten", "view", "Sequential")  # views; the identity
        )

    @property
    def input_bytes(self) -> int:
        return self.itemsize * math.prod(self.input_shape)

    @property
    def param_bytes(self) -> int:
        return self.itemsize * (self.total_params + self.total_buffers)

    def rows(self, depth: int | None = None) -> list[LayerRecord]:
        """The rows down to ``depth`` (all when None); a container's row holds its totals."""
        return [r for r in self.layers if depth is None or r.depth <= depth]

    def to_dict(self, depth: int | None = None) -> dict[str, object]:
        """Totals (always of the whole network) and the rows down to ``depth`` (all when None)."""
        out: dict[str, object] = {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "output_shape": None if self.output_shape is None else list(self.output_shape),
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "buffers": self.total_buffers,
            "total_macs": self.total_macs,
            "total_flops": self.total_flops,
            "activation_bytes": self.activation_bytes,
            "param_bytes": self.param_bytes,
            "input_bytes": self.input_bytes,
            "depth": depth,
            "layers": [r.to_dict() for r in self.rows(depth)],
        }
        if self.failure is not None:
            out["error"] = {
                "layer": self.failure.name,
                "type": self.failure.type,
                "input_shape": list(self.failure.input_shape),
                "message": self.failure.message,
                "formulas": self.failure.formulas,
            }
        return out


class _StopWalkError(Exception):
    def __init__(self, failure: LayerFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def _is_container(layer: Layer) -> bool:
    """A block with children (an empty Sequential, the identity, is a leaf, as in torchinfo)."""
    return isinstance(layer, Block) and bool(layer.children())


class _Walker:
    def __init__(self) -> None:
        self.records: list[LayerRecord] = []
        self.rf: RF = (START, START)
        self.join_values = 0
        self.lanes: list[tuple[int, int]] = []
        self.joins: list[tuple[str, int, Shape]] = []

    def walk(self, layer: Layer, name: str, shape: Shape, depth: int) -> Shape:
        if _is_container(layer):
            return self._container(layer, name, shape, depth)
        return self._leaf(layer, name, shape, depth)

    def _leaf(self, layer: Layer, name: str, shape: Shape, depth: int) -> Shape:
        try:
            out = layer.output_shape(shape)
        except CnncliError as exc:
            raise _StopWalkError(
                LayerFailure(
                    name or layer.type_name,
                    layer.type_name,
                    shape,
                    exc.message,
                    _safe_formulas(layer, shape),
                    exc.hint,
                )
            ) from None
        params = layer.num_params()
        geom = layer.geometry()
        self._advance(layer, shape)
        rec = LayerRecord(
            name=name or layer.type_name,
            type=layer.type_name,
            depth=depth,
            is_leaf=True,
            functional=layer.functional,
            input_shape=shape,
            output_shape=out,
            kernel=geom.get("kernel", ""),
            stride=geom.get("stride", ""),
            padding=geom.get("padding", ""),
            dilation=geom.get("dilation", ""),
            params=params,
            trainable_params=params,
            macs=layer.macs(shape, out),
            receptive_field=_rf_size(self.rf),
            jump=_rf_jump(self.rf),
            formulas=_safe_formulas(layer, shape),
            lanes=tuple(self.lanes),
        )
        self.records.append(rec)
        return out

    def _advance(self, layer: Layer, shape: Shape) -> None:
        if self.rf is None:
            return
        axes = layer.rf_axes(shape)
        self.rf = (
            None if axes is None else (advance(self.rf[0], axes[0]), advance(self.rf[1], axes[1]))
        )

    def _container(self, layer: Layer, name: str, shape: Shape, depth: int) -> Shape:
        rec = LayerRecord(
            name=name or layer.type_name,
            type=layer.type_name,
            depth=depth,
            is_leaf=False,
            functional=False,
            input_shape=shape,
            params=layer.num_params(),
            trainable_params=layer.num_params(),
            lanes=tuple(self.lanes),
        )
        self.records.append(rec)
        first = len(self.records)
        assert isinstance(layer, Block)
        rec.join = first_join(layer.graph)
        out = self._flow(layer, layer.graph, name, shape, depth + 1)
        rec.output_shape = out
        rec.macs = sum(r.macs for r in self.records[first:] if r.is_leaf)
        rec.receptive_field = _rf_size(self.rf)
        rec.jump = _rf_jump(self.rf)
        return out

    def _flow(self, block: Block, node: Node, name: str, shape: Shape, depth: int) -> Shape:
        """Walk a block's data flow: its children in call order, each path of a join from
        the join's input; the join's receptive field is the largest of its paths'."""
        if isinstance(node, Step):
            prefix = f"{name}." if name else ""
            return self.walk(block.child(node.name), prefix + node.name, shape, depth)
        if isinstance(node, Path):
            for sub in node.nodes:
                shape = self._flow(block, sub, name, shape, depth)
            return shape
        assert isinstance(node, Join)
        rf_in = self.rf
        shapes, rfs = [], []
        serial = len(self.joins)
        self.joins.append((node.op, len(node.paths), ()))
        for k, path in enumerate(node.paths):
            self.rf = rf_in
            first = len(self.records)
            self.lanes.append((serial, k))
            shapes.append(self._flow(block, path, name, shape, depth))
            self.lanes.pop()
            rfs.append(self.rf)
            if isinstance(path, Path) and len(path.nodes) == 1 and len(self.records) > first:
                self.records[first].branch = True  # the path is one child: its row is the branch
        try:
            out = join_shape(node.op, shapes, "", node.labels)
        except CnncliError as exc:
            raise _StopWalkError(
                LayerFailure(
                    name or block.type_name, block.type_name, shape, exc.message, [], exc.hint
                )
            ) from None
        self.join_values += math.prod(out)
        self.joins[serial] = (node.op, len(node.paths), out)
        self.rf = rfs[0]
        for rf in rfs[1:]:
            self.rf = _merge_rf(self.rf, rf)
        return out


def _merge_rf(a: RF, b: RF) -> RF:
    """Where paths join, an output sees what every path sees (``all`` if one sees all)."""
    if a is None or b is None:
        return None
    return (merge(a[0], b[0]), merge(a[1], b[1]))


def _rf_size(rf: RF) -> tuple[int, int] | None:
    return None if rf is None else (rf[0].size, rf[1].size)


def _rf_jump(rf: RF) -> tuple[Fraction, Fraction] | None:
    return None if rf is None else (rf[0].jump, rf[1].jump)


def _number(j: Fraction) -> int | float:
    """A jump for JSON: a whole number, or a float for a fraction of a pixel."""
    return int(j) if j.denominator == 1 else float(j)


def _safe_formulas(layer: Layer, shape: Shape) -> list[str]:
    try:
        return layer.formulas(shape)
    except Exception:  # a formula is an explanation; a shape it cannot explain has no formula
        return []


def summarize(model: Layer, input_shape: Shape, batch: int = 1, itemsize: int = 4) -> Summary:
    """Shapes, parameters, MACs and receptive fields of ``model`` for one input size.

    ``input_shape`` is (C, H, W) (the batch is prepended) or a full (N, C, H, W).
    A layer whose output cannot be computed ends the walk: it is recorded in
    ``Summary.failure`` with its formula, and the rows before it are kept.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 3:
        shape = (int(batch), *shape)
    walker = _Walker()
    failure = None
    try:
        walker.walk(model, "", shape, 0)
    except _StopWalkError as stop:
        failure = stop.failure
    name = model.type_name
    summary = Summary(name, shape, walker.records, failure, itemsize)
    summary.join_values = walker.join_values
    summary.joins = walker.joins
    summary.total_buffers = (
        sum(
            math.prod(s)
            for k, s in model.expected_state().items()
            if not k.endswith("num_batches_tracked")
        )
        - model.num_params()
    )
    return summary
