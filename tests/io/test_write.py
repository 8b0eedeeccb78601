"""Writers: every format re-read, deterministic bytes, and the atomic temp-file-and-rename."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnncli.errors import CnncliError, OutputFileError, ParameterError
from cnncli.io import (
    atomic_open,
    atomic_write_bytes,
    check_output_path,
    load_tensor,
    save_result,
)
from cnncli.io.png import (
    GRID_PAD,
    fit_text,
    grid_font,
    grid_layout,
    rgb_u8,
    text_width,
    to_gray_u8,
)

# A warning printed by a loader or writer would be an extra stderr line in the CLI.
pytestmark = pytest.mark.filterwarnings("error")


@pytest.fixture
def result() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.standard_normal((1, 3, 4, 5)).astype(np.float32)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_npy_round_trip(tmp_path: Path, result: np.ndarray) -> None:
    save_result(tmp_path / "r.npy", result)
    back = np.load(tmp_path / "r.npy", allow_pickle=False)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, result)


def test_npz_named_arrays_and_single(tmp_path: Path, result: np.ndarray) -> None:
    grads = {"output": result, "grad_input": result * 2, "grad_bias": np.ones(3)}
    save_result(tmp_path / "g.npz", grads)
    with np.load(tmp_path / "g.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["grad_bias", "grad_input", "output"]
        np.testing.assert_array_equal(z["grad_input"], result * 2)
    save_result(tmp_path / "one.npz", result)
    with np.load(tmp_path / "one.npz", allow_pickle=False) as z:
        assert z.files == ["output"]
    loaded = load_tensor(tmp_path / "g.npz", key="output")
    np.testing.assert_array_equal(loaded.array, result)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csv_round_trips_exactly_through_the_loader(
    tmp_path: Path, result: np.ndarray, dtype: type
) -> None:
    arr = result.astype(dtype) * 1e3
    save_result(tmp_path / "r.csv", arr)
    text = (tmp_path / "r.csv").read_text()
    assert text.startswith("# channel 0\n")
    assert text.count("\n\n") == 2 and "# channel 2" in text
    back = load_tensor(tmp_path / "r.csv", dtype=np.dtype(dtype).name)
    np.testing.assert_array_equal(back.array, arr)


def test_csv_batch_labels_and_2d(tmp_path: Path) -> None:
    save_result(tmp_path / "b.csv", np.zeros((2, 1, 2, 2), dtype=np.float32))
    assert "# batch 1, channel 0" in (tmp_path / "b.csv").read_text()
    save_result(tmp_path / "v.csv", np.array([[1.5, -2.0, 3.0]], dtype=np.float32))
    assert (tmp_path / "v.csv").read_text() == "1.5,-2,3\n"


def test_json_record_round_trip(tmp_path: Path, result: np.ndarray) -> None:
    save_result(tmp_path / "r.json", result)
    obj = json.loads((tmp_path / "r.json").read_text())
    assert obj["shape"] == [1, 3, 4, 5] and obj["dtype"] == "float32"
    np.testing.assert_array_equal(np.array(obj["data"], dtype=np.float32), result)
    back = load_tensor(tmp_path / "r.json")
    np.testing.assert_array_equal(back.array, result)
    # float32 values print as their shortest text: 0.1f is written "0.1"
    save_result(tmp_path / "p.json", np.array([[0.1]], dtype=np.float32))
    assert '"data": [[0.1]]' in (tmp_path / "p.json").read_text()


def test_json_dict(tmp_path: Path, result: np.ndarray) -> None:
    save_result(tmp_path / "d.json", {"output": result, "grad_input": -result})
    obj = json.loads((tmp_path / "d.json").read_text())
    assert set(obj) == {"output", "grad_input"}
    back = load_tensor(tmp_path / "d.json", key="grad_input")
    np.testing.assert_array_equal(back.array, -result)


@pytest.mark.parametrize(
    ("scale", "values", "expected"),
    [
        ("minmax", [[-2.0, 0.0, 2.0]], [[0, 128, 255]]),
        ("clip", [[-5.0, 100.4, 300.0]], [[0, 100, 255]]),
        ("abs", [[-4.0, 2.0, 0.0]], [[255, 128, 0]]),
        ("minmax", [[3.0, 3.0]], [[0, 0]]),
    ],
)
def test_png_single_map_scales(
    tmp_path: Path, scale: str, values: list[list[float]], expected: list[list[int]]
) -> None:
    arr = np.array(values, dtype=np.float32)[None, None]
    what = save_result(tmp_path / "m.png", arr, png_scale=scale)
    with Image.open(tmp_path / "m.png") as img:
        assert img.mode == "L"
        np.testing.assert_array_equal(np.asarray(img), expected)
    assert what.startswith(f"PNG, grayscale {len(values[0])}×1, ")


def test_png_minmax_matches_formula(result: np.ndarray) -> None:
    m = result[0, 0]
    u8, note = to_gray_u8(m, "minmax")
    expected = np.rint((m.astype(np.float64) - m.min()) / (m.max() - m.min()) * 255)
    np.testing.assert_array_equal(u8, expected)
    assert "→ 0" in note and "→ 255" in note


def test_png_grid_for_several_maps(tmp_path: Path, result: np.ndarray) -> None:
    labels = ["sobel-x", "sobel-y", "laplacian"]
    what = save_result(tmp_path / "g.png", result, labels=labels)
    with Image.open(tmp_path / "g.png") as img:
        assert img.mode == "L"
        arr = np.asarray(img)
    # 3 maps of 4×5 are drawn 12× larger (48×60 tiles) in a 2-column grid with labels
    assert arr.shape[0] > 2 * 48 and arr.shape[1] > 2 * 60
    assert "grid of 3 maps" in what
    # the first tile (below its label) holds the first map's minmax scaling, 12× nearest
    lay = grid_layout(3, (4, 5), labels, None, grid_font())
    assert (lay.zoom, lay.tile_h, lay.tile_w, lay.cols) == (12, 48, 60, 2)
    assert arr.shape == (lay.height, lay.width)
    u8, _ = to_gray_u8(result[0, 0], "minmax")
    x, y = lay.origin(0)
    assert (x, y) == (4, 4)
    tile = arr[y + lay.label_h : y + lay.label_h + 48, x : x + 60]
    np.testing.assert_array_equal(tile, np.kron(u8, np.ones((12, 12), dtype=np.uint8)))


@pytest.mark.parametrize("shape", [(4, 5), (28, 28), (1, 1), (60, 2)])
def test_grid_labels_fit_their_columns(shape: tuple[int, int]) -> None:
    """Measured with the font's metrics: no label is wider than its column."""
    font = grid_font()
    labels = ["conv_block_1.0 ch 63", "x" * 200, "sobel-x", "ch 511", ""]
    lay = grid_layout(len(labels), shape, labels, "a title " * 80, font)
    for text in lay.labels:
        assert text_width(text, font) <= lay.col_w
    assert lay.labels[2:] == ("sobel-x", "ch 511", "")  # short ones are not cut
    assert lay.labels[1].endswith("...") and len(lay.labels[1]) < 200
    assert lay.title is not None and text_width(lay.title, font) <= lay.width - 2 * GRID_PAD
    assert lay.col_w >= lay.tile_w
    assert fit_text("abc", 0, font) == ""


def test_grid_labels_never_overprint_the_next_column(tmp_path: Path) -> None:
    """In the drawn PNG, the gaps between columns stay background behind long labels."""
    maps = np.zeros((1, 4, 3, 3), dtype=np.float32)
    labels = ["W" * 60] * 4
    save_result(tmp_path / "g.png", maps, labels=labels)
    with Image.open(tmp_path / "g.png") as img:
        arr = np.asarray(img)
    lay = grid_layout(4, (3, 3), labels, None, grid_font())
    assert lay.cols == 2 and arr.shape == (lay.height, lay.width)
    for i in range(4):
        x, y = lay.origin(i)
        band = arr[y : y + lay.label_h]
        assert (band[:, x : x + lay.col_w] != 32).any()  # the label is drawn
        assert (band[:, x + lay.col_w : x + lay.col_w + GRID_PAD] == 32).all()  # and stops


def test_grid_title_is_drawn_above_the_tiles(tmp_path: Path, result: np.ndarray) -> None:
    save_result(tmp_path / "t.png", result, title="layer conv1")
    save_result(tmp_path / "n.png", result)
    with Image.open(tmp_path / "t.png") as t, Image.open(tmp_path / "n.png") as n:
        assert t.size[1] > n.size[1]
        assert (np.asarray(t)[GRID_PAD : GRID_PAD + 8] != 32).any()


def test_rgb_png_keeps_pixel_values_or_shares_one_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, size=(3, 5, 7)).astype(np.float32)
    what = save_result(tmp_path / "c.png", pixels[None], rgb=True, pixel_top=255.0)
    with Image.open(tmp_path / "c.png") as img:
        assert img.mode == "RGB" and img.size == (7, 5)
        np.testing.assert_array_equal(np.asarray(img), pixels.transpose(1, 2, 0))
    assert what == "PNG, RGB colour 7×5, the input's pixel values 0–255"
    unit, note = rgb_u8(pixels / 255, pixel_top=1.0)
    np.testing.assert_array_equal(unit, pixels.transpose(1, 2, 0))
    # values outside the pixel range: one min–max scale for the three channels
    shifted, note = rgb_u8(pixels - 100, pixel_top=255.0)
    lo, hi = float(pixels.min()) - 100, float(pixels.max()) - 100
    expected = np.rint((pixels - 100 - lo) / (hi - lo) * 255).transpose(1, 2, 0)
    np.testing.assert_array_equal(shifted, expected)
    assert note.startswith("one minmax scale for R, G, B")
    with pytest.raises(ParameterError, match="3 channels"):
        save_result(tmp_path / "bad.png", pixels[None, :2], rgb=True)


def test_png_has_no_time_chunk_and_is_deterministic(tmp_path: Path, result: np.ndarray) -> None:
    for name in ("a.png", "b.png"):
        save_result(tmp_path / name, result)
    a = (tmp_path / "a.png").read_bytes()
    assert a == (tmp_path / "b.png").read_bytes()
    assert b"tIME" not in a


@pytest.mark.parametrize("ext", [".npy", ".npz", ".csv", ".json", ".png"])
def test_every_format_is_byte_deterministic(tmp_path: Path, result: np.ndarray, ext: str) -> None:
    value = {"output": result, "grad_input": result + 1} if ext in (".npz", ".json") else result
    save_result(tmp_path / f"a{ext}", value)
    save_result(tmp_path / f"b{ext}", value)
    assert (tmp_path / f"a{ext}").read_bytes() == (tmp_path / f"b{ext}").read_bytes()


def test_npz_members_have_fixed_dates(tmp_path: Path, result: np.ndarray) -> None:
    save_result(tmp_path / "d.npz", {"output": result})
    with zipfile.ZipFile(tmp_path / "d.npz") as zf:
        assert [i.date_time for i in zf.infolist()] == [(1980, 1, 1, 0, 0, 0)]


def test_dash_writes_npy_to_stdout(result: np.ndarray) -> None:
    out = io.BytesIO()
    save_result("-", result, stdout=out)
    np.testing.assert_array_equal(np.load(io.BytesIO(out.getvalue()), allow_pickle=False), result)
    piped = load_tensor("-", stdin=io.BytesIO(out.getvalue()))
    np.testing.assert_array_equal(piped.array, result)
    out = io.BytesIO()
    save_result("-", {"output": result, "grad_input": result}, stdout=out)
    assert out.getvalue().startswith(b"PK")


def test_dash_refuses_a_terminal(monkeypatch: pytest.MonkeyPatch, result: np.ndarray) -> None:
    class Tty(io.TextIOWrapper):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Tty(io.BytesIO()))
    with pytest.raises(OutputFileError, match="terminal"):
        save_result("-", result)


def test_writer_errors(tmp_path: Path, result: np.ndarray) -> None:
    with pytest.raises(OutputFileError, match=r"unsupported output type \.bmp; cnncli writes .npy"):
        save_result(tmp_path / "r.bmp", result)
    with pytest.raises(OutputFileError, match=r"cannot go in one \.npy file"):
        save_result(tmp_path / "r.npy", {"a": result, "b": result})
    with pytest.raises(ParameterError, match="png scale"):
        save_result(tmp_path / "r.png", result, png_scale="log")
    with pytest.raises(OutputFileError, match="does not exist"):
        save_result(tmp_path / "missing" / "r.npy", result)
    (tmp_path / "dir.npy").mkdir()
    with pytest.raises(OutputFileError, match="is a directory"):
        save_result(tmp_path / "dir.npy", result)
    assert _leftovers(tmp_path) == []


# ---------------------------------------------------------------- atomicity


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.npy"
    target.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="mid-way"), atomic_open(target) as fh:
        fh.write(b"half of the new")
        raise RuntimeError("boom mid-way")
    assert target.read_bytes() == b"old contents"
    assert _leftovers(tmp_path) == []


def test_keyboard_interrupt_mid_write(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("1,2\n")
    with pytest.raises(KeyboardInterrupt), atomic_open(target, "w") as fh:
        fh.write("3,4\n")
        raise KeyboardInterrupt
    assert target.read_text() == "1,2\n"
    assert _leftovers(tmp_path) == []


def test_disk_full_is_an_output_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.npy"
    target.write_bytes(b"old")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputFileError, match="No space left on device"):
        atomic_write_bytes(target, b"new data")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_successful_write_replaces_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "fresh.bin"
    atomic_write_bytes(fresh, b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~mask


def test_unwritable_folder_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    def denied(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(OutputFileError, match="permission denied"):
        atomic_write_bytes(tmp_path / "x.npy", b"data")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="root ignores folder permissions; test_unwritable_folder_simulated covers this",
)
def test_read_only_folder(tmp_path: Path, result: np.ndarray) -> None:  # pragma: no cover
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "r.npy").write_bytes(b"old")
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputFileError, match="permission denied"):
            save_result(folder / "r.npy", result)
        assert (folder / "r.npy").read_bytes() == b"old"
    finally:
        folder.chmod(0o755)


def test_output_equal_to_input_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "x.npy"
    src.write_bytes(b"x")
    with pytest.raises(OutputFileError, match="is the input file"):
        check_output_path(src, [src])
    with pytest.raises(OutputFileError, match="is the input file"):
        check_output_path(tmp_path / "sub" / ".." / "x.npy", [src])
    link = tmp_path / "link.npy"
    link.symlink_to(src)
    with pytest.raises(OutputFileError, match="is the input file"):
        check_output_path(link, ["-", None, src])
    hard = tmp_path / "hard.npy"
    os.link(src, hard)
    with pytest.raises(OutputFileError):
        check_output_path(hard, [src])
    # not yet existing output, different names, and stdout are fine
    check_output_path(tmp_path / "y.npy", [src])
    check_output_path("-", [src])
    check_output_path(None, [src])


def test_output_errors_are_cnncli_errors(tmp_path: Path) -> None:
    assert issubclass(OutputFileError, CnncliError)


@pytest.mark.skipif(
    not hasattr(__import__("signal"), "SIGINT") or os.name != "posix", reason="POSIX signals"
)
def test_sigint_mid_write_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    """A process interrupted inside atomic_open (Ctrl-C) leaves the old file and no temp file."""
    import signal
    import subprocess
    import sys

    target = tmp_path / "out.npy"
    target.write_bytes(b"old contents")
    script = (
        "import sys, time\n"
        "from cnncli.io import atomic_open\n"
        f"with atomic_open({str(target)!r}) as fh:\n"
        "    fh.write(b'x' * 100000)\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(30)\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        assert len(_leftovers(tmp_path)) == 1  # the temporary file exists mid-write
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert proc.returncode != 0
    assert target.read_bytes() == b"old contents"
    assert _leftovers(tmp_path) == []
