"""A cnncli network as PyTorch source (``--to model.py``), and the constructor arguments of
its layers (also the spec's keys, :mod:`cnncli.nn.export_spec`).

:func:`torch_source` writes a plain ``torch.nn`` module whose ``state_dict`` keys and shapes
are cnncli's, so that the .npz cnncli writes loads into it with ``load_state_dict``: the
children keep their names, ``Residual`` and ``BasicBlock`` are written out as small classes,
and the steps PyTorch code writes inside ``forward`` (``torch.flatten``, ``x.view``) stay
there. :func:`spec_args` gives a leaf layer's arguments by PyTorch's names, :func:`compact`
leaves out PyTorch's defaults.
"""

from __future__ import annotations

from typing import Any

from cnncli.errors import ParameterError
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn.export_flow import forward_lines, identifier, plain_flow
from cnncli.nn.layers.base import Layer
from cnncli.nn.layers.flow import Block
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


__all__ = ["compact", "spec_args", "torch_source"]
