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
import keyword
from typing import Any

from cnncli.errors import ParameterError
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn.layers.base import Layer
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
    "BatchNorm2d": {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True},
}  # fmt: skip


def compact(type_name: str, args: dict[str, Any]) -> dict[str, Any]:
    """``args`` without PyTorch's defaults, an equal pair written as one number."""
    out = {}
    defaults = _DEFAULTS.get(type_name, {})
    for key, value in args.items():
        pair = key in ("kernel_size", "stride", "padding", "dilation")
        if pair and isinstance(value, list) and len(value) == 2 and value[0] == value[1]:
            value = value[0]
        if key in defaults and value == defaults[key]:
            continue
        out[key] = value
    return out


def _identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _module(layer: Layer, indent: int, used: set[str]) -> str:
    """The torch.nn expression that builds ``layer`` (containers over several lines)."""
    pad = "    " * indent
    if isinstance(layer, L.Sequential):
        kids = layer.children()
        inner = "    " * (indent + 1)
        if [n for n, _ in kids] == [str(i) for i in range(len(kids))]:
            body = "".join(f"{inner}{_module(c, indent + 1, used)},\n" for _, c in kids)
            return f"nn.Sequential(\n{body}{pad})"
        used.add("OrderedDict")
        body = "".join(f"{inner}({n!r}, {_module(c, indent + 1, used)}),\n" for n, c in kids)
        return f"nn.Sequential(OrderedDict([\n{body}{pad}]))"
    if isinstance(layer, L.Residual):
        used.add("Residual")
        short = _module(layer.shortcut, indent, used) if layer.shortcut is not None else "None"
        return (
            f"Residual({_module(layer.main, indent, used)}, {short}, relu={layer.relu is not None})"
        )
    if isinstance(layer, L.BasicBlock):
        used.add("BasicBlock")
        down = _module(layer.downsample, indent, used) if layer.downsample is not None else "None"
        return f"BasicBlock({layer.inplanes}, {layer.planes}, {layer.stride}, {down})"
    if isinstance(layer, L.View):
        return "nn.Flatten()"
    if isinstance(layer, Pad2d):
        return f"nn.ConstantPad2d({layer.pad}, {layer.value!r})"
    return _leaf(layer)


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
    first = [_py(args.pop(k)) for k in ("in_channels", "out_channels", "in_features",
                                       "out_features", "num_features") if k in args]  # fmt: skip
    text = ", ".join([*first, *(f"{k}={_py(v)}" for k, v in args.items())])
    return f"nn.{layer.type_name}({text})"


def _py(value: Any) -> str:
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


def torch_source(model: L.Network) -> str:
    """Python source of a torch.nn module equal to ``model`` (names, shapes, forward)."""
    cls = model.class_name if _identifier(model.class_name) else "Model"
    used: set[str] = set()
    init, forward = [], []
    for name, child in model.children():
        if child.functional and isinstance(child, (L.Flatten, L.View, Pad2d)):
            if isinstance(child, L.Flatten):
                forward.append(f"x = torch.flatten(x, {child.start_dim}, {child.end_dim})")
            elif isinstance(child, L.View):
                forward.append(f"x = x.view(x.size(0), {child.features})")
            else:
                used.add("F")
                forward.append(f"x = F.pad(x, {child.pad}, value={child.value!r})")
            continue
        expr = _module(child, 2, used)
        if _identifier(name):
            init.append(f"self.{name} = {expr}")
            forward.append(f"x = self.{name}(x)")
        else:
            init.append(f"self.add_module({name!r}, {expr})")
            forward.append(f"x = self.get_submodule({name!r})(x)")
    helpers = (_RESIDUAL if "Residual" in used else "") + (
        _BASIC_BLOCK if "BasicBlock" in used else ""
    )
    imports = "from collections import OrderedDict\n\n" if "OrderedDict" in used else ""
    imports += "import numpy as np\nimport torch\n"
    imports += "import torch.nn.functional as F\n" if "F" in used else ""
    init_text = "\n        ".join(init)
    forward_text = "\n        ".join(forward)
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
    raise ParameterError(f"{layer.type_name} has no export mapping yet")


def _spec_layer(name: str, layer: Layer) -> dict[str, Any]:
    """One layer's spec table (containers with their ``layers``)."""
    item: dict[str, Any] = {"type": "Flatten" if isinstance(layer, L.View) else layer.type_name}
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
    elif isinstance(layer, L.Sequential):
        item["type"] = "Sequential"
        item["layers"] = [_spec_layer(n, c) for n, c in layer.children()]
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


def spec_data(model: L.Network, chw: tuple[int, int, int] | None) -> dict[str, Any]:
    """The spec (a dict as :func:`cnncli.nn.spec.build_spec` reads it) of ``model``."""
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
