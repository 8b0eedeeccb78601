"""Images to tensors through Pillow: every mode a user meets, with what changed said aloud.

Shapes: an H×W grayscale image → (1, 1, H, W); an H×W×C colour image → (1, C, H, W).
Pixel values stay 0–255 (0–65535 for 16-bit) unless ``scale="unit"`` divides by
255 (65535).
"""

from __future__ import annotations

import io
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, Any

import numpy as np

from cnncli.errors import CnncliError, InputFileError
from cnncli.io.common import (
    Loaded,
    check_bytes_limit,
    check_finite,
    dims_text,
    one_line,
    shape_text,
)

IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".bmp",
    ".tif",
    ".tiff",
    ".webp",
    ".pbm",
    ".pgm",
    ".ppm",
    ".pnm",
)
#: The Pillow plugins cnncli lets decode a file (fewer decoders, less attack surface).
PIL_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM")
#: Pillow's own default decompression-bomb limit, used if someone switched Pillow's off.
DEFAULT_MAX_PIXELS = 89_478_485

_ORIENTATION = {
    2: "mirrored left-right",
    3: "rotated 180°",
    4: "mirrored top-bottom",
    5: "transposed",
    6: "rotated 90° clockwise",
    7: "transversed",
    8: "rotated 90° counter-clockwise",
}
_MODE_NAMES = {
    "1": "binary (0 or 255)",
    "L": "grayscale",
    "LA": "grayscale with alpha",
    "La": "grayscale with alpha",
    "P": "palette",
    "PA": "palette with alpha",
    "RGB": "RGB",
    "RGBA": "RGB with alpha",
    "RGBa": "RGB with alpha",
    "RGBX": "RGB",
    "CMYK": "CMYK",
    "YCbCr": "YCbCr",
    "LAB": "Lab",
    "HSV": "HSV",
    "I": "32-bit integer",
    "F": "32-bit float",
}


def is_image_bytes(head: bytes) -> bool:
    """Whether ``head`` starts with the signature of an image format cnncli reads."""
    return head.startswith(
        (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
    ) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def load_image(
    fp: IO[bytes] | bytes,
    name: str,
    *,
    gray: bool = False,
    scale: str = "raw",
    dtype: np.dtype,
    allow_nonfinite: bool = False,
    max_bytes: int | None = None,
) -> Loaded:
    """Decode an image file (or its bytes) into a :class:`Loaded` NCHW tensor.

    Before decoding, the header's size is checked against Pillow's
    decompression-bomb limit and the tensor's size against ``max_bytes``.
    """
    from PIL import Image

    stream: IO[bytes] = io.BytesIO(fp) if isinstance(fp, bytes) else fp
    limit = Image.MAX_IMAGE_PIXELS or DEFAULT_MAX_PIXELS
    notes: list[str] = []
    # Pillow raises many exception types on corrupt data (OSError, SyntaxError,
    # ValueError, struct.error, zlib.error, IndexError, ...); all of them mean
    # "this file is not a readable image", so the decode region catches them all.
    try:
        with _quiet_c_stderr(), warnings.catch_warnings():
            # Pillow's warnings about damaged metadata would be extra stderr lines; the
            # bomb warning becomes an error instead.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(stream, formats=list(PIL_FORMATS))
            fmt = im.format or "image"
            width, height = im.size
            if width * height > limit:
                raise InputFileError(
                    f"{name}: the image header claims {height}×{width} (H×W) = {width * height:,} "
                    f"pixels, more than the limit of {limit:,} (a possible decompression bomb)"
                )
            bands = (
                3 if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV") else len(im.getbands())
            )
            check_bytes_limit(
                width * height * max(bands, 1) * dtype.itemsize,
                max_bytes,
                name,
                f"a {height}×{width} (H×W) image as a {dtype.name} tensor",
            )
            frames = int(getattr(im, "n_frames", 1) or 1)
            if im.mode in ("RGB", "RGBA") and any(";16" in str(t.args) for t in im.tile):
                notes.append(
                    "16 bits per colour channel: Pillow reads the top 8 bits, so values are 0–255"
                )
            im.load()
            im, orient = _apply_exif(im)
            pixels, depth = _to_pixels(im, gray, notes)
            mode = im.mode
            del im  # the decoded image: free before the float copy is made beside pixels
    except CnncliError:
        raise
    except Image.DecompressionBombError as exc:
        raise InputFileError(
            f"{name}: refused as a possible decompression bomb ({one_line(exc)})"
        ) from None
    except Image.DecompressionBombWarning as exc:
        raise InputFileError(
            f"{name}: refused as a possible decompression bomb ({one_line(exc)})"
        ) from None
    except Image.UnidentifiedImageError:
        raise InputFileError(
            f"{name}: not a readable image (not a PNG, JPEG, GIF, BMP, TIFF, WebP or PNM file, "
            "or its header is damaged)"
        ) from None
    except MemoryError:
        raise InputFileError(f"{name}: the image is too large to decode in memory") from None
    except Exception as exc:
        raise InputFileError(
            f"{name}: not a readable image ({one_line(exc) or type(exc).__name__})"
        ) from None

    if frames > 1:
        notes.insert(0, f"{fmt} has {frames} frames; the first is used")
    if orient:
        notes.append(f"EXIF orientation {orient} applied ({_ORIENTATION.get(orient, '?')})")

    if pixels.ndim == 2:
        H, W = pixels.shape
        C = 1
        chw = pixels[None]
        layout = "H×W"
        desc_shape = f"{H}×{W}"
    else:
        H, W, C = pixels.shape
        chw = pixels.transpose(2, 0, 1)
        layout = "H×W×C"
        desc_shape = f"{H}×{W}×{C}"
    array = chw[None].astype(dtype)
    if scale == "unit":
        if depth == "16-bit":
            array /= dtype.type(65535)
            notes.append("16-bit values scaled to 0–1 (divided by 65535)")
        elif depth == "float":
            notes.append("floating-point image: values kept as stored (--scale unit not applied)")
        else:
            array /= dtype.type(255)
            notes.append("pixel values scaled to 0–1 (divided by 255)")
    elif depth == "16-bit":
        notes.append("16-bit values kept as 0–65535 (use --scale unit for 0–1)")
    check_finite(array, name, allow_nonfinite)
    notes.append(f"image {desc_shape} ({layout}) → tensor {shape_text(array.shape)}")
    colour_name = _MODE_NAMES.get(mode, "16-bit grayscale" if mode.startswith("I;16") else mode)
    description = f"{fmt} image, {dims_text((H, W))} {colour_name} (mode {mode})"
    return Loaded(
        array=array,
        source=name,
        kind="image",
        original_shape=(H, W) if C == 1 and pixels.ndim == 2 else (H, W, C),
        original_layout=layout,
        notes=notes,
        description=description,
        original_dtype=str(pixels.dtype),
    )


@contextmanager
def _quiet_c_stderr() -> Iterator[None]:
    """Silence file descriptor 2 while C decoders run (libtiff prints its errors there).

    The Python exception that follows still reaches the user as one ``error:`` line.
    """
    with suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _apply_exif(im: Any) -> tuple[Any, int]:
    """Apply the EXIF orientation tag, returning the image and the tag (0 when none)."""
    from PIL import ImageOps

    try:
        orient = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:
        # A broken EXIF block is not worth refusing an image for; ignore the tag.
        return im, 0
    if orient not in _ORIENTATION:
        return im, 0
    return ImageOps.exif_transpose(im), orient


def _to_pixels(im: Any, gray: bool, notes: list[str]) -> tuple[np.ndarray, str]:
    """Convert a decoded image to an (H, W) or (H, W, C) array; return it and its depth.

    The depth is "8-bit" (0–255), "16-bit" (0–65535) or "float" (values as stored).
    """
    mode = im.mode
    if mode == "1":
        im = im.convert("L")
        notes.append("binary image (mode 1): pixels are 0 or 255")
        return np.asarray(im), "8-bit"
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im).astype(np.int64)
        if mode == "I" and arr.size and (arr.min() < 0 or arr.max() > 65535):
            notes.append("32-bit integer image: values kept as stored")
        return arr, "16-bit"
    if mode == "F":
        return np.asarray(im, dtype=np.float32), "float"
    if mode == "P":
        has_alpha = "transparency" in im.info or (
            im.palette is not None and im.palette.mode == "RGBA"
        )
        rgb = im.convert("RGBA" if has_alpha else "RGB")
        arr = np.asarray(rgb)
        if has_alpha:
            notes.append("palette image with transparency: expanded to RGB, alpha dropped")
            arr = arr[..., :3]
        if np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
            notes.append("palette image of grays expanded to grayscale")
            return arr[..., 0].copy(), "8-bit"
        if not has_alpha:
            notes.append("palette image expanded to RGB")
        return _maybe_gray(arr, gray, notes), "8-bit"
    if mode in ("LA", "La", "PA"):
        notes.append(f"alpha channel dropped ({mode} → L)")
        base = im.convert("RGBA").convert("RGB").convert("L") if mode == "PA" else im.getchannel(0)
        return np.asarray(base), "8-bit"
    if mode == "L":
        return np.asarray(im), "8-bit"
    if mode in ("RGBA", "RGBa", "RGBX"):
        if mode != "RGBX":
            notes.append(f"alpha channel dropped ({mode} → RGB)")
        rgb = im.convert("RGB") if mode != "RGBa" else im.convert("RGBA").convert("RGB")
        return _maybe_gray_image(rgb, gray, notes), "8-bit"
    if mode == "RGB":
        return _maybe_gray_image(im, gray, notes), "8-bit"
    notes.append(f"{mode} image converted to RGB")
    return _maybe_gray_image(im.convert("RGB"), gray, notes), "8-bit"


def _maybe_gray_image(rgb: Any, gray: bool, notes: list[str]) -> np.ndarray:
    if gray:
        notes.append("converted to luminance: L = 0.299·R + 0.587·G + 0.114·B (Pillow's L)")
        return np.asarray(rgb.convert("L"))
    return np.asarray(rgb)


def _maybe_gray(arr: np.ndarray, gray: bool, notes: list[str]) -> np.ndarray:
    if not gray:
        return arr
    from PIL import Image

    notes.append("converted to luminance: L = 0.299·R + 0.587·G + 0.114·B (Pillow's L)")
    return np.asarray(Image.fromarray(np.ascontiguousarray(arr), "RGB").convert("L"))


__all__ = ["IMAGE_EXTENSIONS", "is_image_bytes", "load_image"]
