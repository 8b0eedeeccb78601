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

OUTPUT_EXTENSIONS = (".npy", ".npz", ".csv", ".json", ".png")
PNG_SCALES = ("minmax", "clip", "abs")
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
    """The .npy encoding of ``array`` (never pickled)."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
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


def _number_text(dtype: np.dtype) -> Any:
    digits = 17 if dtype == np.float64 else 9

    def fmt(v: float) -> str:
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return format(v, f".{digits}g")

    return fmt


def _maps(array: np.ndarray) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """Split an array into 2-D maps with their leading index: NCHW → ((n, c), H×W)."""
    arr = np.asarray(array)
    if arr.ndim == 0:
        arr = arr.reshape(1, 1)
    elif arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim == 2:
        return [((), arr)]
    lead = arr.shape[:-2]
    return [(idx, arr[idx]) for idx in np.ndindex(*lead)]


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


def to_gray_u8(m: np.ndarray, png_scale: str) -> tuple[np.ndarray, str]:
    """Scale one map to uint8 0–255; return it and a note saying how.

    minmax: (v − min)/(max − min)·255; clip: v clipped to [0, 255]; abs: |v|/max|v|·255.
    NaN becomes 0.
    """
    with np.errstate(all="ignore"):  # huge spans overflow to inf; the clip below handles it
        return _to_gray_u8(np.asarray(m, dtype=np.float64), png_scale)


def _to_gray_u8(v: np.ndarray, png_scale: str) -> tuple[np.ndarray, str]:
    finite = np.isfinite(v)
    vals = v[finite]
    if png_scale == "clip":
        out = np.clip(np.nan_to_num(v, nan=0.0, posinf=255.0, neginf=0.0), 0, 255)
        note = "values clipped to 0–255"
    elif png_scale == "abs":
        a = np.abs(np.nan_to_num(v, nan=0.0))
        top = float(np.abs(vals).max()) if vals.size else 0.0
        out = np.where(np.isfinite(a), a / top * 255 if top > 0 else 0.0, 255.0)
        note = f"|v| scaled: 0 → 0, {top:.6g} → 255"
    else:
        lo = float(vals.min()) if vals.size else 0.0
        hi = float(vals.max()) if vals.size else 0.0
        span = hi - lo
        w = np.nan_to_num(v, nan=lo, posinf=hi, neginf=lo)
        out = (w - lo) / span * 255 if span > 0 else np.zeros_like(w)
        note = f"min {lo:.6g} → 0, max {hi:.6g} → 255" if span > 0 else f"constant {lo:.6g} → 0"
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), note


def png_bytes(
    array: np.ndarray, png_scale: str = "minmax", labels: Sequence[str] | None = None
) -> tuple[bytes, list[str]]:
    """PNG: one map as a grayscale image, several as a labelled grid (each map scaled alone)."""
    from PIL import Image

    maps = _maps(np.asarray(array))
    ndim = np.asarray(array).ndim
    if len(maps) == 1:
        u8, note = to_gray_u8(maps[0][1], png_scale)
        img = Image.fromarray(u8, "L")
        notes = [f"PNG: {note}"]
    else:
        names = list(labels) if labels is not None else []
        if len(names) < len(maps):
            batched = ndim == 4 and np.asarray(array).shape[0] > 1
            names += [
                (f"n{idx[0]} c{idx[1]}" if batched else f"ch {idx[-1]}") if idx else ""
                for idx, _ in maps[len(names) :]
            ]
        img = _grid([m for _, m in maps], names, png_scale)
        notes = [f"PNG: a grid of {len(maps)} maps, each scaled on its own ({png_scale})"]
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue(), notes


def _grid(maps: list[np.ndarray], labels: list[str], png_scale: str) -> Any:
    from PIL import Image, ImageDraw, ImageFont

    H, W = maps[0].shape
    zoom = max(1, min(16, 64 // max(H, W)))
    tile_h, tile_w = H * zoom, W * zoom
    font = ImageFont.load_default()
    label_h = 14
    tile_w_full = max(tile_w, 48)
    cols = math.ceil(math.sqrt(len(maps)))
    rows = math.ceil(len(maps) / cols)
    pad = 4
    canvas = Image.new(
        "L", (pad + cols * (tile_w_full + pad), pad + rows * (label_h + tile_h + pad)), 32
    )
    draw = ImageDraw.Draw(canvas)
    for i, (m, label) in enumerate(zip(maps, labels, strict=False)):
        r, c = divmod(i, cols)
        x = pad + c * (tile_w_full + pad)
        y = pad + r * (label_h + tile_h + pad)
        draw.text((x, y), label[:24], fill=255, font=font)
        u8, _ = to_gray_u8(m, png_scale)
        tile = Image.fromarray(u8, "L").resize((tile_w, tile_h), Image.Resampling.NEAREST)
        canvas.paste(tile, (x, y + label_h))
    return canvas


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
) -> list[str]:
    """Save a result by extension (.npy .npz .csv .json .png) or as .npy bytes to ``-``.

    A dict of named arrays goes to .npz or .json whole; .npy, .csv and .png take
    one array (a dict with one entry, or the ``"output"`` entry for .png).  ``-``
    writes .npy bytes (an .npz archive for several arrays) to ``stdout`` (binary).
    Returns notes for the user (how a PNG was scaled).
    """
    if png_scale not in PNG_SCALES:
        raise ParameterError(f"png scale must be one of {', '.join(PNG_SCALES)}, got {png_scale!r}")
    arrays: dict[str, np.ndarray] | None = None
    if isinstance(array_or_dict, Mapping):
        arrays = {str(k): np.asarray(v) for k, v in array_or_dict.items()}
        if not arrays:
            raise OutputFileError("nothing to save: no arrays")
    if os.fspath(path_or_dash) == "-":
        data = (
            npz_bytes(arrays)
            if arrays is not None and len(arrays) > 1
            else npy_bytes(_single(arrays, array_or_dict, "-", ".npy"))
        )
        _write_stdout(data, stdout)
        return []
    path = Path(path_or_dash)
    name = display_name(path_or_dash)
    ext = path.suffix.lower()
    notes: list[str] = []
    if ext == ".npy":
        data = npy_bytes(_single(arrays, array_or_dict, name, ".npy"))
    elif ext == ".npz":
        data = npz_bytes(arrays if arrays is not None else {"output": np.asarray(array_or_dict)})
    elif ext == ".csv":
        data = csv_text(_single(arrays, array_or_dict, name, ".csv")).encode("utf-8")
    elif ext == ".json":
        data = json_text(arrays if arrays is not None else np.asarray(array_or_dict)).encode(
            "utf-8"
        )
    elif ext == ".png":
        arr = _single(arrays, array_or_dict, name, ".png", prefer="output")
        data, notes = png_bytes(arr, png_scale, labels)
    else:
        raise OutputFileError(
            f"{name}: unsupported output type {ext or '(no extension)'}; "
            f"cnncli writes {' '.join(OUTPUT_EXTENSIONS)} or - (standard output)"
        )
    atomic_write_bytes(path, data)
    return notes


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
]
