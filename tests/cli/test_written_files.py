"""Issue 15, items 5–7: files say where they went, colour stays colour, no binary on a terminal.

* every command that writes a file says ``wrote PATH (what)`` on stderr;
* ``forward --save-maps``: titled grids, the channels drawn chosen (--max-channels)
  and stated, activation layers on request (--maps-layers);
* a 3-channel result that is an RGB image's channels is a colour PNG (--png-mode);
* ``-o -`` is refused when standard output is a terminal, and works through a pipe.
"""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _wrote(stderr: str, path: Path | str) -> str:
    """The text in parentheses of the ``wrote PATH (...)`` line for ``path`` (exactly one)."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith(f"wrote {path} (")]
    assert len(lines) == 1, stderr
    assert lines[0].endswith(")")
    return lines[0][len(f"wrote {path} (") : -1]


@pytest.fixture
def rgb_png(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A small RGB photo-like image (H 9, W 12) with every channel different."""
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, size=(9, 12, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels, "RGB").save(path)
    return path, pixels


# ------------------------------------------------------------ wrote PATH (what)


@pytest.mark.parametrize(
    ("args", "ext", "what"),
    [
        (["conv"], ".npy", "NumPy .npy, float32 (1, 2, 26, 26)"),
        (["pool"], ".csv", "CSV, float32 (1, 1, 2, 2), 1 map(s)"),
        (["pad", "-p", "1"], ".json", "JSON, float32 (1, 1, 6, 6)"),
        (["act", "--grad", "ones"], ".npz", "NumPy .npz, output float32 (1, 1, 4, 4), grad_input"),
        (["flatten"], ".npy", "NumPy .npy, float32 (1, 16)"),
        (["linear"], ".npy", "NumPy .npy, float32 (1, 3)"),
        (["dropout"], ".png", "PNG, grayscale 4×4, min 0 → 0"),
        (["conv", "-k", "sobel"], ".png", "PNG, a grid of 2 maps, each scaled on its own"),
    ],
)
def test_every_tensor_command_says_what_it_wrote(
    cli, tmp_path: Path, args: list[str], ext: str, what: str
) -> None:
    out = tmp_path / f"y{ext}"
    r = cli(*args, "-o", str(out))
    assert r.code == 0, r.stderr
    assert out.exists()
    assert _wrote(r.stderr, out).startswith(what)
    assert "wrote" not in r.stdout


def test_wrote_goes_to_stderr_with_json_too(cli, tmp_path: Path) -> None:
    out = tmp_path / "y.npy"
    r = cli("pool", "--json", "-o", str(out))
    assert r.code == 0, r.stderr
    json.loads(r.stdout)  # stdout is the JSON object alone
    assert _wrote(r.stderr, out) == "NumPy .npy, float32 (1, 1, 2, 2)"


def test_forward_and_shapes_say_what_they_wrote(cli, tmp_path: Path) -> None:
    npy, npz, rows = tmp_path / "out.npy", tmp_path / "all.npz", tmp_path / "rows.csv"
    r = cli("forward", "-m", "lenet5", "--top", "0", "-o", str(npy))
    assert r.code == 0, r.stderr
    assert _wrote(r.stderr, npy) == "NumPy .npy, float32 (1, 10)"
    r = cli("forward", "-m", "lenet5", "--top", "0", "-o", str(npz))
    assert r.code == 0, r.stderr
    assert "the output and" in _wrote(r.stderr, npz)
    with np.load(npz) as z:
        assert "output" in z.files and len(z.files) > 5
    r = cli("shapes", "lenet5", "-o", str(rows))
    assert r.code == 0, r.stderr
    n_rows = len(rows.read_text().splitlines()) - 1
    assert _wrote(r.stderr, rows) == f"CSV, one row for each of {n_rows} layers"


def test_a_failed_write_says_no_wrote(cli, tmp_path: Path) -> None:
    r = cli("pool", "-o", str(tmp_path / "missing" / "y.npy"))
    assert r.code == 2
    assert "wrote" not in r.stderr and r.stderr.startswith("error:")


# ------------------------------------------------------------ --save-maps


def test_save_maps_states_the_channels_and_titles_each_grid(cli, tmp_path: Path) -> None:
    folder = tmp_path / "maps"
    r = cli("forward", "-m", "tinyvgg", "--top", "0", "--save-maps", str(folder))
    assert r.code == 0, r.stderr
    index = json.loads((folder / "index.json").read_text())
    assert [e["type"] for e in index] == ["Conv2d", "Conv2d", "MaxPool2d"] * 2
    for e in index:  # tinyvgg has 10 channels: all drawn, and said so
        assert e["channels"] == e["maps_shown"] == 10
        what = _wrote(r.stderr, folder / e["file"])
        assert what == f"PNG grid: {e['type']}, all 10 channels"
    assert _wrote(r.stderr, folder / "index.json") == "index of the 6 PNG grids"
    assert "--max-channels" not in r.stderr  # nothing was left out


def test_max_channels_is_chosen_and_stated(cli, tmp_path: Path) -> None:
    folder = tmp_path / "maps"
    r = cli(
        "forward", "-m", "tinyvgg", "--top", "0", "--save-maps", str(folder),
        "--max-channels", "3",
    )  # fmt: skip
    assert r.code == 0, r.stderr
    index = json.loads((folder / "index.json").read_text())
    assert all(e["maps_shown"] == 3 and e["channels"] == 10 for e in index)
    assert _wrote(r.stderr, folder / index[0]["file"]) == "PNG grid: Conv2d, channels 0-2 of 10"
    assert "--save-maps drew the first 3 channels of 6 layer(s)" in r.stderr
    # three tiles: a 2-column grid of 2 rows, narrower than the grid of all ten
    with Image.open(folder / index[0]["file"]) as few:
        few_size = few.size
    cli("forward", "-m", "tinyvgg", "--top", "0", "--save-maps", str(tmp_path / "all"))
    with Image.open(tmp_path / "all" / index[0]["file"]) as full:
        assert full.size[1] > few_size[1]


def test_maps_layers_adds_the_activations(cli, tmp_path: Path) -> None:
    folder = tmp_path / "maps"
    r = cli(
        "forward", "-m", "tinyvgg", "--top", "0", "--save-maps", str(folder),
        "--maps-layers", "act",
    )  # fmt: skip
    assert r.code == 0, r.stderr
    index = json.loads((folder / "index.json").read_text())
    assert [e["type"] for e in index] == ["ReLU"] * 4
    r = cli("forward", "-m", "tinyvgg", "--top", "0", "--save-maps", str(folder),
            "--maps-layers", "all")  # fmt: skip
    assert len(json.loads((folder / "index.json").read_text())) == 10
    bad = cli("forward", "-m", "lenet5", "--save-maps", str(folder), "--maps-layers", "relu")
    assert bad.code == 2 and bad.stderr.startswith("error: --maps-layers takes conv, pool")


def test_save_maps_png_of_lenet_is_a_titled_grid(cli, tmp_path: Path) -> None:
    folder = tmp_path / "maps"
    digit = Path(__file__).resolve().parents[2] / "samples" / "digit8.png"
    r = cli("forward", str(digit), "-m", "lenet5", "--top", "0", "--save-maps", str(folder))
    assert r.code == 0, r.stderr
    first = json.loads((folder / "index.json").read_text())[0]
    with Image.open(folder / first["file"]) as img:
        arr = np.asarray(img)
    from cnncli.io.png import GRID_PAD, grid_font, grid_layout

    labels = [f"ch {c}" for c in range(6)]
    title = f"{first['layer']} (Conv2d), sample 0: all 6 channels, 28x28 each"
    lay = grid_layout(6, (28, 28), labels, title, grid_font())
    assert arr.shape == (lay.height, lay.width)
    assert lay.labels == tuple(labels) and lay.title == title  # nothing had to be cut
    assert (arr[GRID_PAD : GRID_PAD + lay.label_h] != 32).any()  # the title is drawn


# ------------------------------------------------------------ colour out


def test_pad_of_an_rgb_image_is_an_rgb_png_of_its_colours(
    cli, tmp_path: Path, rgb_png: tuple[Path, np.ndarray]
) -> None:
    src, pixels = rgb_png
    out = tmp_path / "x.png"
    r = cli("pad", str(src), "-p", "0", "-o", str(out))
    assert r.code == 0, r.stderr
    with Image.open(out) as img:
        assert img.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(img), pixels)
    what = _wrote(r.stderr, out)
    assert what == "PNG, RGB colour 12×9, the input's pixel values 0–255"
    r = cli("pad", str(src), "-p", "2", "-o", str(out), "--scale", "unit")
    assert r.code == 0, r.stderr
    with Image.open(out) as img:
        padded = np.asarray(img)
    np.testing.assert_array_equal(padded[2:-2, 2:-2], pixels)
    assert (padded[:2] == 0).all() and (padded[:, -2:] == 0).all()
    assert _wrote(r.stderr, out).endswith("the input's pixel values 0–1")


def test_png_mode_grid_and_the_commands_that_keep_colour(
    cli, tmp_path: Path, rgb_png: tuple[Path, np.ndarray]
) -> None:
    src, _ = rgb_png
    out = tmp_path / "x.png"
    cases = {
        ("pad", "--png-mode", "grid"): "L",
        ("pool", "-k", "1"): "RGB",
        ("act",): "RGB",
        ("dropout",): "RGB",
        ("conv", "--depthwise", "-k", "box"): "RGB",
        ("conv", "-k", "box"): "L",  # one map summed over the channels
        ("pad", "--gray"): "L",
    }
    for args, mode in cases.items():
        r = cli(args[0], str(src), *args[1:], "-o", str(out))
        assert r.code == 0, (args, r.stderr)
        with Image.open(out) as img:
            assert img.mode == mode, args
        what = _wrote(r.stderr, out)
        assert ("RGB colour" in what) == (mode == "RGB"), what


def test_png_mode_rgb_for_a_three_channel_array(cli, tmp_path: Path, npy) -> None:
    x = np.random.default_rng(2).normal(size=(1, 3, 4, 6)).astype(np.float32)
    out = tmp_path / "x.png"
    r = cli("pad", npy(x), "-p", "0", "-o", str(out))  # not an image: a grid by default
    assert r.code == 0 and "grid of 3 maps" in _wrote(r.stderr, out)
    r = cli("pad", npy(x), "-p", "0", "-o", str(out), "--png-mode", "rgb")
    assert r.code == 0, r.stderr
    with Image.open(out) as img:
        rgb = np.asarray(img)
    expected = np.rint((x[0] - x.min()) / (x.max() - x.min()) * 255).transpose(1, 2, 0)
    np.testing.assert_array_equal(rgb, expected)  # one min–max scale for the 3 channels
    assert "one minmax scale for R, G, B" in _wrote(r.stderr, out)


def test_png_scale_given_scales_an_image_jointly(
    cli, tmp_path: Path, rgb_png: tuple[Path, np.ndarray]
) -> None:
    src, pixels = rgb_png
    out = tmp_path / "x.png"
    r = cli("pad", str(src), "-p", "0", "-o", str(out), "--png-scale", "minmax")
    assert r.code == 0, r.stderr
    lo, hi = float(pixels.min()), float(pixels.max())
    with Image.open(out) as img:
        expected = np.rint((pixels.astype(np.float64) - lo) / (hi - lo) * 255)
        np.testing.assert_array_equal(np.asarray(img), expected)


def test_an_activation_that_leaves_the_pixel_range_shares_one_scale(
    cli, tmp_path: Path, rgb_png: tuple[Path, np.ndarray]
) -> None:
    src, pixels = rgb_png
    out = tmp_path / "x.png"
    r = cli("act", str(src), "-f", "sigmoid", "-o", str(out))
    assert r.code == 0, r.stderr
    assert "RGB colour 12×9, one minmax scale for R, G, B" in _wrote(r.stderr, out)
    with Image.open(out) as img:
        rgb = np.asarray(img)
    # one scale for the three channels; as pixels, sigmoid's 0.5–1 would be black
    assert img.mode == "RGB" and rgb.min() == 0 and rgb.max() == 255
    r = cli("act", str(src), "-f", "relu", "-o", str(out))
    with Image.open(out) as img:
        np.testing.assert_array_equal(np.asarray(img), pixels)  # relu keeps the pixels


def test_png_mode_mistakes_are_one_error_line(cli, tmp_path: Path) -> None:
    r = cli("conv", "-k", "sobel", "-o", str(tmp_path / "x.png"), "--png-mode", "rgb")
    assert r.code == 2
    assert r.stderr.startswith("error: --png-mode rgb needs a result of 3 channels")
    assert "Traceback" not in r.stderr and not (tmp_path / "x.png").exists()
    r = cli("pool", "--png-mode", "rgb", "-o", str(tmp_path / "x.npy"))
    assert r.code == 2
    assert r.stderr == "error: --png-mode rgb is for a .png output (-o FILE.png)\n"


# ------------------------------------------------------------ -o - and a terminal


def test_dash_output_into_a_terminal_is_refused(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import typer.testing

    monkeypatch.setattr(typer.testing._NamedTextIOWrapper, "isatty", lambda self: True)
    r = cli("pool", "-o", "-")
    assert r.code == 2
    assert r.stdout_bytes == b""
    lines = r.stderr.splitlines()
    assert lines[0].startswith("error: -o - writes binary .npy data to standard output")
    assert (
        lines[1] == "hint: pipe it on (-o - | cnncli conv -), redirect it (> y.npy) or use -o y.npy"
    )
    assert len(lines) == 2


def test_dash_output_into_a_pipe_still_writes(cli) -> None:
    r = cli("pool", "-o", "-")
    assert r.code == 0, r.stderr
    np.testing.assert_array_equal(np.load(io.BytesIO(r.stdout_bytes))[0, 0], [[9, 7], [8, 8]])
    assert "wrote" not in r.stderr


def test_dash_output_into_a_real_terminal_is_refused() -> None:
    """A pseudo-terminal as stdout, as a person's shell gives it."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "cnncli", "pool", "-o", "-"],
            stdout=follower,
            stderr=subprocess.PIPE,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("error: -o - writes binary .npy data")
