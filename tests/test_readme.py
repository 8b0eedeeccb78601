"""The README's examples run as written, and their comments say what the output shows.

Every ``cnncli ...`` line of the README's ```bash blocks is run by bash (``cnncli`` is
``python -m cnncli`` of this checkout), pipes included, in a temporary directory where
``samples/`` is the repository's, so that files it writes (``-o``, ``--animate``,
``--diagram``) land there and are checked to exist.  From the first block only the
``cnncli`` commands after ``pip install ... &&`` are run.

The rules the README's lines follow:

* A comment is separated from its command by whitespace and ``# ``.
* A comment saying ``exit N`` expects exit status N; every other line expects 0.
* A line that needs files the repository does not have ends with the comment
  ``# (needs your own files)``.  Such lines are few (at most :data:`MAX_OWN_FILES`);
  they are run with stand-ins the test makes for the files they name (a photo, a
  weight file of the model's shapes, a label file), which checks the options exist.
* A comment that states numbers or shapes has an entry in :data:`CLAIMS`: the texts
  that the output (stdout and stderr) must contain for the comment to be true.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
OWN_FILES = "(needs your own files)"
MAX_OWN_FILES = 2

#: README command → texts its output must contain (what its comment claims).
CLAIMS: dict[str, list[str]] = {
    "cnncli datasets": ["mnist-5k", "digits", "1x8x8"],
    "cnncli conv samples/seed_multichannel.npz --key x -k samples/seed_multichannel.npz:weight "
    "-b 1,0 -s 2 --explain 0,0,0": ["(1, 2, 3, 3)", "conv[0, 0, 0, 0] = 0", "✓"],
    "cnncli conv samples/shapes.png -k sobel --magnitude": ["RGB", "sqrt(x² + y²)"],
    'cnncli conv -k "1,0,-1;2,0,-2;1,0,-1" -p same --grad ones': ["dL/dX", "dL/dW", "dL/db"],
    "cnncli pad samples/seed_pool.csv -p 1,2,0,0 --mode reflect": [
        "left 1, right 2",
        "F.pad order (1, 2, 0, 0)",
        "output  (1, 1, 4, 7)",
    ],
    "cnncli pad samples/seed_pool.csv -p 1 -o - | cnncli conv - -k sobel-x": [
        "<stdin>: .npy array, 1×1×6×6",
        "output  (1, 1, 4, 4)",
    ],
    "cnncli flatten samples/seed_multichannel.npz --key x --order hwc": [
        "(1, 3, 7, 7)",
        "(1, 147)",
        "k = (h·W + w)·C + c",
    ],
    "cnncli dropout --p 0.5 --seed 1 --train": ["train mode", "× 1/(1 − 0.5) = 2", "dropped"],
    "cnncli conv samples/digit8.png -k sobel-x -p 1 -s 2 -d 2 --animate conv.gif": [
        "dilation 2",
        "wrote conv.gif (GIF",
    ],
    "cnncli models": ["Name", "Description", "Input", "Params", "alexnet", "resnet18", "trained"],
    "cnncli train lenet5 --epochs 3 --plot curves.png --filters filters.png": [
        "wrote curves.png (PNG of loss and accuracy over 3 epochs)",
        "wrote filters.png (PNG of features.0's 6 learned kernels)",
    ],
    "cnncli forward samples/digit8.png -m lenet5-mnist": ["│      0 │    1 │     8 │"],
    "cnncli evaluate lenet5-mnist --held-out 0.1": ["accuracy 97.60%", "seed 0): 500"],
    "cnncli shapes alexnet": ["[1, 3, 224, 224]", "[1, 256, 6, 6]", "[1, 1000]", "61,264,904"],
    "cnncli shapes lenet5 --input 1x8x8 --formulas": [
        "features.2",
        "cannot take the input [1, 6, 4, 4]",
        "H_out = W_out = ⌊(4 + 2·0 − 1·(5 − 1) − 1) / 1⌋ + 1 = 0",
    ],
    "cnncli shapes resnet18 --depth 2 --json": [
        '"model": "resnet18"',
        '"input_shape"',
        '"total_params"',
        '"total_macs"',
        '"depth": 2',
        '"layers"',
    ],
    "cnncli shapes alexnet --diagram alexnet.svg": ["wrote alexnet.svg (SVG diagram"],
    "cnncli forward -m alexnet --batch 8": ["AlexNet(", "(8, 1000)"],
    # Run with the stand-ins: --labels names the classes, --normalize is applied.
    "cnncli forward photo.jpg -m alexnet-torchvision -w alexnet.npz --normalize imagenet "
    "--labels imagenet.txt": ["mean (0.485, 0.456, 0.406)", "(1, 1000)", "Label", "class-"],
}

_BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
_COMMENT = re.compile(r"^(.*?)\s+# (.*)$")
_EXIT = re.compile(r"\bexit (\d+)\b")
_WRITTEN = re.compile(r"(?:^|\s)(?:-o|--animate|--diagram)\s+(\S+)")


def readme_lines() -> list[tuple[str, str]]:
    """(command, comment) for every ``cnncli`` line of the README's bash blocks."""
    found = []
    for number, block in enumerate(_BASH_BLOCK.findall(README.read_text(encoding="utf-8"))):
        for line in block.splitlines():
            line = line.strip()
            match = _COMMENT.match(line)
            command, comment = (match.group(1), match.group(2)) if match else (line, "")
            if number == 0 and command.startswith("pip "):
                parts = [part.strip() for part in command.split("&&")]
                found += [(part, "") for part in parts if part.startswith("cnncli ")]
            elif command.startswith("cnncli ") or command == "cnncli":
                found.append((command, comment.strip()))
    return found


LINES = readme_lines()


def test_readme_lines_found_and_well_formed() -> None:
    commands = [command for command, _ in LINES]
    # The parser found the blocks: the tour, the animations and the networks.
    assert len(commands) >= 15, commands
    assert "cnncli forward -m alexnet --batch 8" in commands
    for command in commands:
        # A '#' glued to the command (no space before it) is part of the command to bash.
        assert "#" not in command, f"comment not separated by a space: {command!r}"
    assert sum(comment == OWN_FILES for _, comment in LINES) <= MAX_OWN_FILES


def test_every_numeric_claim_is_checked() -> None:
    commands = {command for command, _ in LINES}
    for command, comment in LINES:
        if re.search(r"\d", comment) and not _EXIT.fullmatch(comment.strip()):
            assert command in CLAIMS, f"the comment of {command!r} states numbers: add CLAIMS"
    stale = set(CLAIMS) - commands
    assert not stale, f"CLAIMS for commands no longer in the README: {stale}"


def _make_own_files(command: str, cwd: Path) -> None:
    """Stand-ins for the files a '(needs your own files)' line names."""
    import numpy as np
    from PIL import Image

    from cnncli.nn import zoo
    from cnncli.nn.layers import initialize

    args = shlex.split(command)
    for flag, path in itertools.pairwise(args):
        if flag in ("-w", "--weights"):
            model = args[args.index("-m") + 1]
            np.savez(cwd / path, **initialize(zoo.build(model), seed=3).state_dict())
        elif flag == "--labels":
            (cwd / path).write_text("".join(f"class-{i}\n" for i in range(1000)))
    for arg in args:
        if arg.endswith((".jpg", ".png")) and not (cwd / arg).exists():
            rng = np.random.default_rng(0)
            Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(cwd / arg)


@pytest.mark.parametrize(("command", "comment"), LINES, ids=[c for c, _ in LINES])
def test_readme_command_runs(command: str, comment: str, tmp_path: Path) -> None:
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    if comment == OWN_FILES:
        _make_own_files(command, tmp_path)
    exit_match = _EXIT.search(comment)
    expected = int(exit_match.group(1)) if exit_match else 0
    script = f'set -o pipefail\ncnncli() {{ "$CNNCLI_PYTHON" -m cnncli "$@"; }}\n{command}\n'
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        CNNCLI_PYTHON=sys.executable,
        COLUMNS="100",
        NO_COLOR="1",
    )
    env.pop("CNNCLI_DEBUG", None)
    out = subprocess.run(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    both = out.stdout + out.stderr
    assert out.returncode == expected, both[-3000:]
    assert "Traceback" not in both
    for claim in CLAIMS.get(command, []):
        assert claim in both, f"{claim!r} not in the output of {command!r}:\n{both[-3000:]}"
    for written in _WRITTEN.findall(command):
        if written != "-":
            assert (tmp_path / written).stat().st_size > 0, written
