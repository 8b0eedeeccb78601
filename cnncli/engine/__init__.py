"""The cnncli engine: NumPy ops for CNN layers, forward and backward, NCHW.

Forward functions carry ``torch.nn.functional``'s names, argument names and
defaults, take and return NumPy arrays, and keep float32 as float32 and float64
as float64.  This package imports NumPy and the standard library only.
"""

from cnncli.engine.pool import (  # noqa: F401  (re-exported)
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
)
