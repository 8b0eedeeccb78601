"""Training checkpoints: everything needed to continue a run exactly where it stopped.

One file, ``DIR/checkpoint.npz``, written whole or not at all at the end of each epoch and
when a run is stopped between two steps (Ctrl-C):

* ``weights/NAME``: the model's state_dict;
* ``optim/NAME/FIELD``: each parameter's optimizer arrays (momentum buffer, Adam's moments);
* ``meta.json`` (UTF-8 bytes as a uint8 array): the epoch, the optimizer's learning rate,
  hyperparameters and step counts, the schedule's epoch, the states of the shuffling
  generator and of every Dropout layer's generator, the history, and the run's settings;
  a run stopped inside an epoch adds ``partial``: that epoch's number, the shuffling
  generator's state when it began (its order is drawn again from it), the steps taken and
  the sums of their losses and correct answers.

Nothing in it is executed: arrays are read with pickles refused, the metadata is JSON.  A run
stopped after epoch k, or after step s of an epoch, and resumed ends with the same weights,
bit for bit, as a run that was never stopped.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cnncli.errors import InputFileError
from cnncli.nn.layers.base import Layer

FILE = "checkpoint.npz"


def _generators(model: Layer) -> dict[str, np.random.Generator]:
    found = {name: getattr(layer, "generator", None) for name, layer in model.named_modules()}
    return {k: g for k, g in found.items() if isinstance(g, np.random.Generator)}


def save(
    folder: Path,
    model: Layer,
    optimizer: Any,
    scheduler: Any,
    rng: np.random.Generator,
    epoch: int,
    history: list[dict[str, Any]],
    settings: dict[str, Any],
    partial: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint of the run after ``epoch`` (and ``partial``'s steps of the next)
    atomically; return its path."""
    from cnncli.io.write import atomic_write_bytes, npz_bytes

    arrays: dict[str, np.ndarray] = {f"weights/{k}": v for k, v in model.state_dict().items()}
    scalars: dict[str, dict[str, Any]] = {}
    for name, state in optimizer.state.items():
        for field, value in state.items():
            if isinstance(value, np.ndarray):
                arrays[f"optim/{name}/{field}"] = value
            else:
                scalars.setdefault(name, {})[field] = value
    meta = {
        "epoch": epoch,
        "settings": settings,
        "optimizer": {"lr": optimizer.lr, "initial_lr": optimizer.initial_lr,
                      "hyperparameters": optimizer.hyperparameters(), "scalars": scalars},
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "rng": rng.bit_generator.state,
        "dropout_rngs": {k: g.bit_generator.state for k, g in _generators(model).items()},
        "history": history,
        "partial": partial,
    }  # fmt: skip
    arrays["meta.json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE
    atomic_write_bytes(path, npz_bytes(arrays))
    return path


def load(folder: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(metadata, weights, optimizer arrays) of ``folder``'s checkpoint."""
    path = folder / FILE
    if not path.is_file():
        raise InputFileError(f"{folder}: no {FILE} here to resume from")
    try:
        with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta.json").tobytes().decode())
        if not isinstance(meta, dict):
            raise ValueError("its metadata is not an object")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"{path}: not a readable cnncli checkpoint ({exc})") from None
    required = {"epoch": int, "settings": dict, "optimizer": dict, "rng": dict,
                "dropout_rngs": dict, "history": list}  # fmt: skip
    bad = [k for k, kind in required.items() if not isinstance(meta.get(k), kind)]
    optimizer = meta.get("optimizer") if isinstance(meta, dict) else None
    if bad or not isinstance(optimizer, dict) or not {"lr", "initial_lr", "hyperparameters",
                                                      "scalars"} <= set(optimizer):  # fmt: skip
        raise InputFileError(
            f"{path}: not a cnncli checkpoint (its metadata lacks {bad or 'optimizer fields'})"
        )
    weights = {k[len("weights/") :]: v for k, v in arrays.items() if k.startswith("weights/")}
    optim = {k[len("optim/") :]: v for k, v in arrays.items() if k.startswith("optim/")}
    return meta, weights, optim


def restore(
    meta: dict[str, Any],
    weights: dict[str, np.ndarray],
    optim_arrays: dict[str, np.ndarray],
    model: Layer,
    optimizer: Any,
    scheduler: Any,
    rng: np.random.Generator,
) -> None:
    """Put the model, optimizer, schedule and generators back as the checkpoint has them."""
    model.load_state_dict(weights)
    state: dict[str, dict[str, Any]] = {k: dict(v) for k, v in meta["optimizer"]["scalars"].items()}
    for key, value in optim_arrays.items():
        name, _, field = key.rpartition("/")
        state.setdefault(name, {})[field] = value
    optimizer.load_state_dict({"lr": meta["optimizer"]["lr"],
                               "initial_lr": meta["optimizer"]["initial_lr"],
                               "hyperparameters": meta["optimizer"]["hyperparameters"],
                               "state": state})  # fmt: skip
    if scheduler is not None and meta["scheduler"] is not None:
        scheduler.load_state_dict(meta["scheduler"])
    rng.bit_generator.state = meta["rng"]
    for name, generator in _generators(model).items():
        if name in meta["dropout_rngs"]:
            generator.bit_generator.state = meta["dropout_rngs"][name]
