"""The cnncli engine: NumPy ops for CNN layers, forward and backward, NCHW.

Forward functions carry ``torch.nn.functional``'s names, argument names and
defaults, take and return NumPy arrays, and keep float32 as float32 and float64
as float64.  This package imports NumPy and the standard library only.
"""

# helper "layers": activations, linear/flatten/dropout, batch_norm, cross_entropy
from cnncli.engine.activations import (  # noqa: F401
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
from cnncli.engine.linear import (  # noqa: F401
    dropout,
    dropout_backward,
    flatten,
    flatten_backward,
    linear,
    linear_backward,
)
from cnncli.engine.loss import (  # noqa: F401
    cross_entropy,
    cross_entropy_backward,
)
from cnncli.engine.norm import (  # noqa: F401
    batch_norm,
    batch_norm_backward,
)
