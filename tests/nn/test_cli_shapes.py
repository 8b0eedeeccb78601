"""`cnncli shapes` and `cnncli models` through the real entry point (in-process main)."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from cnncli.cli.main import main
from cnncli.errors import ResourceLimitError
from cnncli.nn import resources, zoo
from cnncli.nn.spec import load_model
from cnncli.nn.summary import summarize

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_shapes_alexnet_prints_the_totals(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run(capsys, "shapes", "alexnet")
    assert code == 0, err
    total = zoo.build("alexnet").num_params()
    assert f"{total:,}" in out  # 61,264,904 = sum of the layers' weights and biases
    macs = summarize(zoo.build("alexnet"), (3, 224, 224)).total_macs
    assert f"{macs:,}" in out and f"{2 * macs:,}" in out
    assert "[1, 256, 6, 6]" in out and "[1, 1000]" in out
    assert "1 MAC = one multiply-add" in out and "FLOPs (= 2 × MACs)" in out


def test_shapes_json_has_the_promised_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "shapes", "resnet18", "--json", "--batch", "2", "--input", "3x64x64")
    assert code == 0
    data = json.loads(out)
    for key in ("model", "input_shape", "total_params", "trainable_params", "total_macs", "layers"):
        assert key in data
    assert data["model"] == "resnet18"
    assert data["input_shape"] == [2, 3, 64, 64]
    assert data["total_params"] == zoo.build("resnet18").num_params()
    for layer in data["layers"]:
        for key in ("name", "type", "output_shape", "params", "macs"):
            assert key in layer
    assert data["layers"][-1]["output_shape"] == [2, 1000]


def test_too_small_input_prints_rows_up_to_the_failure_and_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run(capsys, "shapes", "lenet5", "--input", "1x8x8")
    assert code == 2
    assert "features.0" in out and "features.2" in out
    assert "features.3" in out and "does not fit" in out
    assert "features.4" not in out and "classifier.1" not in out
    assert "⌊(4 + 2·0 − 1·(5 − 1) − 1) / 1⌋ + 1 = 0" in out
    assert err.startswith("error: layer features.3 (Conv2d)")
    assert "Traceback" not in out + err


def test_depth_hides_nested_rows_and_shows_their_totals(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, "shapes", "resnet18", "--depth", "1")
    assert code == 0
    assert "layer1" in out and "layer1.0" not in out
    layer4 = zoo.build("resnet18")["layer4"].num_params()
    assert f"{layer4:,}" in out


def test_formulas_show_the_numbers(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run(capsys, "shapes", "alexnet", "--formulas")
    assert code == 0
    assert "⌊(224 + 2·2 − 1·(11 − 1) − 1) / 4⌋ + 1 = 55" in out


def test_spec_file_and_csv_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "rows.csv"
    code, _, err = run(capsys, "shapes", str(SAMPLES / "tinyvgg.toml"), "-o", str(target))
    assert code == 0, err
    lines = target.read_text().splitlines()
    assert lines[0].startswith("name,type,depth")
    assert lines[-1].startswith("11,Linear")


def test_unknown_model_lists_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "shapes", "lenet")
    assert code == 2
    assert err.startswith("error: unknown model 'lenet'")
    assert "lenet5" in err and "resnet18" in err


def test_bad_spec_is_one_error_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'input = [3, 8, 8]\n[[layers]]\ntype = "Conv2d"\nout_channels = -4\nkernel_size = 3\n'
    )
    code, out, err = run(capsys, "shapes", str(path))
    assert code == 2
    assert err.startswith("error: bad.toml: layers[0] (Conv2d): key 'out_channels'")
    assert "Traceback" not in out + err


def test_max_memory_refuses_with_estimate_and_limit(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "shapes", "vgg16", "--max-memory", "100M")
    assert code == 2
    assert "would need about" in err and "100.0 MiB" in err


def test_models_lists_every_zoo_entry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == list(zoo.ZOO)
    for row in rows:
        assert row["params"] == zoo.build(row["name"]).num_params()
        assert row["input"] == list(zoo.ZOO[row["name"]].input_shape)
        assert row["description"]


def test_models_table(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run(capsys, "models")
    assert code == 0
    assert "alexnet-torchvision" in out and "61,264,904" in out and "1x28x28" in out


def test_resource_guard_refuses_without_allocating(tmp_path: Path) -> None:
    spec = tmp_path / "huge.toml"
    spec.write_text(
        'input = [3, 64, 64]\n[[layers]]\ntype = "Conv2d"\nout_channels = 1000000000\nkernel_size = 3\n'
    )
    for model, chw, batch in (("alexnet", (3, 100_000, 100_000), 64), (str(spec), None, 1)):
        tracemalloc.start()
        net, declared = load_model(model)
        shape = chw or declared
        assert shape is not None
        s = summarize(net, shape, batch)
        with pytest.raises(ResourceLimitError) as info:
            resources.check_memory(resources.estimate(net, s), 8 * 1024**3)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 5_000_000  # bytes: shape arithmetic only, no arrays
        assert "would need about" in str(info.value) and "8.0 GiB" in str(info.value)


def test_parse_size() -> None:
    assert resources.parse_size("512M") == 512 * 1024**2
    assert resources.parse_size("2G") == 2 * 1024**3
    assert resources.parse_size("1.5GB") == int(1.5 * 1024**3)
    assert resources.parse_size("4096") == 4096
    for bad in ("", "lots", "-1G", "0"):
        with pytest.raises(Exception, match="max-memory"):
            resources.parse_size(bad)


def test_json_output_file_and_refusing_to_overwrite_the_spec(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "net.json"
    spec.write_text(
        '{"input": [1, 8, 8], "layers": [{"type": "Conv2d", "out_channels": 2, "kernel_size": 3}]}'
    )
    before = spec.read_bytes()
    code, _, err = run(capsys, "shapes", str(spec), "-o", str(spec))
    assert code == 2 and err.startswith("error: ") and spec.read_bytes() == before
    target = tmp_path / "rows.json"
    code, _, err = run(capsys, "shapes", str(spec), "-o", str(target), "--batch", "3")
    assert code == 0, err
    data = json.loads(target.read_text())
    assert data["total_params"] == 2 * 9 + 2 and data["output_shape"] == [3, 2, 6, 6]
    code, _, err = run(capsys, "shapes", str(spec), "-o", str(tmp_path / "rows.txt"))
    assert code == 2 and ".csv or .json" in err


def test_unreadable_spec_and_wrong_channels(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "shapes", str(tmp_path / "missing.toml"))
    assert code == 2 and err == f"error: {tmp_path / 'missing.toml'}: no such file\n"
    code, out, err = run(capsys, "shapes", "alexnet", "--input", "1x224x224")
    assert code == 2
    assert err.startswith("error: layer feature_extraction.0 (Conv2d)") and "C=1" in err
    assert "does not fit" in out
