"""A photo or drawing of one handwritten digit, prepared the way MNIST's digits were.

MNIST (LeCun et al.) made each digit light on dark, scaled it to fit a 20×20 box with
its aspect ratio kept, and placed it in a 28×28 image with its centre of mass at the
centre.  A network trained on MNIST (``lenet5-mnist``) only understands digits made
the same way, so :func:`prepare_digit` does the same to a user's image, in order:

1. **invert** when the background is light (the median of the border pixels > 0.5),
   since people write dark ink on light paper: ``x ← 1 − x``;
2. **clean** the paper away: with b the median of the border and m the maximum,
   ``x ← clip((x − b) / (m − b), 0, 1)``, so that paper is 0 and the darkest ink 1;
3. **crop** to the bounding box of the ink (pixels above ``INK`` = 0.25);
4. **scale** the box so that its longer side is 20 pixels (bilinear, antialiased);
5. **centre** it in 28×28 so that its centre of mass, Σ x·(r, c) / Σ x, falls on
   pixel (14, 14), shifted back inside the image where it would leave it.

An image that is already 28×28 is taken as prepared (an MNIST digit is) and is only
inverted if its background is light.  Each step adds a note saying what it did.
"""

from __future__ import annotations

import numpy as np

from cnncli.io.network import resize

SIZE, BOX, INK = 28, 20, 0.25


def prepare_digit(x: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(N, 1, h, w) in [0, 1] → (N, 1, 28, 28) as MNIST's digits; and a note per step."""
    out = np.empty((x.shape[0], 1, SIZE, SIZE), dtype=np.float32)
    notes: list[str] = []
    for n in range(x.shape[0]):
        out[n, 0], said = _one(np.asarray(x[n, 0], dtype=np.float32))
        notes += [s for s in said if s not in notes]
    return out, notes


def _one(plane: np.ndarray) -> tuple[np.ndarray, list[str]]:
    notes = []
    border = np.concatenate([plane[0], plane[-1], plane[:, 0], plane[:, -1]])
    if float(np.median(border)) > 0.5:
        plane = 1.0 - plane
        notes.append("digit: inverted (a light background; MNIST's digits are light on dark)")
    if plane.shape == (SIZE, SIZE):
        return plane, notes
    paper = float(np.median(np.concatenate([plane[0], plane[-1], plane[:, 0], plane[:, -1]])))
    top_value = float(plane.max())
    if top_value > paper:
        plane = np.clip((plane - paper) / (top_value - paper), 0.0, 1.0)
        notes.append(f"digit: paper level {paper:.2f} taken as 0, the strongest ink as 1")
    ink = plane > INK
    if not ink.any():
        notes.append(f"digit: no ink found; resized to {SIZE}x{SIZE} as it is")
        return resize(plane[None, None], SIZE, SIZE)[0, 0], notes
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    box = plane[top:bottom, left:right]
    h, w = box.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.clip(resize(box[None, None], new_h, new_w)[0, 0], 0.0, 1.0)
    mass = float(small.sum())
    r_c = (small.sum(axis=1) @ np.arange(new_h)) / mass if mass > 0 else (new_h - 1) / 2
    c_c = (small.sum(axis=0) @ np.arange(new_w)) / mass if mass > 0 else (new_w - 1) / 2
    r0 = int(np.clip(round(SIZE / 2 - r_c), 0, SIZE - new_h))
    c0 = int(np.clip(round(SIZE / 2 - c_c), 0, SIZE - new_w))
    canvas = np.zeros((SIZE, SIZE), dtype=np.float32)
    canvas[r0 : r0 + new_h, c0 : c0 + new_w] = small
    notes.append(
        f"digit: cropped to the ink (rows {top}–{bottom - 1}, columns {left}–{right - 1}), "
        f"scaled {h}x{w} → {new_h}x{new_w} and centred by its mass in {SIZE}x{SIZE}, as MNIST"
    )
    return canvas, notes
