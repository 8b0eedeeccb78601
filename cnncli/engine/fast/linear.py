"""The fully connected layer's tuned product: a large weight read in its own row order.

``y = x Wᵀ`` with x (N, in) and W (out, in) is computed as ``(W xᵀ)ᵀ`` when the weight
has at least :data:`WEIGHT_ELEMENTS` values and the batch is small (2 to
:data:`MAX_ROWS` rows): OpenBLAS then streams W row by row, where ``x @ W.T`` reads it
at a fraction of the memory's speed (AlexNet's fc6 at batch 8: 0.76x the time).  Up to
:data:`CHUNK_MAX_ROWS` rows, W goes to OpenBLAS :data:`CHUNK_BYTES` of rows at a time::

    y[:, o0:o1] = (W[o0:o1] xᵀ)ᵀ        for each block of output features o0:o1

which reads it faster again (fc6 and fc7 at batch 8: 0.88x and 0.75x the time of one
product).  The measurements are in benchmarks/README.md, decision table.  Same sums,
another order of the same products: results agree to float rounding.
"""

from __future__ import annotations

import numpy as np

#: From this many weight values the weight-first product is used (4 MiB of float32).
WEIGHT_ELEMENTS = 1 << 20
#: Up to this many rows (the batch); beyond it the two orders measured alike.
MAX_ROWS = 256
#: Up to this many rows the weight is multiplied a block of rows of this many bytes at a time.
CHUNK_MAX_ROWS = 32
CHUNK_BYTES = 8 << 20


def fits(x: np.ndarray, w: np.ndarray) -> bool:
    """Whether :func:`product` is the faster way for this call."""
    return x.ndim == 2 and 2 <= x.shape[0] <= MAX_ROWS and w.size >= WEIGHT_ELEMENTS


def product(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x Wᵀ`` as ``(W xᵀ)ᵀ``, returned C-contiguous: (N, in), (out, in) → (N, out)."""
    if x.shape[0] > CHUNK_MAX_ROWS:
        return np.ascontiguousarray((w @ x.T).T)
    xt = np.ascontiguousarray(x.T)  # (in, N)
    yt = np.empty((w.shape[0], x.shape[0]), dtype=np.result_type(x, w))  # (out, N)
    step = max(1, CHUNK_BYTES // max(1, w[:1].nbytes))
    for o in range(0, w.shape[0], step):
        np.matmul(w[o : o + step], xt, out=yt[o : o + step])
    return np.ascontiguousarray(yt.T)
