"""The named kernel bank as small tables (``cnncli kernels``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.text import Text

from cnncli.render.maps import map_table, titled


def kernel_card(kernel: Any) -> RenderableType:
    """One kernel: name, description, then ``1/d ×`` its integer matrix."""
    values = np.array(kernel.values, dtype=np.float64)
    title = f"{kernel.name}" + (f"  (1/{kernel.divisor} ×)" if kernel.divisor != 1 else "")
    return Group(
        titled(title, map_table(values)),
        Text(kernel.description, style="dim"),
        Text(""),
    )


def render_kernels(
    kernels: Sequence[Any], pairs: dict[str, tuple[str, str]], width: int
) -> RenderableType:
    """Every kernel as a card, laid out in columns, then the pairs."""
    cards = [kernel_card(k) for k in kernels]
    lines: list[RenderableType] = [
        Text(
            "Kernels are applied by cross-correlation, as PyTorch (not flipped): "
            "sobel-x responds to values increasing left → right.",
            style="dim",
        ),
        Columns(cards, padding=(0, 3), width=None),
    ]
    if pairs:
        lines.append(
            Text(
                "pairs (two maps; conv --magnitude combines them): "
                + ", ".join(f"{p} = {x} + {y}" for p, (x, y) in pairs.items())
            )
        )
    return Group(*lines)
