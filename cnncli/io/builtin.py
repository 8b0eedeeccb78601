"""The built-in examples a command falls back to when INPUT is omitted.

* :func:`seed_pool_matrix`: the seed's 4×4 pooling matrix as (1, 1, 4, 4).
* :func:`digit8`: a 28×28 handwritten-style digit 8 (white on black, as MNIST),
  shipped as ``cnncli/data/digit8.png`` and drawn by ``samples/make_samples.py``.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from cnncli.examples import SEED_POOL_INPUT
from cnncli.io.common import SCALES, Loaded, check_choice, check_dtype

DIGIT8_RESOURCE = "digit8.png"


def seed_pool_matrix(*, dtype: object = "float32") -> Loaded:
    """The seed's 4×4 pooling example as a (1, 1, 4, 4) tensor."""
    dt = check_dtype(dtype)
    return Loaded(
        array=SEED_POOL_INPUT.astype(dt)[None, None].copy(),
        source="built-in seed 4×4 matrix",
        kind="matrix",
        original_shape=(4, 4),
        original_layout="H×W",
        notes=["no INPUT given: using the built-in 4×4 matrix from the seed's pooling section"],
        description="the seed's 4×4 pooling matrix, 4×4 (H×W)",
        original_dtype="float32",
    )


def digit8(*, scale: str = "raw", dtype: object = "float32") -> Loaded:
    """The built-in 28×28 digit-8 image as a (1, 1, 28, 28) tensor (0–255, or 0–1 with unit)."""
    from cnncli.io.images import load_image

    dt = check_dtype(dtype)
    scale = check_choice(scale, SCALES, "scale")
    ref = resources.files("cnncli.data").joinpath(DIGIT8_RESOURCE)
    data = ref.read_bytes()
    loaded = load_image(data, "built-in digit 8", scale=scale, dtype=dt)
    loaded.notes.insert(
        0, "no INPUT given: using the built-in 28×28 image of a handwritten-style digit 8"
    )
    return loaded


def digit8_array() -> np.ndarray:
    """The built-in digit 8 as a (28, 28) uint8 array (for tests and docs)."""
    return digit8().array[0, 0].astype(np.uint8)
