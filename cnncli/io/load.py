"""The one entry point that turns INPUT (a path or ``-``) into a 4-D NCHW tensor.

:func:`load_tensor` dispatches on the extension (or, for standard input, on the
first bytes) to the image or matrix readers; :func:`load_kernel_file` and
:func:`parse_inline_matrix` read convolution kernels.  Every failure is a
:class:`cnncli.errors.CnncliError` with a one-line message naming the file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from cnncli.errors import InputFileError, ParameterError
from cnncli.io.common import (
    DEFAULT_MAX_BYTES,
    MAX_TEXT_BYTES,
    SCALES,
    STDIN_NAME,
    Loaded,
    check_choice,
    check_dtype,
    check_finite,
    dims_text,
    display_name,
    one_line,
    read_input_bytes,
    stat_input,
    to_float,
    to_nchw,
)
from cnncli.io.images import IMAGE_EXTENSIONS, is_image_bytes, load_image
from cnncli.io.matrices import (
    MAX_JSON_DEPTH,
    NPY_MAGIC,
    ZIP_MAGIC,
    check_ndim_shape,
    json_to_array,
    nested_to_array,
    parse_json,
    parse_text_matrix,
    read_npy,
    read_npz,
)

TEXT_EXTENSIONS = (".csv", ".tsv", ".txt")
MATRIX_EXTENSIONS = (*TEXT_EXTENSIONS, ".npy", ".npz", ".json")
INPUT_EXTENSIONS = (*IMAGE_EXTENSIONS, *MATRIX_EXTENSIONS)
KERNEL_EXTENSIONS = (".npy", ".npz", *TEXT_EXTENSIONS, ".json")
_LAYOUT_ALIASES = {"chw": "chw", "nchw": "chw", "hwc": "hwc", "nhwc": "hwc"}
MAX_INLINE_CHARS = 100_000


def _ext_list(exts: tuple[str, ...]) -> str:
    return " ".join(exts)


@contextmanager
def _open_input(path: Path, name: str) -> Iterator[tuple[IO[bytes], int]]:
    st = stat_input(path, name)
    try:
        fh = path.open("rb")
    except PermissionError:
        raise InputFileError(f"{name}: permission denied") from None
    except OSError as exc:
        raise InputFileError(f"{name}: cannot read it ({one_line(exc.strerror or exc)})") from None
    with fh:
        try:
            yield fh, st.st_size
        except OSError as exc:
            raise InputFileError(f"{name}: read failed ({one_line(exc.strerror or exc)})") from None


def read_stdin_bytes(stdin: IO[bytes] | None, limit: int) -> bytes:
    """All of standard input (``stdin`` or ``sys.stdin``), refusing a terminal or an empty pipe."""
    stream: Any = stdin
    if stream is None:
        if sys.stdin is None:
            raise InputFileError("'-' reads standard input, but there is none")
        if sys.stdin.isatty():
            raise InputFileError(
                "'-' reads standard input, but standard input is a terminal",
                hint="pipe data in, e.g. cnncli pad x.csv -p 1 -o - | cnncli conv -",
            )
        stream = sys.stdin.buffer
    try:
        data = stream.read(limit + 1)
    except OSError as exc:
        raise InputFileError(f"{STDIN_NAME}: read failed ({one_line(exc)})") from None
    if isinstance(data, str):
        data = data.encode("utf-8")
    if not data:
        raise InputFileError(f"{STDIN_NAME}: standard input is empty")
    if len(data) > limit:
        raise InputFileError(f"{STDIN_NAME}: more than {limit:,} bytes on standard input")
    return bytes(data)


def load_tensor(
    source: str | os.PathLike[str],
    *,
    layout: str = "chw",
    key: str | None = None,
    gray: bool = False,
    scale: str = "raw",
    dtype: object = "float32",
    allow_nonfinite: bool = False,
    stdin: IO[bytes] | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> Loaded:
    """Load an image or matrix file (or ``-``, standard input) as a 4-D NCHW tensor.

    Shapes: image H×W(×C) → (1, C, H, W); matrix (H, W) → (1, 1, H, W),
    (C, H, W) → (1, C, H, W), (N, C, H, W) as is; ``layout="hwc"`` reads arrays
    stored channels-last.  Values are converted to ``dtype`` (float32 or float64);
    NaN and ±inf are refused unless ``allow_nonfinite``.
    """
    dt = check_dtype(dtype)
    lay = _LAYOUT_ALIASES.get(str(layout).lower())
    if lay is None:
        raise ParameterError(f"layout must be chw or hwc, got {layout!r}")
    scale = check_choice(scale, SCALES, "scale")
    text_limit = MAX_TEXT_BYTES
    if not os.fspath(source):
        raise InputFileError(
            "the input path is empty", hint="give a file name, or - for standard input"
        )
    if os.fspath(source) == "-":
        data = read_stdin_bytes(stdin, max(text_limit, max_bytes or DEFAULT_MAX_BYTES))
        return _load_bytes(data, lay, key, gray, scale, dt, allow_nonfinite, max_bytes)

    path = Path(source)
    name = display_name(source)
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        with _open_input(path, name) as (fh, _size):
            return load_image(
                fh,
                name,
                gray=gray,
                scale=scale,
                dtype=dt,
                allow_nonfinite=allow_nonfinite,
                max_bytes=max_bytes,
            )
    if ext == ".npy":
        with _open_input(path, name) as (fh, size):
            raw = read_npy(fh, size, name, max_bytes)
        return _finish(raw, name, lay, dt, allow_nonfinite, gray, scale, ".npy array")
    if ext == ".npz":
        with _open_input(path, name) as (fh, _size):
            raw, k, keys = read_npz(fh, name, key, max_bytes)
        return _finish(
            raw,
            name,
            lay,
            dt,
            allow_nonfinite,
            gray,
            scale,
            f".npz array {k!r}",
            _key_note(k, keys),
        )
    if ext == ".json":
        data = read_input_bytes(path, name, text_limit)
        raw = json_to_array(parse_json(data, name), name, key)
        return _finish(raw, name, lay, dt, allow_nonfinite, gray, scale, "JSON matrix", text=True)
    if ext in TEXT_EXTENSIONS:
        data = read_input_bytes(path, name, text_limit)
        raw = parse_text_matrix(data, name)
        return _finish(
            raw,
            name,
            lay,
            dt,
            allow_nonfinite,
            gray,
            scale,
            f"{ext[1:].upper()} matrix",
            text=True,
            blocks=True,
        )
    stat_input(path, name)  # a directory or a missing file is said so, not "no extension"
    raise InputFileError(
        f"{name}: unsupported file type {ext or '(no extension)'}; "
        f"cnncli reads {_ext_list(INPUT_EXTENSIONS)}"
    )


def _key_note(key: str, keys: list[str]) -> list[str]:
    return [f"array {key!r} of {len(keys)} in the archive"] if len(keys) > 1 else []


def _load_bytes(
    data: bytes,
    layout: str,
    key: str | None,
    gray: bool,
    scale: str,
    dt: np.dtype,
    allow_nonfinite: bool,
    max_bytes: int | None,
) -> Loaded:
    """Load standard input by its first bytes: .npy, .npz, an image, JSON, else text."""
    import io

    name = STDIN_NAME
    if data.startswith(NPY_MAGIC):
        raw = read_npy(io.BytesIO(data), len(data), name, max_bytes)
        return _finish(raw, name, layout, dt, allow_nonfinite, gray, scale, ".npy array")
    if data.startswith(ZIP_MAGIC):
        raw, k, keys = read_npz(io.BytesIO(data), name, key, max_bytes)
        return _finish(
            raw,
            name,
            layout,
            dt,
            allow_nonfinite,
            gray,
            scale,
            f".npz array {k!r}",
            _key_note(k, keys),
        )
    if is_image_bytes(data[:16]):
        return load_image(
            data,
            name,
            gray=gray,
            scale=scale,
            dtype=dt,
            allow_nonfinite=allow_nonfinite,
            max_bytes=max_bytes,
        )
    if len(data) > MAX_TEXT_BYTES:
        raise InputFileError(
            f"{name}: {len(data):,} bytes of text; cnncli reads at most {MAX_TEXT_BYTES:,}"
        )
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"[", b"{"):
        raw = json_to_array(parse_json(data, name), name, key)
        return _finish(
            raw, name, layout, dt, allow_nonfinite, gray, scale, "JSON matrix", text=True
        )
    raw = parse_text_matrix(data, name)
    return _finish(
        raw, name, layout, dt, allow_nonfinite, gray, scale, "text matrix", text=True, blocks=True
    )


def _finish(
    raw: np.ndarray,
    name: str,
    layout: str,
    dt: np.dtype,
    allow_nonfinite: bool,
    gray: bool,
    scale: str,
    what: str,
    extra_notes: list[str] | None = None,
    *,
    text: bool = False,
    blocks: bool = False,
) -> Loaded:
    """Arrange, convert and check a loaded matrix; ``blocks`` marks text read as channel blocks."""
    notes = list(extra_notes or [])
    original_shape = tuple(int(s) for s in raw.shape)
    arr, original_layout = to_nchw(raw, "chw" if blocks else layout, name, notes)
    arr = to_float(arr, dt, name, notes, text=text)
    check_finite(arr, name, allow_nonfinite)
    if gray:
        notes.append("--gray applies to images only; the matrix is used as stored")
    if scale == "unit":
        notes.append("--scale unit applies to images only; the matrix values are kept")
    if blocks and layout == "hwc":
        notes.append("--layout hwc applies to arrays; in text files blank lines separate channels")
    dtype_text = "" if text else f" {raw.dtype.name}"
    return Loaded(
        array=arr,
        source=name,
        kind="matrix",
        original_shape=original_shape,
        original_layout=original_layout,
        notes=notes,
        description=f"{what}, {dims_text(original_shape)}{dtype_text} ({original_layout})",
        original_dtype=raw.dtype.name,
    )


# ---------------------------------------------------------------- kernels


def _check_kernel_values(
    raw: np.ndarray, name: str, dt: np.dtype, notes: list[str], *, text: bool
) -> np.ndarray:
    """Convert a kernel to ``dt`` (noting integer, bool and float conversions) and refuse NaN/inf."""
    out = to_float(raw, dt, name, notes, text=text)
    bad = ~np.isfinite(out)
    if bad.any():
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad.ravel())), out.shape))
        raise InputFileError(
            f"{name}: the kernel holds {float(raw[index])} at index {index} (counting from 0); "
            f"kernels must be finite {dt.name} numbers"
        )
    return out


def load_kernel_file(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    dtype: object = "float32",
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    notes: list[str] | None = None,
) -> np.ndarray:
    """Load a convolution kernel from .npy/.npz/.csv/.tsv/.txt/.json, keeping its rank.

    Shapes: (KH, KW), (C, KH, KW) (text: one block per channel) or (F, C/groups, KH, KW).
    Conversions a user should know of (integers, bools, float64 to float32) are
    appended to ``notes`` when it is given.
    """
    dt = check_dtype(dtype)
    p = Path(path)
    name = display_name(path)
    ext = p.suffix.lower()
    if ext == ".npy":
        with _open_input(p, name) as (fh, size):
            raw = read_npy(fh, size, name, max_bytes, "kernel")
    elif ext == ".npz":
        with _open_input(p, name) as (fh, _size):
            raw, _k, _keys = read_npz(fh, name, key, max_bytes, "kernel")
    elif ext == ".json":
        data = read_input_bytes(p, name, MAX_TEXT_BYTES)
        raw = json_to_array(parse_json(data, name), name, key, "kernel")
    elif ext in TEXT_EXTENSIONS:
        raw = parse_text_matrix(read_input_bytes(p, name, MAX_TEXT_BYTES), name)
    else:
        stat_input(p, name)  # a directory or a missing file is said so, not "no extension"
        raise InputFileError(
            f"{name}: unsupported kernel file type {ext or '(no extension)'}; "
            f"cnncli reads kernels from {_ext_list(KERNEL_EXTENSIONS)}"
        )
    return _check_kernel_values(
        raw, name, dt, [] if notes is None else notes, text=ext not in (".npy", ".npz")
    )


def parse_inline_matrix(
    text: str, *, dtype: object = "float32", what: str = "kernel"
) -> np.ndarray:
    """Parse ``"1,0,-1;2,0,-2;1,0,-1"`` or JSON ``"[[1,0,-1],[2,0,-2],[1,0,-1]]"`` (2-D to 4-D).

    Rows are separated by ``;``, values by ``,`` or spaces.  Errors are ParameterError.
    """
    dt = check_dtype(dtype)
    s = text.strip()
    label = f"{what} {one_line(s, 60)!r}"
    if not s:
        raise ParameterError(f"{what}: the matrix text is empty")
    if len(s) > MAX_INLINE_CHARS:
        raise ParameterError(
            f"{what}: the matrix text is longer than {MAX_INLINE_CHARS:,} characters"
        )
    try:
        if s.startswith("["):
            raw = nested_to_array(parse_json(s, label), label, what)
        else:
            raw = _parse_semicolon_rows(s, label)
        return _check_kernel_values(raw, label, dt, [], text=True)
    except InputFileError as exc:
        raise ParameterError(exc.message, hint=exc.hint or _INLINE_HINT) from None


_INLINE_HINT = 'write rows separated by ";" and values by ",", e.g. "1,0,-1;2,0,-2;1,0,-1"'


def _parse_semicolon_rows(s: str, label: str) -> np.ndarray:
    rows_text = [r.strip() for r in s.split(";")]
    if len(rows_text) > 1 and rows_text[-1] == "":
        rows_text.pop()
    rows: list[list[float]] = []
    for i, row_text in enumerate(rows_text, 1):
        cells = [c for c in row_text.replace(",", " ").split()]
        if not cells:
            raise InputFileError(f"{label}: row {i} is empty")
        row = []
        for j, cell in enumerate(cells, 1):
            try:
                row.append(float(cell))
            except ValueError:
                raise InputFileError(
                    f"{label}: row {i}, value {j}: {cell[:40]!r} is not a number"
                ) from None
        if rows and len(row) != len(rows[0]):
            raise InputFileError(
                f"{label}: row {i} has {len(row)} values but row 1 has {len(rows[0])}"
            )
        rows.append(row)
    arr = np.array(rows, dtype=np.float64)
    check_ndim_shape(arr.shape, label, "kernel")
    return arr


__all__ = [
    "INPUT_EXTENSIONS",
    "KERNEL_EXTENSIONS",
    "MAX_JSON_DEPTH",
    "Loaded",
    "load_kernel_file",
    "load_tensor",
    "parse_inline_matrix",
    "read_stdin_bytes",
]
