"""Layer objects over the engine, with PyTorch's class names, arguments and state_dict keys.

One file per layer family, in the order the seed teaches them:

- :mod:`~cnncli.nn.layers.base`: :class:`Layer` (parameters, state_dict names, shapes,
  modes, the forward/backward protocol) and :class:`trace`;
- :mod:`~cnncli.nn.layers.conv`: :class:`Conv2d`;
- :mod:`~cnncli.nn.layers.pool`: :class:`MaxPool2d`, :class:`AvgPool2d`,
  :class:`AdaptiveAvgPool2d`;
- :mod:`~cnncli.nn.layers.activation`: :class:`ReLU`, :class:`LeakyReLU`,
  :class:`Sigmoid`, :class:`Tanh`, :class:`Softmax`;
- :mod:`~cnncli.nn.layers.linear`: :class:`Flatten`, :class:`View`, :class:`Dropout`,
  :class:`Linear`;
- :mod:`~cnncli.nn.layers.norm`: :class:`BatchNorm2d`;
- :mod:`~cnncli.nn.layers.containers`: :class:`Sequential`, :class:`Network`,
  :class:`BasicBlock`, :class:`Residual`.

A layer's ``__init__`` checks its arguments and declares its parameters' shapes; its
``forward`` and ``backward`` are each one call into the engine's functional op. Engine
ops are imported inside ``forward``/``backward`` so that shape work never imports them.
"""

from __future__ import annotations

import numpy as np

from cnncli.nn.layers.activation import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from cnncli.nn.layers.base import Layer, RfStep, Shape, Tracer, trace
from cnncli.nn.layers.containers import BasicBlock, Network, Residual, Sequential
from cnncli.nn.layers.conv import Conv2d, conv_formula
from cnncli.nn.layers.linear import Dropout, Flatten, Linear, View
from cnncli.nn.layers.norm import BatchNorm2d
from cnncli.nn.layers.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, pool_formula

__all__ = [
    "LAYER_TYPES",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BasicBlock",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Layer",
    "LeakyReLU",
    "Linear",
    "MaxPool2d",
    "Network",
    "ReLU",
    "Residual",
    "RfStep",
    "Sequential",
    "Shape",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Tracer",
    "View",
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
    )
}


def set_dropout_seed(model: Layer, seed: int) -> None:
    """Give every Dropout its own generator derived from ``seed`` (reproducible masks)."""
    for i, (_, layer) in enumerate(model.named_modules()):
        if isinstance(layer, Dropout):
            layer.generator = np.random.default_rng([seed, i])


def initialize(model: Layer, seed: int = 0) -> Layer:
    """Initialise every parameter with PyTorch's default scheme from ``seed``."""
    model.reset_parameters(np.random.default_rng(seed))
    set_dropout_seed(model, seed)
    return model
