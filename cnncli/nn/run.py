"""Run a network forward layer by layer, keeping each layer's output, time and statistics."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from cnncli.nn.layers import Layer, trace


@dataclass
class ForwardRecord:
    """One leaf layer's call: its output and how long it took."""

    name: str
    type: str
    output: np.ndarray
    seconds: float

    @property
    def stats(self) -> dict[str, float]:
        """min / mean / max and the share of exact zeros of the output."""
        out = self.output
        if out.size == 0:
            return {"min": math.nan, "mean": math.nan, "max": math.nan, "zeros": math.nan}
        return {
            "min": float(out.min()),
            "mean": float(out.mean(dtype=np.float64)),
            "max": float(out.max()),
            "zeros": float(np.count_nonzero(out == 0)) / out.size,
        }


@dataclass
class ForwardResult:
    output: np.ndarray
    records: list[ForwardRecord]
    seconds: float
    #: The last leaf layer called (the one that made ``output`` in a Sequential model).
    last_layer: Layer | None = None
    #: The outputs of the blocks asked for by name (a Concat's concatenated map ...).
    blocks: dict[str, ForwardRecord] = field(default_factory=dict)

    @property
    def is_probability(self) -> bool:
        """Whether ``output`` (N, classes) is a probability distribution by construction.

        True when the last layer call is a Softmax over the class axis (dim 1) and its
        output is the model's output; then top-k shows the output itself, no second softmax.
        """
        from cnncli.nn.layers import Softmax

        layer = self.last_layer
        return (
            isinstance(layer, Softmax)
            and self.output.ndim == 2
            and bool(self.records)
            and self.records[-1].output is self.output
            and layer._dim(2) % 2 == 1
        )


def run_forward(model: Layer, x: np.ndarray, blocks: Collection[str] = ()) -> ForwardResult:
    """``model(x)`` with a record per leaf layer call, in execution order.

    A layer called twice (torchvision's BasicBlock uses its ``relu`` twice) gets
    ``#2`` after its name the second time, so names stay unique. The outputs of the
    containers named in ``blocks`` are kept too (``ForwardResult.blocks``), apart from the
    records: a block that joins paths makes an output no leaf layer makes.
    """
    import time

    names = {id(layer): path for path, layer in model.named_modules()}
    records: list[ForwardRecord] = []
    seen: dict[str, int] = {}
    last: list[Layer] = []
    kept: dict[str, ForwardRecord] = {}

    def tracer(layer: Layer, _x: np.ndarray, out: np.ndarray, seconds: float) -> None:
        if not layer.is_leaf:
            name = names.get(id(layer), "")
            if name in blocks:
                kept[name] = ForwardRecord(name, layer.type_name, out, seconds)
            return
        name = names.get(id(layer)) or layer.type_name
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name}#{seen[name]}"
        records.append(ForwardRecord(name, layer.type_name, out, seconds))
        last[:] = [layer]

    start = time.perf_counter()
    with trace(tracer):
        output = model(x)
    seconds = time.perf_counter() - start
    return ForwardResult(output, records, seconds, last[0] if last else None, kept)


def top_k(output: np.ndarray, k: int, probabilities: bool = False) -> list[list[tuple[int, float]]]:
    """The ``k`` most probable classes of each row of (N, classes), as (index, p).

    p is the softmax over the row of logits, in float64; when ``probabilities``
    (the output already is a distribution, e.g. after a Softmax layer) p is the
    output value itself.  Ties go to the lower index.
    """
    from cnncli.engine.activations import softmax

    scores = output.astype("float64")
    probs = scores if probabilities else softmax(scores, 1)
    k = min(k, output.shape[1])
    rows = []
    for n in range(output.shape[0]):
        order = sorted(range(output.shape[1]), key=lambda i: (-probs[n, i], i))[:k]
        rows.append([(int(i), float(probs[n, i])) for i in order])
    return rows
