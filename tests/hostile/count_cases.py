"""Count the hostile cases the suite tries, per loader and per command, and their outcomes.

Run from the worktree root::

    python -m tests.hostile.count_cases

It runs ``pytest tests/hostile`` with every in-process ``cnncli`` call logged
(``CNNCLI_HOSTILE_LOG``), then prints, per command and per loader (the option
that read the file and its extension), how many runs exited 0, 2 or anything
else, how many printed a traceback and how many left a temporary file behind.
Runs in subprocesses (interrupts, closed pipes, determinism) are not logged;
their counts come from the test parameters and are printed last.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOADERS = {
    ".png": "image", ".jpg": "image", ".gif": "image", ".bmp": "image",
    ".csv": "text", ".txt": "text", ".tsv": "text", ".npy": ".npy", ".npz": ".npz",
    ".json": ".json", ".toml": ".toml", ".safetensors": ".safetensors",
}  # fmt: skip
COMMANDS = {"conv", "pool", "pad", "act", "flatten", "linear", "dropout", "kernels", "forward",
            "shapes", "models"}  # fmt: skip
ROLES = {"INPUT": "INPUT", "-k": "-k kernel", "-w": "-w weights", "-m": "-m spec",
         "--grad": "--grad", "--labels": "--labels", "-b": "-b bias"}  # fmt: skip


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "runs.jsonl"
        env = {**os.environ, "CNNCLI_HOSTILE_LOG": str(log)}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/hostile", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        print(proc.stdout.strip().splitlines()[-1])
        runs = [json.loads(line) for line in log.read_text().splitlines()]
    by_command: dict[str, Counter[str]] = defaultdict(Counter)
    by_loader: dict[str, Counter[str]] = defaultdict(Counter)
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for r in runs:
        outcome = {0: "exit 0", 2: "exit 2"}.get(r["code"], f"exit {r['code']}")
        keys = [outcome, "traceback" if r["traceback"] else "", "partial" if r["partial"] else ""]
        for k in filter(None, keys):
            command = r["command"] if r["command"] in COMMANDS else "(other argv)"
            by_command[command][k] += 1
        for role, ext in r["files"]:
            role = "SPEC" if role == "INPUT" and r["command"] == "shapes" else ROLES.get(role, role)
            name = f"{r['command']} {role} {LOADERS.get(ext, 'other')}"
            for k in filter(None, keys):
                by_loader[name][k] += 1
                by_kind[f"{role} {LOADERS.get(ext, 'other')}"][k] += 1
    tables = (
        ("per command", by_command),
        ("per loader (role, kind)", by_kind),
        ("per loader and command (command, role, kind)", by_loader),
    )
    for title, table in tables:  # fmt: skip
        print(f"\n{title}:")
        print(
            f"  {'':38} {'runs':>6} {'exit 0':>7} {'exit 2':>7} {'other':>6} {'tb':>3} {'tmp':>4}"
        )
        total: Counter[str] = Counter()
        for key in sorted(table):
            c = table[key]
            n = c["exit 0"] + c["exit 2"] + sum(v for k, v in c.items() if k.startswith("exit ") and k not in ("exit 0", "exit 2"))  # fmt: skip
            other = n - c["exit 0"] - c["exit 2"]
            total.update({"runs": n, "exit 0": c["exit 0"], "exit 2": c["exit 2"], "other": other,
                          "tb": c["traceback"], "tmp": c["partial"]})  # fmt: skip
            print(f"  {key:38} {n:6} {c['exit 0']:7} {c['exit 2']:7} {other:6} {c['traceback']:3} {c['partial']:4}")  # fmt: skip
        print(f"  {'total':38} {total['runs']:6} {total['exit 0']:7} {total['exit 2']:7} {total['other']:6} {total['tb']:3} {total['tmp']:4}")  # fmt: skip
    print(
        "\nsubprocess runs (not logged above): SIGINT 3, closed stdout 8, determinism 2 × 25 commands"
    )
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
