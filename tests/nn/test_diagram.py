"""``cnncli shapes MODEL --diagram FILE.svg|FILE.png``: the architecture as a picture."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from cnncli.cli.main import main
from cnncli.nn.spec import load_model
from cnncli.nn.summary import summarize
from cnncli.render import diagram as D  # noqa: N812

SVG = "{http://www.w3.org/2000/svg}"


def _summary(model: str, chw: tuple[int, int, int] | None = None) -> object:
    net, declared = load_model(model)
    shape = chw or declared
    assert shape is not None
    s = summarize(net, shape)
    s.model = net.title
    return s


def test_alexnet_blocks_are_the_layers_that_make_new_tensors() -> None:
    drawn = D.blocks(_summary("alexnet"))
    # The seed's AlexNet: conv1 11x11 s4 p2 → 55, pools 3x3 s2, conv2-5 keep the size.
    assert [(b.type, b.shape) for b in drawn] == [
        ("Input", (3, 224, 224)),
        ("Conv2d", (96, 55, 55)),
        ("MaxPool2d", (96, 27, 27)),
        ("Conv2d", (192, 27, 27)),
        ("MaxPool2d", (192, 13, 13)),
        ("Conv2d", (384, 13, 13)),
        ("Conv2d", (256, 13, 13)),
        ("Conv2d", (256, 13, 13)),  # conv5 keeps conv4's shape and is still drawn
        ("MaxPool2d", (256, 6, 6)),
        ("view", (9216,)),
        ("Linear", (4096,)),
        ("Linear", (4096,)),
        ("Linear", (1000,)),
    ]
    assert all(b.type not in ("ReLU", "Dropout") for b in drawn)


def test_a_layer_that_changes_the_shape_is_drawn_whatever_its_type(tmp_path: Path) -> None:
    spec = tmp_path / "net.toml"
    spec.write_text(
        'input = [1, 8, 8]\n[[layers]]\ntype = "Conv2d"\nout_channels = 4\nkernel_size = 3\n'
        '[[layers]]\ntype = "BatchNorm2d"\n[[layers]]\ntype = "ReLU"\n'
        '[[layers]]\ntype = "Flatten"\n[[layers]]\ntype = "Linear"\nout_features = 3\n'
    )
    drawn = D.blocks(_summary(str(spec)))
    assert [b.type for b in drawn] == ["Input", "Conv2d", "Flatten", "Linear"]
    assert [b.shape_text for b in drawn] == ["1x8x8", "4x6x6", "144", "3"]


def test_block_sizes_follow_the_shape() -> None:
    small, big = (
        D.block_size(D.Block("a", "Conv2d", (8, 13, 13))),
        D.block_size(D.Block("b", "Conv2d", (256, 55, 27))),
    )
    assert big[0] > small[0] and big[1] > small[1] and big[2] > small[2]  # C, H, W
    _, h, s = D.block_size(D.Block("v", "Linear", (4096,)))
    assert s == 0 and h > D.block_size(D.Block("w", "Linear", (10,)))[1]
    # Clamped, so that a 1x1 map and a huge input both stay drawable.
    assert D.block_size(D.Block("x", "Conv2d", (1, 1, 1)))[1] >= 16
    assert D.block_size(D.Block("y", "Conv2d", (10**6, 10**5, 10**5)))[1] <= 200


def test_svg_holds_one_box_per_map_one_bar_per_vector_and_every_label() -> None:
    drawn = D.blocks(_summary("lenet5"))
    picture = D.draw("lenet5", drawn)
    root = ET.fromstring(picture.to_svg())
    assert int(root.get("width")) == picture.width and int(root.get("height")) == picture.height
    maps = sum(len(b.shape) == 3 for b in drawn)
    assert len(root.findall(f"{SVG}polygon")) == 3 * maps + (len(drawn) - maps)
    texts = [t.text for t in root.findall(f"{SVG}text")]
    for b in drawn:
        assert b.name in texts and b.shape_text in texts
    # Every polygon lies inside the picture.
    for poly in root.findall(f"{SVG}polygon"):
        for pair in poly.get("points").split():
            x, y = (float(v) for v in pair.split(","))
            assert 0 <= x <= picture.width and 0 <= y <= picture.height


def test_png_draws_the_same_geometry_in_each_familys_colour() -> None:
    drawn = D.blocks(_summary("alexnet"))
    picture = D.draw("alexnet", drawn)
    image = Image.open(io.BytesIO(picture.to_png())).convert("RGB")
    assert image.size == (picture.width, picture.height)
    # The front faces are the axis-aligned rectangles; the slanted faces are shaded.
    fronts = [
        (points, rgb)
        for points, rgb in picture.polygons
        if len({x for x, _ in points}) == 2 and len({y for _, y in points}) == 2
    ]
    assert len(fronts) == len(drawn)
    for (points, rgb), block in zip(fronts, drawn, strict=True):
        assert rgb == D.COLOURS[block.family]
        xs, ys = [x for x, _ in points], [y for _, y in points]
        centre = (int((min(xs) + max(xs)) / 2), int((min(ys) + max(ys)) / 2))
        assert image.getpixel(centre) == D.COLOURS[block.family]


def test_cli_writes_svg_and_png_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("net.svg", "net.PNG"):
        path = tmp_path / name
        assert main(["shapes", "lenet5", "--diagram", str(path)]) == 0
        err = capsys.readouterr().err
        assert err.startswith(f"wrote {path} (") and "diagram, 9 blocks" in err
        data = path.read_bytes()
        assert data.startswith(b"<svg") if name.endswith(".svg") else data[:4] == b"\x89PNG"


def test_cli_refuses_other_suffixes_and_leaves_no_file_after_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["shapes", "lenet5", "--diagram", str(tmp_path / "net.jpg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --diagram must end in .svg or .png") and "Traceback" not in err
    assert not (tmp_path / "net.jpg").exists()
    # A network that does not fit its input: the error, and no picture of half of it.
    target = tmp_path / "half.svg"
    assert main(["shapes", "lenet5", "--input", "1x8x8", "--diagram", str(target)]) == 2
    assert capsys.readouterr().err.startswith("error: layer features.3")
    assert not target.exists()


def _fronts(picture: D.Drawing) -> list[tuple[float, float, float, float]]:
    """(x0, y0, x1, y1) of every axis-aligned rectangle: the front faces and the bars."""
    out = []
    for points, _ in picture.polygons:
        xs, ys = {x for x, _ in points}, {y for _, y in points}
        if len(points) == 4 and len(xs) == 2 and len(ys) == 2:
            out.append((min(xs), min(ys), max(xs), max(ys)))
    return out


def test_parallel_paths_are_drawn_side_by_side_between_a_fork_and_a_merge() -> None:
    s = _summary(str(Path(__file__).resolve().parents[2] / "samples" / "squeezenet_mini.toml"))
    drawn = D.blocks(s)
    picture = D.draw("squeezenet_mini", drawn, s.joins)  # type: ignore[attr-defined]
    names = [b.name for b in drawn]
    fronts = dict(zip(names, [f for f in _fronts(picture) if f[2] - f[0] > D.BAR], strict=True))
    e1, e3 = fronts["fire2.expand.expand1x1.0"], fronts["fire2.expand.expand3x3.0"]
    assert e1[0] == e3[0] and e1[3] < e3[1]  # the same column, one row under the other
    squeeze, after = fronts["fire2.squeeze"], fronts["fire3.squeeze"]
    assert squeeze[2] < e1[0] and e1[2] < after[0]  # the paths lie between what runs around them
    # two joins: a fork bar and a merge bar each, and a diamond labelled with the op and shape
    bars = [f for f in _fronts(picture) if f[2] - f[0] == D.BAR]
    assert len(bars) == 4 and all(b[1] <= e1[1] and b[3] >= e3[3] for b in bars[:2])
    texts = [t for _, _, t, _ in picture.texts]
    assert texts.count("cat") == 2 and texts.count("64x15x15") >= 2
    # the sequential picture is unchanged: no bars without joins
    flat = D.draw("lenet5", D.blocks(_summary("lenet5")))
    assert not [f for f in _fronts(flat) if f[2] - f[0] == D.BAR]


def test_an_identity_path_is_named_on_its_row() -> None:
    s = _summary("unet")
    picture = D.draw("unet", D.blocks(s), s.joins)  # type: ignore[attr-defined]
    texts = [t for _, _, t, _ in picture.texts]
    assert texts.count("identity") == 2 and texts.count("cat") == 2
    for points, _ in picture.polygons:
        for x, y in points:
            assert 0 <= x <= picture.width and 0 <= y <= picture.height
