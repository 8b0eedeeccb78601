"""Files to arrays and arrays to files.

* :func:`load_tensor`: an image or matrix file (or ``-``) → :class:`Loaded` (4-D NCHW).
* :func:`load_kernel_file`, :func:`parse_inline_matrix`: convolution kernels.
* :func:`save_result`, :func:`atomic_open`, :func:`atomic_write_bytes`,
  :func:`check_output_path`: outputs written whole or not at all.
* :func:`seed_pool_matrix`, :func:`digit8`: the built-in examples.
* :mod:`cnncli.io.inputs`: what a tensor command reads (INPUT, ``--grad``, a weight file).
* :mod:`cnncli.io.network`: the files of ``cnncli forward`` (model input, labels, outputs, maps).

Importing this package does not import Pillow; image functions import it when called.
"""

from cnncli.io.builtin import digit8, seed_pool_matrix
from cnncli.io.common import Loaded
from cnncli.io.load import (
    INPUT_EXTENSIONS,
    KERNEL_EXTENSIONS,
    load_kernel_file,
    load_tensor,
    parse_inline_matrix,
)
from cnncli.io.write import (
    OUTPUT_EXTENSIONS,
    PNG_SCALES,
    atomic_open,
    atomic_write_bytes,
    check_output_path,
    save_result,
)

__all__ = [
    "INPUT_EXTENSIONS",
    "KERNEL_EXTENSIONS",
    "OUTPUT_EXTENSIONS",
    "PNG_SCALES",
    "Loaded",
    "atomic_open",
    "atomic_write_bytes",
    "check_output_path",
    "digit8",
    "load_kernel_file",
    "load_tensor",
    "parse_inline_matrix",
    "save_result",
    "seed_pool_matrix",
]
