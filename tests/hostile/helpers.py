"""Shared by the hostile-input suite (issue 6): run cnncli, check a clean outcome, snapshot folders.

A clean outcome is exit status 0, or exit status 2 whose stderr is exactly one
``error:`` line (plus at most one ``hint:`` line); never a traceback, never
exit status 1.  :func:`snapshot` records every file under a folder so that a
test can assert that nothing was created, changed or left behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import typer
import typer.main
from PIL import Image
from typer.testing import CliRunner

from cnncli.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
MARKER = "pickle_ran.marker"


@dataclass
class Run:
    """One cnncli call: exit status, stdout and stderr."""

    code: int
    stdout: str
    stderr: str


_COMMANDS: dict[int, tuple[typer.Typer, int, object]] = {}
_get_command = typer.main.get_command


def _cached_get_command(typer_instance: typer.Typer) -> object:
    """Typer rebuilds the Click command tree on every call (most of an in-process run's time);
    the tree depends only on the registered commands, so this suite builds it once."""
    count = len(typer_instance.registered_commands)
    hit = _COMMANDS.get(id(typer_instance))
    if hit is None or hit[0] is not typer_instance or hit[1] != count:
        hit = (typer_instance, count, _get_command(typer_instance))
        _COMMANDS[id(typer_instance)] = hit
    return hit[2]


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: bytes | None = None) -> Run:
    """Run ``cnncli ARGS`` in-process through ``main`` (the one place errors become statuses)."""
    full_env: dict[str, str | None] = {
        "COLUMNS": "100",
        "NO_COLOR": "1",
        "CNNCLI_DEBUG": None,
        **(env or {}),
    }
    typer.main.get_command = _cached_get_command  # type: ignore[assignment]
    try:
        with CliRunner().isolation(input=stdin, env=full_env) as (out, err, _):
            code = main(list(args))
            sys.stdout.flush()
            sys.stderr.flush()
            raw, errs = out.getvalue(), err.getvalue()
    finally:
        typer.main.get_command = _get_command
    run = Run(int(code), raw.decode("utf-8", "replace"), errs.decode("utf-8", "replace"))
    if os.environ.get("CNNCLI_HOSTILE_LOG"):
        _log(args, run)
    return run


def _log(args: tuple[str, ...], run: Run) -> None:
    """One JSON line per run for tests/hostile/count_cases.py: command, files read, outcome."""
    import json

    files = []
    folders = set()
    for i, a in enumerate(args):
        p = Path(a)
        try:
            if p.exists():
                folders.add(p.parent if p.is_file() else p)
                if p.is_file() and not (i > 0 and args[i - 1] in ("-o", "--output")):
                    role = args[i - 1] if i > 0 and args[i - 1].startswith("-") else "INPUT"
                    files.append((role, p.suffix.lower() or "(none)"))
        except (OSError, ValueError):
            continue
    partial = [str(f) for d in folders if d.is_dir() for f in d.glob(".*.tmp")]
    line = {
        "command": args[0] if args else "",
        "files": files,
        "code": run.code,
        "traceback": "Traceback" in run.stdout + run.stderr,
        "partial": partial,
    }
    with open(os.environ["CNNCLI_HOSTILE_LOG"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def assert_clean(r: Run, expect: str = "either") -> None:
    """Exit 0, or exit 2 with exactly one ``error:`` line (+ at most one ``hint:``); no traceback.

    ``expect``: "ok" (exit 0), "error" (exit 2) or "either".
    """
    text = r.stdout + r.stderr
    assert "Traceback" not in text, text[-2000:]
    assert "internal error" not in r.stderr, r.stderr
    assert r.code in (0, 2), (r.code, r.stderr[-2000:])
    if expect == "ok":
        assert r.code == 0, r.stderr
    elif expect == "error":
        assert r.code == 2, (r.stdout[-500:], r.stderr[-500:])
    if r.code == 2:
        lines = error_lines(r.stderr)
        assert 1 <= len(lines) <= 2, r.stderr
        assert lines[0].startswith("error: ") and len(lines[0]) > len("error: "), r.stderr
        if len(lines) == 2:
            assert lines[1].startswith("hint: "), r.stderr
    else:
        assert "error:" not in r.stderr, r.stderr
        assert "Warning" not in r.stderr, r.stderr


def snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``folder``: relative path → (size, mtime_ns, sha256 of small files)."""
    out: dict[str, tuple[int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), folder) + "/"] = (0, 0, "dir")
        for f in filenames:
            p = os.path.join(dirpath, f)
            st = os.lstat(p)
            digest = ""
            if st.st_size <= 1 << 20 and os.path.isfile(p) and not os.path.islink(p):
                digest = hashlib.sha256(Path(p).read_bytes()).hexdigest()
            out[os.path.relpath(p, folder)] = (st.st_size, st.st_mtime_ns, digest)
    return out


# ------------------------------------------------------------------ file makers


def png_bytes(pixels: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_claiming(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A PNG whose header claims width×height 8-bit grayscale pixels (tiny data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", idat if idat is not None else zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def png_bomb(width: int = 20_000, height: int = 10_000) -> bytes:
    """A real decompression bomb: a valid all-zero PNG of width×height pixels, compressed ~1000×."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    parts = [comp.compress(row) for _ in range(height)]
    parts.append(comp.flush())
    return png_claiming(width, height, b"".join(parts))


def flip(data: bytes, every: int, start: int = 40) -> bytes:
    out = bytearray(data)
    for i in range(start, len(out), every):
        out[i] ^= 0x5A
    return bytes(out)


def npy_bytes(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    """A version 1.0 .npy header for ``descr`` and ``shape`` (C order), without data."""
    header = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()


def sparse_npy(path: Path, descr: str, shape: tuple[int, ...]) -> None:
    """A valid all-zero .npy of any size without writing its data (a sparse file)."""
    head = npy_header(descr, shape)
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(len(head) + int(np.prod(shape)) * np.dtype(descr).itemsize)


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


class Evil:
    """Unpickling this creates the marker folder: proof that code ran from data."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


def evil_object_array(folder: Path) -> np.ndarray:
    arr = np.empty((2, 2), dtype=object)
    arr[0, 0] = Evil(str(folder / MARKER))
    return arr


def safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    """A .safetensors file (header length, JSON header, data) written by hand."""
    import json

    codes = {"float32": "F32", "float64": "F64", "int64": "I64", "int32": "I32"}
    header: dict[str, object] = {}
    data = b""
    for key, arr in tensors.items():
        raw = np.ascontiguousarray(arr).tobytes()
        header[key] = {
            "dtype": codes[arr.dtype.name],
            "shape": list(arr.shape),
            "data_offsets": [len(data), len(data) + len(raw)],
        }
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data
