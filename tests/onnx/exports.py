"""Exporting the zoo's torch twins to ONNX for the tests (torch, onnx and onnxruntime present).

torch.onnx's TorchScript exporter (``dynamo=False``) is used: it writes the same opset as the
dynamo one here (20) in a fraction of the time, and names each node by its module path. With
``TrainingMode.PRESERVE`` and the model in eval mode, it keeps BatchNormalization nodes (the
default EVAL mode folds them into the convolutions, so the file would hold no BatchNorm2d
rows to compare with torchinfo's); Dropout, a no-op in eval mode, is left out in both modes.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnncli.nn import zoo
from cnncli.nn.weights import load_weights
from tests.nn import torch_models


def scratch_dir() -> Path:
    """A folder in memory when the machine has one (the big exports are 250-550 MB)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="cnncli-onnx-", dir=base))


def torch_twin(name: str, seed: int = 0) -> Any:
    """The zoo model's torch twin in eval mode: seeded weights, or the shipped trained ones."""
    torch.manual_seed(seed)
    model = torch_models.build(name)
    packaged = zoo.packaged_weights(name)
    if packaged is not None:
        state = {k: torch.from_numpy(np.array(v)) for k, v in load_weights(packaged).items()}
        model.load_state_dict(state)
    else:  # BatchNorm's running statistics away from 0 and 1, so that they are tested
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def export(model: Any, x: torch.Tensor, path: Path, opset: int | None = None) -> Path:
    """``model`` as an ONNX file at ``path`` with a dynamic batch (at torch's default opset,
    or ``opset``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            str(path),
            dynamo=False,
            opset_version=opset,
            training=torch.onnx.TrainingMode.PRESERVE,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        )
    return path
