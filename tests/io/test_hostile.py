"""Hostile input (issue 6): one row per bad file; each loads correctly or is a clean CnncliError.

A clean error is a :class:`cnncli.errors.CnncliError` whose message is one line
naming the file; any other exception fails the row.  No row may execute code
from data (a pickle whose ``__reduce__`` would create a marker file).
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnncli.errors import CnncliError, InputFileError, ResourceLimitError
from cnncli.io import Loaded, load_kernel_file, load_tensor

# A warning printed by a loader or writer would be an extra stderr line in the CLI.
pytestmark = pytest.mark.filterwarnings("error")

MARKER = "pickle_ran.marker"


class Evil:
    """Unpickling this creates the marker file: proof that code ran from data."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (self.marker,))


def _png_bytes(pixels: np.ndarray, mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels, mode).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes() -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "RGB").save(buf, "JPEG")
    return buf.getvalue()


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height 8-bit grayscale pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def _flip(data: bytes, every: int, start: int = 40) -> bytes:
    out = bytearray(data)
    for i in range(start, len(out), every):
        out[i] ^= 0x5A
    return bytes(out)


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _npy_header(descr: str, shape: tuple[int, ...], data: bytes = b"") -> bytes:
    header = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + data


def _npy_header_code(folder: Path) -> bytes:
    """A .npy whose header dict would run a shell command if it were evaluated, not parsed."""
    code = f"__import__('os').system('touch {folder / MARKER}')"
    header = f"{{'descr': {code}, 'fortran_order': False, 'shape': (2, 2), }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\0" * 16


def _evil_object_array(folder: Path) -> np.ndarray:
    arr = np.empty((1, 1), dtype=object)
    arr[0, 0] = Evil(str(folder / MARKER))
    return arr


def _npz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


Builder = Callable[[Path], bytes | None]


@dataclass
class Case:
    id: str
    filename: str
    build: Builder  # returns the file bytes, or None when it prepares the path itself
    expect: str  # "ok", "error" or "either"
    pattern: str = ""
    shape: tuple[int, ...] | None = None


RNG_BYTES = np.random.default_rng(42).integers(0, 256, 4096, dtype=np.uint8).tobytes()
GOOD_PNG = _png_bytes(np.arange(64 * 48, dtype=np.uint32).reshape(48, 64).astype(np.uint8))
GOOD_JPEG = _jpeg_bytes()


def _mkdir(p: Path) -> None:
    p.mkdir()


def _fifo(p: Path) -> None:
    os.mkfifo(p)


CASES = [
    # --- generic file problems
    Case("missing", "nope.png", lambda p: None, "error", "no such file"),
    Case("directory", "dir.csv", lambda p: _mkdir(p), "error", "is a directory"),
    Case("empty-png", "e.png", lambda p: b"", "error", "the file is empty"),
    Case("empty-csv", "e.csv", lambda p: b"", "error", "the file is empty"),
    Case("empty-npy", "e.npy", lambda p: b"", "error", "the file is empty"),
    Case("fifo", "pipe.csv", lambda p: _fifo(p), "error", "not a regular file"),
    Case(
        "unknown-ext",
        "x.xyz",
        lambda p: b"1,2",
        "error",
        r"unsupported file type \.xyz; cnncli reads",
    ),
    Case("no-ext", "matrix", lambda p: b"1,2", "error", r"unsupported file type \(no extension\)"),
    # --- images
    Case("random-bytes-png", "r.png", lambda p: RNG_BYTES, "error", "not a readable image"),
    Case("random-bytes-jpg", "r.jpg", lambda p: RNG_BYTES, "error", "not a readable image"),
    Case(
        "truncated-png",
        "t.png",
        lambda p: GOOD_PNG[: len(GOOD_PNG) // 2],
        "error",
        "not a readable image",
    ),
    Case("png-header-only", "h.png", lambda p: GOOD_PNG[:33], "error", "not a readable image"),
    Case(
        "truncated-jpeg",
        "t.jpg",
        lambda p: GOOD_JPEG[: len(GOOD_JPEG) // 2],
        "error",
        "not a readable image",
    ),
    Case("bitflip-png", "f.png", lambda p: _flip(GOOD_PNG, 97), "either", shape=(1, 1, 48, 64)),
    Case(
        "bitflip-png-dense",
        "g.png",
        lambda p: _flip(GOOD_PNG, 7, 16),
        "either",
        shape=(1, 1, 48, 64),
    ),
    Case(
        "bitflip-jpeg", "f.jpg", lambda p: _flip(GOOD_JPEG, 97, 200), "either", shape=(1, 3, 32, 32)
    ),
    Case(
        "bitflip-jpeg-scan",
        "s.jpg",
        lambda p: _flip(GOOD_JPEG, 10_000, len(GOOD_JPEG) // 2),
        "either",
        shape=(1, 3, 32, 32),
    ),
    Case(
        "bitflip-jpeg-header",
        "h.jpg",
        lambda p: _flip(GOOD_JPEG, 13, 2),
        "either",
        shape=(1, 3, 32, 32),
    ),
    Case(
        "png-claims-100000x100000",
        "bomb.png",
        lambda p: _png_claiming(100_000, 100_000),
        "error",
        "decompression bomb",
    ),
    Case(
        "png-claims-10000x9000",
        "warn.png",
        lambda p: _png_claiming(10_000, 9_000),
        "error",
        "decompression bomb",
    ),
    Case("png-zero-size", "z.png", lambda p: _png_claiming(0, 0), "error", "not a readable image"),
    Case("jpeg-named-png", "j.png", lambda p: GOOD_JPEG, "ok", shape=(1, 3, 32, 32)),
    Case(
        "npy-named-png", "n.png", lambda p: _npy(np.ones((2, 2))), "error", "not a readable image"
    ),
    Case("text-named-jpg", "t.jpg", lambda p: b"1,2\n3,4\n", "error", "not a readable image"),
    # --- CSV / text
    Case("csv-bom", "b.csv", lambda p: b"\xef\xbb\xbf1,2\n3,4\n", "ok", shape=(1, 1, 2, 2)),
    Case("csv-quotes", "q.csv", lambda p: b'"1","2"\n"3","4"\n', "ok", shape=(1, 1, 2, 2)),
    Case("csv-crlf", "c.csv", lambda p: b"1,2\r\n3,4\r\n", "ok", shape=(1, 1, 2, 2)),
    Case("csv-cr-only", "cr.csv", lambda p: b"1,2\r3,4\r", "ok", shape=(1, 1, 2, 2)),
    Case("csv-trailing-sep", "t.csv", lambda p: b"1,2,\n3,4,\n", "ok", shape=(1, 1, 2, 2)),
    Case("csv-empty-lines", "e2.csv", lambda p: b"\n\n1,2\n3,4\n\n\n\n", "ok", shape=(1, 1, 2, 2)),
    Case("csv-one-value", "one.csv", lambda p: b"7", "ok", shape=(1, 1, 1, 1)),
    Case(
        "csv-ragged",
        "rg.csv",
        lambda p: b"1,2,3\n4,5\n",
        "error",
        "line 2 has 2 values but line 1 has 3",
    ),
    Case("csv-1e999", "big.csv", lambda p: b"1,1e999\n", "error", r"\+inf at"),
    Case("csv-minus-1e999", "nbig.csv", lambda p: b"-1e999,1\n", "error", "-inf at"),
    Case("csv-nan", "nan.csv", lambda p: b"1,NaN\n", "error", "NaN at"),
    Case(
        "csv-wide",
        "wide.csv",
        lambda p: b",".join([b"1"] * 100_000),
        "ok",
        shape=(1, 1, 1, 100_000),
    ),
    Case("csv-long-cell", "lc.csv", lambda p: b"1" * 200_000, "error", r"\+inf at"),
    Case(
        "csv-non-numeric", "nn.csv", lambda p: b"1,2\n3,abc\n", "error", r"line 2, column 2: 'abc'"
    ),
    Case("csv-hex", "hex.csv", lambda p: b"0x10,1\n", "error", "is not a number"),
    Case("csv-random-bytes", "r.csv", lambda p: RNG_BYTES, "error", "not UTF-8 text"),
    Case("csv-nul", "nul.csv", lambda p: b"1,2\x00\n", "error", "NUL bytes"),
    Case("csv-whitespace-only", "ws.csv", lambda p: b"  \n\t\n", "error", "holds no numbers"),
    Case("csv-empty-cell", "ec.csv", lambda p: b"1,,2\n", "error", "column 2 is empty"),
    Case("csv-channel-mismatch", "cm.csv", lambda p: b"1,2\n\n1,2,3\n", "error", "channel 1"),
    Case(
        "txt-latin1", "l.txt", lambda p: "1 2\n3 é\n".encode("latin-1"), "error", "not UTF-8 text"
    ),
    Case("tsv-good", "g.tsv", lambda p: b"1\t2\n3\t4\n", "ok", shape=(1, 1, 2, 2)),
    # --- .npy
    Case(
        "npy-object-pickle",
        "obj.npy",
        lambda p: _npy(_evil_object_array(p.parent), True),
        "error",
        "Python objects",
    ),
    Case(
        "npy-raw-pickle",
        "raw.npy",
        lambda p: __import__("pickle").dumps(Evil(str(p.parent / MARKER))),
        "error",
        "not a .npy file",
    ),
    Case(
        "npy-complex",
        "c.npy",
        lambda p: _npy(np.ones((2, 2), dtype=np.complex64)),
        "error",
        "complex numbers",
    ),
    Case("npy-bool", "b.npy", lambda p: _npy(np.eye(2, dtype=bool)), "ok", shape=(1, 1, 2, 2)),
    Case(
        "npy-int8",
        "i.npy",
        lambda p: _npy(np.full((2, 3), -7, dtype=np.int8)),
        "ok",
        shape=(1, 1, 2, 3),
    ),
    Case(
        "npy-uint64",
        "u.npy",
        lambda p: _npy(np.full((2, 2), 2**63, dtype=np.uint64)),
        "ok",
        shape=(1, 1, 2, 2),
    ),
    Case(
        "npy-structured",
        "s.npy",
        lambda p: _npy(np.zeros((2, 2), dtype=[("a", "f4"), ("b", "i4")])),
        "error",
        "structured array",
    ),
    Case(
        "npy-subarray",
        "sa.npy",
        lambda p: _npy_header("(2,)<f4", (2, 2), b"\0" * 32),
        "error",
        "structured array|damaged",
    ),
    Case(
        "npy-datetime",
        "d.npy",
        lambda p: _npy(np.zeros((2, 2), dtype="datetime64[s]")),
        "error",
        "not numbers",
    ),
    Case("npy-strings", "str.npy", lambda p: _npy(np.array([["a", "b"]])), "error", "not numbers"),
    Case(
        "npy-zero-size",
        "z.npy",
        lambda p: _npy(np.zeros((0, 3), dtype=np.float32)),
        "error",
        "holds no values",
    ),
    Case(
        "npy-1d",
        "v.npy",
        lambda p: _npy(np.ones(5, dtype=np.float32)),
        "error",
        r"1-D array .* accepts 2-D \(H, W\)",
    ),
    Case("npy-0d", "s0.npy", lambda p: _npy(np.float32(3)), "error", "0-D array"),
    Case(
        "npy-5d",
        "f.npy",
        lambda p: _npy(np.ones((1, 1, 1, 2, 2), dtype=np.float32)),
        "error",
        "5-D array",
    ),
    Case(
        "npy-float16",
        "h.npy",
        lambda p: _npy(np.ones((2, 2), dtype=np.float16)),
        "ok",
        shape=(1, 1, 2, 2),
    ),
    Case(
        "npy-inf",
        "inf.npy",
        lambda p: _npy(np.array([[1, np.inf]], dtype=np.float32)),
        "error",
        r"\+inf at \(channel, row, col\) = \(0, 0, 1\)",
    ),
    Case("npy-truncated", "t.npy", lambda p: _npy(np.ones((64, 64)))[:1000], "error", "truncated"),
    Case(
        "npy-lying-shape",
        "l.npy",
        lambda p: _npy_header("<f8", (1_000_000, 1_000_000)),
        "error",
        "limit|truncated",
    ),
    Case(
        "npy-lying-shape-small",
        "l2.npy",
        lambda p: _npy_header("<f4", (100, 100), b"\0" * 16),
        "error",
        "truncated",
    ),
    Case(
        "npy-bad-header",
        "bh.npy",
        lambda p: b"\x93NUMPY\x01\x00\x10\x00{'descr': oops }\n",
        "error",
        "damaged .npy header",
    ),
    Case(
        "npy-header-code",
        "hc.npy",
        lambda p: _npy_header_code(p.parent),
        "error",
        "damaged .npy header",
    ),
    Case(
        "npy-version-3",
        "v3.npy",
        lambda p: b"\x93NUMPY\x03\x00" + _npy(np.ones((2, 2)))[8:],
        "error",
        "version",
    ),
    Case("npy-random-bytes", "r.npy", lambda p: RNG_BYTES, "error", "not a .npy file"),
    Case("npy-magic-only", "m.npy", lambda p: b"\x93NUMPY", "error", "not a .npy file|damaged"),
    Case(
        "npy-bitflip",
        "bf.npy",
        lambda p: _flip(_npy(np.arange(12.0).reshape(3, 4)), 5, 8),
        "either",
        shape=(1, 1, 3, 4),
    ),
    # --- .npz
    Case(
        "npz-pickle",
        "p.npz",
        lambda p: _npz({"x.npy": _npy(_evil_object_array(p.parent), True)}),
        "error",
        "Python objects",
    ),
    Case("npz-random-bytes", "r.npz", lambda p: RNG_BYTES, "error", "not an .npz archive"),
    Case("npz-empty-zip", "e.npz", lambda p: _npz({}), "error", "holds no arrays"),
    Case(
        "npz-not-npy-member",
        "t.npz",
        lambda p: _npz({"x.npy": b"hello"}),
        "error",
        "not a .npy file",
    ),
    Case(
        "npz-truncated",
        "tr.npz",
        lambda p: _npz({"x.npy": _npy(np.ones((8, 8)))})[:300],
        "error",
        "not an .npz archive|damaged",
    ),
    Case(
        "npz-bitflip",
        "bf.npz",
        lambda p: _flip(_npz({"x.npy": _npy(np.ones((8, 8)))}), 50, 60),
        "either",
        shape=(1, 1, 8, 8),
    ),
    Case(
        "npz-several-no-key",
        "k.npz",
        lambda p: _npz({"a.npy": _npy(np.ones((2, 2))), "b.npy": _npy(np.ones((2, 2)))}),
        "error",
        r"holds 2 arrays \('a', 'b'\)",
    ),
    Case(
        "npz-good",
        "g.npz",
        lambda p: _npz({"x.npy": _npy(np.ones((3, 2, 2), dtype=np.float32))}),
        "ok",
        shape=(1, 3, 2, 2),
    ),
    # --- JSON
    Case(
        "json-deep",
        "d.json",
        lambda p: b"[" * 100_000 + b"]" * 100_000,
        "error",
        "nested 100000 levels deep",
    ),
    Case(
        "json-deep-objects",
        "o.json",
        lambda p: b'{"a":' * 50 + b"1" + b"}" * 50,
        "error",
        "nested 50 levels deep",
    ),
    Case("json-unclosed", "u.json", lambda p: b"[" * 9, "error", "nested 9 levels deep"),
    Case("json-invalid", "i.json", lambda p: b"[[1, 2], [3, 4]", "error", "not valid JSON"),
    Case("json-strings", "s.json", lambda p: b'[["[[[[", "1"]]', "error", "is the text"),
    Case("json-nan-literal", "n.json", lambda p: b"[[NaN, 1]]", "error", "NaN at"),
    Case("json-1e400", "b.json", lambda p: b"[[1e400, 1]]", "error", r"\+inf at"),
    Case("json-bigint", "bi.json", lambda p: b"[[" + b"9" * 400 + b"]]", "error", "too large"),
    Case(
        "json-hugeint", "hi.json", lambda p: b"[[" + b"9" * 5000 + b"]]", "error", "too many digits"
    ),
    Case("json-ragged", "r.json", lambda p: b"[[1, 2], [3]]", "error", "items but 2 were expected"),
    Case("json-random-bytes", "rb.json", lambda p: RNG_BYTES, "error", "not UTF-8 text"),
    Case(
        "json-scalar",
        "sc.json",
        lambda p: b"3",
        "error",
        "holds the single number 3, not nested lists",
    ),
    Case("json-string", "st.json", lambda p: b'"abc"', "error", "not nested lists"),
    Case("json-good", "g.json", lambda p: b"[[1, 2], [3, 4]]", "ok", shape=(1, 1, 2, 2)),
]


def _prepare(case: Case, folder: Path) -> Path:
    path = folder / case.filename
    data = case.build(path)
    if data is not None:
        path.write_bytes(data)
    return path


def _check_clean_error(exc: BaseException, path: Path) -> None:
    assert isinstance(exc, CnncliError), f"{type(exc).__name__}: {exc}"
    assert "\n" not in exc.message and exc.message.strip()
    assert path.name in exc.message
    assert exc.hint is None or "\n" not in exc.hint


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_file(tmp_path: Path, case: Case) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    path = _prepare(case, folder)
    before = sorted(p.name for p in folder.iterdir())
    result: Loaded | None = None
    error: BaseException | None = None
    try:
        result = load_tensor(path)
    except Exception as exc:
        error = exc
    if case.expect == "ok":
        assert error is None, f"{type(error).__name__}: {error}"
    elif case.expect == "error":
        assert result is None, "expected an error, got a result"
    if error is not None:
        _check_clean_error(error, path)
        if case.pattern:
            assert __import__("re").search(case.pattern, error.message), error.message
    if result is not None:
        assert result.array.dtype == np.float32 and result.array.ndim == 4
        if case.shape is not None:
            assert result.array.shape == case.shape
        assert np.isfinite(result.array).all()
    # nothing executed from data, nothing written beside the input
    assert not (folder / MARKER).exists()
    assert sorted(p.name for p in folder.iterdir()) == before


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.filename.endswith((".npy", ".npz", ".csv", ".txt", ".json"))],
    ids=lambda c: c.id,
)
def test_hostile_kernel_file(tmp_path: Path, case: Case) -> None:
    path = _prepare(case, tmp_path)
    try:
        kernel = load_kernel_file(path)
    except Exception as exc:
        _check_clean_error(exc, path)
    else:
        assert kernel.ndim in (2, 3, 4) and np.isfinite(kernel).all()
    assert not (tmp_path / MARKER).exists()


def test_the_pickle_payload_really_would_run(tmp_path: Path) -> None:
    """The refusal above is meaningful: loading with pickles allowed does create the marker."""
    path = tmp_path / "obj.npy"
    path.write_bytes(_npy(_evil_object_array(tmp_path), True))
    with pytest.raises(InputFileError, match="never loads pickled data"):
        load_tensor(path)
    assert not (tmp_path / MARKER).exists()
    np.load(path, allow_pickle=True)
    assert (tmp_path / MARKER).exists()


def test_decompression_bomb_limit_applies_to_real_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Pillow's limit lowered, a real (decodable) image over it is refused both ways."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    (tmp_path / "warn.png").write_bytes(_png_bytes(np.zeros((30, 40), dtype=np.uint8)))
    (tmp_path / "err.png").write_bytes(_png_bytes(np.zeros((50, 50), dtype=np.uint8)))
    (tmp_path / "ok.png").write_bytes(_png_bytes(np.zeros((20, 40), dtype=np.uint8)))
    for name in ("warn.png", "err.png"):
        with pytest.raises(InputFileError, match="decompression bomb"):
            load_tensor(tmp_path / name)
    assert load_tensor(tmp_path / "ok.png").array.shape == (1, 1, 20, 40)


def test_text_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cnncli.io.load.MAX_TEXT_BYTES", 1000)
    (tmp_path / "big.csv").write_bytes(b"1,2\n" * 500)
    (tmp_path / "big.json").write_bytes(b"[[" + b"1," * 600 + b"1]]")
    for name in ("big.csv", "big.json"):
        with pytest.raises(InputFileError, match="reads at most 1,000 bytes"):
            load_tensor(tmp_path / name)


def test_array_byte_limit(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.ones((64, 64), dtype=np.float32))
    with pytest.raises(ResourceLimitError, match="more than the limit of 1,000 bytes"):
        load_tensor(tmp_path / "a.npy", max_bytes=1000)


def test_unreadable_file_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.csv"
    path.write_bytes(b"1,2\n")

    def denied(self: Path, *args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(InputFileError, match=r"locked\.csv: permission denied"):
        load_tensor(path)


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root can read any file; test_unreadable_file_simulated covers this",
)
def test_unreadable_file(tmp_path: Path) -> None:  # pragma: no cover
    path = tmp_path / "locked.png"
    path.write_bytes(GOOD_PNG)
    path.chmod(0)
    with pytest.raises(InputFileError, match="permission denied"):
        load_tensor(path)


def test_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero on this platform")
    link = tmp_path / "zero.npy"
    link.symlink_to("/dev/zero")
    with pytest.raises(InputFileError, match="not a regular file"):
        load_tensor(link)


def test_image_tensor_byte_limit(tmp_path: Path) -> None:
    path = tmp_path / "rgb.png"
    path.write_bytes(_png_bytes(np.zeros((20, 30, 3), dtype=np.uint8), "RGB"))
    with pytest.raises(
        ResourceLimitError, match=r"a 20×30 \(H×W\) image as a float64 tensor needs 14,400"
    ):
        load_tensor(path, dtype="float64", max_bytes=10_000)
    assert load_tensor(path, max_bytes=7_200).array.shape == (1, 3, 20, 30)


def test_corrupt_images_print_nothing_to_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """libtiff prints decode errors on file descriptor 2; the loader keeps stderr to its one line."""
    rng = np.random.default_rng(3)
    buf = io.BytesIO()
    pixels = rng.integers(0, 256, (24, 20, 3), dtype=np.uint8)
    Image.fromarray(pixels, "RGB").save(buf, format="TIFF", compression="tiff_deflate")
    good = buf.getvalue()
    outcomes = []
    for i in range(40):
        data = bytearray(good)
        for pos in rng.integers(8, len(data), 4):
            data[int(pos)] ^= 0xFF
        path = tmp_path / f"c{i}.tiff"
        path.write_bytes(bytes(data))
        try:
            load_tensor(path)
            outcomes.append("ok")
        except CnncliError:
            outcomes.append("error")
    captured = capfd.readouterr()
    assert "error" in outcomes
    assert captured.err == "" and captured.out == ""
