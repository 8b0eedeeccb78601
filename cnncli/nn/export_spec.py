"""A cnncli network as a spec (``--to spec.toml``, see docs/spec-format.md).

:func:`spec_data` gives the spec of a network as :func:`cnncli.nn.spec.build_spec` reads it,
and :func:`spec_toml` its TOML text. Leaf layers are written by their constructor arguments
(:func:`cnncli.nn.export_text.spec_args`), torchvision's blocks by theirs, and a block whose
children are not applied in order (the zoo's ``unet``: skips join its named children) by its
data flow: every join a ``Concat``, ``Multiply`` or ``Residual`` whose branches hold the
layers of each path, nested as the joins nest. Such a spec builds the same computation with
the same parameters in the same order, under other state_dict names (``level1.inner.0``
instead of ``enc2``). A spec has no View, so ``x.view(N, -1)`` becomes Flatten (the same
numbers and state_dict).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cnncli.errors import ParameterError
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn.export_flow import plain_flow
from cnncli.nn.export_text import compact, spec_args
from cnncli.nn.layers.base import Layer
from cnncli.nn.layers.flow import Block, Join, Node, Path, Step, _steps
from cnncli.nn.onnx_ops import Pad2d
from cnncli.nn.spec import _NAME
from cnncli.nn.spec_schema import SCHEMA


def _spec_layer(name: str, layer: Layer) -> dict[str, Any]:
    """One layer's spec table (containers with their ``layers`` or ``branches``)."""
    cls = type(layer).__name__
    item: dict[str, Any] = {"type": "Flatten" if isinstance(layer, L.View) else layer.type_name}
    if cls in _BLOCK_ARGS:
        item["type"] = cls
    if not name.isdigit():
        item["name"] = name
    if isinstance(layer, L.Residual):
        item["layers"] = [_spec_layer(n, c) for n, c in layer.main.children()]
        if layer.shortcut is not None:
            item["shortcut"] = [_spec_layer(n, c) for n, c in layer.shortcut.children()]
        item["relu"] = layer.relu is not None
    elif isinstance(layer, L.BasicBlock):
        item.update(
            inplanes=layer.inplanes,
            planes=layer.planes,
            stride=layer.stride,
            downsample=layer.downsample is not None,
        )
    elif cls in _BLOCK_ARGS:
        assert isinstance(layer, Block)
        item.update(_BLOCK_ARGS[cls](layer))
    elif isinstance(layer, L.Concat):  # and Multiply; by the flow: a path may be the identity
        paths = layer.graph.paths if isinstance(layer.graph, Join) else ()
        item["branches"] = [
            _branch(p.nodes[0].name, layer.child(p.nodes[0].name))  # type: ignore[union-attr]
            if isinstance(p, Path) and p.nodes
            else {}
            for p in paths
        ]
    elif type(layer) is L.Sequential:
        item["type"] = "Sequential"
        item["layers"] = [_spec_layer(n, c) for n, c in layer.children()]
    elif isinstance(layer, Block):  # its own flow: the joins as blocks, in a Sequential
        item["type"] = "Sequential"
        item["layers"] = _FlowSpec(layer, name).items(layer.graph)
    elif isinstance(layer, Pad2d):
        raise ParameterError(
            f"{name}: a padding layer (ONNX pads a pool asymmetrically) has no spec type yet"
        )
    elif item["type"] not in SCHEMA:
        raise ParameterError(f"{name}: {item['type']} has no spec type yet")
    else:
        args = compact(item["type"], spec_args(layer))
        item.update({k: v for k, v in args.items() if v is not None})
    return item


def _branch(name: str, layer: Layer) -> dict[str, Any]:
    """A Concat's or Multiply's branch: a Sequential's layers (none: the identity), else a layer."""
    if type(layer) is not L.Sequential:
        return _spec_layer(name, layer)
    item: dict[str, Any] = {} if name.isdigit() else {"name": name}
    item["layers"] = [_spec_layer(n, c) for n, c in layer.children()]
    return item


def _conv_out(layer: Layer) -> int:
    """The out_channels of a BasicConv2d (its ``conv``) or a Sequential ending in one."""
    while isinstance(layer, Block) and not isinstance(layer, L.Conv2d):
        layer = layer.child("conv") if "conv" in dict(layer.children()) else layer.children()[-1][1]
    assert isinstance(layer, L.Conv2d)
    return layer.out_channels


def _bottleneck(b: Block) -> dict[str, Any]:
    conv1, conv2 = b.child("conv1"), b.child("conv2")
    assert isinstance(conv1, L.Conv2d) and isinstance(conv2, L.Conv2d)
    planes = b.planes  # type: ignore[attr-defined]
    out = {"inplanes": b.inplanes, "planes": planes, "stride": b.stride,  # type: ignore[attr-defined]
           "downsample": "downsample" in dict(b.children())}  # fmt: skip
    groups, dilation = conv2.groups, conv2.dilation[0]
    base_width = conv1.out_channels * 64 // (groups * planes)
    for key, value, default in (("groups", groups, 1), ("base_width", base_width, 64),
                                ("dilation", dilation, 1)):  # fmt: skip
        if value != default:
            out[key] = value
    return out


def _basic_conv(b: Block) -> dict[str, Any]:
    conv = b.child("conv")
    assert isinstance(conv, L.Conv2d)
    args = compact("Conv2d", spec_args(conv))
    keep = ("in_channels", "out_channels", "kernel_size", "stride", "padding")
    return {k: args[k] for k in keep if k in args}


#: Blocks written to a spec by their constructor arguments (read back from the children).
_BLOCK_ARGS: dict[str, Callable[[Block], dict[str, Any]]] = {
    "Bottleneck": _bottleneck,
    "BasicConv2d": _basic_conv,
    "Fire": lambda b: {
        "inplanes": b.inplanes,  # type: ignore[attr-defined]
        "squeeze_planes": _conv_out(b.child("squeeze")),
        "expand1x1_planes": _conv_out(b.child("expand1x1")),
        "expand3x3_planes": _conv_out(b.child("expand3x3")),
    },
    "Inception": lambda b: {
        "in_channels": b.in_channels,  # type: ignore[attr-defined]
        "ch1x1": _conv_out(b.child("branch1")),
        "ch3x3red": _conv_out(b.child("branch2").children()[0][1]),
        "ch3x3": _conv_out(b.child("branch2")),
        "ch5x5red": _conv_out(b.child("branch3").children()[0][1]),
        "ch5x5": _conv_out(b.child("branch3")),
        "pool_proj": _conv_out(b.child("branch4")),
    },
    "SqueezeExcitation": lambda b: {
        "input_channels": b.input_channels,  # type: ignore[attr-defined]
        "squeeze_channels": b.squeeze_channels,  # type: ignore[attr-defined]
        "activation": b.child("activation").type_name,
        "scale_activation": b.child("scale_activation").type_name,
    },
    "DenseBlock": lambda b: {
        "num_layers": len(b.children()),
        "num_input_features": _bn_features(b.children()[0][1]),
        "bn_size": _conv_out(b.children()[0][1].child("conv1")) // _conv_out(b.children()[0][1]),  # type: ignore[attr-defined]
        "growth_rate": _conv_out(b.children()[0][1]),
    },
    "Transition": lambda b: {
        "num_input_features": _bn_features(b),
        "num_output_features": _conv_out(b),
    },
    "Conv2dNormActivation": lambda b: _conv_norm_act(b.children()[0][1]),
    "InvertedResidual": lambda b: {
        "inp": _conv_in(b),
        "oup": b.out_channels,  # type: ignore[attr-defined]
        "stride": b.stride,  # type: ignore[attr-defined]
        "expand_ratio": _first_conv(b).out_channels // _first_conv(b).in_channels,
    },
}


def _conv_norm_act(conv: Layer) -> dict[str, Any]:
    """Conv2dNormActivation's arguments, read from its convolution."""
    assert isinstance(conv, L.Conv2d)
    k, s = conv.kernel_size, conv.stride
    return {"in_channels": conv.in_channels, "out_channels": conv.out_channels,
            "kernel_size": k[0] if isinstance(k, tuple) else k,
            "stride": s[0] if isinstance(s, tuple) else s, "groups": conv.groups}  # fmt: skip


def _first_conv(b: Layer) -> L.Conv2d:
    """The first Conv2d inside ``b`` (an InvertedResidual's expansion, or its depthwise
    convolution when it expands by 1)."""
    return next(layer for _, layer in b.named_modules() if isinstance(layer, L.Conv2d))


def _conv_in(b: Layer) -> int:
    return int(_first_conv(b).in_channels)


def _bn_features(b: Layer) -> int:
    """The num_features of the BatchNorm2d a DenseLayer or Transition starts with."""
    first = b.children()[0][1]
    assert isinstance(first, L.BatchNorm2d)
    return first.num_features


class _FlowSpec:
    """A block's data flow as spec layers: each step its child's table, each join a block
    whose branches hold its paths' layers (nested as the joins nest).

    ``cat`` and ``mul`` joins become ``Concat`` and ``Multiply`` (a branch per path, named
    by the join's label when it is a name), ``add`` of two paths a ``Residual`` without its
    ReLU (the identity path as the shortcut). The joins are named ``cat1``, ``cat2``, ... in
    the order of the flow. A child with weights must be called exactly once (a spec cannot
    share weights); a child without weights called twice is written twice (the second time unnamed, so called
    by its index).
    """

    def __init__(self, block: Block, owner: str) -> None:
        self.block = block
        self.taken = {name for name, _ in block.children()}
        self.count = 0
        self.written: set[str] = set()
        calls = [step.name for step in _steps(block.graph)]
        for name, child in block.children():
            n = calls.count(name)
            if n != 1 and child.expected_state():
                raise ParameterError(
                    f"{owner}: its child {name!r} ({child.type_name}) holds weights and is "
                    f"called {n} times in its forward, which a spec cannot write (a spec "
                    "layer has its own weights and runs once); export it --to model.py or "
                    "--to model.onnx",
                    hint="docs/spec-format.md shows the joins a spec can write (Concat, "
                    "Multiply, Residual)",
                )

    def items(self, node: Node) -> list[dict[str, Any]]:
        """The spec layers of ``node``, in the order they run."""
        if isinstance(node, Step):  # a second call of a child is called by its index
            again = node.name in self.written
            self.written.add(node.name)
            return [_spec_layer("0" if again else node.name, self.block.child(node.name))]
        if isinstance(node, Path):
            return [item for sub in node.nodes for item in self.items(sub)]
        return [self.join(node)]

    def join(self, node: Join) -> dict[str, Any]:
        self.count += 1
        name = f"{node.op}{self.count}"
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        paths = [self.items(p) for p in node.paths]
        if node.op == "add":
            if len(paths) != 2 or not any(paths):
                raise ParameterError(
                    f"{name}: a sum of {len(paths)} paths has no spec form (Residual adds two)"
                )
            main, short = paths if paths[0] else paths[::-1]  # a + b == b + a, bit for bit
            item = {"type": "Residual", "name": name, "layers": main, "relu": False}
            return item | ({"shortcut": short} if short else {})
        labels = node.labels if len(node.labels) == len(paths) else ("",) * len(paths)
        usable = [_NAME.fullmatch(n) is not None for n in labels]
        named = all(usable) and len(set(labels)) == len(labels)
        branches = [
            ({"name": label} if named else {}) | ({"layers": layers} if layers else {})
            for label, layers in zip(labels, paths, strict=True)
        ]
        return {"type": "Concat" if node.op == "cat" else "Multiply", "name": name,
                "branches": branches}  # fmt: skip


def spec_data(model: L.Network, chw: tuple[int, int, int] | None) -> dict[str, Any]:
    """The spec (a dict as :func:`cnncli.nn.spec.build_spec` reads it) of ``model``.

    A model whose children are not applied in order (the zoo's unet) is written by its flow
    (:class:`_FlowSpec`): the same layers and parameters in the same order, other names.
    """
    data: dict[str, Any] = {"name": model.title}
    if model.description:
        data["description"] = model.description
    if chw is not None:
        data["input"] = list(chw)
    if plain_flow(model):
        data["layers"] = [_spec_layer(n, c) for n, c in model.children()]
    else:  # e.g. the zoo's unet: skips join its named children
        data["layers"] = _FlowSpec(model, model.title).items(model.graph)
    return data


def written_by_flow(model: L.Network) -> bool:
    """Whether :func:`spec_data` writes ``model`` by its flow (other state_dict names)."""
    return not plain_flow(model)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


def _toml_tables(key: str, items: list[dict[str, Any]], out: list[str]) -> None:
    for item in items:
        out.append(f"\n[[{key}]]")
        nested = {k: v for k, v in item.items() if k in ("layers", "shortcut", "branches")}
        out += [f"{k} = {_toml_value(v)}" for k, v in item.items() if k not in nested]
        for k, v in nested.items():
            _toml_tables(f"{key}.{k}", v, out)


def spec_toml(data: dict[str, Any]) -> str:
    """TOML text of a spec (arrays of tables, one per layer, nested for containers)."""
    out = [f"{k} = {_toml_value(v)}" for k, v in data.items() if k != "layers"]
    _toml_tables("layers", data["layers"], out)
    return "\n".join(out) + "\n"


__all__ = ["spec_data", "spec_toml", "written_by_flow"]
