"""Issue 6, table-driven: every hostile file through every command that reads it, via the CLI.

One row per (command slot, hostile file).  Each row runs ``cnncli`` in-process
through ``main`` with ``-o`` pointing at a folder that already holds an older
output file, and asserts:

* exit 0, or exit 2 with exactly one ``error:`` line (+ at most one ``hint:``), no traceback;
* an error leaves both folders exactly as they were (the older output untouched);
  a success changes only the output file and leaves no temporary file;
* nothing ran from data (no pickle marker);
* ``twin`` rows: the same exit status and byte-identical output as a clean float32
  .npy holding the values the file means (so a converted file gives the correct result),
  and the conversion note when integers or bools were converted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.hostile import helpers as h
from tests.hostile.cases import GROUPS, SPEC_TEXT, STATE, Case, M


@dataclass
class Slot:
    """One place a file enters a command: which case group feeds it and how argv is built."""

    name: str
    group: str
    argv: Callable[[str, dict[str, str]], list[str]]
    ext: str = ".npy"
    stdin: bool = False  # the file's bytes arrive on standard input, argv says "-"


def _t(*args: str) -> Callable[[str, dict[str, str]], list[str]]:
    """A tensor command reading FILE as INPUT."""
    return lambda f, good: [args[0], f, *args[1:], "--show", "stats"]


SLOTS = [
    Slot("conv INPUT", "tensor", _t("conv", "-k", "sobel-x", "-p", "1")),
    Slot("pool INPUT", "tensor", _t("pool", "--mode", "avg", "-k", "2", "-s", "1")),
    Slot("pad INPUT", "tensor", _t("pad", "-p", "1,2,0,1", "--mode", "replicate")),
    Slot("act INPUT", "tensor", _t("act", "-f", "softmax")),
    Slot("flatten INPUT", "tensor", _t("flatten", "--order", "hwc")),
    Slot("linear INPUT", "tensor", _t("linear", "--out", "3", "--seed", "4")),
    Slot("dropout INPUT", "tensor", _t("dropout", "--p", "0.3", "--seed", "5")),
    Slot(
        "forward INPUT",
        "tensor",
        lambda f, g: ["forward", f, "-m", g["spec"], "--top", "0", "--seed", "2"],
    ),
    Slot("conv - (stdin)", "tensor", _t("conv", "-k", "sobel-x", "-p", "1"), stdin=True),
    Slot(
        "conv --grad FILE",
        "kernel",
        lambda f, g: ["conv", g["x44"], "-k", "sobel-x", "-p", "1", "--grad", f, "--show", "stats"],
        ext=".npz",
    ),
    Slot("conv -k FILE", "kernel", lambda f, g: ["conv", g["x44"], "-k", f, "--show", "stats"]),
    Slot("linear -w FILE", "kernel", lambda f, g: ["linear", g["x22"], "-w", f, "--show", "stats"]),
    Slot(
        "forward -w FILE",
        "weights",
        lambda f, g: ["forward", g["x144"], "-m", g["spec"], "-w", f, "--top", "0"],
    ),
    Slot("forward -m SPEC", "spec", lambda f, g: ["forward", "-m", f, "--top", "0"]),
    Slot("shapes SPEC", "spec", lambda f, g: ["shapes", f], ext=".json"),
]

# Rows that are known bugs get a strict xfail here (none open).
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _rows() -> list[object]:
    rows: list[object] = []
    for slot in SLOTS:
        for case in GROUPS[slot.group]:
            marks = []
            bug = KNOWN_BUGS.get((slot.name, case.id))
            if bug:
                marks.append(pytest.mark.xfail(strict=True, reason=bug))
            rows.append(pytest.param(slot, case, id=f"{slot.name}|{case.id}", marks=marks))
    return rows


ROWS = _rows()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """inputs/: every hostile file (built once); good/: the clean files the slots need."""
    base = tmp_path_factory.mktemp("hostile")
    inputs, good, twins = base / "inputs", base / "good", base / "twins"
    for d in (inputs, good, twins):
        d.mkdir()
    seen: set[str] = set()
    for cases in GROUPS.values():
        for case in cases:
            folder = inputs / case.id
            if case.id in seen:
                continue
            seen.add(case.id)
            folder.mkdir()
            path = folder / case.filename
            data = case.build(path)
            if data is not None:
                path.write_bytes(data)
    np.save(good / "x44.npy", M)
    np.save(good / "x22.npy", M[:2, :2])
    np.save(good / "x144.npy", M.reshape(1, 1, 4, 4))
    (good / "spec.toml").write_text(SPEC_TEXT, encoding="utf-8")
    np.savez(good / "state.npz", **STATE)
    return {"base": base, "inputs": inputs, "good": good, "twins": twins}


def _good(folders: dict[str, Path]) -> dict[str, str]:
    g = folders["good"]
    return {
        "x44": str(g / "x44.npy"),
        "x22": str(g / "x22.npy"),
        "x144": str(g / "x144.npy"),
        "spec": str(g / "spec.toml"),
    }


OLD = b"an earlier output that must survive a failed run\n"


def _run_with_output(
    slot: Slot, file: str, folders: dict[str, Path], out_dir: Path
) -> tuple[h.Run, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"out{slot.ext}"
    out.write_bytes(OLD)
    if slot.stdin:
        argv = [*slot.argv("-", _good(folders)), "-o", str(out)]
        return h.run_cli(*argv, stdin=Path(file).read_bytes()), out
    argv = [*slot.argv(file, _good(folders)), "-o", str(out)]
    return h.run_cli(*argv), out


@pytest.mark.parametrize(("slot", "case"), ROWS)
def test_hostile_file_through_the_cli(
    slot: Slot, case: Case, folders: dict[str, Path], tmp_path: Path
) -> None:
    in_dir = folders["inputs"] / case.id
    good_before = h.snapshot(folders["good"])
    in_before = h.snapshot(in_dir)
    out_dir = tmp_path / "out"
    r, out = _run_with_output(slot, str(in_dir / case.filename), folders, out_dir)

    expect = case.by_slot.get(slot.name, case.expect)
    h.assert_clean(r, {"error": "error", "ok": "ok"}.get(expect, "either"))
    assert not (in_dir / h.MARKER).exists(), "code from a pickle ran"
    assert h.snapshot(in_dir) == in_before, "the input folder changed"
    assert h.snapshot(folders["good"]) == good_before
    after = h.snapshot(out_dir)
    assert set(after) == {out.name}, f"files left behind: {sorted(after)}"
    if r.code != 0:
        assert out.read_bytes() == OLD, "a failed run changed the earlier output"
    else:
        assert out.read_bytes() != OLD
        if case.note:
            assert re.search(case.note, r.stdout + r.stderr), (r.stdout, r.stderr)
    if case.expect == "twin":
        twin_run, twin_out = _run_twin(slot, case, folders, tmp_path / "twin")
        assert twin_run.code == r.code, f"the clean twin gave {twin_run.code}: {twin_run.stderr}"
        assert out.read_bytes() == twin_out.read_bytes(), "not the clean file's result"


def _run_twin(
    slot: Slot, case: Case, folders: dict[str, Path], out_dir: Path
) -> tuple[h.Run, Path]:
    """The same command on the clean equivalent: a float32 .npy (or .npz state) of the values."""
    twins = folders["twins"]
    if slot.group == "weights":
        twin = str(folders["good"] / "state.npz")
    else:
        assert case.twin is not None
        values = np.asarray(case.twin, dtype=np.float32)
        if slot.name == "forward INPUT" and case.filename.endswith(".png"):
            # forward reads an image as pixel / 255 (a .npy tensor is used as it is)
            values, case = values / np.float32(255), Case(case.id + "-unit", "", case.build, "")
        path = twins / f"{case.id}.npy"
        if not path.exists():
            np.save(path, values)
        twin = str(path)
    return _run_with_output(slot, twin, folders, out_dir)
