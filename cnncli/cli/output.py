"""The one place a tensor command's result leaves the process: printed, saved, or both.

:class:`Output` holds the output options (--show, --channels, --region, --json,
-o, --png-scale): it checks them before any work, draws 4-D maps or vectors as
--show asks, saves with ``-o`` and prints once.  Rich, NumPy and the io/render
modules are imported inside the methods, so that ``--help`` stays fast.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cnncli.cli.argtypes import RegionSpec, parse_channels, parse_region, resolve_region
from cnncli.errors import ParameterError

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console, RenderableType

    from cnncli.render.header import Header


def jsonable(value: Any) -> Any:
    """Arrays to nested lists (non-finite → null), tuples to lists, recursively."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


@dataclass
class Output:
    """The output options of one command and the one place its result leaves the process."""

    show: str | None = None
    channels: str | None = None
    as_json: bool = False
    path: str | None = None
    png_scale: str = "minmax"
    inputs: list[str] = field(default_factory=list)
    _console: Console | None = None
    _region: tuple[str, RegionSpec] | None = None

    def __post_init__(self) -> None:
        if self.as_json and self.path == "-":
            raise ParameterError("--json and -o - both write to standard output; choose one")
        if self.path is not None and self.path != "-":
            import os

            from cnncli.errors import OutputFileError
            from cnncli.io import OUTPUT_EXTENSIONS
            from cnncli.io.write import check_output_path

            ext = os.path.splitext(self.path)[1].lower()
            if ext not in OUTPUT_EXTENSIONS:
                raise OutputFileError(
                    f"{self.path}: unsupported output type {ext or '(no extension)'}; "
                    f"cnncli writes {' '.join(OUTPUT_EXTENSIONS)} or - (standard output)"
                )
            check_output_path(self.path, [p for p in self.inputs if p and p != "-"])

    def set_region(self, text: str | None) -> None:
        """``--region ROWS,COLS``: its syntax is checked now, the window against each map."""
        self._region = None if text is None else (text, parse_region(text))

    @property
    def to_stdout_pipe(self) -> bool:
        return self.path == "-"

    @property
    def mode(self) -> str:
        """The effective --show (none when stdout carries data and --show was not given)."""
        if self.show is not None:
            return self.show
        return "none" if self.to_stdout_pipe else "auto"

    @property
    def console(self) -> Console:
        if self._console is None:
            from cnncli.render.console import make_console

            self._console = make_console(stderr=self.to_stdout_pipe)
        return self._console

    @property
    def width(self) -> int:
        return int(self.console.width)

    @property
    def color(self) -> bool:
        return self.console.color_system is not None

    @property
    def palette(self) -> str:
        """``truecolor``, or ``256`` for a terminal with 256 colours or fewer."""
        return "truecolor" if self.console.color_system == "truecolor" else "256"

    @property
    def max_rows(self) -> int | None:
        """How many table rows fit the terminal (None: not a terminal)."""
        console = self.console
        return max(1, console.height - 8) if console.is_terminal else None

    def picks(self, shape: tuple[int, ...]) -> list[tuple[int | None, int]] | None:
        return parse_channels(self.channels, shape[0], shape[1]) if len(shape) == 4 else None

    def maps(
        self, array: np.ndarray, name: str, follow_picks: bool = True
    ) -> RenderableType | None:
        """A 4-D array's maps (or a 1-D/2-D array as vectors) as --show asks.

        ``follow_picks`` False: --channels and --region do not apply (dL/dW).  The
        ``output`` maps have no heading line: the header's output line gives the shape.
        """
        from rich.console import Group

        from cnncli.render.maps import render_maps, render_vector

        mode: Any = self.mode
        if array.ndim == 4:
            picks = self.picks(array.shape) if follow_picks else None
            region = None
            if self._region is not None and follow_picks and mode != "none":
                text, spec = self._region
                H, W = array.shape[2:]
                region = resolve_region(spec, text, H, W, f"the {name} maps")
            return render_maps(
                array, name, mode, self.width, self.color, picks, region=region,
                palette=self.palette, max_rows=self.max_rows, heading=name != "output",
            )  # fmt: skip
        rows = array.reshape(1, -1) if array.ndim < 2 else array.reshape(array.shape[0], -1)
        parts = [
            render_vector(rows[n], f"{name}[{n}]" if rows.shape[0] > 1 else name, self.width, mode)
            for n in range(min(rows.shape[0], 4))
        ]
        shown = [p for p in parts if p is not None]
        return Group(*shown) if shown else None

    def finish(
        self,
        header: Header,
        sections: list[RenderableType | None],
        payload: dict[str, Any],
        save: np.ndarray | dict[str, np.ndarray],
        labels: list[str] | None = None,
    ) -> None:
        """Save (-o), then print once: the header and sections, or the JSON object."""
        if self.path is not None:
            from cnncli.io.write import save_result

            kwargs: dict[str, Any] = {"png_scale": self.png_scale, "labels": labels}
            if self.path == "-":
                kwargs["stdout"] = sys.stdout.buffer
            if isinstance(save, dict) and not self.path.lower().endswith(".npz"):
                save = save["output"]  # gradients go to an .npz only
            header.notes += list(save_result(self.path, save, **kwargs) or [])
        if self.as_json:
            import json

            for n in header.notes:
                sys.stderr.write(f"note: {n}\n")
            sys.stdout.write(json.dumps(jsonable(payload)) + "\n")
            sys.stdout.flush()
            return
        if self.mode == "none" and self.to_stdout_pipe:
            for n in header.notes:
                sys.stderr.write(f"note: {n}\n")
            return
        from rich.console import Group

        from cnncli.render.header import render_header

        shown = [s for s in sections if s is not None]
        self.console.print(Group(render_header(header), *shown))
