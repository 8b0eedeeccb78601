"""A cnncli network as text: PyTorch source (``--to model.py``) or a spec (``--to spec.toml``).

:func:`torch_source` writes a plain ``torch.nn`` module whose ``state_dict`` keys and shapes
are cnncli's, so that the .npz cnncli writes loads into it with ``load_state_dict``: the
children keep their names, ``Residual`` and ``BasicBlock`` are written out as small classes,
and the steps PyTorch code writes inside ``forward`` (``torch.flatten``, ``x.view``) stay
there. :func:`spec_data` gives the spec of a network (see docs/spec-format.md) and
:func:`spec_toml` its TOML text; a spec has no View, so ``x.view(N, -1)`` becomes Flatten
(the same numbers and state_dict).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from cnncli.errors import ParameterError
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn.export_flow import forward_lines, identifier, plain_flow
from cnncli.nn.layers.base import Layer
from cnncli.nn.layers.flow import Block, Join, Path
from cnncli.nn.onnx_ops import LogSoftmax, Pad2d
from cnncli.nn.spec_schema import SCHEMA

_RESIDUAL = '''

class Residual(nn.Module):
    """out = relu(main(x) + shortcut(x)); without a shortcut, the identity."""

    def __init__(self, main: nn.Module, shortcut: nn.Module | None = None, relu: bool = True):
        super().__init__()
        self.main = main
        self.shortcut = shortcut
        self.relu = nn.ReLU() if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.main(x) + (self.shortcut(x) if self.shortcut is not None else x)
        return self.relu(out) if self.relu is not None else out
'''

_BASIC_BLOCK = '''

class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)
'''


#: Arguments left out when they have PyTorch's default value.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "Conv2d": {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True,
               "padding_mode": "zeros"},
    "MaxPool2d": {"padding": 0, "dilation": 1, "ceil_mode": False},
    "AvgPool2d": {"padding": 0, "ceil_mode": False, "count_include_pad": True},
    "ReLU": {"inplace": False},
    "LeakyReLU": {"negative_slope": 0.01},
    "Flatten": {"start_dim": 1, "end_dim": -1},
    "Dropout": {"p": 0.5},
    "Linear": {"bias": True},
    "BatchNorm2d": {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True,
                    "bias": True},
    "BatchNorm1d": {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True,
                    "bias": True},
    "GroupNorm": {"eps": 1e-5, "affine": True, "bias": True},
    "ConvTranspose2d": {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1,
                        "bias": True, "dilation": 1, "padding_mode": "zeros"},
    "Upsample": {"size": None, "scale_factor": None, "mode": "nearest", "align_corners": None,
                 "recompute_scale_factor": None},
    "Dropout2d": {"p": 0.5, "inplace": False},
    "Hardtanh": {"min_val": -1.0, "max_val": 1.0, "inplace": False},
    "ELU": {"alpha": 1.0, "inplace": False},
    "GELU": {"approximate": "none"},
    **{k: {"inplace": False} for k in ("ReLU6", "SiLU", "Hardswish", "Hardsigmoid", "Mish")},
}  # fmt: skip


def compact(type_name: str, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` without PyTorch's defaults, an equal pair written as one number."""
    out = {}
    defaults = _DEFAULTS.get(type_name, {})
    for key, value in args.items():
        pair = key in ("kernel_size", "stride", "padding", "dilation", "output_padding")
        if pair and isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
            value = value[0]
        if key in defaults and value == defaults[key]:
            continue
        out[key] = value
    return out


_BLOCK = '''

class Block(nn.Module):
    """Children registered in order (print(model), state_dict); each subclass's forward
    is its data flow. ``torch_name`` is the class name print(model) shows."""

    torch_name = ""

    def __init__(self, *children: tuple[str, nn.Module]) -> None:
        super().__init__()
        for name, module in children:
            self.add_module(name, module)

    def _get_name(self) -> str:
        return self.torch_name or type(self).__name__
'''


class _Source:
    """The pieces of a generated module: helper classes and imports, collected while the
    expressions are written (one class per block type and data flow)."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.classes: dict[str, str] = {}  # class text -> class name
        self.names: set[str] = set()

    def module(self, layer: Layer, indent: int) -> str:
        """The torch.nn expression that builds ``layer`` (containers over several lines)."""
        pad = "    " * indent
        inner = "    " * (indent + 1)
        if isinstance(layer, L.Residual):
            self.used.add("Residual")
            short = self.module(layer.shortcut, indent) if layer.shortcut is not None else "None"
            main = self.module(layer.main, indent)
            return f"Residual({main}, {short}, relu={layer.relu is not None})"
        if isinstance(layer, L.BasicBlock):
            self.used.add("BasicBlock")
            down = "None"
            if layer.downsample is not None:
                down = self.module(layer.downsample, indent)
            return f"BasicBlock({layer.inplanes}, {layer.planes}, {layer.stride}, {down})"
        if isinstance(layer, L.Sequential) and plain_flow(layer):
            kids = [(n, c) for n, c in layer.children() if not c.functional]
            cls = "nn.Sequential"
            if type(layer) is not L.Sequential and not isinstance(layer, L.Network):
                cls = self.sequential_class(layer.type_name)
            if [n for n, _ in kids] == [str(i) for i in range(len(kids))]:
                body = "".join(f"{inner}{self.module(c, indent + 1)},\n" for _, c in kids)
                return f"{cls}(\n{body}{pad})"
            self.used.add("OrderedDict")
            body = "".join(f"{inner}({n!r}, {self.module(c, indent + 1)}),\n" for n, c in kids)
            return f"{cls}(OrderedDict([\n{body}{pad}]))"
        if isinstance(layer, Block):
            cls = self.block_class(layer)
            kids = [(n, c) for n, c in layer.children() if not c.functional]
            body = "".join(f"{inner}({n!r}, {self.module(c, indent + 1)}),\n" for n, c in kids)
            return f"{cls}(\n{body}{pad})"
        if isinstance(layer, L.View):
            return "nn.Flatten()"
        if isinstance(layer, Pad2d):
            return f"nn.ConstantPad2d({layer.pad}, {layer.value!r})"
        return _leaf(layer)

    def _class_name(self, type_name: str) -> str:
        base = type_name if identifier(type_name) else "Block_"
        name, k = base, 2
        while name in self.names or name in ("Block", "Residual", "BasicBlock", "F", "nn"):
            name, k = f"{base}_{k}", k + 1
        self.names.add(name)
        return name

    def sequential_class(self, type_name: str) -> str:
        """A subclass of nn.Sequential printed as ``type_name`` (torchvision's _Transition)."""
        key = f"seq:{type_name}"
        if key not in self.classes:
            name = self._class_name(type_name)
            extra = ""
            if name != type_name:
                extra = f"\n\n    def _get_name(self) -> str:\n        return {type_name!r}"
            self.classes[key] = name
            self.classes[f"text:{key}"] = (
                f'\n\nclass {name}(nn.Sequential):\n    """{type_name}: its children in order."""'
                f"{extra}\n"
            )
        return self.classes[key]

    def block_class(self, layer: Block) -> str:
        """The class of a block: registered children, and a forward written from its flow."""
        body = forward_lines(layer, layer.graph, self.used)
        key = f"block:{layer.type_name}:" + "\n".join(body)
        if key not in self.classes:
            name = self._class_name(layer.type_name)
            forward = "\n        ".join(body)
            self.classes[key] = name
            self.classes[f"text:{key}"] = (
                f"\n\nclass {name}(Block):\n    torch_name = {layer.type_name!r}\n\n"
                f"    def forward(self, x: torch.Tensor) -> torch.Tensor:\n        {forward}\n"
            )
            self.used.add("Block")
        return self.classes[key]

    def helpers(self) -> str:
        text = (_RESIDUAL if "Residual" in self.used else "") + (
            _BASIC_BLOCK if "BasicBlock" in self.used else ""
        )
        text += _BLOCK if "Block" in self.used else ""
        return text + "".join(v for k, v in self.classes.items() if k.startswith("text:"))


def _leaf(layer: Layer) -> str:
    args = spec_args(layer)
    if isinstance(layer, L.Conv2d) and isinstance(layer.padding, tuple) and len(layer.padding) == 4:
        left, right, top, bottom = layer.padding
        if left != right or top != bottom:
            raise ParameterError(
                f"Conv2d padding {layer.padding} (left, right, top, bottom) is asymmetric: "
                "nn.Conv2d has no such argument"
            )
        args["padding"] = (top, left)
    args = compact(layer.type_name, args)
    if isinstance(layer, (L.MaxPool2d, L.AvgPool2d)):  # PyTorch prints them as given: 2 or (2, 2)
        for key in ("kernel_size", "stride", "padding", "dilation"):
            value = getattr(layer, key, None)
            if isinstance(value, tuple):
                args[key] = list(value)
    first = [_py(args.pop(k)) for k in ("in_channels", "out_channels", "in_features",
                                       "out_features", "num_features") if k in args]  # fmt: skip
    text = ", ".join([*first, *(f"{k}={_py(v)}" for k, v in args.items())])
    return f"nn.{layer.type_name}({text})"


def _py(value: Any) -> str:
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


def torch_source(model: L.Network) -> str:
    """Python source of a torch.nn module equal to ``model`` (names, shapes, forward)."""
    cls = model.class_name if identifier(model.class_name) else "Model"
    src = _Source()
    src.names.add(cls)
    init = []
    for name, child in model.children():
        if child.functional:
            continue
        expr = src.module(child, 2)
        if identifier(name):
            init.append(f"self.{name} = {expr}")
        else:
            init.append(f"self.add_module({name!r}, {expr})")
    forward = forward_lines(model, model.graph, src.used)
    helpers = src.helpers()
    used = src.used
    imports = "from collections import OrderedDict\n\n" if "OrderedDict" in used else ""
    imports += "import numpy as np\nimport torch\n"
    imports += "import torch.nn.functional as F\n" if "F" in used else ""
    init_text = "\n        ".join(init)
    last = forward.pop()[len("return ") :]
    forward_text = "\n        ".join(forward + ([] if last == "x" else [f"x = {last}"]))
    return f'''"""{model.title}: {model.description or cls}.

Written by `cnncli export`: plain torch.nn, the same state_dict keys and shapes as cnncli's,
so that cnncli's weights load with load_npz(model, "weights.npz").
"""

{imports}from torch import nn
{helpers}

class {cls}(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        {init_text}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        {forward_text}
        return x


def load_npz(model: nn.Module, path: str) -> nn.Module:
    """Load the weights cnncli writes (.npz keyed by state_dict names) into ``model``."""
    with np.load(path) as npz:
        model.load_state_dict({{k: torch.from_numpy(npz[k]) for k in npz.files}})
    return model


if __name__ == "__main__":
    print({cls}())
'''


def spec_args(layer: Layer) -> dict[str, Any]:
    """The constructor arguments of a leaf layer, by PyTorch's names (spec keys)."""
    if isinstance(layer, L.Conv2d):
        padding: Any = layer.padding if isinstance(layer.padding, str) else list(layer.padding)
        return {
            "in_channels": layer.in_channels, "out_channels": layer.out_channels,
            "kernel_size": list(layer.kernel_size), "stride": list(layer.stride),
            "padding": padding, "dilation": list(layer.dilation), "groups": layer.groups,
            "bias": layer.bias, "padding_mode": layer.padding_mode,
        }  # fmt: skip
    if isinstance(layer, (L.MaxPool2d, L.AvgPool2d)):
        out: dict[str, Any] = {
            "kernel_size": list(layer._k), "stride": list(layer._s), "padding": list(layer._p),
        }  # fmt: skip
        if isinstance(layer, L.MaxPool2d):
            out["dilation"] = list(layer._d)
        out["ceil_mode"] = layer.ceil_mode
        if isinstance(layer, L.AvgPool2d):
            out["count_include_pad"] = layer.count_include_pad
            if layer.divisor_override is not None:
                out["divisor_override"] = layer.divisor_override
        return out
    if isinstance(layer, L.AdaptiveAvgPool2d):
        size = layer.output_size
        return {"output_size": size if isinstance(size, int) else list(size)}
    if isinstance(layer, L.ReLU):
        return {"inplace": layer.inplace}
    if isinstance(layer, L.LeakyReLU):
        return {"negative_slope": layer.negative_slope}
    if isinstance(layer, L.Softmax):
        return {} if layer.dim is None else {"dim": layer.dim}
    if isinstance(layer, (L.Sigmoid, L.Tanh)):
        return {}
    if isinstance(layer, LogSoftmax):
        return {"dim": layer.dim}
    if isinstance(layer, L.Flatten):
        return {"start_dim": layer.start_dim, "end_dim": layer.end_dim}
    if isinstance(layer, L.View):
        return {"start_dim": 1, "end_dim": -1}
    if isinstance(layer, L.Dropout):
        return {"p": layer.p}
    if isinstance(layer, L.Linear):
        return {
            "in_features": layer.in_features,
            "out_features": layer.out_features,
            "bias": layer.bias,
        }
    if isinstance(layer, L.BatchNorm2d):
        return {
            "num_features": layer.num_features, "eps": layer.eps, "momentum": layer.momentum,
            "affine": layer.affine, "track_running_stats": layer.track_running_stats,
        }  # fmt: skip
    if type(layer).__name__ in _GENERIC:  # their attributes are their spec keys
        keys = [k for k in SCHEMA[type(layer).__name__] if k != "return_indices"]
        return {k: _plain(getattr(layer, k)) for k in keys if hasattr(layer, k)}
    raise ParameterError(f"{layer.type_name} has no export mapping yet")


#: Leaf layers whose constructor arguments are attributes of the same names.
_GENERIC = frozenset(
    ("ConvTranspose2d", "Upsample", "ZeroPad2d", "AdaptiveMaxPool2d", "ReLU6", "Hardtanh",
     "SiLU", "GELU", "Hardswish", "Hardsigmoid", "ELU", "Mish", "Identity", "GroupNorm")
)  # fmt: skip


def _plain(value: Any) -> Any:
    """A layer attribute as spec/TOML data: tuples become lists."""
    return list(value) if isinstance(value, tuple) else value


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
    elif isinstance(layer, Block):
        raise ParameterError(f"{name}: a {layer.type_name} block has no spec type yet")
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


def spec_data(model: L.Network, chw: tuple[int, int, int] | None) -> dict[str, Any]:
    """The spec (a dict as :func:`cnncli.nn.spec.build_spec` reads it) of ``model``."""
    if not plain_flow(model):  # e.g. the zoo's unet: skips join its named children
        raise ParameterError(
            f"{model.title}: its children are joined by skip connections, which a spec "
            "cannot write under the same names; export it --to model.py or --to model.onnx",
            hint="docs/spec-format.md shows a U-Net written as nested Concat blocks",
        )
    data: dict[str, Any] = {"name": model.title}
    if model.description:
        data["description"] = model.description
    if chw is not None:
        data["input"] = list(chw)
    data["layers"] = [_spec_layer(n, c) for n, c in model.children()]
    return data


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
        nested = {k: v for k, v in item.items() if k in ("layers", "shortcut")}
        out += [f"{k} = {_toml_value(v)}" for k, v in item.items() if k not in nested]
        for k, v in nested.items():
            _toml_tables(f"{key}.{k}", v, out)


def spec_toml(data: dict[str, Any]) -> str:
    """TOML text of a spec (arrays of tables, one per layer, nested for containers)."""
    out = [f"{k} = {_toml_value(v)}" for k, v in data.items() if k != "layers"]
    _toml_tables("layers", data["layers"], out)
    return "\n".join(out) + "\n"


__all__ = ["spec_args", "spec_data", "spec_toml", "torch_source"]
