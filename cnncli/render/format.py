"""Number formatting and value colours shared by the renderables (computes no results).

* Integers print as integers, floats with a precision chosen from the largest
  magnitude so that a column lines up, non-finite values as ``nan``/``inf``.
* Values are coloured on a sequential scale (viridis) or, when a map holds both
  signs, on a diverging scale centred on zero (blue < 0 < red); on a 256-colour
  terminal each scale is a few exact palette levels that the terminal keeps apart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

RGB = tuple[int, int, int]

# viridis at 0, 0.25, 0.5, 0.75, 1
_VIRIDIS: tuple[RGB, ...] = (
    (68, 1, 84),
    (59, 82, 139),
    (33, 145, 140),
    (94, 201, 98),
    (253, 231, 37),
)
# coolwarm-like: blue, white, red
_DIVERGING: tuple[RGB, ...] = ((59, 76, 192), (221, 221, 221), (180, 4, 38))
# The same two scales as levels of exact xterm 256-colour entries (the 6×6×6 cube and
# one grey), so that a 256-colour terminal shows every level as its own colour instead
# of rounding neighbouring shades of a continuous scale to one entry.
_VIRIDIS_256: tuple[RGB, ...] = (
    (95, 0, 95),
    (95, 0, 135),
    (95, 95, 175),
    (0, 135, 175),
    (0, 175, 135),
    (95, 175, 95),
    (135, 215, 95),
    (215, 215, 0),
    (255, 255, 95),
)
_DIVERGING_256: tuple[RGB, ...] = (
    (0, 0, 135),
    (0, 0, 215),
    (95, 95, 255),
    (135, 135, 255),
    (175, 175, 255),
    (215, 215, 255),
    (215, 215, 215),
    (255, 215, 215),
    (255, 175, 175),
    (255, 135, 135),
    (255, 95, 95),
    (215, 0, 0),
    (135, 0, 0),
)

#: Characters from dark to light for a heat map without colour.
ASCII_RAMP = " .:-=+*#%@"


def fmt_shape(shape: Iterable[int]) -> str:
    """``(1, 3, 7, 7)`` for a shape."""
    items = [str(int(s)) for s in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def fmt_dims(shape: Sequence[int]) -> str:
    """``28×28`` for a shape."""
    return "×".join(str(int(s)) for s in shape)


def is_integral(values: np.ndarray) -> bool:
    """Whether every finite value is a whole number small enough to print exactly."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return True
    return bool(np.all(finite == np.round(finite)) and np.max(np.abs(finite)) < 1e15)


def decimals_for(values: np.ndarray) -> int | None:
    """Decimals that show ``values`` sensibly: 0 for integers, None for scientific."""
    if is_integral(values):
        return 0
    finite = np.abs(values[np.isfinite(values)])
    biggest = float(finite.max()) if finite.size else 0.0
    nonzero = finite[finite > 0]
    smallest = float(nonzero.min()) if nonzero.size else 0.0
    if biggest >= 1e5 or (biggest < 1e-3 and smallest > 0):
        return None
    if biggest >= 1000:
        return 1
    if biggest >= 100:
        return 2
    if biggest >= 10:
        return 3
    return 4


def fmt_value(value: float, decimals: int | None) -> str:
    """One number with ``decimals`` (None: 3 significant digits, scientific)."""
    v = float(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if decimals is None:
        return f"{v:.3e}"
    if decimals == 0:
        return str(round(v)) if v != 0 else "0"
    text = f"{v:.{decimals}f}"
    return "0" if float(text) == 0 and v == 0 else text


def fmt_number(value: float) -> str:
    """A single number, shortest faithful form (for formulas and explanations)."""
    v = float(value)
    if math.isfinite(v) and v == round(v) and abs(v) < 1e15:
        return str(round(v))
    if not math.isfinite(v):
        return fmt_value(v, 0)
    return f"{v:.6g}"


def fmt_values(values: np.ndarray) -> list[str]:
    """Every value of ``values`` (flattened) with one shared precision."""
    d = decimals_for(values)
    return [fmt_value(v, d) for v in np.asarray(values).ravel().tolist()]


def finite_values(values: np.ndarray) -> tuple[np.ndarray, float | None, float | None]:
    """(the finite values, their minimum, their maximum); (empty, None, None) when none.

    A finite minimum and maximum mean an all-finite array (NaN propagates through
    both): then the array itself is returned, with no mask or copy of its size.
    """
    v = np.asarray(values)
    if v.size:
        lo, hi = v.min(), v.max()
        if np.isfinite(lo) and np.isfinite(hi):
            return v, float(lo), float(hi)
    finite = v[np.isfinite(v)]
    if not finite.size:
        return finite, None, None
    return finite, float(finite.min()), float(finite.max())


def _lerp(stops: Sequence[RGB], t: float) -> RGB:
    t = min(1.0, max(0.0, t))
    pos = t * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    f = pos - i
    a, b = stops[i], stops[i + 1]
    return (
        round(a[0] + (b[0] - a[0]) * f),
        round(a[1] + (b[1] - a[1]) * f),
        round(a[2] + (b[2] - a[2]) * f),
    )


class ColorScale:
    """Maps values to colours: diverging around 0 when the range spans both signs.

    Values beyond ``vmin``/``vmax`` take the end colours (a clipped scale).
    ``palette`` ``"256"`` gives one of a few exact 256-colour levels
    (:data:`_VIRIDIS_256`, :data:`_DIVERGING_256`) instead of a continuous colour.
    """

    def __init__(self, vmin: float, vmax: float, palette: str = "truecolor") -> None:
        self.vmin = float(vmin) if math.isfinite(vmin) else 0.0
        self.vmax = float(vmax) if math.isfinite(vmax) else 0.0
        self.diverging = self.vmin < 0 < self.vmax
        self.palette = palette

    @classmethod
    def for_values(cls, values: np.ndarray, palette: str = "truecolor") -> ColorScale:
        """The scale from the finite minimum to the finite maximum."""
        _, lo, hi = finite_values(values)
        return cls(0.0, 0.0, palette) if lo is None or hi is None else cls(lo, hi, palette)

    def fraction(self, value: float) -> float:
        """Position of ``value`` on the scale, 0..1 (0.5 is zero when diverging; clipped)."""
        if not math.isfinite(value):
            return 1.0 if value > 0 else 0.0
        if self.diverging:
            bound = max(-self.vmin, self.vmax)
            t = 0.5 + 0.5 * value / bound
        else:
            span = self.vmax - self.vmin
            t = 0.5 if span == 0 else (value - self.vmin) / span
        return min(1.0, max(0.0, t))

    def rgb(self, value: float) -> RGB:
        if math.isnan(value):
            return (128, 128, 128)
        if self.palette == "256":
            levels = _DIVERGING_256 if self.diverging else _VIRIDIS_256
            return levels[min(len(levels) - 1, int(self.fraction(value) * len(levels)))]
        stops = _DIVERGING if self.diverging else _VIRIDIS
        return _lerp(stops, self.fraction(value))

    def char(self, value: float) -> str:
        """An ASCII-ramp character for ``value`` (for plain-text heat maps).

        A diverging scale ramps the magnitude: 0 is blank and ±bound is ``@``
        (plain text shows where a signed map is large, not its sign).
        """
        if math.isnan(value):
            return "?"
        if self.diverging:
            bound = max(-self.vmin, self.vmax)
            t = abs(value) / bound if math.isfinite(value) else 1.0
        else:
            t = self.fraction(value)
        t = min(1.0, max(0.0, t))
        return ASCII_RAMP[min(len(ASCII_RAMP) - 1, int(t * len(ASCII_RAMP)))]


def hex_color(rgb: RGB) -> str:
    return f"#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x}"


def cell_style(rgb: RGB) -> str:
    """A Rich style: background ``rgb`` with a readable text colour."""
    lum = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    fg = "black" if lum > 140 else "white"
    return f"{fg} on {hex_color(rgb)}"
