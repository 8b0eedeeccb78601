"""Every zoo model exported from its torch twin runs through ``cnncli forward -m x.onnx`` as
ONNX Runtime and PyTorch run it, and ``shapes x.onnx`` gives torchinfo's rows.

The four networks with a 4096-wide classifier (alexnet, alexnet-torchvision, vgg11, vgg16)
are exported once each, at batch 1 and their one size (their feature size is fixed by
``x.view(N, 256*6*6)`` or by an adaptive pool that torch.onnx exports only when it divides);
the small ones at batch 2.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the PyTorch oracle is installed by .ci/run")
pytest.importorskip("onnx", reason="onnx is pinned in the test extra")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is pinned in the test extra")
torchinfo = pytest.importorskip("torchinfo", reason="torchinfo is installed by .ci/run")

from cnncli.nn import zoo  # noqa: E402
from cnncli.nn.onnx_import import load_onnx  # noqa: E402
from cnncli.nn.summary import summarize  # noqa: E402
from tests.hostile.helpers import run_cli  # noqa: E402
from tests.onnx.exports import export, scratch_dir, torch_twin  # noqa: E402

#: These end in an adaptive (1, 1) pool, so a small input keeps them fast (32 is the
#: smallest size whose maps stay at least 1×1 through their five halvings).
SIZE = {
    "resnet18": (3, 64, 64),
    "resnet50": (3, 32, 32),
    "densenet121": (3, 32, 32),
    "googlenet": (3, 32, 32),
    "squeezenet1_1": (3, 64, 64),
    "mobilenet_v2": (3, 32, 32),
}
BIG = {"alexnet", "alexnet-torchvision", "vgg11", "vgg16"}
#: In eval mode torch.onnx writes no Dropout node (it is the identity), and an adaptive
#: average pool whose output divides its input becomes a plain AveragePool (here 7×7 → 7×7
#: and 6×6 → 6×6, a 1×1 window): the file does not know the module's class.
EXPORTED_AS = {"AdaptiveAvgPool2d": "AvgPool2d"}


def _torchinfo_rows(info: object) -> list[tuple[object, ...]]:
    rows = []
    for layer in info.summary_list:  # type: ignore[attr-defined]
        if not layer.is_leaf_layer or layer.class_name == "Dropout":
            continue
        kind = layer.class_name
        if kind in EXPORTED_AS and tuple(layer.output_size[2:]) != (1, 1):
            kind = EXPORTED_AS[kind]  # a (1, 1) output is exported as GlobalAveragePool
        rows.append((kind, list(layer.output_size), layer.num_params, layer.macs))
    return rows


@pytest.mark.parametrize("name", list(zoo.ZOO))
def test_zoo_model_through_onnx_equals_onnxruntime_pytorch_and_torchinfo(
    name: str, tmp_path: Path
) -> None:
    entry = zoo.ZOO[name]
    batch = 1 if name in BIG else 2
    chw_expected = SIZE.get(name, entry.input_shape)
    shape = (batch, *chw_expected)
    model = torch_twin(name)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    folder = scratch_dir()
    try:
        path = export(model, x, folder / f"{name}.onnx")
        with torch.no_grad():
            expected = model(x).numpy()
        session = ort.InferenceSession(str(path))
        by_ort = session.run(None, {"input": x.numpy()})[0]
        np.save(tmp_path / "x.npy", x.numpy())
        y = tmp_path / "y.npy"
        r = run_cli("forward", str(tmp_path / "x.npy"), "-m", str(path), "-o", str(y))
        assert r.code == 0, r.stderr
        assert f"weights: the ones in {name}.onnx" in r.stderr and "random" not in r.stderr
        ours = np.load(y)
        scale = np.abs(expected).max()
        assert ours.shape == expected.shape
        assert np.abs(ours - by_ort).max() <= 1e-4 * scale
        assert np.abs(ours - expected).max() <= 1e-4 * scale

        net, chw = load_onnx(path)  # what shapes and forward load
        assert chw == chw_expected  # the size the graph declares
        summary = summarize(net, chw, batch)
        ours_rows = [
            (r.type, list(r.output_shape or ()), r.params, r.macs)
            for r in summary.leaves
            if not r.functional
        ]
        theirs = torchinfo.summary(model, input_size=shape, verbose=0, device="cpu")
        assert ours_rows == _torchinfo_rows(theirs)
        assert summary.total_params == theirs.total_params
        assert summary.total_macs == theirs.total_mult_adds
        # the command itself, on every model (a big file loads in seconds)
        r = run_cli("shapes", str(path), "--batch", str(batch), "--json")
        assert r.code == 0, r.stderr
        data = json.loads(r.stdout)
        assert data["total_params"] == theirs.total_params
        assert data["total_macs"] == theirs.total_mult_adds
        assert data["output_shape"] == list(expected.shape)
        leaves = [row for row in data["layers"] if row["is_leaf"]]
        assert [row["output_shape"] for row in leaves] == [
            list(r.output_shape or ()) for r in summary.leaves
        ]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
