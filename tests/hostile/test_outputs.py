"""Issue 6, nothing lost on the way out: interrupts, failed writes, output = input, closed stdout.

* A run interrupted by SIGINT (while computing and encoding, and while its output is
  being written to disk, made slow by a hook that stalls fsync) exits 130 and leaves an
  earlier file at the output path byte-identical, with no temporary file behind.
* A write that fails (read-only file system, disk full, permission denied; simulated
  in-process, since root writes anywhere) is one ``error:`` line, exit 2, old file intact.
* An output path that names an input file (directly, through ``..``, a symlink or a hard
  link) is refused for every command that writes.
* A closed stdout (``cnncli ... | head -1``) ends quietly with exit status 0: the reader
  chose to stop, which is not an error of cnncli (as main.py documents); no traceback,
  no "Exception ignored" message.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.hostile import helpers as h

POSIX = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and pipes")
OLD = b"an earlier result that must survive\n"


def _spawn(args: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", "PYTHONPATH": str(h.ROOT)}
    env.pop("CNNCLI_DEBUG", None)
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=h.ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        **kwargs,  # type: ignore[arg-type]
    )


def _wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


# A launcher that stalls the first fsync (the moment the output's bytes sit in the temporary
# file, just before the rename) and says so in a flag file outside the output folder.
STALL = """
import os, sys, time
flag = sys.argv.pop(1)
real = os.fsync
def slow_fsync(fd):
    open(flag, "w").close()
    time.sleep(60)
    real(fd)
os.fsync = slow_fsync
from cnncli.__main__ import main
sys.argv[0] = "cnncli"
main()
"""


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1×1×700×700 input: its conv output as CSV takes a while to encode."""
    path = tmp_path_factory.mktemp("big") / "big.npy"
    np.save(path, np.random.default_rng(0).standard_normal((700, 700)).astype(np.float32))
    return path


def _interrupted(
    proc: subprocess.Popen[bytes], out_dir: Path, target: Path
) -> tuple[int, bytes, bytes]:
    proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert target.read_bytes() == OLD, "the earlier file changed"
    assert sorted(p.name for p in out_dir.iterdir()) == [target.name], "a temporary file is left"
    return proc.returncode, stdout, stderr


@POSIX
def test_sigint_while_writing_keeps_the_earlier_file(tmp_path: Path, big_input: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "result.csv"
    target.write_bytes(OLD)
    flag = tmp_path / "fsync.flag"
    launcher = tmp_path / "stall.py"
    launcher.write_text(STALL)
    proc = _spawn(
        [
            str(launcher),
            str(flag),
            "conv",
            str(big_input),
            "-k",
            "box",
            "--show",
            "none",
            "-o",
            str(target),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert _wait_for(flag.exists, 60), "the write never started"
    temps = [p.name for p in out_dir.iterdir() if p.name != target.name]
    assert len(temps) == 1 and temps[0].endswith(".tmp"), temps  # mid-write: the temp exists
    assert (out_dir / temps[0]).stat().st_size > 1_000_000  # with the new bytes in it
    code, stdout, stderr = _interrupted(proc, out_dir, target)
    assert code == 130, stderr
    assert stderr.strip() == b"interrupted"  # one line, and no traceback or error
    assert b"Traceback" not in stdout


@POSIX
@pytest.mark.parametrize("delay", [0.3, 1.0])
def test_sigint_while_computing_keeps_the_earlier_file(
    tmp_path: Path, big_input: Path, delay: float
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    target = out_dir / "result.csv"
    target.write_bytes(OLD)
    proc = _spawn(
        [
            "-m",
            "cnncli",
            "conv",
            str(big_input),
            "-k",
            "box",
            "-k",
            "sobel",
            "--show",
            "none",
            "-o",
            str(target),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(delay)
    if proc.poll() is not None:
        pytest.fail("the run finished before the interrupt: make the input bigger")
    code, stdout, stderr = _interrupted(proc, out_dir, target)
    assert code == 130, stderr
    assert stderr.strip() == b"interrupted"  # one line, no traceback
    assert b"Traceback" not in stdout


# ------------------------------------------------------------------ failed writes

WRITERS = [
    ["conv", "-k", "sobel-x", "-o", "{out}.npy"],
    ["pool", "-o", "{out}.csv"],
    ["pad", "-p", "1", "-o", "{out}.json"],
    ["act", "-f", "tanh", "-o", "{out}.png"],
    ["flatten", "-o", "{out}.npz"],
    ["linear", "--out", "2", "-o", "{out}.npy"],
    ["dropout", "--seed", "1", "-o", "{out}.npy"],
    ["forward", "-m", "lenet5", "--top", "0", "-o", "{out}.npz"],
    ["shapes", "tinyvgg", "-o", "{out}.csv"],
]


def _eroFS(*args: object, **kwargs: object) -> None:
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _eacces(*args: object, **kwargs: object) -> None:
    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))


FAILURES = {
    "rename on a read-only file system": ("os.replace", _eroFS, "Read-only file system"),
    "temp file on a read-only file system": ("tempfile.mkstemp", _eroFS, "Read-only file system"),
    "disk full while flushing": ("os.fsync", _enospc, "No space left on device"),
    "folder not writable": ("tempfile.mkstemp", _eacces, "permission denied"),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
@pytest.mark.parametrize("argv", WRITERS, ids=lambda a: a[0])
def test_failed_write_is_one_error_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], failure: str
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = [a.format(out=out_dir / "result") for a in argv]
    target = Path(args[-1])
    target.write_bytes(OLD)
    where, fail, reason = FAILURES[failure]
    module, name = where.split(".")
    monkeypatch.setattr(f"{module}.{name}", fail)
    r = h.run_cli(*args)
    monkeypatch.undo()
    h.assert_clean(r, "error")
    assert reason.lower() in r.stderr.lower(), r.stderr
    assert target.name in r.stderr
    assert target.read_bytes() == OLD
    assert sorted(p.name for p in out_dir.iterdir()) == [target.name]


def test_failed_save_maps_write_keeps_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    maps = tmp_path / "maps"
    maps.mkdir()
    (maps / "index.json").write_bytes(OLD)
    monkeypatch.setattr("os.replace", _eroFS)
    r = h.run_cli("forward", "-m", "lenet5", "--top", "0", "--save-maps", str(maps))
    monkeypatch.undo()
    h.assert_clean(r, "error")
    assert sorted(p.name for p in maps.iterdir()) == ["index.json"]
    assert (maps / "index.json").read_bytes() == OLD


# ------------------------------------------------------------------ output = input


def _same_path_cases(d: Path) -> list[tuple[str, list[str], Path]]:
    x, k, w, st, spec, lab = (
        d / n for n in ("x.npy", "k.npy", "w.npy", "st.npz", "s.json", "l.npy")
    )
    np.save(x, np.arange(16, dtype=np.float32).reshape(4, 4))
    np.save(k, np.ones((3, 3), np.float32))
    np.save(w, np.ones((2, 16), np.float32))
    np.save(d / "x1.npy", np.zeros((1, 1, 28, 28), np.float32))
    from cnncli.nn import layers, zoo

    np.savez(st, **layers.initialize(zoo.build("lenet5"), seed=0).state_dict())
    spec.write_text('{"input": [1, 4, 4], "layers": [{"type": "Flatten"}]}')
    lab.write_text("\n".join(f"class {i}" for i in range(10)))
    x1 = d / "x1.npy"
    rows = [
        (cmd, [cmd, str(x), "-o", str(x)], x)
        for cmd in ("conv", "pool", "pad", "act", "flatten", "linear", "dropout")
    ]
    rows += [
        ("conv -o INPUT via ..", ["conv", str(x), "-o", str(d / "sub" / ".." / "x.npy")], x),
        ("conv -o KERNEL", ["conv", str(x), "-k", str(k), "-o", str(k)], k),
        ("linear -o WEIGHT", ["linear", str(x), "-w", str(w), "-o", str(w)], w),
        ("forward -o INPUT", ["forward", str(x1), "-m", "lenet5", "-o", str(x1)], x1),
        ("forward -o WEIGHTS", ["forward", "-m", "lenet5", "-w", str(st), "-o", str(st)], st),
        (
            "forward -o LABELS",
            ["forward", "-m", "lenet5", "--labels", str(lab), "-o", str(lab)],
            lab,
        ),
        ("shapes -o SPEC", ["shapes", str(spec), "-o", str(spec)], spec),
    ]
    return rows


@pytest.mark.parametrize("index", range(14))
@pytest.mark.parametrize("alias", ["same", "symlink", "hardlink"])
def test_output_path_equal_to_an_input_is_refused(tmp_path: Path, index: int, alias: str) -> None:
    (tmp_path / "sub").mkdir()
    name, argv, victim = _same_path_cases(tmp_path)[index]
    if alias != "same":
        link = tmp_path / f"alias{victim.suffix}"
        (os.symlink if alias == "symlink" else os.link)(victim, link)
        argv = [*argv[:-1], str(link)]
    before = h.snapshot(tmp_path)
    r = h.run_cli(*argv)
    h.assert_clean(r, "error")
    assert "input" in r.stderr or "overwrite" in r.stderr, (name, r.stderr)
    assert h.snapshot(tmp_path) == before, name


# ------------------------------------------------------------------ closed stdout

LOUD = [
    ["kernels"],
    ["forward", "-m", "alexnet", "--top", "3"],
    ["pool", "{big}", "-o", "-"],
    ["conv", "{big}", "-k", "sobel", "--json"],
]


@POSIX
@pytest.mark.parametrize("when", ["before the first write", "after one line"])
@pytest.mark.parametrize("argv", LOUD, ids=lambda a: " ".join(a[:2]))
def test_closed_stdout_ends_quietly(argv: list[str], when: str, big_input: Path) -> None:
    args = ["-m", "cnncli", *(a.format(big=big_input) for a in argv)]
    if when == "before the first write":
        read_end, write_end = os.pipe()
        os.close(read_end)  # as `| head -0`: every write fails with EPIPE
        proc = _spawn(args, stdout=write_end, stderr=subprocess.PIPE)
        os.close(write_end)
    else:
        proc = _spawn(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.readline()
        proc.stdout.close()  # as `| head -1`
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    proc.stderr.close()
    code = proc.wait(timeout=120)
    assert b"Traceback" not in stderr and b"Exception ignored" not in stderr, stderr
    assert b"error" not in stderr.lower(), stderr
    assert code == 0, stderr
