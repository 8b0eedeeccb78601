"""Matrix files (.csv/.tsv/.txt, .npy, .npz, .json, stdin) written in tmp_path and loaded back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from cnncli.errors import InputFileError, ParameterError
from cnncli.io import load_kernel_file, load_tensor, parse_inline_matrix

# A warning printed by a loader or writer would be an extra stderr line in the CLI.
pytestmark = pytest.mark.filterwarnings("error")


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


SEED = np.array([[2, 5, 6, 1], [9, 3, 7, 3], [8, 5, 7, 8], [6, 6, 1, 1]], dtype=np.float32)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("comma.csv", "2,5,6,1\n9,3,7,3\n8,5,7,8\n6,6,1,1\n"),
        ("spaces.txt", "2 5 6 1\n 9  3 7 3\n8\t5 7 8\n6 6 1 1"),
        ("tabs.tsv", "2\t5\t6\t1\n9\t3\t7\t3\n8\t5\t7\t8\n6\t6\t1\t1\n"),
        ("semi.csv", "2;5;6;1\n9;3;7;3\n8;5;7;8\n6;6;1;1\n"),
        ("bom_crlf.csv", "\ufeff2,5,6,1\r\n9,3,7,3\r\n8,5,7,8\r\n6,6,1,1\r\n"),
        ("trailing.csv", "2,5,6,1,\n9,3,7,3,\n8,5,7,8,\n6,6,1,1,\n"),
        ("quoted.csv", '"2","5",6,1\n9,"3",7,3\n8,5,\'7\',8\n6,6,1,"1"\n'),
        ("blanks.csv", "\n\n# a comment\n2, 5, 6, 1\n9, 3, 7, 3\n8, 5, 7, 8\n6, 6, 1, 1\n\n\n"),
        ("floats.csv", "2.0,5e0,6,1\n9,3,7.000,3\n8,5,7,8\n6,6,1,+1\n"),
    ],
)
def test_text_variants_give_the_seed_matrix(tmp_path: Path, name: str, text: str) -> None:
    loaded = load_tensor(_write(tmp_path / name, text))
    assert loaded.array.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(loaded.array[0, 0], SEED)
    assert loaded.kind == "matrix"
    assert loaded.original_layout == "H×W"


def test_utf16_text_with_bom(tmp_path: Path) -> None:
    loaded = load_tensor(_write(tmp_path / "u.csv", "1,2\n3,4\n".encode("utf-16")))
    np.testing.assert_array_equal(loaded.array[0, 0], [[1, 2], [3, 4]])


def test_blank_line_separates_channels(tmp_path: Path) -> None:
    text = "# channel 0\n1,2\n3,4\n\n# channel 1\n5,6\n7,8\n\n\n9,10\n11,12\n"
    loaded = load_tensor(_write(tmp_path / "c.csv", text))
    assert loaded.array.shape == (1, 3, 2, 2)
    np.testing.assert_array_equal(loaded.array.ravel(), np.arange(1, 13))
    assert loaded.original_layout == "C×H×W"


def test_one_value_is_a_1x1_matrix(tmp_path: Path) -> None:
    loaded = load_tensor(_write(tmp_path / "one.txt", "42\n"))
    assert loaded.array.shape == (1, 1, 1, 1)
    assert loaded.array.item() == 42


def test_very_wide_row(tmp_path: Path) -> None:
    values = np.arange(20000) % 97
    loaded = load_tensor(_write(tmp_path / "w.csv", ",".join(map(str, values)) + "\n"))
    assert loaded.array.shape == (1, 1, 1, 20000)
    np.testing.assert_array_equal(loaded.array.ravel(), values)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1,2,3\n4,5\n", r"line 2 has 2 values but line 1 has 3"),
        ("1,2\n3,x7\n", r"line 2, column 2: 'x7' is not a number"),
        ("a,b\n1,2\n", r"line 1, column 1: 'a' is not a number"),
        ("1,,2\n", r"line 1, column 2 is empty"),
        ("1,2\n3,4\n\n1,2,3\n4,5,6\n", r"channel 1 \(from line 4\) is 2×3 but channel 0"),
        ("# only a comment\n\n", r"holds no numbers"),
        ("1,2\n3,1e999\n", r"\+inf at \(channel, row, col\) = \(0, 1, 1\)"),
        ("nan,2\n", r"NaN at \(channel, row, col\) = \(0, 0, 0\)"),
    ],
)
def test_text_errors_name_the_place(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(InputFileError, match=pattern) as info:
        load_tensor(_write(tmp_path / "bad.csv", text))
    assert "bad.csv" in info.value.message
    assert "\n" not in info.value.message


def test_header_line_gets_a_hint(tmp_path: Path) -> None:
    with pytest.raises(InputFileError) as info:
        load_tensor(_write(tmp_path / "h.csv", "x,y\n1,2\n"))
    assert info.value.hint is not None and "#" in info.value.hint


def test_allow_nonfinite_keeps_nan_and_inf(tmp_path: Path) -> None:
    loaded = load_tensor(_write(tmp_path / "n.csv", "nan,inf\n-inf,1e999\n"), allow_nonfinite=True)
    a = loaded.array[0, 0]
    assert np.isnan(a[0, 0]) and a[0, 1] == np.inf and a[1, 0] == -np.inf and a[1, 1] == np.inf


# ---------------------------------------------------------------- .npy


@pytest.mark.parametrize(
    ("shape", "nchw", "layout_name"),
    [
        ((3, 4), (1, 1, 3, 4), "H×W"),
        ((2, 3, 4), (1, 2, 3, 4), "C×H×W"),
        ((2, 3, 4, 5), (2, 3, 4, 5), "N×C×H×W"),
    ],
)
def test_npy_ranks(
    tmp_path: Path, shape: tuple[int, ...], nchw: tuple[int, ...], layout_name: str
) -> None:
    arr = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    np.save(tmp_path / "a.npy", arr)
    loaded = load_tensor(tmp_path / "a.npy")
    assert loaded.array.shape == nchw
    np.testing.assert_array_equal(loaded.array.reshape(shape), arr)
    assert loaded.original_shape == shape
    assert loaded.original_layout == layout_name
    assert loaded.notes == []


def test_npy_hwc_layout(tmp_path: Path) -> None:
    arr = np.random.default_rng(4).standard_normal((5, 6, 3)).astype(np.float32)
    np.save(tmp_path / "a.npy", arr)
    loaded = load_tensor(tmp_path / "a.npy", layout="hwc")
    assert loaded.array.shape == (1, 3, 5, 6)
    np.testing.assert_array_equal(loaded.array[0], arr.transpose(2, 0, 1))
    assert loaded.original_layout == "H×W×C"
    assert any("channels-last" in n for n in loaded.notes)
    batch = np.random.default_rng(5).standard_normal((2, 5, 6, 3)).astype(np.float32)
    np.save(tmp_path / "b.npy", batch)
    loaded = load_tensor(tmp_path / "b.npy", layout="nhwc")
    np.testing.assert_array_equal(loaded.array, batch.transpose(0, 3, 1, 2))


def test_npy_fortran_order_and_big_endian(tmp_path: Path) -> None:
    arr = np.asfortranarray(np.arange(12, dtype=">f8").reshape(3, 4))
    np.save(tmp_path / "f.npy", arr)
    loaded = load_tensor(tmp_path / "f.npy", dtype="float64")
    np.testing.assert_array_equal(loaded.array[0, 0], np.arange(12).reshape(3, 4))


@pytest.mark.parametrize(
    ("dtype", "note"),
    [
        (np.int64, "integer values (int64) converted to float32"),
        (np.uint8, "integer values (uint8) converted to float32"),
        (np.bool_, "bool values converted to float32"),
        (np.float64, "float64 values converted to float32"),
        (np.float16, "float16 values converted to float32"),
    ],
)
def test_npy_conversions_are_noted(tmp_path: Path, dtype: type, note: str) -> None:
    arr = (np.arange(6).reshape(2, 3) % 2).astype(dtype)
    np.save(tmp_path / "a.npy", arr)
    loaded = load_tensor(tmp_path / "a.npy")
    assert loaded.array.dtype == np.float32
    np.testing.assert_array_equal(loaded.array[0, 0], arr.astype(np.float32))
    assert any(note in n for n in loaded.notes)


def test_float64_overflowing_float32_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "big.npy", np.array([[1.0, 1e300]]))
    with pytest.raises(InputFileError, match="too large for float32"):
        load_tensor(tmp_path / "big.npy")
    assert load_tensor(tmp_path / "big.npy", dtype="float64").array[0, 0, 0, 1] == 1e300


def test_large_int_precision_note(tmp_path: Path) -> None:
    np.save(tmp_path / "i.npy", np.array([[2**25 + 1, 0]], dtype=np.int64))
    loaded = load_tensor(tmp_path / "i.npy")
    assert any("2^24" in n for n in loaded.notes)


# ---------------------------------------------------------------- .npz


def test_npz_single_array_needs_no_key(tmp_path: Path) -> None:
    arr = np.ones((2, 3), dtype=np.float32)
    np.savez(tmp_path / "one.npz", only=arr)
    loaded = load_tensor(tmp_path / "one.npz")
    np.testing.assert_array_equal(loaded.array[0, 0], arr)


def test_npz_key_required_and_listed(tmp_path: Path) -> None:
    np.savez_compressed(tmp_path / "m.npz", x=np.ones((2, 2)), weight=np.zeros((1, 1, 3, 3)))
    with pytest.raises(
        InputFileError, match=r"holds 2 arrays \('x', 'weight'\); choose one with --key"
    ):
        load_tensor(tmp_path / "m.npz")
    with pytest.raises(InputFileError, match=r"no array named 'bias'; it holds 'x', 'weight'"):
        load_tensor(tmp_path / "m.npz", key="bias")
    loaded = load_tensor(tmp_path / "m.npz", key="weight")
    assert loaded.array.shape == (1, 1, 3, 3)
    assert loaded.notes[0] == "array 'weight' of 2 in the archive"


# ---------------------------------------------------------------- .json


def test_json_nested_lists_and_record(tmp_path: Path) -> None:
    data = [[[1, 2], [3, 4]], [[5, 6], [7, 8.5]]]
    loaded = load_tensor(_write(tmp_path / "a.json", json.dumps(data)))
    assert loaded.array.shape == (1, 2, 2, 2)
    np.testing.assert_array_equal(loaded.array[0], np.array(data, dtype=np.float32))
    rec = {"shape": [2, 2], "dtype": "float32", "data": [[1, 2], [3, 4]]}
    loaded = load_tensor(_write(tmp_path / "r.json", json.dumps(rec)))
    np.testing.assert_array_equal(loaded.array[0, 0], [[1, 2], [3, 4]])


def test_json_named_arrays_need_key(tmp_path: Path) -> None:
    obj = {"output": {"data": [[1, 2]]}, "grad_input": {"data": [[3, 4]]}}
    path = _write(tmp_path / "n.json", json.dumps(obj))
    with pytest.raises(InputFileError, match="choose one with --key"):
        load_tensor(path)
    np.testing.assert_array_equal(load_tensor(path, key="grad_input").array[0, 0], [[3, 4]])


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("[[1, 2], [3]]", r"\[1\] has 1 items but 2 were expected"),
        ('[[1, "2"]]', r"\[0\]\[1\] is the text '2', not a number"),
        ("[[1, null]]", r"is null, not a number"),
        ("[[true, 1]]", r"is true, not a number"),
        ("[1, 2, 3]", r"1-D array"),
        ("7", r"holds the single number 7, not nested lists"),
        ("[[[[[1]]]]]", r"5-D array"),
        ("[]", r"1-D array"),
        ("[[]]", r"holds no values"),
        ("[[1, 2]", r"not valid JSON \(line 1"),
        ('{"shape": [3, 3], "data": [[1]]}', r'"shape" says \[3, 3\]'),
        ("[[" + "1" * 5000 + "]]", r"too many digits"),
        ("[[" + "1" * 400 + "]]", r"integer too large for a float"),
    ],
    ids=lambda v: v[:24] if isinstance(v, str) else None,
)
def test_json_errors(tmp_path: Path, text: str, pattern: str) -> None:
    with pytest.raises(InputFileError, match=pattern):
        load_tensor(_write(tmp_path / "bad.json", text))


# ---------------------------------------------------------------- stdin


def test_stdin_npy_and_text_and_json() -> None:
    arr = np.arange(6, dtype=np.float64).reshape(2, 3)
    buf = io.BytesIO()
    np.save(buf, arr)
    loaded = load_tensor("-", stdin=io.BytesIO(buf.getvalue()), dtype="float64")
    assert loaded.source == "<stdin>"
    np.testing.assert_array_equal(loaded.array[0, 0], arr)
    loaded = load_tensor("-", stdin=io.BytesIO(b"1 2\n3 4\n"))
    np.testing.assert_array_equal(loaded.array[0, 0], [[1, 2], [3, 4]])
    loaded = load_tensor("-", stdin=io.BytesIO(b" [[1, 2], [3, 4]]"))
    np.testing.assert_array_equal(loaded.array[0, 0], [[1, 2], [3, 4]])


def test_stdin_npz_bytes() -> None:
    buf = io.BytesIO()
    np.savez(buf, output=np.ones((2, 2)))
    loaded = load_tensor("-", stdin=io.BytesIO(buf.getvalue()))
    np.testing.assert_array_equal(loaded.array, 1)


def test_stdin_empty_is_an_error() -> None:
    with pytest.raises(InputFileError, match="standard input is empty"):
        load_tensor("-", stdin=io.BytesIO(b""))


def test_stdin_is_never_read_without_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Exploding(io.BytesIO):
        def read(self, *args: object) -> bytes:
            raise AssertionError("stdin was read")

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(Exploding()))
    np.save(tmp_path / "a.npy", np.ones((2, 2), dtype=np.float32))
    assert load_tensor(tmp_path / "a.npy").array.shape == (1, 1, 2, 2)


def test_stdin_terminal_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty(io.BytesIO(b"1,2\n")))
    with pytest.raises(InputFileError, match="standard input is a terminal"):
        load_tensor("-")


# ---------------------------------------------------------------- kernels


def test_kernel_files_keep_their_rank(tmp_path: Path) -> None:
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    np.save(tmp_path / "k.npy", sobel.astype(np.int32))
    np.testing.assert_array_equal(load_kernel_file(tmp_path / "k.npy"), sobel)
    _write(tmp_path / "k.csv", "-1,0,1\n-2,0,2\n-1,0,1\n")
    np.testing.assert_array_equal(load_kernel_file(tmp_path / "k.csv"), sobel)
    _write(tmp_path / "k3.txt", "1 0\n0 1\n\n0 1\n1 0\n")
    assert load_kernel_file(tmp_path / "k3.txt").shape == (2, 2, 2)
    bank = np.zeros((4, 1, 3, 3), dtype=np.float32)
    _write(tmp_path / "k4.json", json.dumps(bank.tolist()))
    k4 = load_kernel_file(tmp_path / "k4.json", dtype="float64")
    assert k4.shape == (4, 1, 3, 3) and k4.dtype == np.float64


def test_kernel_file_errors(tmp_path: Path) -> None:
    _write(tmp_path / "k.png", b"\x89PNG")
    with pytest.raises(InputFileError, match=r"unsupported kernel file type \.png"):
        load_kernel_file(tmp_path / "k.png")
    _write(tmp_path / "n.csv", "1,nan\n")
    with pytest.raises(InputFileError, match=r"nan at index \(0, 1\)"):
        load_kernel_file(tmp_path / "n.csv")
    np.save(tmp_path / "v.npy", np.ones(3))
    with pytest.raises(InputFileError, match="1-D array"):
        load_kernel_file(tmp_path / "v.npy")


@pytest.mark.parametrize(
    "text",
    ["1,0,-1;2,0,-2;1,0,-1", "[[1,0,-1],[2,0,-2],[1,0,-1]]", " 1 0 -1 ; 2 0 -2 ; 1 0 -1 ; "],
)
def test_inline_matrix_forms(text: str) -> None:
    k = parse_inline_matrix(text)
    np.testing.assert_array_equal(k, [[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    assert k.dtype == np.float32


def test_inline_3d_json_and_single_row() -> None:
    assert parse_inline_matrix("[[[1,0],[0,1]],[[0,1],[1,0]]]").shape == (2, 2, 2)
    assert parse_inline_matrix("1,2,1").shape == (1, 3)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("", "empty"),
        ("1,0;2", "row 2 has 1 values but row 1 has 2"),
        ("1,a;2,3", r"row 1, value 2: 'a' is not a number"),
        ("1,2;;3,4", "row 2 is empty"),
        ("[[1,2],[3]]", "items but 2 were expected"),
        ("[1,2,3]", "1-D array"),
        ("[[1,2]", "not valid JSON"),
        ("1,inf", "kernels must be finite"),
        ("[" * 50 + "]" * 50, "nested 50 levels"),
    ],
)
def test_inline_errors_are_parameter_errors(text: str, pattern: str) -> None:
    with pytest.raises(ParameterError, match=pattern) as info:
        parse_inline_matrix(text)
    assert "\n" not in info.value.message


def test_options_that_do_not_apply_to_matrices_are_noted(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.csv", "1,2\n3,4\n")
    loaded = load_tensor(path, gray=True, scale="unit", layout="hwc")
    np.testing.assert_array_equal(loaded.array[0, 0], [[1, 2], [3, 4]])
    assert any("--gray applies to images only" in n for n in loaded.notes)
    assert any("--scale unit applies to images only" in n for n in loaded.notes)
    assert any("--layout hwc applies to arrays" in n for n in loaded.notes)


def test_dash_output_to_a_text_stream_uses_its_buffer(tmp_path: Path) -> None:
    from cnncli.io import save_result

    raw = io.BytesIO()
    text = io.TextIOWrapper(raw)
    save_result("-", np.ones((1, 1, 2, 2), dtype=np.float32), stdout=text)  # type: ignore[arg-type]
    np.testing.assert_array_equal(np.load(io.BytesIO(raw.getvalue())), 1)


def test_empty_path_is_an_error() -> None:
    with pytest.raises(InputFileError, match="the input path is empty"):
        load_tensor("")
