"""Shared options: input forms, --show/--channels/--json, saving with -o, plain text, pipes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnncli.examples import SEED_POOL_INPUT

COMMANDS = ["conv", "pool", "pad", "flatten", "act", "linear", "dropout"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_runs_on_its_built_in_example(cli, command: str) -> None:
    r = cli(command)
    assert r.code == 0, r.stderr
    assert "no INPUT given" in r.stdout
    assert "\x1b[" not in r.stdout  # NO_COLOR and a non-terminal: plain text
    assert max(len(line) for line in r.stdout.splitlines()) <= 100


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_json_is_one_object(cli, command: str) -> None:
    r = cli(command, "--json")
    assert r.code == 0, r.stderr
    data = json.loads(r.stdout)
    assert {"op", "parameters", "input", "output"} <= set(data)
    assert np.asarray(data["output"]["values"]).shape == tuple(data["output"]["shape"])
    assert "no INPUT given" in r.stderr  # notes leave stdout to the JSON


def test_without_no_color_a_pipe_still_gets_no_escape_codes(cli) -> None:
    r = cli("conv", env={"NO_COLOR": None})  # type: ignore[dict-item]
    assert r.code == 0 and "\x1b[" not in r.stdout


def test_image_input_rgb_gray_and_unit_scale(cli, tmp_path: Path) -> None:
    rgb = np.zeros((6, 5, 3), dtype=np.uint8)
    rgb[:, :, 0] = 200
    rgb[2:4, :, 1] = 100
    path = tmp_path / "img.png"
    Image.fromarray(rgb).save(path)
    out = tmp_path / "y.npy"
    assert cli("pad", str(path), "-p", "0", "-o", str(out)).code == 0
    np.testing.assert_array_equal(np.load(out), rgb.transpose(2, 0, 1)[None].astype(np.float32))
    assert cli("pad", str(path), "-p", "0", "--gray", "-o", str(out)).code == 0
    assert np.load(out).shape == (1, 1, 6, 5)
    assert cli("pad", str(path), "-p", "0", "--scale", "unit", "-o", str(out)).code == 0
    np.testing.assert_allclose(np.load(out), rgb.transpose(2, 0, 1)[None] / 255, rtol=1e-6)


def test_layout_hwc_key_and_csv_input(cli, tmp_path: Path) -> None:
    hwc = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    np.save(tmp_path / "hwc.npy", hwc)
    out = tmp_path / "y.npy"
    r = cli("pad", str(tmp_path / "hwc.npy"), "-p", "0", "--layout", "hwc", "-o", str(out))
    assert r.code == 0, r.stderr
    np.testing.assert_array_equal(np.load(out), hwc.transpose(2, 0, 1)[None])
    np.savez(tmp_path / "two.npz", a=np.ones((2, 2), np.float32), b=SEED_POOL_INPUT)
    assert cli("pool", str(tmp_path / "two.npz"), "--key", "b", "-o", str(out)).code == 0
    np.testing.assert_array_equal(np.load(out)[0, 0], [[9, 7], [8, 8]])
    csv = tmp_path / "m.csv"
    csv.write_text("\n".join(",".join(str(int(v)) for v in row) for row in SEED_POOL_INPUT) + "\n")
    assert cli("pool", str(csv), "-o", str(out)).code == 0
    np.testing.assert_array_equal(np.load(out)[0, 0], [[9, 7], [8, 8]])


def test_stdin_is_read_only_with_dash(cli, tmp_path: Path) -> None:
    out = tmp_path / "y.npy"
    text = "\n".join(",".join(str(int(v)) for v in row) for row in SEED_POOL_INPUT) + "\n"
    r = cli("pool", "-", "-o", str(out), input=text)
    assert r.code == 0, r.stderr
    np.testing.assert_array_equal(np.load(out)[0, 0], [[9, 7], [8, 8]])
    r = cli("pool", input="1,2\n3,4\n")  # no '-': the built-in example, stdin untouched
    assert "no INPUT given" in r.stdout


def test_allow_nonfinite(cli, npy) -> None:
    x = np.ones((1, 1, 3, 3), np.float32)
    x[0, 0, 1, 2] = np.nan
    r = cli("pool", npy(x))
    assert r.code == 2 and r.stderr.startswith("error:")
    r = cli("act", npy(x), "--allow-nonfinite", "--json")
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["output"]["values"][0][0][1][2] is None


def test_show_modes_and_channels(cli, npy) -> None:
    x = np.random.default_rng(0).normal(size=(1, 6, 3, 3)).astype(np.float32)
    path = npy(x)
    table = cli("act", path, "--show", "table").stdout
    assert "output[0, 0]" in table and "showing 4 of 6 maps" in table and "─" in table
    heat = cli("act", path, "--show", "heatmap").stdout
    assert "heat map of 3×3" in heat
    stats = cli("act", path, "--show", "stats").stdout
    assert "min " in stats and "heat map" not in stats and "─" not in stats
    none = cli("act", path, "--show", "none").stdout
    assert "output[0, 0]" not in none and "relu" in none  # the header stays
    picked = cli("act", path, "--channels", "5").stdout
    assert "output[0, 5]" in picked and "output[0, 0]" not in picked
    assert cli("act", path, "--channels", "6").code == 2


def test_big_input_becomes_a_heat_map_that_fits(cli, npy) -> None:
    x = np.random.default_rng(0).normal(size=(1, 1, 64, 64)).astype(np.float32)
    r = cli("conv", npy(x), "-k", "box")
    assert r.code == 0, r.stderr
    assert "heat map of 62×62" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 100
    narrow = cli("conv", npy(x), "-k", "box", env={"COLUMNS": "50"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 50


@pytest.mark.parametrize("ext", [".npy", ".npz", ".csv", ".json", ".png"])
def test_output_formats(cli, tmp_path: Path, ext: str) -> None:
    out = tmp_path / f"y{ext}"
    r = cli("pool", "--mode", "avg", "-o", str(out))
    assert r.code == 0, r.stderr
    assert out.exists() and out.stat().st_size > 0
    expected = np.array([[4.75, 4.25], [6.25, 4.25]], dtype=np.float32)
    if ext == ".npy":
        np.testing.assert_array_equal(np.load(out)[0, 0], expected)
    elif ext == ".npz":
        with np.load(out) as z:
            np.testing.assert_array_equal(z[z.files[0]].reshape(2, 2), expected)
    elif ext == ".png":
        with Image.open(out) as im:
            assert im.size == (2, 2)
            pixels = np.asarray(im.convert("L"), dtype=np.float64)
        assert pixels.max() == 255 and pixels.min() == 0  # minmax: 4.25 → 0, 6.25 → 255
        assert pixels[1, 0] == 255
    else:
        assert "4.75" in out.read_text()
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


def test_png_of_several_maps_is_readable(cli, tmp_path: Path) -> None:
    out = tmp_path / "maps.png"
    r = cli("conv", "-k", "sobel", "--png-scale", "abs", "-o", str(out))
    assert r.code == 0, r.stderr
    with Image.open(out) as im:
        im.load()
        assert im.size[0] > 0 and im.size[1] > 0


def test_output_path_equal_to_input_is_refused(cli, npy) -> None:
    path = npy(SEED_POOL_INPUT[None, None])
    before = Path(path).read_bytes()
    r = cli("pool", path, "-o", path)
    assert r.code == 2 and r.stderr.startswith("error:")
    assert Path(path).read_bytes() == before


def test_dash_output_is_npy_on_stdout(cli) -> None:
    r = cli("pool", "-o", "-")
    assert r.code == 0, r.stderr
    assert r.stdout_bytes.startswith(b"\x93NUMPY")
    import io

    np.testing.assert_array_equal(np.load(io.BytesIO(r.stdout_bytes))[0, 0], [[9, 7], [8, 8]])
    assert cli("pool", "-o", "-", "--json").code == 2


def _run(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cnncli", *args], input=stdin, capture_output=True, timeout=120
    )


def test_pipe_pad_into_conv_round_trips(tmp_path: Path) -> None:
    csv = tmp_path / "x.csv"
    csv.write_text("\n".join(",".join(str(int(v)) for v in row) for row in SEED_POOL_INPUT) + "\n")
    padded = _run(["pad", str(csv), "-p", "1", "-o", "-"])
    assert padded.returncode == 0, padded.stderr
    out = tmp_path / "y.npy"
    conv = _run(["conv", "-", "-k", "sobel-x", "-o", str(out)], stdin=padded.stdout)
    assert conv.returncode == 0, conv.stderr
    xp = np.pad(SEED_POOL_INPUT, 1)
    k = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
    expected = np.array(
        [[(xp[i : i + 3, j : j + 3] * k).sum() for j in range(4)] for i in range(4)]
    )
    np.testing.assert_array_equal(np.load(out)[0, 0], expected)
    assert b"Traceback" not in padded.stderr + conv.stderr


def test_saved_results_equal_the_engine(cli, tmp_path: Path) -> None:
    from cnncli import engine
    from cnncli.io import builtin
    from cnncli.nn import kernels as bank

    x = builtin.seed_pool_matrix().array
    digit = builtin.digit8().array
    sob = np.stack([k.array(np.float32) for k in bank.resolve("sobel")])[:, None]
    cases = {
        "conv": (["conv", "-p", "1", "-s", "2"], engine.conv2d(digit, sob, None, 2, 1)),
        "pool": (["pool", "--mode", "avg", "-k", "3", "-s", "1"], engine.avg_pool2d(x, 3, 1)),
        "pad": (
            ["pad", "-p", "2,1", "--mode", "circular"],
            engine.pad(x, (1, 1, 2, 2), "circular"),
        ),
        "act": (["act", "-f", "sigmoid"], engine.sigmoid(x)),
        "flatten": (["flatten"], engine.flatten(x)),
        "dropout": (["dropout", "--eval"], engine.dropout(x, 0.5, training=False)),
    }
    for name, (args, expected) in cases.items():
        out = tmp_path / f"{name}.npy"
        r = cli(*args, "-o", str(out))
        assert r.code == 0, (name, r.stderr)
        saved = np.load(out)
        assert saved.dtype == expected.dtype, name
        np.testing.assert_array_equal(saved, expected, err_msg=name)


def test_closed_stdout_ends_quietly() -> None:
    proc = subprocess.run(
        f"{sys.executable} -m cnncli kernels | head -1",
        shell=True,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 0
    assert b"Traceback" not in proc.stderr and proc.stderr == b""


def test_dash_output_with_show_draws_on_stderr(cli) -> None:
    r = cli("pool", "-o", "-", "--show", "table")
    assert r.code == 0, r.stderr
    assert r.stdout_bytes.startswith(b"\x93NUMPY")
    assert "max_pool2d" in r.stderr and "output[0, 0]" in r.stderr
