"""The files of ``cnncli forward``: the model input, class labels, layer outputs and map grids.

:func:`load_model_input` makes an image fit a model as torchvision's transforms
would (channels, ``Resize`` + ``CenterCrop`` for ImageNet inputs, 0–1, optional
ImageNet normalisation), from a path or standard input alike; a tensor file is
used as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from cnncli.errors import InputFileError, OutputFileError, ParameterError
from cnncli.io.images import IMAGE_EXTENSIONS
from cnncli.io.load import load_tensor
from cnncli.io.write import atomic_write_bytes, check_output_path, save_result

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZE = ("imagenet", "none")

#: Channels per PNG grid of ``--save-maps`` when --max-channels is not given: all, up to this.
DEFAULT_MAX_CHANNELS = 512
#: The layer kinds ``--save-maps`` can draw, by the layer types' names.
MAP_KINDS = {
    "conv": ("Conv2d", "ConvTranspose2d"),
    "pool": ("MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"),
    "act": ("ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "ReLU6", "Hardtanh", "SiLU",
            "GELU", "Hardswish", "Hardsigmoid", "ELU", "Mish"),
    "norm": ("BatchNorm2d", "GroupNorm"),
}  # fmt: skip
#: A labels file larger than this is refused before reading.
MAX_LABELS_BYTES = 10_000_000
_UNSAFE = re.compile(r"[^A-Za-z0-9_.#-]+")


class LayerOutput(Protocol):
    """One layer's call as :class:`cnncli.nn.run.ForwardRecord` holds it."""

    name: str
    type: str
    output: np.ndarray


#: The input of torchvision's ImageNet classifiers, and its evaluation transform's sizes.
IMAGENET_INPUT = (3, 224, 224)
IMAGENET_RESIZE = 256
IMAGENET_CROP = 224


def default_resize_crop(chw: tuple[int, int, int]) -> tuple[int, int]:
    """``--resize`` / ``--crop`` when not given: torchvision's Resize(256) + CenterCrop(224)
    for models with ImageNet inputs (3x224x224), else off (0)."""
    if tuple(chw) == IMAGENET_INPUT:
        return IMAGENET_RESIZE, IMAGENET_CROP
    return 0, 0


def load_model_input(
    source: str,
    chw: tuple[int, int, int],
    normalize: str,
    limit: int,
    *,
    resize_to: int | None = None,
    crop_to: int | None = None,
    stdin: IO[bytes] | None = None,
    digit: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """An image (channels converted, resized, cropped, scaled to 0–1, normalised) or a tensor.

    ``source`` is a path or ``-`` (standard input, ``stdin`` or ``sys.stdin``); whether it
    is an image is decided as :func:`cnncli.io.load.load_tensor` decides it (a path by its
    extension, standard input by its first bytes), so the same bytes get the same
    preprocessing by either route.  For an image, in order: the model's channels,
    ``Resize(resize_to)`` (shorter side, aspect kept; 0: off), ``CenterCrop(crop_to)``
    (0: off), a plain resize to the model's H×W if the size still differs, then the
    optional ImageNet normalisation; ``None`` takes :func:`default_resize_crop`.  With
    ``digit`` (a model trained on MNIST), a gray image is prepared as MNIST's digits were
    instead of resized (:mod:`cnncli.io.digit`).

    Returns the (N, C, H, W) float32 array and one note per step, in order, to be printed.
    """
    import io

    from cnncli.io.common import MAX_TEXT_BYTES
    from cnncli.io.images import is_image_bytes
    from cnncli.io.load import read_stdin_bytes

    C, H, W = chw
    stream: IO[bytes] | None = None
    if source == "-":
        data = read_stdin_bytes(stdin, max(MAX_TEXT_BYTES, limit))
        is_image = is_image_bytes(data[:16])
        stream = io.BytesIO(data)
    else:
        is_image = Path(source).suffix.lower() in IMAGE_EXTENSIONS
    if not is_image:
        loaded = load_tensor(source, scale="raw", dtype="float32", max_bytes=limit, stdin=stream)
        notes = [f"input: {loaded.description or loaded.source}, used as it is: {loaded.shape}"]
        if normalize != "none":
            notes.append("--normalize applies to images only; the tensor is used as it is")
        if resize_to or crop_to:
            notes.append("--resize and --crop apply to images only; the tensor is used as it is")
        return loaded.array, notes + list(loaded.notes)
    loaded = load_tensor(
        source, scale="unit", dtype="float32", gray=C == 1, max_bytes=limit, stdin=stream
    )
    x = loaded.array
    # the input line gives the tensor's shape: the loader's "→ tensor" note would repeat it
    notes = [f"input: {loaded.description or loaded.source} {loaded.shape}"]
    notes += [n for n in loaded.notes if "→ tensor" not in n]
    if x.shape[1] != C:
        if x.shape[1] != 1:
            raise ParameterError(f"the image has {x.shape[1]} channels but the model takes {C}")
        x = np.repeat(x, C, axis=1)
        notes.append(f"grey channel repeated {C} times for the model's {C} channels")
    if digit and C == 1 and resize_to is None and crop_to is None:
        from cnncli.io.digit import prepare_digit

        x, said = prepare_digit(x)
        notes += said
    default_resize, default_crop = default_resize_crop(chw)
    size = default_resize if resize_to is None else resize_to
    crop = default_crop if crop_to is None else crop_to
    if size:
        h, w = x.shape[2:]
        new_h, new_w = resized_size(h, w, size)
        if (new_h, new_w) != (h, w):
            x = resize(x, new_h, new_w)
            notes.append(
                f"Resize({size}): {h}x{w} → {new_h}x{new_w} "
                f"(shorter side {size}, bilinear, antialiased)"
            )
    if crop:
        h, w = x.shape[2:]
        if crop > h or crop > w:
            raise ParameterError(
                f"--crop {crop} is larger than the image ({h}x{w}"
                + (f" after --resize {size})" if size else ")"),
                hint="give a larger --resize, a smaller --crop, or --crop 0 for none",
            )
        top, left = center_crop_offsets(h, w, crop)
        if (crop, crop) != (h, w):
            x = x[:, :, top : top + crop, left : left + crop]
            notes.append(
                f"CenterCrop({crop}): {h}x{w} → {crop}x{crop} (rows {top}–{top + crop - 1}, "
                f"columns {left}–{left + crop - 1})"
            )
    if x.shape[2:] != (H, W):
        h, w = x.shape[2:]
        x = resize(x, H, W)
        kept = "" if h * W == w * H else "; aspect ratio not kept"
        notes.append(f"resized from {h}x{w} to {H}x{W} (bilinear{kept})")
    if normalize == "imagenet":
        if C != 3:
            raise ParameterError(f"--normalize imagenet needs 3 channels, the model takes {C}")
        mean = np.array(IMAGENET_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
        std = np.array(IMAGENET_STD, dtype=np.float32).reshape(1, 3, 1, 1)
        x = (x - mean) / std
        notes.append(f"normalised: (x − mean) / std, mean {IMAGENET_MEAN}, std {IMAGENET_STD}")
    return np.ascontiguousarray(x, dtype=np.float32), notes


def resized_size(h: int, w: int, size: int) -> tuple[int, int]:
    """The (H, W) of torchvision's ``Resize(size)``: the shorter side becomes ``size``, the
    longer ``int(size · long / short)`` (truncated, as torchvision computes it)."""
    if h <= w:
        return size, int(size * w / h)
    return int(size * h / w), size


def center_crop_offsets(h: int, w: int, crop: int) -> tuple[int, int]:
    """(top, left) of torchvision's ``CenterCrop(crop)``: ``int(round((h − crop) / 2.0))``
    (Python's round: halves to even), likewise for the width."""
    return round((h - crop) / 2.0), round((w - crop) / 2.0)


def resize(x: np.ndarray, H: int, W: int) -> np.ndarray:
    """Bilinear resize of every (n, c) plane: (N, C, *, *) → (N, C, H, W).

    Pillow's float mode: when shrinking, the filter widens with the scale (antialiased),
    as torchvision's Resize of a PIL image and ``interpolate(antialias=True)`` of a tensor.
    """
    from PIL import Image

    N, C = x.shape[:2]
    out = np.empty((N, C, H, W), dtype=np.float32)
    for n in range(N):
        for c in range(C):
            plane = Image.fromarray(np.ascontiguousarray(x[n, c], dtype=np.float32), mode="F")
            out[n, c] = np.asarray(
                plane.resize((W, H), Image.Resampling.BILINEAR), dtype=np.float32
            )
    return out


def read_labels(path: Path) -> list[str]:
    """One class name per line of a UTF-8 text file (blank lines at the end dropped).

    Only ``\n`` ends a line (``\r\n`` too: the name is stripped).
    """
    try:
        if path.stat().st_size > MAX_LABELS_BYTES:
            raise InputFileError(f"labels file {path.name!r} is larger than 10 MB")
        text = path.read_bytes().decode("utf-8-sig")  # no newline translation
    except OSError as exc:
        raise InputFileError(f"cannot read labels {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputFileError(f"labels file {path.name!r} is not UTF-8 text") from None
    # lines end at "\n" (or "\r\n") only: str.splitlines would also split at a "\r",
    # "\x1c" or "\x85" inside a name and shift every later name to another class
    names = [line.strip() for line in text.split("\n")]
    while names and not names[-1]:  # blank lines at the end name no class
        names.pop()
    return names


def save_outputs(
    path: Path, output: np.ndarray, records: Sequence[LayerOutput], inputs: list[Any]
) -> str:
    """FILE.npy: the final output; FILE.npz: every layer's output under its name.

    Returns what was written (for ``wrote PATH (what)``).
    """
    check_output_path(path, inputs)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return save_result(path, output)
    if suffix == ".npz":
        arrays = {rec.name: rec.output for rec in records}
        arrays["output"] = output
        save_result(path, arrays)
        return f"NumPy .npz, the output and {len(records)} layers' outputs, by layer name"
    raise OutputFileError(f"-o must end in .npy or .npz, got {path.name!r}")


def safe_file_name(name: str) -> str:
    """A layer name as a file name: no separators, no '..', no leading dot, not empty."""
    text = _UNSAFE.sub("_", name).replace("..", "_").lstrip(".")
    return text[:80] or "layer"


def map_kinds(record_type: str) -> set[str]:
    """The kinds (conv, pool, act, norm) a layer type belongs to."""
    return {kind for kind, types in MAP_KINDS.items() if record_type in types}


def save_maps(
    folder: Path,
    records: Sequence[LayerOutput],
    max_channels: int | None = None,
    kinds: Sequence[str] = ("conv", "pool"),
) -> list[tuple[Path, str]]:
    """Each chosen layer's maps (sample 0) as a labelled PNG grid, plus index.json.

    ``kinds`` picks the layers (conv, pool, act, norm; see :data:`MAP_KINDS`);
    ``max_channels`` the first channels drawn per layer (None: all, up to
    :data:`DEFAULT_MAX_CHANNELS`).  Each grid's title names the layer and the
    channels shown.  Returns (path, what) for every file written.
    """
    limit = DEFAULT_MAX_CHANNELS if max_channels is None else max_channels
    if limit < 1:
        raise ParameterError(f"--max-channels must be at least 1, got {limit}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputFileError(f"cannot create {str(folder)!r}: {exc.strerror or exc}") from None
    root = folder.resolve()
    index = []
    written: list[tuple[Path, str]] = []
    for i, rec in enumerate(records):
        if not map_kinds(rec.type) & set(kinds) or rec.output.ndim != 4:
            continue
        C = int(rec.output.shape[1])
        maps = rec.output[0, :limit]
        shown = int(maps.shape[0])
        file_name = f"{i:03d}_{safe_file_name(rec.name)}.png"
        target = (root / file_name).resolve()
        if target.parent != root:  # never outside the chosen folder
            raise OutputFileError(f"refusing to write {file_name!r} outside {str(folder)!r}")
        which = f"all {C} channels" if shown == C else f"channels 0-{shown - 1} of {C}"
        H, W = maps.shape[1:]
        title = f"{rec.name} ({rec.type}), sample 0: {which}, {H}x{W} each"  # ASCII for the font
        labels = [f"ch {c}" for c in range(shown)]
        save_result(target, maps, labels=labels, title=title)
        written.append((folder / file_name, f"PNG grid: {rec.type}, {which}"))
        index.append(
            {
                "file": file_name,
                "layer": rec.name,
                "type": rec.type,
                "output_shape": list(rec.output.shape),
                "channels": C,
                "maps_shown": shown,
                "sample": 0,
            }
        )
    atomic_write_bytes(root / "index.json", (json.dumps(index, indent=2) + "\n").encode())
    written.append((folder / "index.json", f"index of the {len(index)} PNG grids"))
    return written
