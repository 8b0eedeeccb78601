"""The files of ``cnncli forward``: the model input, class labels, layer outputs and map grids.

:func:`load_model_input` makes an image fit a model as torchvision's transforms
would (channels, bilinear resize, 0–1, optional ImageNet normalisation); a
tensor file is used as it is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

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
    "conv": ("Conv2d",),
    "pool": ("MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"),
    "act": ("ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax"),
    "norm": ("BatchNorm2d",),
}
#: A labels file larger than this is refused before reading.
MAX_LABELS_BYTES = 10_000_000
_UNSAFE = re.compile(r"[^A-Za-z0-9_.#-]+")


class LayerOutput(Protocol):
    """One layer's call as :class:`cnncli.nn.run.ForwardRecord` holds it."""

    name: str
    type: str
    output: np.ndarray


def load_model_input(
    source: str, chw: tuple[int, int, int], normalize: str, limit: int
) -> tuple[np.ndarray, list[str]]:
    """An image (channels converted, resized, scaled to 0–1, normalised) or a tensor file.

    Returns the (N, C, H, W) float32 array and a note per step, to be printed.
    """
    C, H, W = chw
    if Path(source).suffix.lower() not in IMAGE_EXTENSIONS:
        loaded = load_tensor(source, scale="raw", dtype="float32", max_bytes=limit)
        notes = [f"input: {loaded.description or loaded.source}, used as it is: {loaded.shape}"]
        if normalize != "none":
            notes.append("--normalize applies to images only; the tensor is used as it is")
        return loaded.array, notes + list(loaded.notes)
    loaded = load_tensor(source, scale="unit", dtype="float32", gray=C == 1, max_bytes=limit)
    x = loaded.array
    notes = [f"input: {loaded.description or loaded.source} {loaded.shape}", *loaded.notes]
    if x.shape[1] != C:
        if x.shape[1] != 1:
            raise ParameterError(f"the image has {x.shape[1]} channels but the model takes {C}")
        x = np.repeat(x, C, axis=1)
        notes.append(f"grey channel repeated {C} times for the model's {C} channels")
    if x.shape[2:] != (H, W):
        x = resize(x, H, W)
        notes.append(f"resized from {loaded.shape[2]}x{loaded.shape[3]} to {H}x{W} (bilinear)")
    notes.append("scaled to 0–1 (pixel / 255)")
    if normalize == "imagenet":
        if C != 3:
            raise ParameterError(f"--normalize imagenet needs 3 channels, the model takes {C}")
        mean = np.array(IMAGENET_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
        std = np.array(IMAGENET_STD, dtype=np.float32).reshape(1, 3, 1, 1)
        x = (x - mean) / std
        notes.append(f"normalised: (x − mean) / std, mean {IMAGENET_MEAN}, std {IMAGENET_STD}")
    return np.ascontiguousarray(x, dtype=np.float32), notes


def resize(x: np.ndarray, H: int, W: int) -> np.ndarray:
    """Bilinear resize of every (n, c) plane with Pillow's float mode: (N, C, *, *) → (N, C, H, W)."""
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
    """One class name per line of a UTF-8 text file."""
    try:
        if path.stat().st_size > MAX_LABELS_BYTES:
            raise InputFileError(f"labels file {path.name!r} is larger than 10 MB")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputFileError(f"cannot read labels {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InputFileError(f"labels file {path.name!r} is not UTF-8 text") from None
    return [line.strip() for line in text.splitlines()]


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
