"""Parameter text to values: ``"2"``, ``"2,3"``, ``"1,1,0,2"``, ``"same"``, ``"0-5"``, ``"1,2"``.

Every function raises :class:`cnncli.errors.ParameterError` with the text it
was given, which the command line prints as ``error: …`` (exit status 2).
"""

from __future__ import annotations

import math

from cnncli.errors import ParameterError


def _ints(text: str, name: str) -> list[int]:
    parts = [p.strip() for p in text.replace(";", ",").split(",")]
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ParameterError(f"{name} must be integers separated by commas, got {text!r}") from None


def parse_pair(text: str, name: str) -> int | tuple[int, int]:
    """``"2"`` → 2, ``"2,3"`` → (2, 3) (height, width)."""
    values = _ints(text, name)
    if len(values) == 1:
        return values[0]
    if len(values) == 2:
        return (values[0], values[1])
    raise ParameterError(f"{name} takes 1 value or 2 (height, width), got {len(values)}: {text!r}")


def as_pair(value: int | tuple[int, int]) -> tuple[int, int]:
    """2 → (2, 2); (2, 3) stays."""
    return (value, value) if isinstance(value, int) else value


def parse_padding(text: str, *, words: bool = True) -> int | tuple[int, ...] | str:
    """Padding text: ``N``, ``H,W``, ``L,R,T,B`` (F.pad's order) or ``same``/``valid``."""
    t = text.strip().lower()
    if t in ("same", "valid"):
        if not words:
            raise ParameterError(f"padding {text!r} is for conv only; give N, H,W or L,R,T,B")
        return t
    values = _ints(t, "padding")
    if len(values) == 1:
        return values[0]
    if len(values) in (2, 4):
        return tuple(values)
    raise ParameterError(
        f"padding takes 1 value (all sides), 2 (H,W) or 4 (left,right,top,bottom), "
        f"got {len(values)}: {text!r}"
    )


def lrtb(padding: int | tuple[int, ...]) -> tuple[int, int, int, int]:
    """``N``/``(H, W)``/``(L, R, T, B)`` as (left, right, top, bottom)."""
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[1], padding[1], padding[0], padding[0])
    left, right, top, bottom = padding
    return (left, right, top, bottom)


def parse_floats(text: str, name: str) -> list[float]:
    """``"0.5"`` or ``"1,-1,0.25"`` → floats (finite)."""
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ParameterError(f"{name} must be numbers separated by commas, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise ParameterError(f"{name} must be finite numbers, got {text!r}")
    return values


def looks_numeric(text: str) -> bool:
    """Whether ``text`` is inline numbers rather than a file name."""
    try:
        parse_floats(text, "value")
    except ParameterError:
        return False
    return True


def parse_channels(text: str | None, N: int, C: int) -> list[tuple[int | None, int]] | None:
    """``--channels`` text → (n, c) pairs (n None: every batch item), checked against N, C."""
    if text is None:
        return None
    picks: list[tuple[int | None, int]] = []
    for raw in text.split(","):
        token = raw.strip()
        if not token:
            continue
        try:
            if ":" in token:
                a, b = token.split(":", 1)
                n, c = int(a), int(b)
                items: list[tuple[int | None, int]] = [(n, c)]
            elif "-" in token[1:]:
                a, b = token.split("-", 1)
                items = [(None, c) for c in range(int(a), int(b) + 1)]
            else:
                items = [(None, int(token))]
        except ValueError:
            raise ParameterError(
                f"--channels takes indices like 0,3 or 0-5 or 1:0, got {text!r}"
            ) from None
        for n_pick, c_pick in items:
            # checked after the parse: ParameterError is a ValueError, and a good N:C with
            # N out of range is no syntax error
            if n_pick is not None and not 0 <= n_pick < N:
                raise ParameterError(
                    f"--channels {token}: batch item {n_pick} is out of range 0..{N - 1} "
                    f"(the input has {N} batch item{'s' if N != 1 else ''})"
                )
            if not 0 <= c_pick < C:
                raise ParameterError(f"--channels: channel {c_pick} is out of range 0..{C - 1}")
            picks.append((n_pick, c_pick))
    if not picks:
        raise ParameterError(f"--channels picked nothing: {text!r}")
    return picks


def parse_index(
    text: str, shape: tuple[int, ...], what: str = "--explain"
) -> tuple[int, int, int, int]:
    """``I,J`` / ``F,I,J`` / ``N,F,I,J`` → (n, f, i, j), checked against the output (N, F, OH, OW)."""
    values = _ints(text, what)
    if not 2 <= len(values) <= 4:
        raise ParameterError(f"{what} takes I,J or F,I,J or N,F,I,J, got {text!r}")
    full = [0] * (4 - len(values)) + values
    names = ("batch item N", "channel F", "row I", "column J")
    for v, size, nm in zip(full, shape, names, strict=True):
        if not 0 <= v < size:
            raise ParameterError(
                f"{what} {text}: {nm}={v} is out of range 0..{size - 1} "
                f"for the output of shape {tuple(shape)}"
            )
    return (full[0], full[1], full[2], full[3])


RegionSpec = tuple[tuple[int | None, int | None], tuple[int | None, int | None]]


def parse_region(text: str) -> RegionSpec:
    """``--region ROWS,COLS`` → ((start, stop), (start, stop)), Python slice syntax per axis.

    ``100:112,200:212``; a part may be left out (``:20``, ``100:``, ``:``) or
    negative (counted from the end); a single index ``5`` is ``5:6``.  Steps are
    refused: a window is shown whole.  Checked against a map by :func:`resolve_region`.
    """
    parts = text.split(",")
    if len(parts) != 2:
        raise ParameterError(
            f"--region takes ROWS,COLS as Python slices, e.g. 100:112,200:212; got {text!r}"
        )
    axes: list[tuple[int | None, int | None]] = []
    for part in parts:
        bits = [b.strip() for b in part.split(":")]
        if len(bits) > 2:
            raise ParameterError(
                f"--region {text}: {part.strip()!r} has a step; give start:stop for each axis"
            )
        try:
            if len(bits) == 1:
                i = int(bits[0])
                axes.append((i, i + 1 if i != -1 else None))
            else:
                axes.append((int(bits[0]) if bits[0] else None, int(bits[1]) if bits[1] else None))
        except ValueError:
            raise ParameterError(
                f"--region takes ROWS,COLS as Python slices, e.g. 100:112,200:212; got {text!r}"
            ) from None
    return (axes[0], axes[1])


def resolve_region(spec: RegionSpec, text: str, H: int, W: int, what: str) -> tuple[slice, slice]:
    """The (rows, cols) slices of ``spec`` in a map of H×W; a window outside it is an error.

    Negative indices count from the end as in Python; unlike a Python slice, a
    start or stop beyond the map, or an empty window, is refused with the map's size.
    """
    out: list[slice] = []
    for (start, stop), size, axis in zip(spec, (H, W), ("rows", "cols"), strict=True):
        a = 0 if start is None else start + size if start < 0 else start
        b = size if stop is None else stop + size if stop < 0 else stop
        if 0 <= a <= size and 0 <= b <= size and a >= b:
            raise ParameterError(f"--region {text}: {axis} {_span(start, stop)} is empty")
        if not (0 <= a < b <= size):
            raise ParameterError(
                f"--region {text}: {axis} {_span(start, stop)} are not inside {what} of "
                f"{H}×{W} ({axis} 0:{size})"
            )
        out.append(slice(a, b))
    return (out[0], out[1])


def _span(start: int | None, stop: int | None) -> str:
    return f"{'' if start is None else start}:{'' if stop is None else stop}"
