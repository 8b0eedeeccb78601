"""The named kernel bank of ``cnncli conv -k NAME`` and ``cnncli kernels``.

Every kernel is applied as PyTorch applies a weight: by cross-correlation, the
kernel is *not* flipped.  So ``sobel-x`` = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
gives a positive response where values increase from left to right, and
``sobel-y`` = [[-1, -2, -1], [0, 0, 0], [1, 2, 1]] where they increase from top
to bottom.  ``sobel``, ``prewitt`` and ``scharr`` name x/y pairs (two maps).

Each kernel is stored as an integer matrix and a divisor, so that ``box`` prints
as ``1/9 ×`` a matrix of ones rather than as rounded decimals.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import numpy as np

from cnncli.errors import ParameterError


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
