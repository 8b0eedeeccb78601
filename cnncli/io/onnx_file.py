"""ONNX files read as data: protobuf parsed, every size checked, nothing executed.

:func:`read_onnx` returns an :class:`OnnxGraph` of plain Python and NumPy values (nodes with
their attributes, initializers as arrays, the graph's inputs with their dimensions), after
these checks, each a one-line :class:`~cnncli.errors.InputFileError`:

- the file is a regular file of at most :data:`MAX_FILE_BYTES` and parses as a ModelProto
  (a truncated file does not);
- every tensor (initializer or Constant) has a known element type, its declared element
  count is at most :data:`MAX_ELEMENTS`, and its data holds exactly that many values;
- external data is read only from regular files inside the model's folder (an absolute
  path, ``..`` or a symlink that leads out of it is refused), and only within their size;
- the bytes of all tensors together fit ``limit`` (the memory guard) before any is made;
- every node input is a graph input, an initializer or an earlier node's output, and the
  nodes have no cycle (they are returned in an order that runs).

The ``onnx`` package (the ``onnx`` extra) is imported only inside :func:`read_onnx`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnncli.errors import InputFileError, MissingExtraError, ResourceLimitError

#: protobuf's own limit for one message.
MAX_FILE_BYTES = 2 * 1024**3
#: The most elements one tensor (or one dimension list) may declare.
MAX_ELEMENTS = 2**31 - 1

#: ONNX TensorProto.DataType → NumPy dtype (the types CNN files use).
DTYPES: dict[int, Any] = {
    1: np.float32,
    2: np.uint8,
    3: np.int8,
    5: np.int16,
    6: np.int32,
    7: np.int64,
    9: np.bool_,
    10: np.float16,
    11: np.float64,
}
#: The repeated field of TensorProto that holds each type's values when not raw.
_TYPED_FIELD = {1: "float_data", 11: "double_data", 7: "int64_data"}


@dataclass
class OnnxNode:
    """One node: ``op_type``, ``name``, input and output tensor names, attributes as values."""

    op_type: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""


@dataclass
class OnnxGraph:
    """A checked ONNX graph: nodes in an order that runs, initializers, inputs and outputs.

    ``inputs`` maps each real input (not an initializer) to its dimensions, an ``int`` or a
    name/None for a dynamic one.
    """

    name: str
    source: str
    nodes: list[OnnxNode]
    initializers: dict[str, np.ndarray]
    inputs: dict[str, tuple[int | str | None, ...]]
    outputs: list[str]
    opset: int
    producer: str = ""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise MissingExtraError(
            "reading .onnx files needs the onnx package",
            hint="pip install 'cnncli[onnx]'",
        ) from None
    return onnx


def read_onnx(path: str | Path, limit: int) -> OnnxGraph:
    """Read, check and convert the ONNX model at ``path`` (see the module docstring)."""
    onnx = _onnx()
    from google.protobuf.message import DecodeError

    p = Path(path)
    name = p.name
    try:
        if not p.exists():
            raise InputFileError(f"{path}: no such file")
        if not p.is_file():
            raise InputFileError(f"{path}: is not a regular file")
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputFileError(f"{name}: {size:,} bytes is more than an ONNX file can hold")
        data = p.read_bytes()
    except PermissionError:
        raise InputFileError(f"{path}: permission denied") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise InputFileError(
            f"{name}: not a valid ONNX file (the protobuf does not parse: {exc}); is it truncated?"
        ) from None
    if not model.HasField("graph") or not model.graph.node:
        raise InputFileError(f"{name}: not an ONNX model (no graph with nodes); is it truncated?")
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    reader = _TensorReader(onnx, name, p.resolve().parent, limit)
    g = model.graph
    initializers = list(g.initializer)
    for t in initializers:
        reader.check(t, f"initializer {t.name!r}")
    nodes = []
    for n in g.node:
        attrs = {}
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                reader.check(a.t, f"node {n.name!r} attribute {a.name!r}")
                attrs[a.name] = a.t
            elif a.type == onnx.AttributeProto.GRAPH or a.type == onnx.AttributeProto.GRAPHS:
                attrs[a.name] = None  # subgraphs (If, Loop): the op is refused by name
            else:
                attrs[a.name] = onnx.helper.get_attribute_value(a)
        nodes.append(OnnxNode(n.op_type, n.name, list(n.input), list(n.output), attrs, n.domain))
    reader.check_total()
    inits = {t.name: reader.array(t) for t in initializers}
    for node in nodes:
        for key, value in node.attrs.items():
            if isinstance(value, onnx.TensorProto):
                node.attrs[key] = reader.array(value)
            elif isinstance(value, bytes):
                node.attrs[key] = value.decode("utf-8", "replace")
    inputs: dict[str, tuple[int | str | None, ...]] = {}
    for vi in g.input:
        if vi.name in inits:
            continue
        dims: list[int | str | None] = []
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            else:
                dims.append(d.dim_param or None)
        known = [d for d in dims if isinstance(d, int)]
        if any(d < 0 for d in known) or math.prod(known) > MAX_ELEMENTS:
            raise InputFileError(
                f"{name}: input {vi.name!r} declares the shape {_dims_text(dims)}, "
                f"more than {MAX_ELEMENTS:,} elements"
            )
        inputs[vi.name] = tuple(dims)
    ordered = _topological(nodes, set(inputs) | set(inits), name)
    return OnnxGraph(
        g.name,
        name,
        ordered,
        inits,
        inputs,
        [o.name for o in g.output],
        opset,
        model.producer_name,
    )


def _dims_text(dims: Sequence[int | str | None]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def _topological(nodes: list[OnnxNode], known: set[str], source: str) -> list[OnnxNode]:
    """Nodes in an order where each runs after its inputs' producers (Kahn's algorithm).

    Raises for an input no one produces and for a cycle, naming the node.
    """
    producer: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for out in n.outputs:
            if out in producer or out in known:
                raise InputFileError(
                    f"{source}: tensor {out!r} is produced twice (node {n.name!r}); "
                    "not a valid ONNX graph"
                )
            if out:
                producer[out] = i
    waiting = [0] * len(nodes)
    users: list[list[int]] = [[] for _ in nodes]
    for i, n in enumerate(nodes):
        for inp in n.inputs:
            if not inp or inp in known:
                continue
            if inp not in producer:
                raise InputFileError(
                    f"{source}: node {n.name!r} ({n.op_type}) reads the tensor {inp!r}, "
                    "which is no graph input, initializer or node output"
                )
            waiting[i] += 1
            users[producer[inp]].append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    order: list[int] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for j in users[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.append(j)
    if len(order) < len(nodes):
        stuck = next(n for i, n in enumerate(nodes) if waiting[i] > 0)
        raise InputFileError(
            f"{source}: the graph has a cycle ({len(nodes) - len(order)} nodes wait on each "
            f"other, e.g. node {stuck.name!r} ({stuck.op_type}))"
        )
    return [nodes[i] for i in order]


class _TensorReader:
    """Checks each tensor's declared size against its data, then makes the arrays."""

    def __init__(self, onnx: Any, source: str, folder: Path, limit: int) -> None:
        self.onnx = onnx
        self.source = source
        self.folder = folder
        self.limit = limit
        self.total = 0
        self.raw: dict[int, tuple[Any, bytes]] = {}

    def check(self, t: Any, what: str) -> None:
        dims = [int(d) for d in t.dims]
        if any(d < 0 for d in dims):
            raise InputFileError(f"{self.source}: {what} has a negative dimension {dims}")
        count = math.prod(dims)
        if count > MAX_ELEMENTS:
            raise InputFileError(
                f"{self.source}: {what} declares the shape {_dims_text(dims)} = {count:,} "
                f"elements, more than {MAX_ELEMENTS:,}"
            )
        if t.data_type not in DTYPES:
            raise InputFileError(
                f"{self.source}: {what} has the ONNX element type {t.data_type}, which cnncli "
                "does not read (float32/64/16 and integer types)"
            )
        nbytes = count * np.dtype(DTYPES[t.data_type]).itemsize
        have = self._held(t, what, nbytes)
        if have != count:
            raise InputFileError(
                f"{self.source}: {what} declares the shape {_dims_text(dims)} = {count:,} "
                f"values but its data holds {have:,}"
            )
        self.total += nbytes

    def _held(self, t: Any, what: str, nbytes: int) -> int:
        """How many values the tensor's data holds (external data: its length in the file)."""
        itemsize = np.dtype(DTYPES[t.data_type]).itemsize
        if t.data_location == self.onnx.TensorProto.EXTERNAL:
            _, _, length = self._external(t, what)
            return (length if length is not None else nbytes) // itemsize
        if t.HasField("raw_data"):
            raw = t.raw_data  # each access copies: this one is kept for array()
            self.raw[id(t)] = (t, raw)  # t kept alive with it, so that its id stays its own
            if len(raw) % itemsize:
                return -1
            return len(raw) // itemsize
        typed = _TYPED_FIELD.get(t.data_type, "int32_data")
        return len(getattr(t, typed))

    def _external(self, t: Any, what: str) -> tuple[Path, int, int | None]:
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location", "")
        try:
            offset = int(info.get("offset", "0") or 0)
            length = int(info["length"]) if info.get("length") else None
        except ValueError:
            raise InputFileError(
                f"{self.source}: {what}: bad external data offset/length"
            ) from None
        rel = Path(location)
        if not location or rel.is_absolute() or ".." in rel.parts:
            raise InputFileError(
                f"{self.source}: {what} points at external data {location!r}, outside the "
                "model's folder; only files beside the model are read"
            )
        target = self.folder / rel
        real = Path(os.path.realpath(target))
        if not real.is_relative_to(self.folder):
            raise InputFileError(
                f"{self.source}: {what}: external data {location!r} leads out of the "
                "model's folder (a symlink); only files inside it are read"
            )
        if not real.is_file():
            raise InputFileError(f"{self.source}: {what}: external data {location!r} is missing")
        size = real.stat().st_size
        itemsize = np.dtype(DTYPES[t.data_type]).itemsize
        need = length if length is not None else math.prod(int(d) for d in t.dims) * itemsize
        if offset < 0 or offset + need > size:
            raise InputFileError(
                f"{self.source}: {what}: external data {location!r} has {size:,} bytes, "
                f"fewer than offset {offset:,} + {need:,}"
            )
        return real, offset, length

    def check_total(self) -> None:
        if self.total > self.limit:
            raise ResourceLimitError(
                f"{self.source}: its tensors need {self.total:,} bytes, more than the memory "
                f"limit of {self.limit:,}"
            )

    def array(self, t: Any) -> np.ndarray:
        """The tensor's values as an array (the checks above have passed)."""
        dtype = np.dtype(DTYPES[t.data_type])
        shape = tuple(int(d) for d in t.dims)
        if t.data_location == self.onnx.TensorProto.EXTERNAL:
            real, offset, _ = self._external(t, "tensor")
            with real.open("rb") as fh:
                fh.seek(offset)
                raw = fh.read(math.prod(shape) * dtype.itemsize)
            return (
                np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
                .astype(dtype, copy=False)
                .reshape(shape)
            )
        if t.HasField("raw_data"):
            kept = self.raw.pop(id(t), None)
            raw = kept[1] if kept is not None and kept[0] is t else t.raw_data
            return (
                np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
                .astype(dtype, copy=False)
                .reshape(shape)
            )
        return np.asarray(self.onnx.numpy_helper.to_array(t), dtype=dtype).reshape(shape)


__all__ = ["MAX_ELEMENTS", "MAX_FILE_BYTES", "OnnxGraph", "OnnxNode", "read_onnx"]
