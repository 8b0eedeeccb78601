"""The one place a tensor command's result leaves the process: printed, saved, or both.

:class:`Output` holds the output options (--show, --channels, --region, --json,
-o, --png-scale, --png-mode): it checks them before any work, draws 4-D maps or
vectors as --show asks (huge ones through :mod:`cnncli.render.bounded`), saves
with ``-o`` (saying ``wrote PATH (what)`` on stderr) and prints once.  Rich,
NumPy and the io/render modules are imported inside the methods, so that
``--help`` stays fast.
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


def stdout_is_terminal() -> bool:
    """Whether standard output is a terminal (then binary data must not go there)."""
    stream = sys.stdout
    try:
        return stream is not None and bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def say_wrote(path: Any, what: str) -> None:
    """``wrote PATH (what)`` on stderr: where a file went and what it holds."""
    from cnncli.io.common import display_name

    sys.stderr.write(f"wrote {display_name(str(path))} ({what})\n")
    sys.stderr.flush()


@dataclass
class Output:
    """The output options of one command and the one place its result leaves the process."""

    show: str | None = None
    channels: str | None = None
    as_json: bool = False
    path: str | None = None
    png_scale: str = "minmax"
    inputs: list[str] = field(default_factory=list)
    #: --png-mode: auto, rgb or grid (see :meth:`png_options`).
    png_mode: str = "auto"
    #: Whether --png-scale was given (else an RGB image keeps its pixel values).
    png_scale_given: bool = False
    #: The input image's white (255, or 1 with --scale unit) when it is an RGB image.
    image_white: float | None = None
    #: Set by a command whose output channels are its input's channels (pad, pool, …).
    keeps_channels: bool = False
    #: False when the command's values are no longer pixels (sigmoid, tanh, softmax, …):
    #: then an RGB image's three channels share one --png-scale scale.
    pixel_values: bool = True
    max_memory: str | None = None
    _console: Console | None = None
    _region: tuple[str, RegionSpec] | None = None

    def __post_init__(self) -> None:
        if self.as_json and self.path == "-":
            raise ParameterError("--json and -o - both write to standard output; choose one")
        if self.path == "-" and stdout_is_terminal():
            from cnncli.errors import OutputFileError

            raise OutputFileError(
                "-o - writes binary .npy data to standard output, which is a terminal",
                hint="pipe it on (-o - | cnncli conv -), redirect it (> y.npy) or use -o y.npy",
            )
        if self.png_mode != "auto" and not (self.path or "").lower().endswith(".png"):
            raise ParameterError(f"--png-mode {self.png_mode} is for a .png output (-o FILE.png)")
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
        if mode == "none":
            return None
        from cnncli.render import bounded

        if array.ndim == 4:
            from cnncli.cli.core import check_memory

            picks = self.picks(array.shape) if follow_picks else None
            shape = tuple(array.shape)
            check_memory(
                bounded.render_bytes(shape, self.width), self.max_memory, f"drawing {name}"
            )
            region = None
            if self._region is not None and follow_picks:
                text, spec = self._region
                H, W = array.shape[2:]
                region = resolve_region(spec, text, H, W, f"the {name} maps")
            if region is None and mode != "stats" and bounded.is_huge(shape, self.width):
                from cnncli.render.maps import select_maps

                views, note = select_maps(array, name, picks)
                return bounded.huge_maps(
                    array, name, self.width, self.color, views, note, asked_table=mode == "table"
                )
            return render_maps(
                array, name, mode, self.width, self.color, picks, region=region,
                palette=self.palette, max_rows=self.max_rows, heading=name != "output",
            )  # fmt: skip
        rows = array.reshape(1, -1) if array.ndim < 2 else array.reshape(array.shape[0], -1)
        titles = [f"{name}[{n}]" if len(rows) > 1 else name for n in range(min(len(rows), 4))]
        if mode != "stats" and rows.shape[1] > bounded.MAX_VECTOR:
            huge: list[RenderableType] = [
                bounded.huge_vector(rows[n], title, self.width, self.color)
                for n, title in enumerate(titles)
            ]
            return Group(*huge)
        parts = [render_vector(rows[n], title, self.width, mode) for n, title in enumerate(titles)]
        shown = [p for p in parts if p is not None]
        return Group(*shown) if shown else None

    def png_options(self, array: np.ndarray) -> dict[str, Any]:
        """How a .png of ``array`` is drawn: an RGB colour image or a grid of grey maps.

        auto: RGB when the input is an RGB image, the command keeps its channels
        (pad, pool, act, dropout, depthwise conv) and ``array`` is (1, 3, H, W).
        An RGB image keeps the input's pixel values unless --png-scale is given or the
        command's values are no longer pixels (:attr:`pixel_values`).
        """
        rgb = self.png_mode == "rgb" or (
            self.png_mode == "auto"
            and self.image_white is not None
            and self.keeps_channels
            and array.ndim == 4
            and tuple(array.shape[:2]) == (1, 3)
        )
        white = None if self.png_scale_given or not self.pixel_values else self.image_white
        return {"rgb": rgb, "pixel_top": white if rgb else None}

    def finish(
        self,
        header: Header,
        sections: list[RenderableType | None],
        payload: dict[str, Any],
        save: np.ndarray | dict[str, np.ndarray],
        labels: list[str] | None = None,
    ) -> None:
        """Save (-o), print once (the header and sections, or the JSON object), then say
        ``wrote PATH (what)`` on stderr."""
        what = ""
        if self.path is not None:
            from cnncli.io.write import save_result

            kwargs: dict[str, Any] = {"png_scale": self.png_scale, "labels": labels}
            if self.path == "-":
                kwargs["stdout"] = sys.stdout.buffer
            if isinstance(save, dict) and not self.path.lower().endswith(".npz"):
                save = save["output"]  # gradients go to an .npz only
            if self.path.lower().endswith(".png") and not isinstance(save, dict):
                kwargs.update(self.png_options(save))
            what = save_result(self.path, save, **kwargs)
        self._print(header, sections, payload)
        if self.path is not None and self.path != "-":
            say_wrote(self.path, what)  # last: where the result went, after the result

    def _print(
        self, header: Header, sections: list[RenderableType | None], payload: dict[str, Any]
    ) -> None:
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
        self.console.file.flush()
