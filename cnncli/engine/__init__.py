"""The cnncli engine: NumPy ops for CNN layers, forward and backward, NCHW.

Forward functions carry ``torch.nn.functional``'s names, argument names and
defaults, take and return NumPy arrays, and keep float32 as float32 and float64
as float64.  Each backward sits beside its forward as ``<op>_backward`` and
returns the gradient for every input and parameter.  The naive loop versions
(the teaching code and test oracles) are in :mod:`cnncli.engine.reference`;
output-size arithmetic is in :mod:`cnncli.engine.shapes`.

This package imports NumPy and the standard library only, and importing it changes
nothing in the process.  Each op computes plainly, as its docstring's formula reads,
and hands a call to the tuned paths of :mod:`cnncli.engine.fast` only where its one
dispatch says one fits; ``CNNCLI_ENGINE=plain`` or :func:`set_engine` turns them off
(:mod:`cnncli.engine.switch`).  :func:`cnncli.engine.fast.setup` applies the fast
path's process-wide settings (the command line calls it).
"""

from cnncli.engine.activations import (
    leaky_relu,
    leaky_relu_backward,
    log_softmax,
    log_softmax_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    tanh,
    tanh_backward,
)
from cnncli.engine.activations_modern import (
    elu,
    elu_backward,
    gelu,
    gelu_backward,
    hardsigmoid,
    hardsigmoid_backward,
    hardswish,
    hardswish_backward,
    hardtanh,
    hardtanh_backward,
    mish,
    mish_backward,
    relu6,
    relu6_backward,
    silu,
    silu_backward,
)
from cnncli.engine.conv import (
    conv2d,
    conv2d_backward,
    conv2d_backward_method,
    conv2d_backward_weight,
    conv2d_method,
    conv2d_workspace_bytes,
)
from cnncli.engine.conv_transpose import conv_transpose2d, conv_transpose2d_backward
from cnncli.engine.fast.frozen import freeze
from cnncli.engine.linear import (
    dropout,
    dropout2d,
    dropout2d_backward,
    dropout_backward,
    flatten,
    flatten_backward,
    linear,
    linear_backward,
)
from cnncli.engine.loss import cross_entropy, cross_entropy_backward
from cnncli.engine.norm import batch_norm, batch_norm_backward, group_norm, group_norm_backward
from cnncli.engine.pad import pad, pad_backward
from cnncli.engine.pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    adaptive_max_pool2d,
    adaptive_max_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    global_avg_pool2d,
    global_avg_pool2d_backward,
    global_max_pool2d,
    global_max_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    pool2d_method,
)
from cnncli.engine.switch import get_engine, set_engine, use_engine
from cnncli.engine.upsample import interpolate, interpolate_backward

__all__ = [
    "adaptive_avg_pool2d",
    "adaptive_avg_pool2d_backward",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "batch_norm",
    "batch_norm_backward",
    "conv2d",
    "conv2d_backward",
    "conv2d_backward_method",
    "conv2d_backward_weight",
    "conv2d_method",
    "conv2d_workspace_bytes",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "cross_entropy",
    "cross_entropy_backward",
    "dropout",
    "dropout2d",
    "dropout2d_backward",
    "dropout_backward",
    "elu",
    "elu_backward",
    "flatten",
    "flatten_backward",
    "freeze",
    "gelu",
    "gelu_backward",
    "get_engine",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    "global_max_pool2d",
    "global_max_pool2d_backward",
    "group_norm",
    "group_norm_backward",
    "hardsigmoid",
    "hardsigmoid_backward",
    "hardswish",
    "hardswish_backward",
    "hardtanh",
    "hardtanh_backward",
    "interpolate",
    "interpolate_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "linear",
    "linear_backward",
    "log_softmax",
    "log_softmax_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "mish",
    "mish_backward",
    "pad",
    "pad_backward",
    "pool2d_method",
    "relu",
    "relu6",
    "relu6_backward",
    "relu_backward",
    "set_engine",
    "sigmoid",
    "sigmoid_backward",
    "silu",
    "silu_backward",
    "softmax",
    "softmax_backward",
    "tanh",
    "tanh_backward",
    "use_engine",
]
