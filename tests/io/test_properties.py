"""Property tests: generated files for every loader give a result or a clean CnncliError."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from cnncli.errors import CnncliError, ParameterError
from cnncli.io import Loaded, load_kernel_file, load_tensor, parse_inline_matrix, save_result

# A warning printed by a loader or writer would be an extra stderr line in the CLI.
pytestmark = pytest.mark.filterwarnings("error")

SETTINGS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
EXTENSIONS = [".png", ".jpg", ".gif", ".bmp", ".tiff", ".webp", ".ppm"]
EXTENSIONS += [".csv", ".tsv", ".txt", ".npy", ".npz", ".json"]


def _good_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    out = {}
    for ext, fmt in ((".png", "PNG"), (".jpg", "JPEG"), (".gif", "GIF"), (".bmp", "BMP")):
        buf = io.BytesIO()
        Image.fromarray(pixels, "RGB").save(buf, format=fmt)
        out[ext] = buf.getvalue()
    buf = io.BytesIO()
    np.save(buf, rng.standard_normal((2, 3, 4)).astype(np.float32))
    out[".npy"] = buf.getvalue()
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", out[".npy"])
    out[".npz"] = zbuf.getvalue()
    out[".csv"] = b"1,2,3\n4,5,6\n\n7,8,9\n1,2,3\n"
    out[".json"] = b'{"shape": [1, 2, 2], "data": [[[1, 2], [3, 4]]]}'
    return out


GOOD = _good_files()


def _try_load(path: Path) -> Loaded | None:
    try:
        loaded = load_tensor(path)
    except CnncliError as exc:
        assert "\n" not in exc.message and path.name in exc.message
        return None
    assert loaded.array.ndim == 4 and loaded.array.dtype == np.float32
    assert np.isfinite(loaded.array).all()
    return loaded


def _try_kernel(path: Path) -> None:
    try:
        kernel = load_kernel_file(path)
    except CnncliError as exc:
        assert "\n" not in exc.message
        return
    assert kernel.ndim in (2, 3, 4) and np.isfinite(kernel).all()


@SETTINGS
@given(ext=st.sampled_from(EXTENSIONS), data=st.binary(min_size=0, max_size=2048))
def test_random_bytes_never_crash(tmp_path: Path, ext: str, data: bytes) -> None:
    path = tmp_path / f"random{ext}"
    path.write_bytes(data)
    _try_load(path)
    if ext in (".csv", ".tsv", ".txt", ".npy", ".npz", ".json"):
        _try_kernel(path)


@SETTINGS
@given(
    ext=st.sampled_from(sorted(GOOD)),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=8),
    cut=st.none() | st.integers(0, 10**6),
)
def test_mutated_valid_files_never_crash(
    tmp_path: Path, ext: str, flips: list[tuple[int, int]], cut: int | None
) -> None:
    data = bytearray(GOOD[ext])
    for pos, mask in flips:
        data[pos % len(data)] ^= mask
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    path = tmp_path / f"mutated{ext}"
    path.write_bytes(bytes(data))
    _try_load(path)


CSV_ALPHABET = st.sampled_from(
    [
        *list("0123456789"),
        ",",
        ";",
        "\t",
        " ",
        "\n",
        "\r\n",
        '"',
        "'",
        ".",
        "-",
        "+",
        "e",
        "nan",
        "inf",
        "1e999",
        "#",
        "\ufeff",
        "x",
        "\x00",
        "é",
    ]
)


@SETTINGS
@given(parts=st.lists(CSV_ALPHABET, max_size=200), ext=st.sampled_from([".csv", ".txt", ".tsv"]))
def test_generated_csv_text(tmp_path: Path, parts: list[str], ext: str) -> None:
    path = tmp_path / f"gen{ext}"
    path.write_bytes("".join(parts).encode("utf-8"))
    _try_load(path)
    _try_kernel(path)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=40,
)


@SETTINGS
@given(value=JSON_VALUES)
def test_generated_json(tmp_path: Path, value: object) -> None:
    path = tmp_path / "gen.json"
    path.write_text(json.dumps(value), encoding="utf-8")
    _try_load(path)
    _try_kernel(path)


@SETTINGS
@given(
    descr=st.sampled_from(
        ["<f4", ">f8", "|b1", "<i2", "<u8", "<c8", "|O", "<M8[s]", "|V4", "<U3", "<f2", "|S2"]
    ),
    shape=st.lists(st.integers(0, 5), max_size=6),
    extra=st.integers(-40, 40),
    fortran=st.booleans(),
)
def test_generated_npy_headers(
    tmp_path: Path, descr: str, shape: list[int], extra: int, fortran: bool
) -> None:
    dt = np.dtype(descr)
    count = int(np.prod(shape)) if shape else 1
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {tuple(shape)}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    body = b"\x01" * max(0, count * dt.itemsize + extra)
    data = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + body
    path = tmp_path / "gen.npy"
    path.write_bytes(data)
    loaded = _try_load(path)
    if loaded is not None:
        assert descr in ("<f4", ">f8", "|b1", "<i2", "<u8", "<f2")
        assert 2 <= len(shape) <= 4 and extra >= 0


@SETTINGS
@given(text=st.text(alphabet=st.sampled_from(list("0123456789,;[]. -+eE\tnaif")), max_size=80))
def test_inline_matrix_text(text: str) -> None:
    try:
        k = parse_inline_matrix(text)
    except ParameterError as exc:
        assert "\n" not in exc.message
        return
    assert k.ndim in (2, 3, 4) and np.isfinite(k).all()


FINITE = st.floats(allow_nan=False, allow_infinity=False, width=32)


@SETTINGS
@given(
    arr=hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=4, max_dims=4, min_side=1, max_side=4),
        elements=FINITE,
    ),
    ext=st.sampled_from([".npy", ".csv", ".json", ".npz"]),
)
def test_writers_round_trip_through_loaders(tmp_path: Path, arr: np.ndarray, ext: str) -> None:
    path = tmp_path / f"out{ext}"
    save_result(path, arr)
    back = load_tensor(path)
    if ext == ".csv":
        # CSV stores maps, not the batch axis: N×C maps come back as N·C channels
        np.testing.assert_array_equal(back.array.reshape(arr.shape), arr)
    else:
        np.testing.assert_array_equal(back.array, arr)


@SETTINGS
@given(
    arr=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=4, max_dims=4, min_side=1, max_side=5),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=64),
    ),
    scale=st.sampled_from(["minmax", "clip", "abs"]),
)
def test_png_writer_accepts_any_values(tmp_path: Path, arr: np.ndarray, scale: str) -> None:
    path = tmp_path / "out.png"
    save_result(path, arr, png_scale=scale)  # no RuntimeWarning may reach the user either
    with Image.open(path) as img:
        assert img.mode == "L"
        if arr.shape[0] * arr.shape[1] == 1:
            assert img.size == (arr.shape[3], arr.shape[2])


@pytest.mark.parametrize("ext", sorted(GOOD))
def test_good_files_load(tmp_path: Path, ext: str) -> None:
    path = tmp_path / f"good{ext}"
    path.write_bytes(GOOD[ext])
    assert _try_load(path) is not None


@SETTINGS
@given(parts=st.lists(CSV_ALPHABET, max_size=120))
def test_text_fast_and_line_readers_agree(parts: list[str]) -> None:
    """Whenever NumPy's reader accepts a text, the line-by-line reader gives the same array."""
    from cnncli.io.matrices import _detect_separator, _parse_text_fast, _parse_text_slow

    text = "".join(parts).lstrip("\ufeff")
    if "\x00" in text:
        return
    sep = _detect_separator(text)
    fast = _parse_text_fast(text, sep)
    if fast is None:
        return
    slow = _parse_text_slow(text, sep, "gen.csv")
    np.testing.assert_array_equal(fast, slow)
