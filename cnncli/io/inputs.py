"""What a tensor command reads: its INPUT (or the built-in example), ``--grad``, a weight file.

Each function returns arrays of the dtype asked for and appends the file's
conversions (integers, bools, float64) to a list of notes the command prints.
"""

from __future__ import annotations

import math
import os
from typing import IO, Any, Literal

import numpy as np

from cnncli.errors import InputFileError, ParameterError, ShapeError
from cnncli.io import builtin
from cnncli.io.common import Loaded, to_float
from cnncli.io.load import load_kernel_file, load_tensor

#: A 1-D bias/weight .npy larger than this is refused before reading.
MAX_VECTOR_BYTES = 64 * 1024 * 1024


def load_input(
    source: str | None,
    *,
    default: Literal["seed", "digit8"],
    layout: str | None = None,
    key: str | None = None,
    gray: bool = False,
    scale: str = "raw",
    dtype: str = "float32",
    allow_nonfinite: bool = False,
    stdin: IO[bytes] | None = None,
) -> tuple[Loaded, np.ndarray, list[str]]:
    """INPUT (``-``: ``stdin``; None: the built-in example) → (the record, its (N, C, H, W) array, notes)."""
    target = np.float64 if dtype == "float64" else np.float32
    if source is None:
        if default == "seed":
            loaded = builtin.seed_pool_matrix(dtype=dtype)
        else:
            loaded = builtin.digit8(scale=scale, dtype=dtype)
    else:
        kwargs: dict[str, Any] = {
            "layout": layout,
            "key": key,
            "gray": gray,
            "scale": scale,
            "dtype": dtype,
            "allow_nonfinite": allow_nonfinite,
        }
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        if source == "-":
            kwargs["stdin"] = stdin
        loaded = load_tensor(source, **kwargs)
    array = np.asarray(loaded.array)
    if array.dtype != target:
        array = array.astype(target)
    # The input line of the header already says "→ tensor (N, C, H, W)".
    notes = [str(n) for n in (getattr(loaded, "notes", None) or []) if "→ tensor" not in str(n)]
    return loaded, array, notes


def load_grad(
    spec: str,
    shape: tuple[int, ...],
    dtype: Any,
    input_path: str | None,
    notes: list[str] | None = None,
    stdin: IO[bytes] | None = None,
) -> np.ndarray:
    """dL/dY for ``--grad``: ``ones`` or a file (``-``: ``stdin``) with as many values as the output.

    The file's conversions (integers, bools, float64) are appended to ``notes``.
    """
    if spec.strip().lower() == "ones":
        return np.ones(shape, dtype=dtype)
    if spec == "-" and input_path == "-":
        raise ParameterError("--grad - and INPUT - cannot both read standard input")
    if spec != "-" and not os.path.splitext(spec)[1] and not os.path.lexists(spec):
        # a word such as "zeros" or "random", not a file: say what --grad takes
        raise ParameterError(
            f"--grad takes 'ones' or a file of dL/dY with the output's shape "
            f"{tuple(shape)}, got {spec!r}",
            hint="--grad ones for L = sum of Y; or save an array of that shape as .npy "
            "and give its path",
        )
    kwargs: dict[str, Any] = {"allow_nonfinite": False}
    if spec == "-":
        kwargs["stdin"] = stdin
    loaded = load_tensor(spec, **kwargs)
    if notes is not None:
        notes += [f"--grad: {note}" for note in loaded.notes]
    g = np.asarray(loaded.array)
    if g.size != math.prod(shape):
        orig = getattr(loaded, "original_shape", g.shape)
        raise ShapeError(
            f"--grad {spec} has shape {tuple(orig)} but the output has shape {tuple(shape)}"
        )
    return g.reshape(shape).astype(dtype, copy=False)


def load_matrix(path: str, what: str, dtype: Any, notes: list[str]) -> np.ndarray:
    """A weight (out, in) or bias file; a 1-D .npy vector (PyTorch's bias) is accepted too.

    Conversions (integers, bools, float64) are appended to ``notes``.
    """
    name = np.dtype(dtype).name
    try:
        converted: list[str] = []
        arr = np.asarray(load_kernel_file(path, dtype=name, notes=converted))
        notes += [f"{what} {os.path.basename(path)}: {n}" for n in converted]
        return arr
    except InputFileError as exc:
        if not (path.lower().endswith(".npy") and "1-D array" in exc.message):
            raise
    # load_kernel_file refuses 1-D arrays (no image is 1-D); read this one without pickles,
    # size-checked.
    if os.path.getsize(path) > MAX_VECTOR_BYTES:
        raise InputFileError(f"{path}: larger than {MAX_VECTOR_BYTES:,} bytes for a {what} vector")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(f"{path}: cannot read the {what}: {exc}") from None
    if arr.dtype.kind not in "fiub" or arr.ndim != 1 or arr.size == 0:
        raise InputFileError(f"{path}: the {what} must be numbers, got {arr.dtype} {arr.shape}")
    converted = []
    out = to_float(arr, np.dtype(name), path, converted)
    notes += [f"{what} {os.path.basename(path)}: {n}" for n in converted]
    if not np.isfinite(out).all():
        raise InputFileError(f"{path}: the {what} holds NaN or infinity")
    return out
