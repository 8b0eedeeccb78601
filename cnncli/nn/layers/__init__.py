"""Layer objects over the engine, with PyTorch's class names, arguments and state_dict keys.

One file per layer family, in the order the seed teaches them:

- :mod:`~cnncli.nn.layers.base`: :class:`Layer` (parameters, state_dict names, shapes,
  modes, the forward/backward protocol) and :class:`trace`;
- :mod:`~cnncli.nn.layers.conv`: :class:`Conv2d`;
- :mod:`~cnncli.nn.layers.resize`: :class:`ConvTranspose2d`, :class:`Upsample`,
  :class:`ZeroPad2d` (the layers that make maps larger);
- :mod:`~cnncli.nn.layers.pool`: :class:`MaxPool2d`, :class:`AvgPool2d`,
  :class:`AdaptiveAvgPool2d`, :class:`AdaptiveMaxPool2d`;
- :mod:`~cnncli.nn.layers.activation`: :class:`ReLU`, :class:`LeakyReLU`,
  :class:`Sigmoid`, :class:`Tanh`, :class:`Softmax`;
- :mod:`~cnncli.nn.layers.activation_modern`: :class:`ReLU6`, :class:`Hardtanh`,
  :class:`SiLU`, :class:`GELU`, :class:`Hardswish`, :class:`Hardsigmoid`, :class:`ELU`,
  :class:`Mish`, :class:`Identity`;
- :mod:`~cnncli.nn.layers.linear`: :class:`Flatten`, :class:`View`, :class:`Dropout`,
  :class:`Dropout2d`, :class:`Linear`;
- :mod:`~cnncli.nn.layers.norm`: :class:`BatchNorm2d`, :class:`BatchNorm1d`,
  :class:`GroupNorm`;
- :mod:`~cnncli.nn.layers.flow`: :class:`Block`, a container with a declared data flow
  (paths joined by ``torch.cat``, a residual add or a product), run by one interpreter;
- :mod:`~cnncli.nn.layers.containers`: :class:`Sequential`, :class:`Network`,
  :class:`BasicBlock`, :class:`Bottleneck`, :class:`Residual`, :class:`Concat`,
  :class:`Multiply`, :class:`SqueezeExcitation`;
- :mod:`~cnncli.nn.layers.classic`: torchvision's blocks of the classic CNNs:
  :class:`Fire`, :class:`BasicConv2d`, :class:`Inception`, :class:`DenseLayer`,
  :class:`DenseBlock`, :class:`Transition`, :class:`Conv2dNormActivation`,
  :class:`InvertedResidual`.

A layer's ``__init__`` checks its arguments and declares its parameters' shapes; its
``forward`` and ``backward`` are each one call into the engine's functional op. Engine
ops are imported inside ``forward``/``backward`` so that shape work never imports them.
"""

from __future__ import annotations

import numpy as np

from cnncli.nn.layers.activation import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from cnncli.nn.layers.activation_modern import (
    ELU,
    GELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    Mish,
    ReLU6,
    SiLU,
)
from cnncli.nn.layers.base import Layer, RfStep, Shape, Tracer, trace
from cnncli.nn.layers.classic import (
    BasicConv2d,
    Conv2dNormActivation,
    DenseBlock,
    DenseLayer,
    Fire,
    Inception,
    InvertedResidual,
    Transition,
)
from cnncli.nn.layers.containers import (
    BasicBlock,
    Bottleneck,
    Concat,
    Multiply,
    Network,
    Residual,
    Sequential,
    SqueezeExcitation,
)
from cnncli.nn.layers.conv import Conv2d, conv_formula
from cnncli.nn.layers.flow import Block, Join, Path, Step
from cnncli.nn.layers.linear import Dropout, Dropout2d, Flatten, Linear, View
from cnncli.nn.layers.norm import BatchNorm1d, BatchNorm2d, GroupNorm
from cnncli.nn.layers.pool import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    MaxPool2d,
    pool_formula,
)
from cnncli.nn.layers.resize import ConvTranspose2d, Upsample, ZeroPad2d

__all__ = [
    "ELU",
    "GELU",
    "LAYER_TYPES",
    "AdaptiveAvgPool2d",
    "AdaptiveMaxPool2d",
    "AvgPool2d",
    "BasicBlock",
    "BasicConv2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Block",
    "Bottleneck",
    "Concat",
    "Conv2d",
    "Conv2dNormActivation",
    "ConvTranspose2d",
    "DenseBlock",
    "DenseLayer",
    "Dropout",
    "Dropout2d",
    "Fire",
    "Flatten",
    "GroupNorm",
    "Hardsigmoid",
    "Hardswish",
    "Hardtanh",
    "Identity",
    "Inception",
    "InvertedResidual",
    "Join",
    "Layer",
    "LeakyReLU",
    "Linear",
    "MaxPool2d",
    "Mish",
    "Multiply",
    "Network",
    "Path",
    "ReLU",
    "ReLU6",
    "Residual",
    "RfStep",
    "Sequential",
    "Shape",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "SqueezeExcitation",
    "Step",
    "Tanh",
    "Tracer",
    "Transition",
    "Upsample",
    "View",
    "ZeroPad2d",
    "conv_formula",
    "initialize",
    "pool_formula",
    "set_dropout_seed",
    "trace",
]

#: Layer classes a spec may name, by PyTorch class name.
LAYER_TYPES: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        Conv2d,
        MaxPool2d,
        AvgPool2d,
        AdaptiveAvgPool2d,
        ReLU,
        LeakyReLU,
        Sigmoid,
        Tanh,
        Softmax,
        Flatten,
        Dropout,
        Linear,
        BatchNorm2d,
        Sequential,
        BasicBlock,
        Residual,
        # the layers of issue 16
        ConvTranspose2d,
        Upsample,
        ZeroPad2d,
        AdaptiveMaxPool2d,
        ReLU6,
        Hardtanh,
        SiLU,
        GELU,
        Hardswish,
        Hardsigmoid,
        ELU,
        Mish,
        Identity,
        Dropout2d,
        BatchNorm1d,
        GroupNorm,
        Bottleneck,
        Concat,
        Multiply,
        SqueezeExcitation,
        Fire,
        Inception,
        BasicConv2d,
        DenseBlock,
        Transition,
        Conv2dNormActivation,
        InvertedResidual,
    )
}


def set_dropout_seed(model: Layer, seed: int) -> None:
    """Give every Dropout (and Dropout2d) its own generator derived from ``seed`` (reproducible masks)."""
    for i, (_, layer) in enumerate(model.named_modules()):
        if isinstance(layer, Dropout):
            layer.generator = np.random.default_rng([seed, i])


def initialize(model: Layer, seed: int = 0) -> Layer:
    """Initialise every parameter with PyTorch's default scheme from ``seed``."""
    model.reset_parameters(np.random.default_rng(seed))
    set_dropout_seed(model, seed)
    return model
