"""The engine's tuned paths, fenced off from the ops that read like the seed.

Nothing here is needed for a correct number: every op in :mod:`cnncli.engine`
computes its result plainly (im2col and one matrix product, a max over a window
view, ...), and asks this package only where its one visible dispatch says a tuned
method fits the layer.  ``CNNCLI_ENGINE=plain`` or ``cnncli --engine plain``
(:mod:`cnncli.engine.switch`) turns all of it off, and the tests hold both paths
to the same naive loops and to PyTorch.

What is here, and why (the measurements behind each choice are in the decision
table of ``benchmarks/README.md``):

* :mod:`.conv`: which tuned convolution fits a call (:func:`.conv.choose`, the one
  place that picks), with a one-line reason per path, and the 1x1 matrix product.
* :mod:`.im2col`: im2col on channels-last input in bounded chunks, forward and backward.
* :mod:`.flat_shift`: stride-1 layers with few channels on the flattened padded image,
  where each kernel tap's im2col rows are one contiguous slice (LeNet, TinyVGG, a first
  layer on RGB), forward and backward.
* :mod:`.windows`: the plain im2col on the NCHW windows, a chunk of images at a time,
  for one-group layers that no method above takes (AlexNet's and ResNet's first layers,
  ResNet's strided layers): forward, and a strided layer's dW alone.
* :mod:`.shift_add`: shift-and-add for one input channel per group (nothing for BLAS
  to multiply), separable kernels as two 1-D passes, a repeated kernel on the
  channels' sum.
* :mod:`.winograd`: Winograd F(2x2, 3x3) and F(2x2, 5x5) for stride-1 layers with
  many channels, forward and backward: 2.25x and 2.8x fewer multiplications
  (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015,
  https://arxiv.org/abs/1509.09308).
* :mod:`.pool` and :mod:`.adaptive_pool`: pooling as two passes of 1-D pooling over
  strided views of the whole batch, in cache-sized blocks of planes on the engine's
  threads; dense full-resolution sums for average pooling; adaptive bins of one
  length as plain pooling windows.
* :mod:`.linear`: a fully connected layer with a large weight at a small batch as
  ``(W xᵀ)ᵀ``, which streams the weight in its own row order.
* :mod:`.elementwise`: relu against a block of zeros, leaky_relu and the two
  backwards without ``np.where``.
* :mod:`.threads`: the engine's own threads, for element-wise loops that BLAS does
  not parallelise (NumPy releases the GIL inside its loops).
* :mod:`.malloc`: glibc malloc settings that keep freed memory for the next op.
* :mod:`.frozen`: immutable arrays, so that a remembered weight transform stays valid.

Importing this package changes nothing in the process.  :func:`setup` applies the
process-wide settings; the command-line entry point calls it, and a library user
may call it once.
"""

from __future__ import annotations

from cnncli.engine.fast.malloc import tune_malloc


def setup() -> bool:
    """Apply the fast path's process-wide settings (glibc's malloc thresholds).

    Returns whether they were applied (see :func:`cnncli.engine.fast.malloc.tune_malloc`:
    not off glibc, not when the user set malloc's own variables, not with
    ``CNNCLI_MALLOC_TUNING=0``).  Calling it again changes nothing more.
    """
    return tune_malloc()
