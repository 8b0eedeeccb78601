"""Images of every Pillow mode cnncli accepts, written in tmp_path and loaded back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnncli.errors import ParameterError
from cnncli.io import load_tensor

# A warning printed by a loader or writer would be an extra stderr line in the CLI.
pytestmark = pytest.mark.filterwarnings("error")


def _save(img: Image.Image, path: Path, **kw: object) -> Path:
    img.save(path, **kw)
    return path


@pytest.fixture
def rgb_pixels() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def test_grayscale_png_keeps_0_255_values(tmp_path: Path) -> None:
    pixels = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10) * 2
    path = _save(Image.fromarray(pixels, "L"), tmp_path / "g.png")
    loaded = load_tensor(path)
    assert loaded.array.shape == (1, 1, 12, 10)
    assert loaded.array.dtype == np.float32
    np.testing.assert_array_equal(loaded.array[0, 0], pixels.astype(np.float32))
    assert loaded.kind == "image"
    assert loaded.original_shape == (12, 10)
    assert loaded.original_layout == "H×W"
    assert "12×10 grayscale (mode L)" in loaded.description
    assert any("(1, 1, 12, 10)" in n for n in loaded.notes)


def test_scale_unit_divides_by_255_and_dtype_float64(tmp_path: Path) -> None:
    pixels = np.array([[0, 51, 255]], dtype=np.uint8)
    path = _save(Image.fromarray(pixels, "L"), tmp_path / "g.png")
    loaded = load_tensor(path, scale="unit", dtype="float64")
    assert loaded.array.dtype == np.float64
    np.testing.assert_array_equal(loaded.array[0, 0], pixels / 255.0)
    assert any("divided by 255" in n for n in loaded.notes)


def test_rgb_hwc_becomes_1chw_and_says_so(tmp_path: Path, rgb_pixels: np.ndarray) -> None:
    path = _save(Image.fromarray(rgb_pixels, "RGB"), tmp_path / "c.png")
    loaded = load_tensor(path)
    assert loaded.array.shape == (1, 3, 5, 7)
    np.testing.assert_array_equal(loaded.array[0], rgb_pixels.transpose(2, 0, 1))
    assert loaded.original_shape == (5, 7, 3)
    assert loaded.original_layout == "H×W×C"
    assert any("5×7×3 (H×W×C) → tensor (1, 3, 5, 7)" in n for n in loaded.notes)


def test_gray_uses_pillows_luminance(tmp_path: Path, rgb_pixels: np.ndarray) -> None:
    img = Image.fromarray(rgb_pixels, "RGB")
    path = _save(img, tmp_path / "c.png")
    loaded = load_tensor(path, gray=True)
    assert loaded.array.shape == (1, 1, 5, 7)
    np.testing.assert_array_equal(loaded.array[0, 0], np.asarray(img.convert("L")))
    # Pillow's L is round(0.299 R + 0.587 G + 0.114 B) to within 1
    r, g, b = (rgb_pixels[..., i].astype(float) for i in range(3))
    assert np.abs(loaded.array[0, 0] - (0.299 * r + 0.587 * g + 0.114 * b)).max() <= 1
    assert any("luminance" in n for n in loaded.notes)


@pytest.mark.parametrize(("mode", "channels"), [("RGBA", 3), ("LA", 1)])
def test_alpha_is_dropped_and_noted(tmp_path: Path, mode: str, channels: int) -> None:
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, size=(4, 6, len(mode)), dtype=np.uint8)
    img = Image.fromarray(pixels, mode)
    path = _save(img, tmp_path / "a.png")
    loaded = load_tensor(path)
    assert loaded.array.shape == (1, channels, 4, 6)
    np.testing.assert_array_equal(loaded.array[0], pixels[..., :channels].transpose(2, 0, 1))
    assert any("alpha channel dropped" in n for n in loaded.notes)


def test_binary_mode_1_gives_0_or_255(tmp_path: Path) -> None:
    bits = np.array([[1, 0, 1], [0, 0, 1]], dtype=bool)
    img = Image.fromarray(bits.astype(np.uint8) * 255, "L").convert("1")
    path = _save(img, tmp_path / "b.png")
    with Image.open(path) as check:
        assert check.mode == "1"
    loaded = load_tensor(path)
    np.testing.assert_array_equal(loaded.array[0, 0], bits * 255.0)
    assert any("mode 1" in n for n in loaded.notes)


def test_palette_colour_expands_to_rgb(tmp_path: Path, rgb_pixels: np.ndarray) -> None:
    img = Image.fromarray(rgb_pixels, "RGB").quantize(colors=8)
    path = _save(img, tmp_path / "p.png")
    loaded = load_tensor(path)
    assert loaded.array.shape == (1, 3, 5, 7)
    np.testing.assert_array_equal(
        loaded.array[0], np.asarray(img.convert("RGB")).transpose(2, 0, 1)
    )
    assert any("palette image expanded to RGB" in n for n in loaded.notes)


def test_palette_of_grays_expands_to_one_channel(tmp_path: Path) -> None:
    gray = np.array([[0, 128, 255], [128, 0, 64]], dtype=np.uint8)
    img = Image.fromarray(gray, "L").convert("P")
    path = _save(img, tmp_path / "p.png")
    loaded = load_tensor(path)
    assert loaded.array.shape == (1, 1, 2, 3)
    np.testing.assert_array_equal(loaded.array[0, 0], gray)
    assert any("grayscale" in n for n in loaded.notes)


def test_palette_with_transparency_drops_alpha(tmp_path: Path, rgb_pixels: np.ndarray) -> None:
    img = Image.fromarray(rgb_pixels, "RGB").quantize(colors=4)
    path = _save(img, tmp_path / "t.png", transparency=0)
    loaded = load_tensor(path)
    assert loaded.array.shape[1] in (1, 3)
    assert any("alpha dropped" in n for n in loaded.notes)


def test_16bit_keeps_0_65535_or_scales(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 65535], [300, 40000, 7]], dtype=np.uint16)
    path = _save(Image.fromarray(values), tmp_path / "s.png")
    loaded = load_tensor(path)
    np.testing.assert_array_equal(loaded.array[0, 0], values.astype(np.float32))
    assert any("0–65535" in n for n in loaded.notes)
    unit = load_tensor(path, scale="unit", dtype="float64")
    np.testing.assert_allclose(unit.array[0, 0], values / 65535.0, rtol=0, atol=1e-15)
    assert any("65535" in n for n in unit.notes)


def test_cmyk_jpeg_converted_to_rgb(tmp_path: Path) -> None:
    img = Image.new("CMYK", (8, 6), (0, 255, 255, 0))  # pure red in CMYK
    path = _save(img, tmp_path / "k.jpg", quality=95)
    loaded = load_tensor(path)
    assert loaded.array.shape == (1, 3, 6, 8)
    expected = np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1)
    np.testing.assert_array_equal(loaded.array[0], expected)
    assert loaded.array[0, 0].mean() > 200 and loaded.array[0, 1].mean() < 60
    assert any("CMYK image converted to RGB" in n for n in loaded.notes)


@pytest.mark.parametrize(("orientation", "transform"), [(3, np.rot90), (6, None), (2, np.fliplr)])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, transform: object) -> None:
    pixels = np.arange(6 * 4, dtype=np.uint8).reshape(4, 6) * 10
    img = Image.fromarray(pixels, "L")
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save(img, tmp_path / "o.png", exif=exif)
    loaded = load_tensor(path)
    if orientation == 3:
        expected = np.rot90(pixels, 2)
    elif orientation == 6:
        expected = np.rot90(pixels, -1)  # 90° clockwise
    else:
        expected = np.fliplr(pixels)
    np.testing.assert_array_equal(loaded.array[0, 0], expected)
    assert any(f"EXIF orientation {orientation}" in n for n in loaded.notes)


def test_formats_jpeg_bmp_gif_tiff_webp_ppm(tmp_path: Path, rgb_pixels: np.ndarray) -> None:
    img = Image.fromarray(rgb_pixels, "RGB")
    for ext in ("bmp", "tiff", "ppm", "webp"):
        kw = {"lossless": True} if ext == "webp" else {}
        loaded = load_tensor(_save(img, tmp_path / f"x.{ext}", **kw))
        np.testing.assert_array_equal(loaded.array[0], rgb_pixels.transpose(2, 0, 1))
    jpg = load_tensor(_save(img, tmp_path / "x.jpg"))
    assert jpg.array.shape == (1, 3, 5, 7)
    gif = load_tensor(_save(img, tmp_path / "x.gif"))
    assert gif.array.shape[2:] == (5, 7)


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("L", (4, 3), v) for v in (10, 200)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    loaded = load_tensor(path)
    assert loaded.array.shape == (1, 1, 3, 4)
    np.testing.assert_array_equal(loaded.array, 10)
    assert any("2 frames" in n for n in loaded.notes)


def test_image_from_stdin_bytes(tmp_path: Path) -> None:
    import io

    pixels = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, "L").save(buf, format="PNG")
    loaded = load_tensor("-", stdin=io.BytesIO(buf.getvalue()))
    assert loaded.source == "<stdin>"
    np.testing.assert_array_equal(loaded.array[0, 0], pixels)


def test_bad_options_are_parameter_errors(tmp_path: Path) -> None:
    path = _save(Image.new("L", (2, 2)), tmp_path / "g.png")
    with pytest.raises(ParameterError, match="scale"):
        load_tensor(path, scale="percent")
    with pytest.raises(ParameterError, match="dtype"):
        load_tensor(path, dtype="int8")
    with pytest.raises(ParameterError, match="layout"):
        load_tensor(path, layout="whc")


@pytest.mark.parametrize("mode", ["RGBA", "P", "CMYK", "LA", "L", "1"])
def test_gray_gives_one_channel_for_every_mode(
    tmp_path: Path, rgb_pixels: np.ndarray, mode: str
) -> None:
    rgb = Image.fromarray(rgb_pixels, "RGB")
    img = rgb.quantize(colors=16) if mode == "P" else rgb.convert(mode)
    path = _save(img, tmp_path / ("g.jpg" if mode == "CMYK" else "g.png"))
    loaded = load_tensor(path, gray=True)
    assert loaded.array.shape == (1, 1, 5, 7)
    with Image.open(path) as reread:
        base = reread.convert("RGBA").convert("RGB") if mode in ("RGBA", "LA") else reread
        expected = (
            np.asarray(base.convert("RGB").convert("L"))
            if mode != "1"
            else np.asarray(reread.convert("L"))
        )
    np.testing.assert_array_equal(loaded.array[0, 0], expected)


def test_16bit_rgb_png_is_read_as_8bit_and_says_so(tmp_path: Path) -> None:
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    px = np.array([[[0, 1000, 65535], [300, 40000, 7]]], dtype=">u2")  # (H=1, W=2, 3)
    raw = b"\x00" + px[0].tobytes()
    ihdr = struct.pack(">IIBBBBB", 2, 1, 16, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
    path = tmp_path / "rgb16.png"
    path.write_bytes(png + chunk(b"IEND", b""))
    loaded = load_tensor(path)
    np.testing.assert_array_equal(loaded.array[0], (px >> 8).astype(np.float32).transpose(2, 0, 1))
    assert any("16 bits per colour channel" in n for n in loaded.notes)
