"""A network's architecture as a picture (``cnncli shapes MODEL --diagram net.svg|net.png``).

Each layer that makes a new tensor is a block sized by its output shape, as in the
AlexNet paper's figure: a (C, H, W) output is a box whose front face is H tall and
whose slanted depth is W, and whose thickness along the row is the channels C; a
vector output (F,) is a thin bar F tall.  Sizes grow with the square root of H and W
and the logarithm of C and F, so that a 224×224 input and a 6×6 map both stay
visible.  Every block is labelled with its layer's name, type and output shape.

Which layers are blocks: the input, every convolution, pooling, linear and flattening
layer, and any other layer that changes the shape.  Layers that keep the shape and hold
no weights of their own kind (activations, dropout, normalisation) are not drawn; the
caption says so.  Residual connections and parallel branches (Inception, Fire,
DenseNet's concatenations) are not drawn either: the blocks follow the order in which
the layers run, one branch after the other (``cnncli shapes`` shows them as a tree).

The picture is computed once as polygons and texts (:class:`Drawing`), then written as
SVG text or, with Pillow, as PNG; both show the same geometry.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

#: Layer types drawn even when their output has the shape of their input.
DRAWN_TYPES = ("Conv2d", "Linear", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
               "AdaptiveMaxPool2d", "Flatten", "view", "Input")  # fmt: skip

#: Fill colours by layer family (faces are shaded from these).
COLOURS = {
    "Input": (176, 176, 176),
    "Conv2d": (92, 140, 214),
    "pool": (226, 120, 102),
    "Linear": (110, 186, 120),
    "flatten": (236, 196, 96),
    "other": (168, 132, 200),
}

FONT_SIZE = 12
MARGIN = 24
GAP = 28  # between blocks
MAX_BLOCKS = 400  # a bigger network is refused: its picture would be unreadable


@dataclass(frozen=True)
class Block:
    """One drawn layer: its state_dict name, type and output shape without the batch."""

    name: str
    type: str
    shape: tuple[int, ...]

    @property
    def family(self) -> str:
        if self.type in ("Input", "Conv2d", "Linear"):
            return self.type
        if "Pool" in self.type:
            return "pool"
        if self.type in ("Flatten", "view"):
            return "flatten"
        return "other"

    @property
    def shape_text(self) -> str:
        return "x".join(str(v) for v in self.shape)


def blocks(summary: Any) -> list[Block]:
    """The blocks of a :class:`cnncli.nn.summary.Summary`: the input, then the leaves drawn."""
    shape = tuple(summary.input_shape[1:])
    out = [Block("input", "Input", shape)]
    for rec in summary.leaves:
        if rec.output_shape is None:
            break
        new = tuple(rec.output_shape[1:])
        if rec.type in DRAWN_TYPES or new != shape:
            out.append(Block(rec.name, rec.type, new))
        shape = new
    return out


def _side(size: int, per: float, low: int, high: int) -> int:
    return int(min(high, max(low, round(per * math.sqrt(size)))))


def _thickness(channels: int) -> int:
    return int(min(72, max(6, round(6 * math.log2(channels + 1)))))


def block_size(block: Block) -> tuple[int, int, int]:
    """(thickness, height, slant) in pixels: C, H and W of a map; a bar for a vector."""
    if len(block.shape) == 3:
        C, H, W = block.shape
        return _thickness(C), _side(H, 12, 16, 200), _side(W, 6, 8, 100)
    F = math.prod(block.shape)
    return 10, int(min(200, max(16, round(14 * math.log2(F + 1))))), 0


@dataclass
class Drawing:
    """Polygons and texts in pixel coordinates (y down), and the picture's size."""

    width: int = 0
    height: int = 0
    polygons: list[tuple[list[tuple[float, float]], tuple[int, int, int]]] = field(
        default_factory=list
    )
    texts: list[tuple[float, float, str, bool]] = field(default_factory=list)  # x, y, text, bold

    def to_svg(self) -> bytes:
        """The drawing as a standalone SVG document (UTF-8)."""
        from xml.sax.saxutils import escape

        lines = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}">',
            f'<rect width="{self.width}" height="{self.height}" fill="white"/>',
        ]
        for points, rgb in self.polygons:
            pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            lines.append(
                f'<polygon points="{pts}" fill="rgb{rgb}" stroke="rgb(40,40,40)" stroke-width="1"/>'
            )
        for x, y, text, bold in self.texts:
            weight = ' font-weight="bold"' if bold else ""
            lines.append(
                f'<text x="{x:.1f}" y="{y + FONT_SIZE:.1f}" font-family="sans-serif" '
                f'font-size="{FONT_SIZE}"{weight} text-anchor="middle">{escape(text)}</text>'
            )
        lines.append("</svg>")
        return ("\n".join(lines) + "\n").encode("utf-8")

    def to_png(self) -> bytes:
        """The drawing as PNG bytes, drawn with Pillow."""
        import io

        from PIL import Image, ImageDraw

        image = Image.new("RGB", (self.width, self.height), "white")
        draw = ImageDraw.Draw(image)
        font = _font()
        for points, rgb in self.polygons:
            draw.polygon(points, fill=rgb, outline=(40, 40, 40))
        for x, y, text, _bold in self.texts:
            draw.text((x, y), text, fill=(20, 20, 20), font=font, anchor="ma")
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=True)
        return buf.getvalue()


@functools.cache
def _font() -> Any:
    """Pillow's default font at FONT_SIZE, loaded once (every label is measured with it)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=FONT_SIZE)
    except (TypeError, OSError):  # a Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_width(text: str) -> int:
    box = _font().getbbox(text)
    return int(box[2] - box[0])


def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    r, g, b = rgb
    return (min(255, int(r * factor)), min(255, int(g * factor)), min(255, int(b * factor)))


def draw(title: str, drawn: list[Block]) -> Drawing:
    """Lay the blocks out left to right, each over its label, under a title and caption."""
    sizes = [block_size(b) for b in drawn]
    labels = [(b.name, b.type, b.shape_text) for b in drawn]
    line = FONT_SIZE + 4
    top = MARGIN + 2 * line  # title and caption above the blocks
    tallest = max(h + s for _, h, s in sizes)
    middle = top + tallest / 2 + max(s for _, _, s in sizes) / 2
    label_top = middle + max(h for _, h, _ in sizes) / 2 + 10
    d = Drawing()
    x = MARGIN
    for block, (t, h, s), label in zip(drawn, sizes, labels, strict=True):
        column = max(t + s, *(_text_width(text) for text in label)) + GAP
        x0 = x + (column - GAP - (t + s)) / 2  # the box centred in its column
        y0 = middle - h / 2  # front face: (x0, y0) to (x0 + t, y0 + h)
        fill = COLOURS[block.family]
        front = [(x0, y0), (x0 + t, y0), (x0 + t, y0 + h), (x0, y0 + h)]
        d.polygons.append((front, fill))
        if s:  # the slanted top and right faces show the depth W
            dx, dy = s, -s
            top_face = [(x0, y0), (x0 + dx, y0 + dy), (x0 + t + dx, y0 + dy), (x0 + t, y0)]
            side = [(x0 + t, y0), (x0 + t + dx, y0 + dy), (x0 + t + dx, y0 + h + dy),
                    (x0 + t, y0 + h)]  # fmt: skip
            d.polygons.append((top_face, _shade(fill, 1.12)))
            d.polygons.append((side, _shade(fill, 0.8)))
        centre = x + (column - GAP) / 2
        for i, text in enumerate(label):
            d.texts.append((centre, label_top + i * line, text, i == 2))
        x += column
    d.width = int(max(x - GAP + MARGIN, _text_width(title) + 2 * MARGIN))
    d.height = int(label_top + 3 * line + MARGIN)
    d.texts.insert(0, (d.width / 2, MARGIN, title, True))
    caption = "a block is C thick, H tall and W deep; activations, dropout and normalisation are not drawn"
    d.texts.insert(1, (d.width / 2, MARGIN + line, caption, False))
    d.width = max(d.width, _text_width(caption) + 2 * MARGIN)
    for i in (0, 1):  # re-centre the two header lines on the final width
        _, y, text, bold = d.texts[i]
        d.texts[i] = (d.width / 2, y, text, bold)
    return d
