"""The named kernel bank of ``cnncli conv -k NAME`` and ``cnncli kernels``.

Every kernel is applied as PyTorch applies a weight: by cross-correlation, the
kernel is *not* flipped.  So ``sobel-x`` = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
gives a positive response where values increase from left to right, and
``sobel-y`` = [[-1, -2, -1], [0, 0, 0], [1, 2, 1]] where they increase from top
to bottom.  ``sobel``, ``prewitt`` and ``scharr`` name x/y pairs (two maps).

Each kernel is stored as an integer matrix and a divisor, so that ``box`` prints
as ``1/9 ×`` a matrix of ones rather than as rounded decimals.

:func:`kernel_arrays` reads one kernel spec (a name, a file or inline text) and
:func:`build_weight` stacks the specs of a bank into one conv2d weight
(F, C/groups, KH, KW); :func:`magnitude` combines (x, y) map pairs.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnncli.errors import InputFileError, ParameterError, ShapeError


@dataclass(frozen=True)
class NamedKernel:
    """One named kernel: an integer matrix ``values`` divided by ``divisor``."""

    name: str
    values: tuple[tuple[int, ...], ...]
    divisor: int
    description: str

    def array(self, dtype: type = np.float64) -> np.ndarray:
        """The kernel as a (KH, KW) array of ``dtype``."""
        return (np.array(self.values, dtype=np.float64) / self.divisor).astype(dtype)


def _binomial(n: int) -> tuple[tuple[int, ...], ...]:
    row = [1]
    for _ in range(n - 1):
        row = [a + b for a, b in zip([0, *row], [*row, 0], strict=True)]
    return tuple(tuple(a * b for b in row) for a in row)


def _t(m: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
    return tuple(zip(*m, strict=True))


_SOBEL_X = ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1))
_PREWITT_X = ((-1, 0, 1), (-1, 0, 1), (-1, 0, 1))
_SCHARR_X = ((-3, 0, 3), (-10, 0, 10), (-3, 0, 3))

KERNELS: dict[str, NamedKernel] = {
    k.name: k
    for k in (
        NamedKernel("identity", ((0, 0, 0), (0, 1, 0), (0, 0, 0)), 1, "copies the input"),
        NamedKernel("box", ((1, 1, 1), (1, 1, 1), (1, 1, 1)), 9, "mean of the 3×3 neighbourhood"),
        NamedKernel("gaussian3", _binomial(3), 16, "3×3 Gaussian blur (binomial)"),
        NamedKernel("gaussian5", _binomial(5), 256, "5×5 Gaussian blur (binomial)"),
        NamedKernel(
            "sharpen", ((0, -1, 0), (-1, 5, -1), (0, -1, 0)), 1, "5 × centre − 4 neighbours"
        ),
        NamedKernel("laplacian", ((0, 1, 0), (1, -4, 1), (0, 1, 0)), 1, "4-neighbour Laplacian"),
        NamedKernel("laplacian8", ((1, 1, 1), (1, -8, 1), (1, 1, 1)), 1, "8-neighbour Laplacian"),
        NamedKernel("sobel-x", _SOBEL_X, 1, "Sobel: increase left → right"),
        NamedKernel("sobel-y", _t(_SOBEL_X), 1, "Sobel: increase top → bottom"),
        NamedKernel("prewitt-x", _PREWITT_X, 1, "Prewitt: increase left → right"),
        NamedKernel("prewitt-y", _t(_PREWITT_X), 1, "Prewitt: increase top → bottom"),
        NamedKernel("scharr-x", _SCHARR_X, 1, "Scharr: increase left → right"),
        NamedKernel("scharr-y", _t(_SCHARR_X), 1, "Scharr: increase top → bottom"),
        NamedKernel(
            "emboss", ((-2, -1, 0), (-1, 1, 1), (0, 1, 2)), 1, "emboss (light from top left)"
        ),
        NamedKernel("outline", ((-1, -1, -1), (-1, 8, -1), (-1, -1, -1)), 1, "outline (edges)"),
    )
}

#: Names that stand for an x/y pair of kernels (two feature maps).
PAIRS: dict[str, tuple[str, str]] = {
    "sobel": ("sobel-x", "sobel-y"),
    "prewitt": ("prewitt-x", "prewitt-y"),
    "scharr": ("scharr-x", "scharr-y"),
}


def names() -> list[str]:
    """Every name ``resolve`` accepts: single kernels, then pairs."""
    return [*KERNELS, *PAIRS]


def is_name(text: str) -> bool:
    """Whether ``text`` names a kernel or a pair (case-insensitive)."""
    return text.strip().lower() in KERNELS or text.strip().lower() in PAIRS


def resolve(name: str) -> list[NamedKernel]:
    """The kernel(s) a name stands for: one, or two for a pair (x first, then y).

    Raises :class:`ParameterError` listing the close names when ``name`` is unknown.
    """
    key = name.strip().lower()
    if key in KERNELS:
        return [KERNELS[key]]
    if key in PAIRS:
        return [KERNELS[n] for n in PAIRS[key]]
    close = difflib.get_close_matches(key, names(), n=3, cutoff=0.5)
    hint = "run `cnncli kernels` to list them all"
    if close:
        raise ParameterError(
            f"unknown kernel name {name!r}; did you mean {', '.join(close)}?", hint=hint
        )
    raise ParameterError(f"unknown kernel name {name!r}", hint=hint)


# ------------------------------------------------------ a bank of specs ---


def kernel_arrays(
    spec: str, dtype: Any, notes: list[str] | None = None
) -> tuple[list[np.ndarray], list[str]]:
    """One kernel spec (``conv -k``) as arrays with labels: a name, a file or inline text.

    A pair's name (``sobel``) gives two kernels.

    A file's conversions (integers, bools, float64) are appended to ``notes``.
    """
    from cnncli import io as cio

    text = spec.strip()
    if is_name(text):
        return [k.array(dtype) for k in resolve(text)], [k.name for k in resolve(text)]
    path, npz_key = text, None
    if ".npz:" in text.lower():  # FILE.npz:KEY picks one array of an archive
        cut = text.lower().rindex(".npz:") + 4
        path, npz_key = text[:cut], text[cut + 1 :]
    ext = os.path.splitext(path)[1].lower()
    if os.path.exists(path) or ext in cio.KERNEL_EXTENSIONS or os.sep in path:
        try:
            converted: list[str] = []
            arr = np.asarray(
                cio.load_kernel_file(path, key=npz_key, dtype=np.dtype(dtype).name, notes=converted)
            )
            if notes is not None:
                notes += [f"kernel {os.path.basename(text)}: {n}" for n in converted]
        except InputFileError as exc:
            if ext == ".npz" and npz_key is None and "--key" in exc.message:
                raise InputFileError(
                    exc.message.replace("with --key", "with -k FILE.npz:KEY"),
                    hint=f"for example -k {path}:weight",
                ) from None
            raise
        label = os.path.basename(text)
    elif text[:1] in "[-+.0123456789":
        arr = np.asarray(cio.parse_inline_matrix(text, dtype=np.dtype(dtype).name))
        label = f"'{text}'" if len(text) <= 24 else "inline"
    else:
        parts = [part.strip() for part in text.replace(";", ",").split(",")]
        if len(parts) > 1 and all(is_name(part) for part in parts):
            repeated = " ".join(f"-k {part}" for part in parts)
            raise ParameterError(
                f"-k takes one kernel name, got {text!r}; repeat -k for several: {repeated}"
            )
        resolve(text)  # raises with the close names
        raise AssertionError("unreachable")
    if arr.dtype.kind not in "fiub":
        raise ShapeError(f"kernel {label} must hold numbers, got dtype {arr.dtype}")
    arr = arr.astype(dtype)
    if not np.isfinite(arr).all():
        raise ParameterError(f"kernel {label} holds NaN or infinity")
    return [arr], [label]


def build_weight(
    specs: list[str],
    C: int,
    groups: int,
    depthwise: bool,
    dtype: Any,
    notes: list[str] | None = None,
    check: Callable[[tuple[int, ...]], None] | None = None,
    transposed: bool = False,
) -> tuple[np.ndarray, list[str]]:
    """Stack the -k kernels into one weight (F, C/groups, KH, KW) and a label per map.

    ``transposed`` (``cnncli conv --transpose``): a 4-D kernel is PyTorch's ConvTranspose2d
    weight (C, F/groups, KH, KW) and is read into conv's layout (F, C/groups, KH, KW), the
    same kernel slices (channel axes swapped within each group); 2-D and 3-D kernels are
    read as for conv.

    ``check`` is called with the weight's shape before anything is stacked or
    labelled, so that a bank too large to run is refused without building it.

    2-D (KH, KW): one map whose kernel is the same slice for every input channel
    of its group; 3-D (C/groups, KH, KW): one map; 4-D: F maps.  Depthwise
    (groups = C): each 2-D kernel (or 3-D with one slice per channel) gives one
    map per input channel, PyTorch's order ``f = c * M + m``.
    """
    arrays: list[np.ndarray] = []
    labels: list[str] = []
    for spec in specs:
        got, got_labels = kernel_arrays(spec, dtype, notes)
        arrays += got
        labels += got_labels
    if groups < 1:
        raise ParameterError(f"groups must be at least 1, got {groups}")
    if C % groups:
        raise ShapeError(f"groups={groups} does not divide the input channels C={C}")
    Cg = C // groups
    if transposed:
        arrays = [
            _from_transposed(a, C, groups, lab) if a.ndim == 4 else a
            for a, lab in zip(arrays, labels, strict=True)
        ]
    sizes = {a.shape[-2:] for a in arrays if a.ndim >= 2}
    for a, lab in zip(arrays, labels, strict=True):
        if a.ndim not in (2, 3, 4) or a.size == 0:
            raise ShapeError(
                f"kernel {lab} has shape {a.shape}: give (KH, KW), (C, KH, KW) or (F, C/groups, KH, KW)"
            )
    if len(sizes) > 1:
        raise ShapeError(
            "the kernels of a bank must share one size, got "
            + ", ".join(
                f"{lab} {a.shape[-2]}×{a.shape[-1]}" for a, lab in zip(arrays, labels, strict=True)
            )
        )
    # Blocks of whole output channels (F_i, Cg, KH, KW), joined by one concatenate: a 4-D
    # weight is never split into its F kernels (a bank of a million stays one array).
    if check is not None:
        KH, KW = next(iter(sizes))
        F = C * len(arrays) if depthwise else sum(a.shape[0] if a.ndim == 4 else 1 for a in arrays)
        check((F, 1 if depthwise else Cg, KH, KW))
    blocks: list[np.ndarray] = []
    names: list[str] = []
    if depthwise:
        slots: list[np.ndarray] = []
        for a, lab in zip(arrays, labels, strict=True):
            if a.ndim == 4:
                raise ShapeError(
                    f"kernel {lab} is 4-D; with --depthwise give 2-D or (C, KH, KW) kernels"
                )
            if a.ndim == 3 and a.shape[0] != C:
                raise ShapeError(
                    f"kernel {lab} has {a.shape[0]} channel slices but the input has C={C}"
                )
            slots.append(np.broadcast_to(a, (C, *a.shape[-2:])))
        for c in range(C):
            for slot, lab in zip(slots, labels, strict=True):
                blocks.append(slot[c][None, None])
                names.append(f"{lab}@c{c}" if C > 1 else lab)
    else:
        for a, lab in zip(arrays, labels, strict=True):
            if a.ndim == 2:
                blocks.append(np.broadcast_to(a, (1, Cg, *a.shape)))
                names.append(lab)
                if Cg > 1 and notes is not None and not any("summed to" in n for n in notes):
                    notes.append(
                        f"2-D kernels run over all {Cg} channels, summed to one map each "
                        "(--depthwise: a map per channel)"
                    )
            elif a.ndim == 3:
                if a.shape[0] != Cg:
                    raise ShapeError(
                        f"kernel {lab} has {a.shape[0]} channel slices but the input has "
                        f"{Cg} channel(s) per group (C={C}, groups={groups})"
                    )
                blocks.append(a[None])
                names.append(lab)
            else:
                if a.shape[1] != Cg:
                    raise ShapeError(
                        f"kernel {lab} of shape {a.shape} expects {a.shape[1]} channel(s) per group "
                        f"but the input has {Cg} (C={C}, groups={groups})"
                    )
                blocks.append(a)
                names.extend(
                    [lab] if a.shape[0] == 1 else [f"{lab}[{f}]" for f in range(a.shape[0])]
                )
    weight = np.concatenate(blocks).astype(dtype, copy=False)
    return weight, names


def _from_transposed(a: np.ndarray, C: int, groups: int, label: str) -> np.ndarray:
    """PyTorch's ConvTranspose2d weight (C, F/groups, KH, KW) → conv's layout
    (F, C/groups, KH, KW) of the same kernel slices (the inverse of :func:`transposed_weight`)."""
    if a.shape[0] != C:
        raise ShapeError(
            f"kernel {label} of shape {a.shape} is read as ConvTranspose2d's (C, F/groups, KH, KW), "
            f"but the input has C={C}"
        )
    Cg, Fg, KH, KW = C // groups, a.shape[1], a.shape[2], a.shape[3]
    return a.reshape(groups, Cg, Fg, KH, KW).transpose(0, 2, 1, 3, 4).reshape(-1, Cg, KH, KW)


def transposed_weight(weight: np.ndarray, groups: int) -> np.ndarray:
    """A weight in conv's layout (F, C/groups, KH, KW) in PyTorch's ConvTranspose2d layout
    (C, F/groups, KH, KW): the channel axes swapped within each group, so that
    ``conv_transpose2d(x, transposed_weight(w))`` takes the same C channels to the same F
    maps with the same kernel slices as ``conv2d(x, w)`` (scattering instead of gathering)."""
    F, Cg, KH, KW = weight.shape
    Fg = F // groups
    swapped = weight.reshape(groups, Fg, Cg, KH, KW).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(swapped).reshape(groups * Cg, Fg, KH, KW)


def magnitude(y: np.ndarray) -> np.ndarray:
    """sqrt(x² + y²) of the map pairs (0, 1), (2, 3), ...: (N, F, H, W) → (N, F/2, H, W).

    The same numbers as ``np.sqrt(y[:, 0::2] ** 2 + y[:, 1::2] ** 2)``, made in the
    output array with one row block of temporary, so that an 8192x8192 image needs
    no three map-sized temporaries.
    """
    gx, gy = y[:, 0::2], y[:, 1::2]
    out = np.multiply(gx, gx)
    rows = max(1, (4 << 20) // max(1, gy[0, 0, 0].nbytes))
    for r in range(0, y.shape[2], rows):
        block = gy[:, :, r : r + rows]
        out[:, :, r : r + rows] += block * block
    return np.sqrt(out, out=out)
