"""Hostile and unsupported ONNX files: each is one ``error:`` line and exit status 2, before
anything is allocated or run; nothing is written."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx", reason="onnx is pinned in the test extra")

from onnx import TensorProto, helper

from tests.hostile.helpers import assert_clean, run_cli, snapshot
from tests.onnx.graphs import model, rng_array, save, small_cnn


def _fails(path: Path, *words: str, command: str = "forward") -> str:
    folder = path.parent
    before = snapshot(folder)
    out = folder / "out.npy"
    args = (
        ("forward", "-m", str(path), "-o", str(out))
        if command == "forward"
        else ("shapes", str(path))
    )
    r = run_cli(*args)
    assert_clean(r, "error")
    assert snapshot(folder) == before  # nothing written
    line = r.stderr.splitlines()[0]
    assert line.startswith("error: ")
    for word in words:
        assert word in line, line
    return line


def test_the_valid_model_runs(tmp_path: Path) -> None:
    """The base of the hostile cases runs, so that each failure below is its own mutation's."""
    path = save(small_cnn(), tmp_path / "m.onnx")
    r = run_cli("forward", "-m", str(path), "--batch", "2")
    assert_clean(r, "ok")
    assert "(2, 5)" in r.stdout


def test_show_layer_and_save_maps_work_as_for_a_zoo_model(tmp_path: Path) -> None:
    path = save(small_cnn(), tmp_path / "m.onnx")
    maps = tmp_path / "maps"
    r = run_cli("forward", "-m", str(path), "--show-layer", "conv", "--save-maps", str(maps))
    assert_clean(r, "ok")
    assert "conv" in r.stdout and "weights: the ones in m.onnx" in r.stderr
    assert (maps / "index.json").exists() and list(maps.glob("*conv*.png"))


def test_truncated_protobuf(tmp_path: Path) -> None:
    data = small_cnn().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) * 2 // 3])
    _fails(path, "cut.onnx", "not a valid ONNX file", command="shapes")


def test_tensor_declares_more_than_its_data(tmp_path: Path) -> None:
    m = small_cnn()
    w = next(t for t in m.graph.initializer if t.name == "w")
    w.dims[0] = 40  # 40×3×3×3 declared, 4×3×3×3 held
    _fails(save(m, tmp_path / "m.onnx"), "initializer 'w'", "1,080 values", "holds 108")


def test_billion_element_shape(tmp_path: Path) -> None:
    m = small_cnn()
    w = next(t for t in m.graph.initializer if t.name == "fw")
    del w.dims[:]
    w.dims.extend([1000, 1000, 1000])
    _fails(save(m, tmp_path / "m.onnx"), "initializer 'fw'", "1,000,000,000 values")
    m = small_cnn()
    w = next(t for t in m.graph.initializer if t.name == "fw")
    del w.dims[:]
    w.dims.extend([100_000, 100_000])
    _fails(save(m, tmp_path / "m2.onnx"), "10,000,000,000 elements")


def _external(m: object, location: str) -> None:
    w = next(t for t in m.graph.initializer if t.name == "w")  # type: ignore[attr-defined]
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)


def test_external_data_outside_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "w.bin").write_bytes(rng_array(4, 3, 3, 3).tobytes())
    m = small_cnn()
    _external(m, "../w.bin")
    _fails(save(m, folder / "m.onnx"), "'../w.bin'", "outside the model's folder")
    m = small_cnn()
    _external(m, str(tmp_path / "w.bin"))
    _fails(save(m, folder / "abs.onnx"), "outside the model's folder")


def test_external_data_symlink_out_of_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "w.bin").write_bytes(rng_array(4, 3, 3, 3).tobytes())
    os.symlink(tmp_path / "w.bin", folder / "w.bin")
    m = small_cnn()
    _external(m, "w.bin")
    _fails(save(m, folder / "m.onnx"), "leads out of the model's folder")


def test_external_data_inside_the_folder_is_read(tmp_path: Path) -> None:
    """The same weights beside the model give the same output as the embedded ones."""
    inside = rng_array(4, 3, 3, 3)
    (tmp_path / "w.bin").write_bytes(inside.tobytes())
    m = small_cnn()
    _external(m, "w.bin")
    path = save(m, tmp_path / "m.onnx")
    embedded = save(small_cnn(), tmp_path / "e.onnx")
    from cnncli.nn.onnx_import import load_onnx

    x = rng_array(1, 3, 8, 8, seed=5)
    np.testing.assert_array_equal(load_onnx(path)[0](x), load_onnx(embedded)[0](x))
    (tmp_path / "w.bin").write_bytes(inside.tobytes()[:100])  # shorter than declared
    _fails(path, "external data 'w.bin' has 100 bytes")


def test_graph_with_a_cycle(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Add", ["x", "b2"], ["a1"], name="first"),
        helper.make_node("Relu", ["a1"], ["b1"], name="second"),
        helper.make_node("Add", ["b1", "a1"], ["b2"], name="third"),
        helper.make_node("Relu", ["b2"], ["y"], name="out"),
    ]
    _fails(save(model(nodes, {}, [1, 3, 4, 4]), tmp_path / "m.onnx"), "cycle")


def test_node_input_that_never_appears(tmp_path: Path) -> None:
    nodes = [helper.make_node("Relu", ["ghost"], ["y"], name="relu")]
    _fails(save(model(nodes, {}, [1, 3, 4, 4]), tmp_path / "m.onnx"), "'relu'", "'ghost'")


def test_unsupported_operators_are_named_and_counted(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("LRN", ["x"], ["a"], name="lrn1", size=3),
        helper.make_node("Relu", ["a"], ["b"], name="relu"),
        helper.make_node("LRN", ["b"], ["c"], name="lrn2", size=3),
        helper.make_node("Erf", ["c"], ["y"], name="erf"),
    ]
    line = _fails(save(model(nodes, {}, [1, 3, 4, 4]), tmp_path / "m.onnx"), "2 operators")
    assert "LRN (node 'lrn1', 2 such nodes)" in line
    assert "Erf (node 'erf', 1 such node)" in line


def test_without_the_onnx_package_the_extra_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save(small_cnn(), tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    line = _fails(path, "onnx package", command="shapes")
    r = run_cli("shapes", str(path))
    assert "pip install 'cnncli[onnx]'" in r.stderr, line
