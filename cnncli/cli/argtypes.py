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
                if not 0 <= n < N:
                    raise ParameterError(
                        f"--channels {token}: batch item {n} is out of range 0..{N - 1}"
                    )
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
