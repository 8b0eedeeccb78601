"""Matrix files to arrays: text (.csv/.tsv/.txt), .npy, .npz and .json, all bounded.

Nothing here executes data: .npy headers are parsed by NumPy's literal-only
header reader and the data bytes are wrapped with ``np.frombuffer``; object,
structured and complex dtypes are refused before a byte of data is read.
"""

from __future__ import annotations

import array
import io
import json
import math
import re
import warnings
import zipfile
from typing import IO, Any

import numpy as np

from cnncli.errors import InputFileError
from cnncli.io.common import check_bytes_limit, one_line

MAX_JSON_DEPTH = 8
ACCEPTED_SHAPES = "2-D (H, W), 3-D (C, H, W) or 4-D (N, C, H, W)"
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


# ---------------------------------------------------------------- shapes


def check_ndim_shape(shape: tuple[int, ...], name: str, what: str = "input") -> None:
    """Refuse shapes other than 2-D, 3-D or 4-D, and shapes holding no values."""
    if len(shape) not in (2, 3, 4):
        raise InputFileError(
            f"{name}: a {len(shape)}-D array of shape {tuple(shape)} cannot be the {what}; "
            f"cnncli accepts {ACCEPTED_SHAPES} arrays",
            hint="a 1-D vector of W values can be written as one row: [[v1, v2, ...]]"
            if len(shape) == 1
            else "reshape it to (N, C, H, W) first, e.g. x.reshape(-1, *x.shape[-3:])"
            if len(shape) > 4
            else None,
        )
    if any(int(s) == 0 for s in shape):
        raise InputFileError(f"{name}: the array has shape {tuple(shape)}, which holds no values")


# ---------------------------------------------------------------- text


def decode_text(data: bytes, name: str) -> str:
    """Decode UTF-8 (with or without a byte-order mark) or BOM-marked UTF-16 text."""
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1]
        raise InputFileError(
            f"{name}: not UTF-8 text (byte 0x{bad.hex() or '??'} at offset {exc.start})",
            hint="is this a binary file with the wrong extension?",
        ) from None
    if "\x00" in text:
        raise InputFileError(f"{name}: holds NUL bytes, so it is not a text matrix")
    return text


def _cell_text(cell: str) -> str:
    return repr(cell if len(cell) <= 40 else cell[:39] + "…")


def parse_text_matrix(data: bytes | str, name: str) -> np.ndarray:
    """Parse a text matrix into float64: (H, W) for one block, (C, H, W) for several.

    Cells are separated by commas, semicolons or whitespace (spaces and tabs),
    detected once per file; a blank line between blocks starts a new channel;
    ``#`` starts a comment.  A byte-order mark, CRLF or CR line ends, one
    trailing separator per row and quotes around numbers are tolerated.  Clean
    files go through NumPy's C reader; anything it refuses is re-read line by
    line (about 8 bytes per value, no Python object per cell), which either
    accepts it or names the line and column at fault.
    """
    text = decode_text(data, name) if isinstance(data, bytes) else data
    sep = _detect_separator(text)
    fast = _parse_text_fast(text, sep)
    return fast if fast is not None else _parse_text_slow(text, sep, name)


_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")  # a line of whitespace only, as str.strip() sees it


def _parse_text_fast(text: str, sep: str | None) -> np.ndarray | None:
    """NumPy's loadtxt on each blank-line-separated block, or None when it refuses any.

    Quoted cells always go the line-by-line way: loadtxt accepts unbalanced quotes.
    """
    if '"' in text or "'" in text:
        return None
    norm = text.replace("\r\n", "\n").replace("\r", "\n")
    channels = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data" for comment-only blocks
            for chunk in _BLANK_LINE.split(norm):
                arr = np.loadtxt(
                    io.StringIO(chunk),
                    delimiter=sep,
                    comments="#",
                    ndmin=2,
                    dtype=np.float64,
                )
                if arr.size:
                    channels.append(arr)
    except Exception:
        # loadtxt raises ValueError (and others) on anything unusual; the line-by-line
        # reader decides whether that is an error and words it.
        return None
    if not channels or any(c.shape != channels[0].shape for c in channels):
        return None
    return channels[0] if len(channels) == 1 else np.stack(channels)


def _parse_text_slow(text: str, sep: str | None, name: str) -> np.ndarray:
    """Parse line by line into compact buffers, naming the line and column of a problem."""
    channels: list[np.ndarray] = []
    first_lines: list[int] = []
    values = array.array("d")
    rows = width = width_line = 0
    seen_data = False

    def finish() -> None:
        matrix = np.frombuffer(values, dtype=np.float64).reshape(rows, width)
        if channels and matrix.shape != channels[0].shape:
            h0, w0 = channels[0].shape
            raise InputFileError(
                f"{name}: channel {len(channels)} (from line {width_line}) is {rows}×{width} "
                f"but channel 0 (from line {first_lines[0]}) is {h0}×{w0}",
                hint="blank lines separate channels, and every channel must have the same size",
            )
        channels.append(matrix)
        first_lines.append(width_line)

    for lineno, line in enumerate(io.StringIO(text, newline=None), 1):
        s = line.strip()
        if not s:
            if rows:
                finish()
                values, rows = array.array("d"), 0
            continue
        if s.startswith("#"):
            continue
        if "#" in s:
            s = s.split("#", 1)[0].strip()  # a comment after the numbers
        row = _split_row(s, sep)
        if "" in row:
            raise InputFileError(f"{name}: line {lineno}, column {row.index('') + 1} is empty")
        if rows == 0:
            width, width_line = len(row), lineno
        elif len(row) != width:
            raise InputFileError(
                f"{name}: line {lineno} has {len(row)} values but line {width_line} has {width}",
                hint="every row of a matrix needs the same number of values; "
                "a blank line starts a new channel",
            )
        try:
            values.extend(map(float, row))
        except (ValueError, OverflowError):
            _raise_not_a_number(row, lineno, name, header=not seen_data)
        rows += 1
        seen_data = True
    if rows:
        finish()
    if not channels:
        raise InputFileError(f"{name}: holds no numbers")
    return channels[0] if len(channels) == 1 else np.stack(channels)


def _detect_separator(text: str) -> str | None:
    """',' or ';' if a data line (not a comment) holds one, else None (whitespace)."""
    for candidate in (",", ";"):
        if candidate not in text:
            continue
        for line in io.StringIO(text, newline=None):
            s = line.strip()
            if candidate in s.split("#", 1)[0]:
                return candidate
    return None


def _split_row(s: str, sep: str | None) -> list[str]:
    if sep is None:
        cells = s.split()
    else:
        cells = [c.strip() for c in s.split(sep)]
        if len(cells) > 1 and cells[-1] == "":
            cells.pop()  # one trailing separator, as spreadsheets write
    out = []
    for c in cells:
        if len(c) >= 2 and c[0] == c[-1] and c[0] in "\"'":
            c = c[1:-1].strip()
        out.append(c)
    return out


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _raise_not_a_number(row: list[str], lineno: int, name: str, *, header: bool) -> None:
    for col, cell in enumerate(row, 1):
        if not _is_number(cell):
            hint = None
            if header and not any(_is_number(c) for c in row):
                hint = "remove the header line, or start it with # to make it a comment"
            raise InputFileError(
                f"{name}: line {lineno}, column {col}: {_cell_text(cell)} is not a number",
                hint=hint,
            )
    raise InputFileError(f"{name}: line {lineno}: a value is not a number")


# ---------------------------------------------------------------- .npy / .npz


def _check_npy_dtype(dt: np.dtype, name: str) -> None:
    if dt.hasobject:
        raise InputFileError(
            f"{name}: holds Python objects (dtype {dt}), which would need unpickling; "
            "cnncli never loads pickled data",
            hint="save a plain numeric array: np.save(path, x.astype(np.float32))",
        )
    if dt.fields is not None or dt.subdtype is not None:
        raise InputFileError(
            f"{name}: holds a structured array (dtype {dt}); cnncli reads plain numeric arrays"
        )
    if dt.kind == "c":
        raise InputFileError(
            f"{name}: holds complex numbers ({dt.name}); cnncli computes with real numbers",
            hint="save the real part or the magnitude, e.g. np.abs(x)",
        )
    if dt.kind not in "biuf":
        raise InputFileError(f"{name}: holds {dt} values, not numbers")


def read_npy(
    fp: IO[bytes], available: int, name: str, max_bytes: int | None, what: str = "input"
) -> np.ndarray:
    """Read one .npy stream of ``available`` bytes without ever unpickling.

    The header is checked (version, dtype, 2-D to 4-D shape, size against the
    bytes present and ``max_bytes``) before any data is read.
    """
    fmt = np.lib.format
    start = fp.tell()
    try:
        version = fmt.read_magic(fp)
    except (ValueError, EOFError, OSError):
        raise InputFileError(
            f"{name}: not a .npy file (it does not start with the NumPy header)"
        ) from None
    try:
        if version == (1, 0):
            shape, fortran, dt = fmt.read_array_header_1_0(fp)
        elif version == (2, 0):
            shape, fortran, dt = fmt.read_array_header_2_0(fp)
        else:
            raise InputFileError(f"{name}: .npy format version {version} is not supported")
    except InputFileError:
        raise
    except Exception as exc:
        # NumPy's header parser raises ValueError, SyntaxError, TypeError or EOFError
        # on damaged headers; all mean the same to a user.
        raise InputFileError(f"{name}: damaged .npy header ({one_line(exc)})") from None
    _check_npy_dtype(dt, name)
    check_ndim_shape(tuple(shape), name, what)
    count = math.prod(int(s) for s in shape)
    nbytes = count * dt.itemsize
    check_bytes_limit(nbytes, max_bytes, name, f"an array of shape {tuple(shape)} ({dt.name})")
    present = available - (fp.tell() - start)
    if present < nbytes:
        raise InputFileError(
            f"{name}: truncated: the header promises shape {tuple(shape)} {dt.name} "
            f"({nbytes:,} bytes of data) but the file holds {max(present, 0):,}"
        )
    data = fp.read(nbytes)
    if len(data) < nbytes:
        raise InputFileError(f"{name}: truncated: {len(data):,} of {nbytes:,} data bytes present")
    arr = np.frombuffer(data, dtype=dt, count=count)
    return arr.reshape(shape, order="F" if fortran else "C")


def npz_keys(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The arrays of an .npz archive by key (member name without ``.npy``)."""
    out = {}
    for info in zf.infolist():
        if info.is_dir():
            continue
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        out[key] = info
    return out


def _keys_text(keys: list[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:20])
    return shown + (f", … ({len(keys)} in all)" if len(keys) > 20 else "")


def _choose_key(name: str, keys: list[str], key: str | None, what: str) -> str:
    """The array a file of several named ones (.npz, a JSON object) means: ``key``, or its only one."""
    if not keys:
        raise InputFileError(f"{name}: the {what} holds no arrays")
    if key is None:
        if len(keys) > 1:
            raise InputFileError(
                f"{name}: holds {len(keys)} arrays ({_keys_text(keys)}); choose one with --key",
                hint=f"for example --key {keys[0]}",
            )
        return keys[0]
    if key not in keys:
        raise InputFileError(f"{name}: has no array named {key!r}; it holds {_keys_text(keys)}")
    return key


def read_npz(
    fp: IO[bytes], name: str, key: str | None, max_bytes: int | None, what: str = "input"
) -> tuple[np.ndarray, str, list[str]]:
    """Read one array of an .npz archive; return (array, key, all keys).

    ``key`` may be omitted only when the archive holds exactly one array.
    """
    try:
        zf = zipfile.ZipFile(fp)
    except Exception:
        # zipfile raises BadZipFile, NotImplementedError, ValueError, OSError, EOFError,
        # struct.error ... on damaged archives; to the user they all mean the same.
        raise InputFileError(f"{name}: not an .npz archive (not a readable zip file)") from None
    with zf:
        try:
            members = npz_keys(zf)
        except Exception as exc:  # a damaged central directory may raise anything zipfile has
            raise InputFileError(f"{name}: damaged .npz archive ({one_line(exc)})") from None
        keys = list(members)
        key = _choose_key(name, keys, key, ".npz archive")
        info = members[key]
        label = f"{name}[{key}]"
        try:
            with zf.open(info) as member:
                arr = read_npy(member, info.file_size, label, max_bytes, what)
        except InputFileError:
            raise
        except Exception as exc:  # damaged member data: BadZipFile, zlib.error, EOFError, ...
            raise InputFileError(f"{label}: damaged archive member ({one_line(exc)})") from None
    return arr, key, keys


# ---------------------------------------------------------------- JSON

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text (strings ignored), without recursion."""
    bare = _JSON_STRING.sub('""', text).encode("utf-8", "replace")
    b = np.frombuffer(bare, dtype=np.uint8)
    step = (b == ord("[")).astype(np.int64) + (b == ord("{")) - (b == ord("]")) - (b == ord("}"))
    return int(np.cumsum(step).max(initial=0))


def parse_json(data: bytes | str, name: str) -> Any:
    """Parse JSON text bounded in nesting depth (the size is bounded by the caller)."""
    text = decode_text(data, name) if isinstance(data, bytes) else data
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise InputFileError(
            f"{name}: JSON nested {depth} levels deep; cnncli reads at most {MAX_JSON_DEPTH}"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except (ValueError, RecursionError) as exc:
        if "digits" in str(exc):
            raise InputFileError(f"{name}: holds a number with too many digits") from None
        raise InputFileError(f"{name}: not valid JSON ({one_line(exc)})") from None


def _describe(x: object) -> str:
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, str):
        return f"the text {_cell_text(x)}"
    if isinstance(x, list):
        return "a list"
    if isinstance(x, dict):
        return "an object"
    if isinstance(x, (int, float)):
        return f"the single number {x!r}"
    return type(x).__name__


_NUMBER_TYPES = frozenset((int, float))


def _rectangular_numbers(obj: object, shape: list[int]) -> bool:
    """Whether ``obj`` is nested lists of exactly ``shape`` holding only ints and floats.

    The innermost rows are checked with ``set(map(type, row))``, which runs in C,
    so a well-formed file costs little more than ``np.array`` itself.
    """
    level = [obj]
    for size in shape[:-1]:
        nxt = []
        for item in level:
            if type(item) is not list or len(item) != size:
                return False
            nxt.extend(item)
        level = nxt
    last = shape[-1]
    for row in level:
        if type(row) is not list or len(row) != last or not set(map(type, row)) <= _NUMBER_TYPES:
            return False
    return True


def nested_to_array(obj: object, name: str, what: str = "input") -> np.ndarray:
    """Turn nested JSON lists of numbers into a float64 array of 2 to 4 dimensions."""
    shape: list[int] = []
    cur = obj
    while isinstance(cur, list):
        shape.append(len(cur))
        if not cur or len(shape) > 4:
            break
        cur = cur[0]
    check_ndim_shape(tuple(shape), name, what)
    if _rectangular_numbers(obj, shape):
        try:
            return np.array(obj, dtype=np.float64)
        except OverflowError:
            raise InputFileError(f"{name}: holds an integer too large for a float") from None
    # Something is wrong: walk the lists to name the first place at fault.
    flat: list[float] = []

    def walk(x: object, depth: int, path: str) -> None:
        if depth == len(shape):
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise InputFileError(f"{name}: {path} is {_describe(x)}, not a number")
            flat.append(x)
            return
        if not isinstance(x, list):
            raise InputFileError(
                f"{name}: {path or 'the top level'} is {_describe(x)}, but a list of "
                f"{shape[depth]} items was expected"
            )
        if len(x) != shape[depth]:
            raise InputFileError(
                f"{name}: {path or 'the top level'} has {len(x)} items but {shape[depth]} were "
                "expected (every row must have the same length)"
            )
        for i, y in enumerate(x):
            walk(y, depth + 1, f"{path}[{i}]")

    walk(obj, 0, "")
    try:
        return np.array(flat, dtype=np.float64).reshape(shape)
    except OverflowError:
        raise InputFileError(f"{name}: holds an integer too large for a float") from None


def json_to_array(obj: object, name: str, key: str | None, what: str = "input") -> np.ndarray:
    """Pick the array out of parsed JSON: nested lists, ``{"data": ...}`` or named arrays."""
    if isinstance(obj, dict):
        if "data" in obj:
            arr = nested_to_array(obj["data"], name, what)
            stated = obj.get("shape")
            if isinstance(stated, list) and [s for s in stated] != list(arr.shape):
                raise InputFileError(
                    f'{name}: "shape" says {stated} but "data" has shape {list(arr.shape)}'
                )
            return arr
        keys = [str(k) for k in obj]
        key = _choose_key(name, keys, key, "JSON object")
        return (
            json_to_array(obj[key], f"{name}[{key}]", None, what)
            if isinstance(obj[key], dict)
            else nested_to_array(obj[key], f"{name}[{key}]", what)
        )
    if isinstance(obj, list):
        return nested_to_array(obj, name, what)
    raise InputFileError(f"{name}: holds {_describe(obj)}, not nested lists of numbers")


def bytes_stream(data: bytes) -> io.BytesIO:
    """A seekable stream over in-memory bytes (standard input)."""
    return io.BytesIO(data)
