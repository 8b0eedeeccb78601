"""A cnncli network as an ONNX model: ``cnncli export MODEL --to model.onnx``.

One ONNX node per layer, in the order the layers run, at opset :data:`OPSET`; initializers
carry the state_dict names (``features.0.weight``), nodes torch.onnx's module-path names
(``/features/features.0/Conv``), so that importing the file again gives the same layer
names. The batch is dynamic (``N``); H and W are those the export was made for, because an
adaptive pool becomes a fixed pool for them. Dropout, the identity in eval mode, writes no
node. The ``onnx`` package is imported only inside :func:`to_onnx`.

Mapping (PyTorch → ONNX): Conv2d → Conv (pads = [top, left, bottom, right]), MaxPool2d →
MaxPool, AvgPool2d → AveragePool, AdaptiveAvgPool2d → GlobalAveragePool or an AveragePool
whose window divides the input, Linear → Gemm (transB = 1), BatchNorm2d →
BatchNormalization (momentum = 1 − PyTorch's), Flatten/View → Flatten(axis = 1),
Residual/BasicBlock → their layers, then Add and Relu.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnncli.errors import MissingExtraError, ParameterError
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn.layers.base import Layer, Shape
from cnncli.nn.layers.flow import Block, Node, Path, Step, join_shape
from cnncli.nn.onnx_ops import ConstOp, LogSoftmax, Pad2d

OPSET = 20


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise MissingExtraError(
            "writing .onnx files needs the onnx package", hint="pip install 'cnncli[onnx]'"
        ) from None
    return onnx


def _scope(path: str) -> str:
    """``features.0`` → ``/features/features.0`` (torch.onnx's naming)."""
    parts = path.split(".") if path else []
    return "".join("/" + ".".join(parts[: i + 1]) for i in range(len(parts)))


class _Writer:
    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0
        self.node_names: set[str] = set()
        self.written: set[str] = set()

    def tensor(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        if name in self.written:  # a child run more than once (Bottleneck's relu)
            return name
        self.written.add(name)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], path: str, **attrs: Any) -> str:
        self.count += 1
        out = f"{_scope(path)}/{op}_output_{self.count}"
        name = base = f"{_scope(path)}/{op}"
        k = 1
        while name in self.node_names:  # BasicBlock's relu runs twice
            name, k = f"{base}_{k}", k + 1
        self.node_names.add(name)
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def layer(self, layer: Layer, path: str, x: str, shape: Shape) -> tuple[str, Shape]:
        """Write ``layer`` (named ``path``) applied to tensor ``x`` of ``shape``."""
        out_shape = layer.output_shape(shape)
        key = (path + ".") if path else ""
        if isinstance(layer, Block):  # Sequential, Network and every block: by its flow
            return self._flow(layer, layer.graph, key, x, shape)
        params = {n: layer._param(n) for n in layer.param_shapes()}
        names = [self.tensor(key + n, v) for n, v in params.items()]
        more = self._modern(layer, path, key, x, shape, names)
        if more is not None:
            return more, out_shape
        if isinstance(layer, L.Conv2d):
            if layer.padding_mode != "zeros":
                raise ParameterError(
                    f"{path} (Conv2d): padding_mode {layer.padding_mode!r} has no ONNX Conv form"
                )
            left, right, top, bottom = layer._pad4
            return self.node(
                "Conv", [x, *names], path, kernel_shape=list(layer.kernel_size),
                strides=list(layer.stride), dilations=list(layer.dilation),
                group=layer.groups, pads=[top, left, bottom, right],
            ), out_shape  # fmt: skip
        if isinstance(layer, L.MaxPool2d):
            (ph, pw) = layer._p
            return self.node(
                "MaxPool", [x], path, kernel_shape=list(layer._k), strides=list(layer._s),
                pads=[ph, pw, ph, pw], dilations=list(layer._d), ceil_mode=int(layer.ceil_mode),
            ), out_shape  # fmt: skip
        if isinstance(layer, L.AvgPool2d):
            if layer.divisor_override is not None:
                raise ParameterError(f"{path} (AvgPool2d): divisor_override has no ONNX form")
            (ph, pw) = layer._p
            return self.node(
                "AveragePool", [x], path, kernel_shape=list(layer._k), strides=list(layer._s),
                pads=[ph, pw, ph, pw], ceil_mode=int(layer.ceil_mode),
                count_include_pad=int(layer.count_include_pad),
            ), out_shape  # fmt: skip
        if isinstance(layer, L.AdaptiveAvgPool2d):
            return self._adaptive(layer, path, x, shape), out_shape
        if isinstance(layer, L.Linear):
            return self.node("Gemm", [x, *names], path, transB=1), out_shape
        if isinstance(layer, L.BatchNorm2d):
            return self._batch_norm(layer, key, path, x), out_shape
        if isinstance(layer, (L.Flatten, L.View)):
            if isinstance(layer, L.Flatten) and layer._dims(len(shape)) != (1, len(shape) - 1):
                raise ParameterError(f"{path} (Flatten): only start_dim=1, end_dim=-1 is exported")
            return self.node("Flatten", [x], path, axis=1), out_shape
        if isinstance(layer, L.Dropout):
            return x, out_shape  # the identity in eval mode
        if isinstance(layer, Pad2d):
            left, right, top, bottom = layer.pad
            pads = self.tensor(f"{key}pads", np.array([0, 0, top, left, 0, 0, bottom, right]))
            value = self.tensor(f"{key}value", np.array(layer.value, np.float32))
            return self.node("Pad", [x, pads, value], path, mode="constant"), out_shape
        if isinstance(layer, ConstOp):
            c = self.tensor(f"{key}constant", layer.value)
            return self.node(layer.op, [x, c], path), out_shape
        simple = {"ReLU": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh"}
        if layer.type_name in simple:
            return self.node(simple[layer.type_name], [x], path), out_shape
        if isinstance(layer, L.LeakyReLU):
            return self.node("LeakyRelu", [x], path, alpha=layer.negative_slope), out_shape
        if isinstance(layer, L.Softmax):
            return self.node("Softmax", [x], path, axis=layer._dim(len(shape))), out_shape
        if isinstance(layer, LogSoftmax):
            return self.node("LogSoftmax", [x], path, axis=layer.dim), out_shape
        raise ParameterError(
            f"{path or 'the model'} ({layer.type_name}) has no ONNX mapping yet",
            hint="see the mapping in cnncli/nn/onnx_export.py",
        )

    def _modern(
        self, layer: Layer, path: str, key: str, x: str, shape: Shape, names: list[str]
    ) -> str | None:
        """The layers of issue 16 (None for the others): one node, or torch.onnx's
        decomposition where ONNX has no operator (SiLU; GroupNorm, whose opset-18 operator
        scales per group)."""
        kind = type(layer).__name__
        if isinstance(layer, L.ConvTranspose2d):
            ph, pw = layer.padding
            return self.node(
                "ConvTranspose", [x, *names], path, kernel_shape=list(layer.kernel_size),
                strides=list(layer.stride), dilations=list(layer.dilation), group=layer.groups,
                pads=[ph, pw, ph, pw], output_padding=list(layer.output_padding),
            )  # fmt: skip
        if isinstance(layer, L.Upsample):
            return self._upsample(layer, path, key, x, shape)
        if isinstance(layer, L.ZeroPad2d):
            left, right, top, bottom = layer.padding
            pads = self.tensor(f"{key}pads", np.array([0, 0, top, left, 0, 0, bottom, right]))
            return self.node("Pad", [x, pads], path, mode="constant")
        if isinstance(layer, L.AdaptiveMaxPool2d):
            oh, ow = layer._target(shape)
            if (oh, ow) == (1, 1):
                return self.node("GlobalMaxPool", [x], path)
            H, W = shape[2:]
            if H % oh or W % ow:
                raise ParameterError(
                    f"{path} (AdaptiveMaxPool2d): {H}×{W} → {oh}×{ow} has unequal bins"
                )
            k = [H // oh, W // ow]
            return self.node("MaxPool", [x], path, kernel_shape=k, strides=k)
        if kind in ("ReLU6", "Hardtanh"):
            lo, hi = (0.0, 6.0) if kind == "ReLU6" else (layer.min_val, layer.max_val)  # type: ignore[attr-defined]
            a = self.tensor(f"{key}min", np.array(lo, np.float32))
            b = self.tensor(f"{key}max", np.array(hi, np.float32))
            return self.node("Clip", [x, a, b], path)
        if kind == "Hardswish":
            return self.node("HardSwish", [x], path)
        if kind == "Hardsigmoid":
            return self.node("HardSigmoid", [x], path, alpha=1.0 / 6, beta=0.5)
        if kind == "ELU":
            return self.node("Elu", [x], path, alpha=layer.alpha)  # type: ignore[attr-defined]
        if kind == "SiLU":  # x · sigmoid(x)
            return self.node("Mul", [x, self.node("Sigmoid", [x], path)], path)
        if kind == "Mish":
            return self.node("Mish", [x], path)
        if kind == "GELU":
            return self.node("Gelu", [x], path, approximate=layer.approximate)  # type: ignore[attr-defined]
        if kind == "GroupNorm":
            return self._group_norm(layer, path, key, x, names)
        if kind == "Identity":
            return x
        return None

    def _group_norm(self, layer: Layer, path: str, key: str, x: str, names: list[str]) -> str:
        """torch.onnx's form: (N, G, −1) → InstanceNormalization → the input's shape →
        · weight + bias per channel (C, 1, 1)."""
        G, C = layer.num_groups, layer.num_channels  # type: ignore[attr-defined]
        ones = self.tensor(f"{key}group_scale", np.ones(G, np.float32))
        zeros = self.tensor(f"{key}group_bias", np.zeros(G, np.float32))
        shape = self.tensor(f"{key}group_shape", np.array([0, G, -1], np.int64))
        y = self.node("Reshape", [x, shape], path)
        y = self.node("InstanceNormalization", [y, ones, zeros], path, epsilon=layer.eps)  # type: ignore[attr-defined]
        y = self.node("Reshape", [y, self.node("Shape", [x], path)], path)
        self.inits = [t for t in self.inits if t.name not in names]  # written again as (C, 1, 1)
        self.written.difference_update(names)
        for name, op in zip(names, ("Mul", "Add"), strict=False):
            col = self.tensor(name, layer._param(name.rsplit(".", 1)[-1]).reshape(C, 1, 1))
            y = self.node(op, [y, col], path)
        return y

    def _upsample(self, layer: L.Upsample, path: str, key: str, x: str, shape: Shape) -> str:
        """Resize: nearest as PyTorch (asymmetric, floor), bilinear with align_corners
        or pytorch_half_pixel; a scale factor as ``scales``, a size as ``sizes``."""
        roi = self.tensor(f"{key}roi", np.zeros(0, np.float32))
        if layer.mode == "nearest":
            attrs: dict[str, Any] = {"mode": "nearest", "nearest_mode": "floor",
                                     "coordinate_transformation_mode": "asymmetric"}  # fmt: skip
        else:
            ctm = "align_corners" if layer.align_corners else "pytorch_half_pixel"
            attrs = {"mode": "linear", "coordinate_transformation_mode": ctm}
        out = layer.output_shape(shape)
        if layer.scale_factor is not None and not layer.recompute_scale_factor:
            sf = layer.scale_factor
            sh, sw = sf if isinstance(sf, tuple) else (sf, sf)
            scales = self.tensor(f"{key}scales", np.array([1, 1, sh, sw], np.float32))
            return self.node("Resize", [x, roi, scales], path, **attrs)
        nc = self.node("Shape", [x], path, start=0, end=2)
        hw = self.tensor(f"{key}size", np.array(out[2:], np.int64))
        sizes = self.node("Concat", [nc, hw], path, axis=0)
        return self.node("Resize", [x, roi, "", sizes], path, **attrs)

    def _adaptive(self, layer: L.AdaptiveAvgPool2d, path: str, x: str, shape: Shape) -> str:
        _, _, H, W = shape
        oh, ow = layer._target(shape)
        if (oh, ow) == (1, 1):
            return self.node("GlobalAveragePool", [x], path)
        if H % oh or W % ow:
            raise ParameterError(
                f"{path} (AdaptiveAvgPool2d): {H}×{W} → {oh}×{ow} has unequal bins, which ONNX "
                "has no operator for; export at an input size whose H and W it divides"
            )
        k = [H // oh, W // ow]
        return self.node("AveragePool", [x], path, kernel_shape=k, strides=k)

    def _batch_norm(self, layer: L.BatchNorm2d, key: str, path: str, x: str) -> str:
        if not layer.track_running_stats:
            raise ParameterError(f"{path} (BatchNorm2d): without running statistics")
        C = layer.num_features
        names = []
        for name, fallback in (("weight", np.ones(C)), ("bias", np.zeros(C))):
            if name in layer.param_shapes():
                names.append(key + name)  # written by the caller with the other parameters
            else:
                names.append(self.tensor(f"{key}{name}_const", fallback.astype(np.float32)))
        for name in ("running_mean", "running_var"):
            value = layer._buffers.get(name)
            if value is None:
                raise ParameterError(f"{path} (BatchNorm2d) has no {name} yet")
            names.append(self.tensor(key + name, np.asarray(value, np.float32)))
        momentum = 1.0 - (layer.momentum if layer.momentum is not None else 0.1)
        return self.node(
            "BatchNormalization", [x, *names], path, epsilon=layer.eps, momentum=momentum
        )

    def _flow(self, block: Block, node: Node, key: str, x: str, shape: Shape) -> tuple[str, Shape]:
        """Write ``block``'s data flow from tensor ``x``: steps in order, a join as one
        Concat (axis 1), a chain of Add or of Mul, named by the block's path."""
        if isinstance(node, Step):
            return self.layer(block.child(node.name), key + node.name, x, shape)
        if isinstance(node, Path):
            for sub in node.nodes:
                x, shape = self._flow(block, sub, key, x, shape)
            return x, shape
        outs = [self._flow(block, p, key, x, shape) for p in node.paths]
        out_shape = join_shape(node.op, [s for _, s in outs])
        names = [t for t, _ in outs]
        where = key.rstrip(".")
        if node.op == "cat":
            return self.node("Concat", names, where, axis=1), out_shape
        total = names[0]
        for other in names[1:]:
            total = self.node("Add" if node.op == "add" else "Mul", [total, other], where)
        return total, out_shape


def to_onnx(model: Layer, chw: tuple[int, int, int], name: str = "cnncli") -> bytes:
    """The serialized ONNX model of ``model`` (weights loaded, eval mode) for (N, *chw) inputs."""
    onnx = _onnx()
    helper = onnx.helper
    writer = _Writer(onnx)
    out, shape = writer.layer(model, "", "input", (1, *chw))
    writer.nodes.append(helper.make_node("Identity", [out], ["output"], name="/output"))
    graph = helper.make_graph(
        writer.nodes,
        name,
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["N", *chw])],
        [helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, ["N", *shape[1:]])],
        writer.inits,
    )
    proto = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="cnncli"
    )
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    data: bytes = proto.SerializeToString()
    return data


__all__ = ["OPSET", "to_onnx"]
