"""cnncli.io stays light to import: Pillow loads only when an image is read or written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_io_does_not_import_pillow() -> None:
    code = "import sys, cnncli.io; print('PIL' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "False"


def test_loading_a_matrix_does_not_import_pillow(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("1,2\n3,4\n")
    code = (
        "import sys; from cnncli.io import load_tensor, save_result; "
        f"x = load_tensor({str(tmp_path / 'm.csv')!r}).array; "
        f"save_result({str(tmp_path / 'o.npy')!r}, x); print('PIL' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "False"
