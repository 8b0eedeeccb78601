"""What every loader shares: the :class:`Loaded` record, file checks and value checks.

A loader turns a file into a 4-D NCHW float array plus the notes a user must be
told (alpha dropped, integers converted, ...).  Every way a file can be wrong
ends in :class:`cnncli.errors.InputFileError` with one line naming the file.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnncli.errors import InputFileError, ParameterError, ResourceLimitError

#: Text and JSON files larger than this are refused before parsing.
MAX_TEXT_BYTES = 50 * 1024 * 1024
#: Decoded array data larger than this (a .npy/.npz header or a zip member) is refused.
DEFAULT_MAX_BYTES = 2 * 1024**3

FLOAT_DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}
SCALES = ("raw", "unit")
LAYOUTS = ("chw", "hwc")

STDIN_NAME = "<stdin>"


@dataclass
class Loaded:
    """A tensor loaded from a file, with what the user must be told about it.

    ``array`` is always 4-D NCHW in the requested float dtype.  ``original_shape``
    and ``original_layout`` (axis names such as ``"H×W×C"``) describe the data as
    stored; ``description`` is one human line (``"PNG image, 28×28 grayscale (mode L)"``).
    """

    array: np.ndarray
    source: str
    kind: str  # "image" or "matrix"
    original_shape: tuple[int, ...]
    original_layout: str
    notes: list[str] = field(default_factory=list)
    description: str = ""
    original_dtype: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        """The NCHW shape of :attr:`array`."""
        return tuple(int(s) for s in self.array.shape)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")  # object reprs would make messages differ run to run


def display_name(source: str | os.PathLike[str]) -> str:
    """The file name as the user typed it, with control characters escaped (one line)."""
    text = os.fspath(source)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def one_line(text: object, limit: int = 200) -> str:
    """Collapse whitespace of an exception text to one short line."""
    flat = _ADDRESS.sub("", " ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def check_dtype(dtype: object) -> np.dtype:
    """The compute dtype named by ``dtype`` ("float32" or "float64")."""
    try:
        key = np.dtype(dtype).name  # type: ignore[call-overload]
    except TypeError:
        key = str(dtype)
    if key not in FLOAT_DTYPES:
        raise ParameterError(f"dtype must be float32 or float64, got {dtype!r}")
    return FLOAT_DTYPES[key]


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    """Return ``value`` lower-cased if it is one of ``choices``, else raise ParameterError."""
    low = str(value).lower()
    if low not in choices:
        raise ParameterError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return low


def stat_input(path: Path, name: str) -> os.stat_result:
    """Stat an input file, turning every reason it cannot be read into InputFileError."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputFileError(f"{name}: no such file") from None
    except PermissionError:
        raise InputFileError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputFileError(f"{name}: cannot read it ({one_line(exc.strerror or exc)})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputFileError(f"{name}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(f"{name}: is not a regular file")
    if st.st_size == 0:
        raise InputFileError(f"{name}: the file is empty")
    return st


def read_input_bytes(path: Path, name: str, limit: int) -> bytes:
    """Read a whole input file of at most ``limit`` bytes."""
    st = stat_input(path, name)
    if st.st_size > limit:
        raise InputFileError(
            f"{name}: the file is {st.st_size:,} bytes; cnncli reads at most {limit:,} bytes "
            "of this kind"
        )
    try:
        with path.open("rb") as fh:
            return fh.read(limit + 1)
    except PermissionError:
        raise InputFileError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputFileError(f"{name}: cannot read it ({one_line(exc.strerror or exc)})") from None


def check_bytes_limit(nbytes: int, max_bytes: int | None, name: str, what: str) -> None:
    """Refuse data whose decoded size exceeds ``max_bytes`` before allocating it."""
    if max_bytes is not None and nbytes > max_bytes:
        raise ResourceLimitError(
            f"{name}: {what} needs {nbytes:,} bytes, more than the limit of {max_bytes:,} bytes"
        )


def position_text(index: tuple[int, ...]) -> str:
    """Name an NCHW position: ``(channel, row, col) = (0, 2, 3)`` (with batch when N > 1)."""
    n, c, h, w = index
    if n:
        return f"(batch, channel, row, col) = ({n}, {c}, {h}, {w})"
    return f"(channel, row, col) = ({c}, {h}, {w})"


def check_finite(array: np.ndarray, name: str, allow_nonfinite: bool) -> None:
    """Refuse NaN and ±inf in a 4-D array, naming the first position (0-based).

    A finite minimum and maximum mean a finite array (NaN propagates through both):
    two reductions without a mask the size of the array.  Only data that fails
    them is searched for the first bad position.
    """
    if allow_nonfinite or array.size == 0:
        return
    if np.isfinite(array.min()) and np.isfinite(array.max()):
        return
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    flat = int(np.argmax(bad.ravel()))
    index = tuple(int(i) for i in np.unravel_index(flat, array.shape))
    value = array[index]
    what = "NaN" if np.isnan(value) else ("+inf" if value > 0 else "-inf")
    raise InputFileError(
        f"{name}: {what} at {position_text(index)} (counting from 0)",
        hint="fix the data, or pass --allow-nonfinite to accept NaN and infinity",
    )


def to_float(
    raw: np.ndarray, dtype: np.dtype, name: str, notes: list[str], *, text: bool = False
) -> np.ndarray:
    """Convert numeric data to the compute dtype, noting every conversion a user should know.

    ``text`` marks values parsed from text (no stored dtype to report).
    """
    kind = raw.dtype.kind
    if not text:
        if kind == "b":
            notes.append(f"bool values converted to {dtype.name} (False → 0, True → 1)")
        elif kind in "iu":
            notes.append(f"integer values ({raw.dtype.name}) converted to {dtype.name}")
            if dtype == np.float32 and raw.size and int(np.abs(raw).max()) > 2**24:
                notes.append("integers above 2^24 are not exact in float32 (use --dtype float64)")
        elif kind == "f" and raw.dtype != dtype:
            notes.append(f"{raw.dtype.name} values converted to {dtype.name}")
    with np.errstate(over="ignore", invalid="ignore"):
        out = raw.astype(dtype)
    if kind == "f" and raw.dtype.itemsize > dtype.itemsize:
        overflow = np.isfinite(raw) & ~np.isfinite(out)
        if overflow.any():
            flat = int(np.argmax(overflow.ravel()))
            index = tuple(int(i) for i in np.unravel_index(flat, raw.shape))
            where = position_text(index) if raw.ndim == 4 else f"index {index}"
            raise InputFileError(
                f"{name}: value {float(raw.ravel()[flat]):g} at {where} is too large for "
                f"{dtype.name}",
                hint="use --dtype float64",
            )
    return out


def to_nchw(arr: np.ndarray, layout: str, name: str, notes: list[str]) -> tuple[np.ndarray, str]:
    """Arrange a 2-D, 3-D or 4-D array as NCHW; return it with the stored axis names.

    Shapes: (H, W) → (1, 1, H, W); (C, H, W) → (1, C, H, W); (N, C, H, W) as is;
    with ``layout="hwc"``: (H, W, C) → (1, C, H, W) and (N, H, W, C) → (N, C, H, W).
    """
    if arr.ndim not in (2, 3, 4):
        raise InputFileError(
            f"{name}: a {arr.ndim}-D array of shape {tuple(arr.shape)} cannot be an input; "
            "cnncli accepts 2-D (H, W), 3-D (C, H, W) or 4-D (N, C, H, W) arrays"
        )
    if arr.size == 0:
        raise InputFileError(
            f"{name}: the array has shape {tuple(arr.shape)}, which holds no values"
        )
    if arr.ndim == 2:
        return arr[None, None], "H×W"
    if layout == "hwc":
        if arr.ndim == 3:
            out = np.ascontiguousarray(arr.transpose(2, 0, 1)[None])
            notes.append(f"channels-last array H×W×C {_dims(arr.shape)} → tensor {_shape(out)}")
            return out, "H×W×C"
        out = np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
        notes.append(f"channels-last array N×H×W×C {_dims(arr.shape)} → tensor {_shape(out)}")
        return out, "N×H×W×C"
    if arr.ndim == 3:
        return arr[None], "C×H×W"
    return arr, "N×C×H×W"


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(int(s)) for s in shape)


def _shape(arr: np.ndarray) -> str:
    return "(" + ", ".join(str(int(s)) for s in arr.shape) + ")"


def dims_text(shape: tuple[int, ...]) -> str:
    """``(28, 28)`` → ``"28×28"``."""
    return _dims(shape)


def shape_text(shape: tuple[int, ...]) -> str:
    """``(1, 3, 5, 5)`` → ``"(1, 3, 5, 5)"``."""
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"
