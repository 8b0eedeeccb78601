"""The package's own promises: version, entry points, and a pure engine."""

from __future__ import annotations

import subprocess
import sys

import cnncli


def test_version_flag_prints_package_version() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cnncli", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"cnncli {cnncli.__version__}"


def test_engine_imports_numpy_and_stdlib_only() -> None:
    code = (
        "import sys, cnncli.engine\n"
        "bad = [m for m in ('typer', 'rich', 'PIL', 'click') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_option_is_a_one_line_usage_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cnncli", "--no-such-flag"], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: ")
    assert "Traceback" not in out.stderr + out.stdout


def test_ci_runs_the_readmes_test_command_as_written() -> None:
    """The README's first code block holds the two set-up commands; CI runs the second."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2 and block[0].startswith("pip install . && cnncli ")
    ci = [line for line in (root / ".ci" / "run").read_text().splitlines() if line.strip()]
    assert ci[-1] == block[1]
    assert "python -m pytest" in block[1] and '"torch==2.13.0"' in block[1]
