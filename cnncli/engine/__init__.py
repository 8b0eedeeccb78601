"""The cnncli engine: NumPy ops for CNN layers, forward and backward, NCHW.

Forward functions carry ``torch.nn.functional``'s names, argument names and
defaults, take and return NumPy arrays, and keep float32 as float32 and float64
as float64.  This package imports NumPy and the standard library only.
"""

from cnncli.engine.conv import conv2d, conv2d_backward
from cnncli.engine.pad import pad, pad_backward

__all__ = ["conv2d", "conv2d_backward", "pad", "pad_backward"]
