"""The resource guard: estimate a forward pass's memory from shapes, refuse what is too big.

Nothing is allocated to find out: the estimate comes from :func:`cnncli.nn.summary.summarize`
(pure shape arithmetic), so a billion-channel spec or a 64×3×100000×100000 input is
refused in milliseconds.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from cnncli.errors import ParameterError, ResourceLimitError
from cnncli.nn.layers import Layer
from cnncli.nn.summary import Summary

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(text: str) -> int:
    """Bytes from ``"512M"``, ``"2G"``, ``"1.5GB"``, ``"4096"`` (binary units)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtKMGT]?)(?:i?[bB])?\s*", text)
    if not match:
        raise ParameterError(
            f"--max-memory must be a size such as 512M, 2G or 1500000000, got {text!r}"
        )
    value = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not math.isfinite(value) or value < 1:
        raise ParameterError(f"--max-memory must be at least 1 byte, got {text!r}")
    return int(value)


def format_bytes(n: int | float) -> str:
    """``1536`` → ``1.5 KiB``; binary units, as ``--max-memory`` reads them."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"


def available_memory() -> int:
    """Available memory in bytes: MemAvailable from /proc/meminfo, else os.sysconf, else 8 GiB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def default_limit() -> int:
    """Half of the memory available now."""
    return available_memory() // 2


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a forward pass needs: parameters, every layer output, the largest workspace."""

    param_bytes: int
    input_bytes: int
    activation_bytes: int
    workspace_bytes: int
    param_label: str = "parameters"

    @property
    def total(self) -> int:
        return self.param_bytes + self.input_bytes + self.activation_bytes + self.workspace_bytes

    def describe(self) -> str:
        return (
            f"{format_bytes(self.total)} ({self.param_label} {format_bytes(self.param_bytes)}, input "
            f"{format_bytes(self.input_bytes)}, layer outputs {format_bytes(self.activation_bytes)}, "
            f"largest workspace {format_bytes(self.workspace_bytes)})"
        )


def estimate(model: Layer, summary: Summary) -> MemoryEstimate:
    """Estimate a forward pass's memory from a summary (no allocation)."""
    modules = dict(model.named_modules())
    workspace = 0
    for rec in summary.leaves:
        layer = modules.get(rec.name) if rec.name in modules else None
        if layer is not None and rec.output_shape is not None:
            try:
                workspace = max(workspace, layer.workspace_bytes(rec.input_shape, summary.itemsize))
            except Exception:  # a shape the layer refuses needs no workspace
                continue
    params = model.num_params() + model.num_buffer_values()
    return MemoryEstimate(
        summary.itemsize * params, summary.input_bytes, summary.activation_bytes, workspace
    )


def check_memory(needed: MemoryEstimate, limit: int, what: str = "this forward pass") -> None:
    """Raise :class:`ResourceLimitError` (estimate and limit named) when above ``limit``."""
    if needed.total > limit:
        raise ResourceLimitError(
            f"{what} would need about {needed.describe()}, more than the limit "
            f"{format_bytes(limit)}",
            hint="use a smaller input or batch, or raise the limit with --max-memory",
        )


def training_estimate(model: Layer, summary: Summary, optimizer_slots: int) -> MemoryEstimate:
    """Estimate one training step's memory from a summary of the batch (no allocation).

    On top of a forward pass (:func:`estimate`, where every layer's output is kept for
    the backward): a gradient per parameter and ``optimizer_slots`` arrays per parameter
    (SGD's momentum buffer 1, Adam's moments 2), two gradients of the largest layer output
    in flight during the backward, and a second workspace of the largest size (a
    convolution's backward unfolds its input as the forward did).
    """
    forward = estimate(model, summary)
    largest = max((summary.itemsize * math.prod(r.output_shape) for r in summary.leaves
                   if r.output_shape is not None), default=0)  # fmt: skip
    extra_params = summary.itemsize * model.num_params() * (1 + optimizer_slots)
    return MemoryEstimate(
        forward.param_bytes + extra_params,
        forward.input_bytes,
        forward.activation_bytes + 2 * largest,
        2 * forward.workspace_bytes,
        "parameters, gradients and optimizer state",
    )
