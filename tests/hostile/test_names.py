"""Issue 6, names from files stay names: ``forward --save-maps DIR`` never writes outside DIR.

Two lines of defence are tested.  The spec refuses layer names that are not
identifiers; and, with that check switched off (as if a name came from a weight
file or a looser format), the file names written by ``--save-maps`` are still
sanitised and every written file is inside DIR, even when DIR already holds
symbolic links pointing outside it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.hostile import helpers as h

HOSTILE_NAMES = [
    "../escape",
    "../../../../../../tmp/escape",
    "/abs/path/escape",
    "..",
    ".",
    "a/../../b",
    "..\\..\\win",
    "nul\x00byte",
    "x" * 5000,
    "~/home",
    "-rf",
    ".hidden",
    "a\nb",
    "ünïcödé/../x",
    "",
]


def _spec(folder: Path, names: list[str]) -> Path:
    layers: list[dict[str, object]] = []
    for i, name in enumerate(names):
        layers.append(
            {"type": "Conv2d", "out_channels": 2, "kernel_size": 1, "name": name or f"e{i}"}
        )
        layers.append({"type": "MaxPool2d", "kernel_size": 1, "name": f"{name}#pool{i}"})
    path = folder / "names.json"
    path.write_text(json.dumps({"input": [1, 4, 4], "layers": layers}), encoding="utf-8")
    return path


def _outside_files(root: Path, inside: Path) -> dict[str, tuple[int, int, str]]:
    return {k: v for k, v in h.snapshot(root).items() if not (root / k).is_relative_to(inside)}


@pytest.mark.parametrize("name", [n for n in HOSTILE_NAMES if n], ids=lambda n: repr(n)[:30])
def test_spec_refuses_a_name_that_is_not_an_identifier(tmp_path: Path, name: str) -> None:
    spec = _spec(tmp_path, [name])
    maps = tmp_path / "maps"
    before = h.snapshot(tmp_path)
    r = h.run_cli("forward", "-m", str(spec), "--save-maps", str(maps), "--top", "0")
    h.assert_clean(r, "error")
    assert "name" in r.stderr
    assert h.snapshot(tmp_path) == before and not maps.exists()


def test_save_maps_stays_inside_even_with_names_unchecked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the spec's name check off, hostile names still only name files inside DIR."""
    monkeypatch.setattr("cnncli.nn.spec._NAME", re.compile(r".*", re.S))
    root = tmp_path / "root"
    work = root / "a" / "b" / "c"
    work.mkdir(parents=True)
    maps = work / "maps"
    maps.mkdir()
    spec = _spec(work, HOSTILE_NAMES)
    # decoys outside DIR, where a path-joining bug would write
    for decoy in (work / "escape.png", root / "escape", work / "b.png"):
        decoy.write_bytes(b"decoy")
    outside_before = _outside_files(root, maps)

    r = h.run_cli("forward", "-m", str(spec), "--save-maps", str(maps), "--top", "0")
    h.assert_clean(r, "ok")
    assert _outside_files(root, maps) == outside_before, "a file outside DIR was written"
    assert not Path("/abs").exists() and not Path("/tmp/escape").exists()
    written = sorted(p for p in maps.rglob("*"))
    assert all(p.parent == maps and p.is_file() for p in written), written
    index = json.loads((maps / "index.json").read_text(encoding="utf-8"))
    assert len(index) == 2 * len(HOSTILE_NAMES)  # every conv and pool layer, none lost
    files = [entry["file"] for entry in index]
    assert len(set(files)) == len(files), "two layers wrote the same file"
    assert {p.name for p in written} == {*files, "index.json"}
    for f in files:
        assert "/" not in f and "\\" not in f and "\x00" not in f and ".." not in f
        assert not f.startswith((".", "-")) and len(f) <= 100
    # the index keeps the real names, for the reader
    assert {e["layer"] for e in index} >= {n for n in HOSTILE_NAMES if n}


def test_save_maps_never_writes_through_links(tmp_path: Path) -> None:
    """A DIR that already holds links named like the outputs, pointing outside: the files
    they point at stay as they were (cnncli refuses, or replaces the links themselves)."""
    spec = tmp_path / "plain.json"
    spec.write_text(
        json.dumps(
            {
                "input": [1, 4, 4],
                "layers": [{"type": "Conv2d", "out_channels": 2, "kernel_size": 1}],
            }
        )
    )
    maps = tmp_path / "maps"
    maps.mkdir()
    first = h.run_cli("forward", "-m", str(spec), "--save-maps", str(maps), "--top", "0")
    h.assert_clean(first, "ok")
    names = sorted(p.name for p in maps.iterdir())
    victim = tmp_path / "victim"
    victim.mkdir()
    for n in names:
        (victim / n).write_bytes(b"must stay")
        (maps / n).unlink()
        os.symlink(victim / n, maps / n)
    r = h.run_cli("forward", "-m", str(spec), "--save-maps", str(maps), "--top", "0")
    h.assert_clean(r)
    assert all((victim / n).read_bytes() == b"must stay" for n in names)
    assert sorted(p.name for p in victim.iterdir()) == names
    if r.code == 0:
        assert all(not (maps / n).is_symlink() for n in names)
    else:
        assert "outside" in r.stderr


def test_save_maps_into_a_file_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "not_a_folder"
    target.write_bytes(b"keep")
    before = h.snapshot(tmp_path)
    r = h.run_cli("forward", "-m", "lenet5", "--save-maps", str(target), "--top", "0")
    h.assert_clean(r, "error")
    assert h.snapshot(tmp_path) == before


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\r\x08\x9b"
MARKUP = "[/bold] [bold]x[/] [link=file:///etc/passwd]y[/link]"


@pytest.mark.parametrize("text", [ESCAPES, MARKUP], ids=["escapes", "markup"])
@pytest.mark.parametrize(
    "where", ["labels", "spec name (forward)", "spec name (shapes)", "spec description"]
)
def test_text_from_files_is_printed_as_text(tmp_path: Path, text: str, where: str) -> None:
    """Labels and spec names reach the terminal as text: no control codes, no Rich markup."""
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"{text} {i}" for i in range(10)), encoding="utf-8")
    spec = tmp_path / "net.json"
    layers = [{"type": "Flatten"}, {"type": "Linear", "out_features": 3}]
    key = "description" if where == "spec description" else "name"
    spec.write_text(json.dumps({key: text, "input": [1, 4, 4], "layers": layers}))
    argv = {
        "labels": ["forward", "-m", "lenet5", "--labels", str(labels), "--top", "3"],
        "spec name (forward)": ["forward", "-m", str(spec)],
        "spec name (shapes)": ["shapes", str(spec)],
        "spec description": ["forward", "-m", str(spec)],
    }[where]
    r = h.run_cli(*argv)
    h.assert_clean(r, "ok")
    shown = r.stdout + r.stderr
    for ch in ("\x1b", "\x07", "\r", "\x08", "\x9b"):
        assert ch not in shown, (ch, shown[-500:])
    if text is MARKUP and where != "spec description":
        assert "[/bold]" in shown  # printed as written, not interpreted
