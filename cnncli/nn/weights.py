"""Weight files keyed by PyTorch state_dict names: .npz (NumPy) and .safetensors (optional extra).

Export from PyTorch in one line::

    np.savez("w.npz", **{k: v.numpy() for k, v in model.state_dict().items()})

Nothing from a file is executed: .npz members are read with ``allow_pickle=False``,
and a .safetensors header is checked (its length against the file size, every
tensor's offsets against the data) before the ``safetensors`` package parses it.
Sizes are checked against the memory limit before anything is read.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cnncli.errors import MissingExtraError, ResourceLimitError, WeightsError

EXPORT_HINT = (
    "export from PyTorch with np.savez('w.npz', **{k: v.numpy() for k, v in "
    "model.state_dict().items()})"
)
_ST_DTYPES = {
    "F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I8": 1, "U8": 1, "I16": 2, "U16": 2,
    "I32": 4, "U32": 4, "I64": 8, "U64": 8, "BOOL": 1,
}  # fmt: skip
_MAX_HEADER = 100 * 1024 * 1024


def load_weights(path: str | Path, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Arrays by state_dict name from a .npz or .safetensors file."""
    p = Path(path)
    name = str(path)  # as the user typed it, like a missing INPUT: "NAME: no such file"
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise WeightsError(f"{name}: no such file") from None
    except PermissionError:
        raise WeightsError(f"{name}: permission denied") from None
    except OSError as exc:
        raise WeightsError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    if p.is_dir():
        raise WeightsError(f"{name}: is a directory, not a file")
    if not p.is_file():
        raise WeightsError(f"{name}: is not a regular file")
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return _load_npz(p, max_bytes)
    if suffix == ".safetensors":
        return _load_safetensors(p, size, max_bytes)
    if suffix == ".npy":
        raise WeightsError(
            f"{p.name}: a .npy holds one array; weights need a .npz keyed by state_dict names",
            hint=EXPORT_HINT,
        )
    raise WeightsError(f"{p.name}: weights must be a .npz or .safetensors file", hint=EXPORT_HINT)


def _check_total(p: Path, total: int, max_bytes: int | None) -> None:
    if max_bytes is not None and total > max_bytes:
        raise ResourceLimitError(
            f"{p.name} would expand to {total:,} bytes, more than the limit {max_bytes:,}",
            hint="raise the limit with --max-memory",
        )


def _load_npz(p: Path, max_bytes: int | None) -> dict[str, np.ndarray]:
    """Every member of an .npz, each header checked before its data is read."""
    try:
        with zipfile.ZipFile(p) as zf:
            infos = [info for info in zf.infolist() if not info.is_dir()]
            _check_total(p, sum(info.file_size for info in infos), max_bytes)
            out: dict[str, np.ndarray] = {}
            for info in infos:
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                with zf.open(info) as member:
                    out[key] = _read_member(member, info.file_size, f"{p.name}[{key}]")
            return out
    except (WeightsError, ResourceLimitError):
        raise
    except Exception as exc:  # zipfile and NumPy raise many types on damaged archives
        raise WeightsError(f"{p.name} is not a readable .npz file: {exc}") from None


def _read_member(member: Any, size: int, label: str) -> np.ndarray:
    """One .npy member: no pickles, and a shape that fits the bytes present."""
    fmt = np.lib.format
    version = fmt.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(member)
    else:
        raise WeightsError(f"{label}: .npy format version {version} is not supported")
    if dtype.hasobject:
        raise WeightsError(f"{label}: object arrays need pickle, which cnncli refuses")
    if math.prod(shape) * dtype.itemsize > size:
        raise WeightsError(
            f"{label}: its header claims shape {tuple(shape)}, more than its {size:,} bytes"
        )
    member.seek(0)
    return np.asarray(fmt.read_array(member, allow_pickle=False))


def check_safetensors_header(p: Path, size: int) -> dict[str, dict[str, object]]:
    """Validate a .safetensors header without the package: length, dtypes, shapes, offsets."""
    if size < 8:
        raise WeightsError(f"{p.name}: {size} bytes is too short for a .safetensors file")
    with open(p, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        if n > size - 8 or n > _MAX_HEADER:
            raise WeightsError(
                f"{p.name}: the header claims {n:,} bytes but the file has {size - 8:,} after its "
                "length field"
            )
        raw = fh.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise WeightsError(f"{p.name}: the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{p.name}: the header is not a JSON object")
    data_size = size - 8 - n
    tensors: dict[str, dict[str, object]] = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        if not isinstance(info, dict):
            raise WeightsError(f"{p.name}: tensor {key!r} has no description")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _ST_DTYPES:
            raise WeightsError(f"{p.name}: tensor {key!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape
        ):
            raise WeightsError(f"{p.name}: tensor {key!r} has a bad shape {shape!r}")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            raise WeightsError(
                f"{p.name}: tensor {key!r} has offsets {offsets!r} outside the data "
                f"({data_size:,} bytes)"
            )
        if offsets[1] - offsets[0] != math.prod(shape) * _ST_DTYPES[dtype]:
            raise WeightsError(
                f"{p.name}: tensor {key!r}: offsets do not match its shape and dtype"
            )
        tensors[key] = info
    return tensors


def _load_safetensors(p: Path, size: int, max_bytes: int | None) -> dict[str, np.ndarray]:
    check_safetensors_header(p, size)
    _check_total(p, size, max_bytes)
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise MissingExtraError(
            "reading .safetensors weights needs the optional 'safetensors' package",
            hint="pip install 'cnncli[safetensors]'  (or: pip install safetensors)",
        ) from None
    try:
        return dict(load_file(str(p)))
    except Exception as exc:  # the package's own errors: any of them means a bad file
        raise WeightsError(f"{p.name} is not a readable .safetensors file: {exc}") from None
