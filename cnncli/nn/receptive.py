"""Receptive fields and jumps, exact through strides, transposed convolutions and upsampling.

Along one axis, a layer maps each output index ``o`` to the input indices ``i`` that reach
it (:class:`RfAxis`, with ``k`` kernel, ``s`` stride, ``d`` dilation, ``p`` padding):

- conv / pool: ``i = s·o − p + d·t``, ``t = 0 … k−1``;
- transposed conv: every ``i`` with ``s·i − p + d·t = o`` for some ``t``, i.e.
  ``i = (o + p − d·t) / s`` where that is a whole number;
- nearest upsampling by ``s``: ``i = ⌊o / s⌋``;
- bilinear by ``s`` (align_corners False): ``src = (o + ½)/s − ½``, ``i = ⌊src⌋`` and,
  unless ``src`` is whole, ``⌊src⌋ + 1`` (torch's two taps; the border clamp is ignored,
  as padding is: receptive fields are those of an unbounded input).

The textbook recurrence follows from the first rule: with ``r`` the receptive field and
``j`` the jump (input pixels between neighbouring outputs),
``r_out = r_in + d·(k − 1)·j_in`` and ``j_out = j_in·s``. An upsampling by ``s`` divides
the jump instead, ``j_out = j_in / s``: a transposed conv gives ``r_out ≈ r_in + d·(k − 1)·j_out``,
nearest ``r_out = r_in`` and bilinear ``r_out = r_in + j_in`` (two neighbouring inputs).
Those are averages: how many inputs reach an output now depends on its phase ``o mod s``
(a 2×2 stride-2 transposed conv copies each input to 2×2 outputs, so each output sees one
input: ``r_out = r_in``, not ``r_in + ½·j_in``), and the phases of later layers interact.
So cnncli tracks, per axis, the first and last input pixel reaching each output over one
period (:class:`Span`) and reports the largest ``last − first + 1``: the number a
brute-force perturbation of single input pixels measures. With integer jumps it equals the
textbook ``r``; the jump ``j = Q / P`` may be a fraction (``1/2`` after a stride-2 upsampling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class RfAxis:
    """How one layer maps output indices to input indices along one axis."""

    kind: str = "conv"  # "conv" (also pools), "transposed", "nearest", "bilinear"
    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    padding: int = 0


#: (H axis, W axis); None: every output sees the whole input (Flatten, Linear, a gate).
RfAxes = tuple[RfAxis, RfAxis] | None


@dataclass(frozen=True)
class Span:
    """First and last input pixel reaching each output index ``o = P·m + q``:
    ``lo[q] + Q·m`` and ``hi[q] + Q·m`` (None: no input reaches it, only a bias).

    The jump is ``Q / P`` input pixels per output step.
    """

    P: int
    Q: int
    lo: tuple[int | None, ...]
    hi: tuple[int | None, ...]

    @property
    def size(self) -> int:
        """The receptive field: the largest ``last − first + 1`` over the outputs."""
        return max(
            (
                h - lo + 1
                for lo, h in zip(self.lo, self.hi, strict=True)
                if lo is not None and h is not None
            ),
            default=0,
        )

    @property
    def jump(self) -> Fraction:
        return Fraction(self.Q, self.P)

    def at(self, x: int) -> tuple[int, int] | None:
        m, q = divmod(x, self.P)
        lo, hi = self.lo[q], self.hi[q]
        return None if lo is None or hi is None else (lo + self.Q * m, hi + self.Q * m)


START = Span(1, 1, (0,), (0,))


def _sources(axis: RfAxis, o: int) -> list[int]:
    """The input indices that reach output ``o`` (see the module's rules)."""
    k, s, d, p = axis.kernel, axis.stride, axis.dilation, axis.padding
    if axis.kind == "conv":
        return [s * o - p + d * t for t in range(k)]
    if axis.kind == "transposed":
        return [(o + p - d * t) // s for t in range(k) if (o + p - d * t) % s == 0]
    if axis.kind == "nearest":
        return [o // s]
    src = Fraction(2 * o + 1, 2 * s) - Fraction(1, 2)
    first = math.floor(src)
    return [first] if src == first else [first, first + 1]


def advance(span: Span, axis: RfAxis) -> Span:
    """The span after one more layer: each output's sources' spans, joined."""
    if axis.kind == "conv":  # o → o + P' moves the sources by lcm(P, s) = P·Q'/Q inputs
        g = math.gcd(span.P, axis.stride)
        P, Q = span.P // g, span.Q * axis.stride // g
    else:  # o → o + P·s moves the sources by P inputs
        P, Q = span.P * axis.stride, span.Q
    lo: list[int | None] = []
    hi: list[int | None] = []
    for o in range(P):
        reach = [r for i in _sources(axis, o) if (r := span.at(i)) is not None]
        lo.append(min((r[0] for r in reach), default=None))
        hi.append(max((r[1] for r in reach), default=None))
    return Span(P, Q, tuple(lo), tuple(hi))


def merge(a: Span, b: Span) -> Span:
    """Where paths join, each output sees the union of what every path sees.

    Paths with different jumps (possible only with unusual paddings) cannot be lined up
    output by output; the wider path's span is kept then.
    """
    if a.jump != b.jump:
        return a if a.size >= b.size else b
    P = math.lcm(a.P, b.P)
    Q = a.Q * (P // a.P)
    lo: list[int | None] = []
    hi: list[int | None] = []
    for o in range(P):
        ra, rb = a.at(o), b.at(o)
        both = [r for r in (ra, rb) if r is not None]
        lo.append(min((r[0] for r in both), default=None))
        hi.append(max((r[1] for r in both), default=None))
    return Span(P, Q, tuple(lo), tuple(hi))


def jump_text(j: Fraction | int) -> str:
    """``8``, or a fraction of a pixel as ``1/2``."""
    j = Fraction(j)
    return str(j.numerator) if j.denominator == 1 else f"{j.numerator}/{j.denominator}"


__all__ = ["START", "RfAxes", "RfAxis", "Span", "advance", "jump_text", "merge"]
