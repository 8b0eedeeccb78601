"""`cnncli forward` through the real entry point: outputs, weights, inputs, files and errors."""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cnncli.cli.main import main
from cnncli.io.network import safe_file_name
from cnncli.nn import layers as L  # noqa: N812
from cnncli.nn import zoo

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.fixture
def lenet_weights(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A complete lenet5 state_dict (cnncli's own init, seed 3) as .npz."""
    state = L.initialize(zoo.build("lenet5"), seed=3).state_dict()
    path = tmp_path / "lenet.npz"
    np.savez(path, **state)
    return path, state


def test_the_seeds_program_gives_8_by_1000(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "160")
    code, out, err = run(capsys, "forward", "-m", "alexnet", "--batch", "8", "--top", "1")
    assert code == 0, err
    assert "output shape: (8, 1000)" in out
    assert "AlexNet(\n  (feature_extraction): Sequential(" in out  # print(model)
    assert "feature_extraction.12" in out and "(8, 256, 6, 6)" in out
    assert "not predictions" in err


def test_json_output_and_top_k(capsys: pytest.CaptureFixture[str], lenet_weights: Any) -> None:
    path, state = lenet_weights
    code, out, _ = run(
        capsys, "forward", "-m", "lenet5", "-w", str(path), "--batch", "2", "--top", "3", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["output_shape"] == [2, 10]
    assert [layer["name"] for layer in data["layers"]][:3] == [
        "features.0",
        "features.1",
        "features.2",
    ]
    probs = [row["probability"] for row in data["top"][0]]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True)
    # recompute: the same input (seed 0) through the same weights
    net = zoo.build("lenet5")
    net.load_state_dict(state)
    x = np.random.default_rng([0, 1]).standard_normal((2, 1, 28, 28), dtype=np.float32)
    logits = net.eval()(x).astype(np.float64)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert data["top"][0][0]["index"] == int(np.argmax(p[0]))
    assert abs(data["top"][0][0]["probability"] - float(p[0].max())) < 1e-6


def test_output_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lenet_weights: Any
) -> None:
    path, _ = lenet_weights
    npy, npz = tmp_path / "out.npy", tmp_path / "all.npz"
    assert run(capsys, "forward", "-m", "lenet5", "-w", str(path), "-o", str(npy))[0] == 0
    assert run(capsys, "forward", "-m", "lenet5", "-w", str(path), "-o", str(npz))[0] == 0
    final = np.load(npy, allow_pickle=False)
    assert final.shape == (1, 10)
    with np.load(npz, allow_pickle=False) as every:
        assert "features.0" in every.files and "classifier.5" in every.files
        assert every["features.0"].shape == (1, 6, 28, 28)
        assert np.array_equal(every["output"], final)


def test_npy_input_is_used_as_it_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lenet_weights: Any
) -> None:
    weights, state = lenet_weights
    x = np.random.default_rng(9).standard_normal((3, 1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code, _, err = run(
        capsys,
        "forward",
        str(tmp_path / "x.npy"),
        "-m",
        "lenet5",
        "-w",
        str(weights),
        "-o",
        str(tmp_path / "y.npy"),
    )
    assert code == 0, err
    net = zoo.build("lenet5")
    net.load_state_dict(state)
    assert np.allclose(np.load(tmp_path / "y.npy"), net.eval()(x), rtol=0, atol=1e-6)


def test_image_input_is_converted_resized_and_normalised(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), "RGB").save(
        tmp_path / "img.png"
    )
    code, out, err = run(
        capsys, "forward", str(tmp_path / "img.png"), "-m", "tinyvgg", "--normalize", "imagenet"
    )
    assert code == 0, err
    assert "resized from 30x40 to 64x64" in err
    assert "normalised" in err and "0–1" in err
    assert "output shape: (1, 10)" in out
    code, _, err = run(capsys, "forward", str(tmp_path / "img.png"), "-m", "lenet5")
    assert code == 0, err  # RGB converted to the model's one channel


def test_weight_mismatches_are_reported_together(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lenet_weights: Any
) -> None:
    _, state = lenet_weights
    bad = dict(state)
    del bad["features.0.bias"]
    bad["features.3.weight"] = np.zeros((16, 6, 3, 3), dtype=np.float32)
    bad["extra.weight"] = np.zeros(3, dtype=np.float32)
    np.savez(tmp_path / "bad.npz", **bad)
    code, _, err = run(capsys, "forward", "-m", "lenet5", "-w", str(tmp_path / "bad.npz"))
    assert code == 2
    line = err.splitlines()[0]
    assert line.startswith("error: the weights do not fit the model")
    assert "1 missing key (features.0.bias)" in line
    assert "1 unexpected key (extra.weight)" in line
    assert "features.3.weight: file (16, 6, 3, 3) vs model (16, 6, 5, 5)" in line


def test_pickled_weights_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    np.savez(tmp_path / "evil.npz", **{"features.0.weight": np.array([{"a": 1}], dtype=object)})
    code, _, err = run(capsys, "forward", "-m", "lenet5", "-w", str(tmp_path / "evil.npz"))
    assert code == 2 and err.startswith("error: ") and "pickle" in err


def test_safetensors_weights(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lenet_weights: Any
) -> None:
    st = pytest.importorskip("safetensors.numpy", reason="the optional safetensors extra")
    npz, state = lenet_weights
    path = tmp_path / "w.safetensors"
    st.save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    assert run(capsys, "forward", "-m", "lenet5", "-w", str(path), "-o", str(a))[0] == 0
    assert run(capsys, "forward", "-m", "lenet5", "-w", str(npz), "-o", str(b))[0] == 0
    assert np.array_equal(np.load(a), np.load(b))


def test_safetensors_with_a_lying_header_length(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "lie.safetensors"
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    code, _, err = run(capsys, "forward", "-m", "lenet5", "-w", str(path))
    assert code == 2 and "header claims" in err
    path.write_bytes(struct.pack("<Q", 2) + b"{}" + b"\0" * 4)
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}
    ).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    code, _, err = run(capsys, "forward", "-m", "lenet5", "-w", str(path))
    assert code == 2 and "outside the data" in err


def test_missing_safetensors_extra_names_the_install_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = b"{}"
    path = tmp_path / "w.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    code, _, err = run(capsys, "forward", "-m", "lenet5", "-w", str(path))
    assert code == 2
    assert "safetensors" in err and "pip install" in err


def test_wrong_input_channels(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 28, 28), dtype=np.float32))
    code, _, err = run(capsys, "forward", str(tmp_path / "x.npy"), "-m", "lenet5")
    assert code == 2
    assert err.startswith("error: layer features.0 (Conv2d)") and "C=3" in err


def test_too_small_input_names_the_layer_and_formula(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "forward", "-m", "lenet5", "--input", "1x8x8")
    assert code == 2
    assert "features.3" in err and "⌊(4 + 2·0 − 1·(5 − 1) − 1) / 1⌋ + 1 = 0" in err


def test_unknown_model_and_bad_spec(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "forward", "-m", "resnet19")
    assert code == 2 and "resnet18" in err
    spec = tmp_path / "s.json"
    spec.write_text('{"input": [1, 8, 8], "layers": [{"type": "Conv2d", "out_channels": 2}]}')
    code, _, err = run(capsys, "forward", "-m", str(spec))
    assert code == 2 and "layers[0] (Conv2d)" in err and "'kernel_size'" in err


def test_resource_guard_refuses_a_huge_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "forward", "-m", "alexnet", "--input", "3x100000x100000", "--batch", "64"
    )
    assert code == 2
    assert "would need about" in err and "TiB" in err and "limit" in err


def test_spec_forward_with_residual_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "forward", "-m", str(SAMPLES / "resnet_mini.toml"), "--batch", "2")
    assert code == 0, err
    assert "output shape: (2, 10)" in out and "block3.relu" in out


def test_save_maps_writes_labelled_grids_and_an_index(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "maps"
    code, _, err = run(capsys, "forward", "-m", "tinyvgg", "--save-maps", str(folder))
    assert code == 0, err
    index = json.loads((folder / "index.json").read_text())
    assert [entry["layer"] for entry in index] == [
        "conv_block_1.0", "conv_block_1.2", "conv_block_1.4",
        "conv_block_2.0", "conv_block_2.2", "conv_block_2.4",
    ]  # fmt: skip
    for entry in index:
        assert (folder / entry["file"]).read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [e["file"] for e in index] + ["index.json"]
    )


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path", "a/b\\c", "..", ".hidden", ""])
def test_layer_names_become_safe_file_names(name: str) -> None:
    safe = safe_file_name(name)
    assert "/" not in safe and "\\" not in safe and ".." not in safe
    assert safe and not safe.startswith(".")


def test_labels_name_the_top_classes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lenet_weights: Any
) -> None:
    path, _ = lenet_weights
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"digit {i}" for i in range(10)) + "\n")
    code, out, _ = run(
        capsys,
        "forward",
        "-m",
        "lenet5",
        "-w",
        str(path),
        "--labels",
        str(labels),
        "--json",
        "--top",
        "10",
    )
    assert code == 0
    top = json.loads(out)["top"][0]
    assert sorted(row["index"] for row in top) == list(range(10))
    assert all(row["label"] == f"digit {row['index']}" for row in top)
    assert abs(sum(row["probability"] for row in top) - 1.0) < 1e-6


def test_npz_member_with_a_lying_header_is_refused_before_reading(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)}
    )
    with zipfile.ZipFile(tmp_path / "lie.npz", "w") as zf:
        zf.writestr("features.0.weight.npy", header.getvalue() + b"\0" * 16)
    code, _, err = run(capsys, "forward", "-m", "lenet5", "-w", str(tmp_path / "lie.npz"))
    assert code == 2 and "header claims shape (1000000000000,)" in err


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04broken", b"\x00" * 64])
def test_damaged_weight_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "w.npz"
    path.write_bytes(content)
    code, _, err = run(capsys, "forward", "-m", "lenet5", "-w", str(path))
    assert code == 2 and err.startswith("error: w.npz is not a readable .npz file")
