"""Results to files, written whole or not at all.

Every file goes to a temporary file in the destination folder, is flushed and
fsynced, then renamed over the destination with :func:`os.replace`; on any
exception (KeyboardInterrupt included) the temporary file is removed and an
earlier file at the destination is left untouched.  Bytes are deterministic:
no timestamps in .npz members or PNG metadata.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import numpy as np

from cnncli.errors import OutputFileError, ParameterError
from cnncli.io.common import display_name, one_line
from cnncli.io.png import png_bytes, to_gray_u8
from cnncli.io.png import split_maps as _maps

OUTPUT_EXTENSIONS = (".npy", ".npz", ".csv", ".json", ".png")
PNG_SCALES = ("minmax", "clip", "abs")
#: How a .png output draws its maps (auto is decided by the command: see save_result).
PNG_MODES = ("auto", "rgb", "grid")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _default_file_mode() -> int:
    """The mode a new file gets from open() under the current umask (0o666 & ~umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _os_reason(exc: OSError) -> str:
    return one_line(exc.strerror or exc)


def _check_destination(path: Path, name: str) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise OutputFileError(f"{name}: is a directory; give a file name")
    if not folder.exists():
        raise OutputFileError(f"{name}: the folder {display_name(folder)} does not exist")
    if not folder.is_dir():
        raise OutputFileError(f"{name}: {display_name(folder)} is not a folder")
    return folder


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync it and rename it to ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (UTF-8 text, ``\\n`` line ends).  If the block
    raises anything, including KeyboardInterrupt, the temporary file is removed
    and ``path`` is left as it was.
    """
    if mode not in ("w", "wb"):
        raise ParameterError(f"atomic_open mode must be 'w' or 'wb', got {mode!r}")
    target = Path(path)
    name = display_name(path)
    folder = _check_destination(target, name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    except PermissionError:
        raise OutputFileError(
            f"{name}: cannot write in the folder {display_name(folder)}: permission denied"
        ) from None
    except OSError as exc:
        raise OutputFileError(f"{name}: cannot create a file there ({_os_reason(exc)})") from None
    try:
        fh: IO[Any] = (
            os.fdopen(fd, "wb")
            if mode == "wb"
            else os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        )
    except BaseException:
        os.close(fd)
        _remove(tmp)
        raise
    try:
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        try:
            old_mode = stat.S_IMODE(target.stat().st_mode)
        except OSError:
            old_mode = _default_file_mode()
        os.chmod(tmp, old_mode)
        os.replace(tmp, target)
    except BaseException as exc:
        _remove(tmp)
        if isinstance(exc, OSError):
            raise OutputFileError(f"{name}: write failed ({_os_reason(exc)})") from None
        raise
    _fsync_folder(folder)


def _remove(tmp: str) -> None:
    with suppress(OSError):
        os.unlink(tmp)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable where the platform allows opening a folder."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (temporary file, fsync, rename)."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def check_output_path(
    output: str | os.PathLike[str] | None, inputs: Sequence[str | os.PathLike[str] | None]
) -> None:
    """Refuse an output path that names one of the input files (same file or same path)."""
    if output is None or os.fspath(output) == "-":
        return
    out = Path(output)
    for source in inputs:
        if source is None or os.fspath(source) == "-":
            continue
        src = Path(source)
        same = False
        try:
            same = out.exists() and src.exists() and os.path.samefile(out, src)
        except OSError:
            same = False
        if not same:
            try:
                same = out.resolve() == src.resolve()
            except (OSError, RuntimeError):
                same = os.path.abspath(out) == os.path.abspath(src)
        if same:
            raise OutputFileError(
                f"{display_name(output)}: is the input file {display_name(source)}; "
                "refusing to overwrite it",
                hint="choose another output name",
            )


# ---------------------------------------------------------------- encoders


def npy_bytes(array: np.ndarray) -> bytes:
    """The .npy encoding of ``array`` (never pickled; a 0-d array stays 0-d)."""
    buf = io.BytesIO()
    # not np.ascontiguousarray: it makes a 0-d array 1-d (BatchNorm's num_batches_tracked)
    np.save(buf, np.asarray(array, order="C"), allow_pickle=False)
    return buf.getvalue()


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An .npz archive of named arrays with fixed member timestamps (deterministic)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, npy_bytes(np.asarray(arr)))
    return buf.getvalue()


_SAFETENSORS_DTYPES = {
    "float16": "F16", "float32": "F32", "float64": "F64", "int8": "I8", "uint8": "U8",
    "int16": "I16", "uint16": "U16", "int32": "I32", "uint32": "U32", "int64": "I64",
    "uint64": "U64", "bool": "BOOL",
}  # fmt: skip


def safetensors_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The .safetensors encoding of named arrays (no package needed).

    Layout: an 8-byte little-endian header length n, n bytes of JSON (each tensor's dtype,
    shape and [begin, end) byte offsets into the data, padded with spaces to a multiple
    of 8), then every tensor's bytes, little-endian, C order, in key order.
    """
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    chunks, offset = [], 0
    for key in sorted(arrays):
        arr = np.ascontiguousarray(arrays[key])
        code = _SAFETENSORS_DTYPES.get(arr.dtype.name)
        if code is None:
            raise ParameterError(f"{key}: dtype {arr.dtype} has no .safetensors code")
        data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[key] = {"dtype": code, "shape": list(arr.shape),
                       "data_offsets": [offset, offset + len(data)]}  # fmt: skip
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + b"".join(chunks)


def _number_text(dtype: np.dtype) -> Any:
    digits = 17 if dtype == np.float64 else 9

    def fmt(v: float) -> str:
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return format(v, f".{digits}g")

    return fmt


def _map_label(idx: tuple[int, ...], ndim: int) -> str:
    if ndim == 3:
        return f"channel {idx[0]}"
    return "index " + ", ".join(str(i) for i in idx)


def csv_text(array: np.ndarray) -> str:
    """CSV: one block per map, a ``# channel c`` comment above each, blank lines between."""
    arr = np.asarray(array)
    if arr.dtype.kind not in "biuf":
        raise OutputFileError(f"cannot write {arr.dtype} values as CSV")
    fmt = _number_text(arr.dtype)
    batched = arr.ndim == 4 and arr.shape[0] > 1
    blocks = []
    for idx, m in _maps(arr):
        lines = []
        if idx:
            if arr.ndim == 4:
                label = f"batch {idx[0]}, channel {idx[1]}" if batched else f"channel {idx[1]}"
            else:
                label = _map_label(idx, arr.ndim)
            lines.append(f"# {label}")
        values = m.astype(np.float64)
        lines.extend(",".join(fmt(float(v)) for v in row) for row in values)
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _json_data(arr: np.ndarray) -> Any:
    """Nested lists whose numbers print as NumPy's shortest round-trip text for the dtype."""
    a = np.asarray(arr)
    if a.dtype.kind == "f" and a.dtype != np.float64:
        flat: list[Any] = [float(s) for s in a.ravel().astype(str)]
    elif a.dtype.kind in "iub":
        flat = [int(v) for v in a.ravel()]
    else:
        flat = [float(v) for v in a.ravel()]
    if a.ndim == 0:
        return flat[0]
    out = np.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(a.shape).tolist()


def _json_record(arr: np.ndarray) -> dict[str, Any]:
    a = np.asarray(arr)
    return {"shape": list(a.shape), "dtype": a.dtype.name, "data": _json_data(a)}


def json_text(value: np.ndarray | Mapping[str, np.ndarray]) -> str:
    """JSON ``{"shape", "dtype", "data"}``, or one such record per name for several arrays."""
    if isinstance(value, Mapping):
        obj: Any = {k: _json_record(v) for k, v in value.items()}
    else:
        obj = _json_record(value)
    return json.dumps(obj, allow_nan=True) + "\n"


def gif_bytes(frames: Sequence[Any], duration_ms: int, last_ms: int) -> bytes:
    """An animated GIF of Pillow images: each frame ``duration_ms``, the last ``last_ms``, looping.

    GIF counts time in hundredths of a second, so durations round to 10 ms.
    """
    if not frames:
        raise OutputFileError("nothing to save: no frames")
    durations = [duration_ms] * (len(frames) - 1) + [last_ms]
    buf = io.BytesIO()
    frames[0].save(
        buf,
        format="GIF",
        save_all=True,
        append_images=list(frames[1:]),
        duration=durations,
        loop=0,
        optimize=False,
    )
    return buf.getvalue()


def save_gif(
    path: str | os.PathLike[str], frames: Sequence[Any], duration_ms: int, last_ms: int
) -> None:
    """Write :func:`gif_bytes` to ``path`` whole or not at all."""
    atomic_write_bytes(path, gif_bytes(frames, duration_ms, last_ms))


# ---------------------------------------------------------------- save_result


def save_result(
    path_or_dash: str | os.PathLike[str],
    array_or_dict: np.ndarray | Mapping[str, np.ndarray],
    *,
    png_scale: str = "minmax",
    labels: Sequence[str] | None = None,
    stdout: IO[bytes] | None = None,
    rgb: bool = False,
    pixel_top: float | None = None,
    title: str | None = None,
) -> str:
    """Save a result by extension (.npy .npz .csv .json .png) or as .npy bytes to ``-``.

    A dict of named arrays goes to .npz or .json whole; .npy, .csv and .png take
    one array (a dict with one entry, or the ``"output"`` entry for .png).  ``-``
    writes .npy bytes (an .npz archive for several arrays) to ``stdout`` (binary).
    A .png is a grid of grey maps, or with ``rgb`` one colour image of 3 channels
    (``pixel_top``, ``title``: see :func:`png_bytes`).
    Returns what was written, for the user's ``wrote PATH (what)`` line.
    """
    if png_scale not in PNG_SCALES:
        raise ParameterError(f"png scale must be one of {', '.join(PNG_SCALES)}, got {png_scale!r}")
    arrays: dict[str, np.ndarray] | None = None
    if isinstance(array_or_dict, Mapping):
        arrays = {str(k): np.asarray(v) for k, v in array_or_dict.items()}
        if not arrays:
            raise OutputFileError("nothing to save: no arrays")
    if os.fspath(path_or_dash) == "-":
        if arrays is not None and len(arrays) > 1:
            data, what = npz_bytes(arrays), _describe_arrays("NumPy .npz", arrays)
        else:
            one = _single(arrays, array_or_dict, "-", ".npy")
            data, what = npy_bytes(one), _describe_arrays("NumPy .npy", {"": one})
        _write_stdout(data, stdout)
        return what
    path = Path(path_or_dash)
    name = display_name(path_or_dash)
    ext = path.suffix.lower()
    if ext == ".npy":
        one = _single(arrays, array_or_dict, name, ".npy")
        data, what = npy_bytes(one), _describe_arrays("NumPy .npy", {"": one})
    elif ext == ".npz":
        named = arrays if arrays is not None else {"output": np.asarray(array_or_dict)}
        data, what = npz_bytes(named), _describe_arrays("NumPy .npz", named)
    elif ext == ".csv":
        one = _single(arrays, array_or_dict, name, ".csv")
        data = csv_text(one).encode("utf-8")
        what = _describe_arrays("CSV", {"": one}) + f", {len(_maps(one))} map(s)"
    elif ext == ".json":
        named = arrays if arrays is not None else {"": np.asarray(array_or_dict)}
        data = json_text(arrays if arrays is not None else np.asarray(array_or_dict)).encode(
            "utf-8"
        )
        what = _describe_arrays("JSON", named)
    elif ext == ".png":
        arr = _single(arrays, array_or_dict, name, ".png", prefer="output")
        data, what = png_bytes(arr, png_scale, labels, rgb=rgb, pixel_top=pixel_top, title=title)
    else:
        raise OutputFileError(
            f"{name}: unsupported output type {ext or '(no extension)'}; "
            f"cnncli writes {' '.join(OUTPUT_EXTENSIONS)} or - (standard output)"
        )
    atomic_write_bytes(path, data)
    return what


def _describe_arrays(kind: str, arrays: Mapping[str, np.ndarray]) -> str:
    """``NumPy .npz: output float32 (1, 2, 3, 3), grad_input float32 (1, 1, 7, 7)``."""
    parts = [
        f"{k + ' ' if k else ''}{np.asarray(v).dtype.name} {tuple(np.asarray(v).shape)}"
        for k, v in arrays.items()
    ]
    return f"{kind}, " + ", ".join(parts)


def _single(
    arrays: dict[str, np.ndarray] | None,
    value: np.ndarray | Mapping[str, np.ndarray],
    name: str,
    ext: str,
    prefer: str | None = None,
) -> np.ndarray:
    if arrays is None:
        return np.asarray(value)
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    if prefer is not None and prefer in arrays:
        return arrays[prefer]
    raise OutputFileError(
        f"{name}: {len(arrays)} arrays ({', '.join(arrays)}) cannot go in one {ext} file",
        hint="save them to .npz or .json",
    )


def _write_stdout(data: bytes, stdout: IO[bytes] | None) -> None:
    stream: Any = stdout
    if stream is None:
        if sys.stdout is None:
            raise OutputFileError("-: there is no standard output")
        if sys.stdout.isatty():
            raise OutputFileError(
                "-: refusing to write binary .npy data to a terminal",
                hint="pipe it on (… -o - | cnncli conv -) or give a file name",
            )
        stream = sys.stdout.buffer
    elif isinstance(stream, io.TextIOBase) and hasattr(stream, "buffer"):
        stream = stream.buffer
    stream.write(data)
    stream.flush()


__all__ = [
    "OUTPUT_EXTENSIONS",
    "PNG_MODES",
    "PNG_SCALES",
    "atomic_open",
    "atomic_write_bytes",
    "check_output_path",
    "csv_text",
    "gif_bytes",
    "json_text",
    "npy_bytes",
    "npz_bytes",
    "png_bytes",
    "save_gif",
    "save_result",
    "to_gray_u8",
]
