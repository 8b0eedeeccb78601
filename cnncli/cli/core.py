"""What every tensor command does before and around its computation.

:func:`begin` is the shared preamble: it checks the output options, loads INPUT
(or the built-in example) and starts the header with the input line.  It reads
the shared options of :mod:`cnncli.cli.options` from the command's context by
their parameter names (``input``, ``layout``, ``key``, ``gray``, ``scale``,
``dtype``, ``allow_nonfinite``, ``show``, ``channels``, ``json_``, ``output``,
``png_scale``, ``region``; ``png_mode`` and ``max_memory`` where declared), so a
command declares them and says no more about them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from cnncli.cli.output import Output

if TYPE_CHECKING:
    import numpy as np
    import typer

    from cnncli.io.common import Loaded
    from cnncli.render.header import Header


def stdin() -> Any:
    """Standard input as bytes (``-`` as INPUT or ``--grad``)."""
    return getattr(sys.stdin, "buffer", sys.stdin)


@dataclass
class Run:
    """One tensor command's start: output options, input record and array, notes, header.

    ``notes`` is the header's own list: what is appended later is printed too.
    """

    out: Output
    loaded: Loaded
    x: np.ndarray
    notes: list[str]
    header: Header
    source: str | None

    def grad(self, spec: str, shape: tuple[int, ...]) -> np.ndarray:
        """dL/dY for ``--grad SPEC`` in the input's dtype (``ones`` or a file)."""
        from cnncli.io.inputs import load_grad

        return load_grad(spec, shape, self.x.dtype, self.source, self.notes, stdin())

    def base_payload(
        self, op: str, parameters: dict[str, Any], y: np.ndarray, **arrays: Any
    ) -> dict[str, Any]:
        """The JSON object: op, parameters, input, then ``arrays`` (weight, bias), then output."""
        return {
            "op": op,
            "parameters": parameters,
            "input": {"source": str(self.loaded.source), "shape": self.x.shape},
            **arrays,
            "output": {"shape": y.shape, "values": y},
        }


def begin(
    ctx: typer.Context,
    default: Literal["seed", "digit8"] = "seed",
    files: Sequence[str | None] = (),
) -> Run:
    """Check the output options, load INPUT (None: the ``default`` example), start the header.

    ``files`` are the command's other input files, which ``-o`` must not overwrite.
    """
    from cnncli.io.inputs import load_input
    from cnncli.render.header import Header

    p = ctx.params
    source = p["input"]
    inputs = [source or "", *(f or "" for f in files)]
    out = Output(
        p["show"], p["channels"], p["json_"], p["output"], p["png_scale"], inputs=inputs,
        png_mode=p.get("png_mode") or "auto", png_scale_given=_given(ctx, "png_scale"),
        max_memory=p.get("max_memory"),
    )  # fmt: skip
    out.set_region(p.get("region"))
    loaded, x, notes = load_input(
        source, default=default, layout=p["layout"], key=p["key"], gray=p["gray"],
        scale=p["scale"], dtype=p["dtype"], allow_nonfinite=p["allow_nonfinite"], stdin=stdin(),
    )  # fmt: skip
    if getattr(loaded, "kind", "") == "image" and x.ndim == 4 and x.shape[1] == 3:
        out.image_white = 1.0 if p["scale"] == "unit" else 255.0
    header = Header(notes=notes)
    header.add("input", describe_input(loaded, x))
    return Run(out, loaded, x, notes, header, source)


def _given(ctx: typer.Context, name: str) -> bool:
    """Whether the option ``name`` was given (on the command line or by the environment)."""
    source = ctx.get_parameter_source(name)  # an enum of Typer's own Click: compare names
    return getattr(source, "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")


def describe_input(loaded: Any, array: np.ndarray) -> str:
    """``x.png: PNG image, 28×28 RGB (mode RGB) → tensor (1, 3, 28, 28) float32``."""
    from cnncli.render.format import fmt_shape

    src = str(getattr(loaded, "source", "?"))
    what = str(getattr(loaded, "description", "") or "")
    if not what:
        orig = getattr(loaded, "original_shape", None)
        layout = getattr(loaded, "original_layout", "")
        what = f"{getattr(loaded, 'kind', '')} {fmt_shape(orig) if orig else ''} {layout}".strip()
    return f"{src}: {what} → tensor {fmt_shape(array.shape)} {array.dtype}"


def check_memory(needed: int, max_memory: str | None, what: str) -> None:
    """Refuse (ResourceLimitError) work whose buffers need more than the limit, before allocating.

    ``needed`` is in bytes.
    The limit is ``--max-memory`` or half the memory available now, read as
    ``cnncli forward`` reads it (:mod:`cnncli.nn.resources`).
    """
    from cnncli.errors import ResourceLimitError
    from cnncli.nn import resources

    limit = resources.parse_size(max_memory) if max_memory else resources.default_limit()
    if needed > limit:
        raise ResourceLimitError(
            f"{what} would need about {resources.format_bytes(needed)} of buffers, more than "
            f"the limit {resources.format_bytes(limit)}",
            hint="use a smaller input, padding or kernel, or raise the limit with --max-memory",
        )
