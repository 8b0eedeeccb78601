"""Rendered `shapes` and `models` output at a fixed width (COLUMNS=100, NO_COLOR=1) against
golden files. Regenerate after an intended change:
``CNNCLI_REGEN_GOLDEN=1 python -m pytest tests/nn -k golden``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnncli.cli.main import main

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).resolve().parents[2]
CASES: dict[str, tuple[list[str], int]] = {
    "shapes_lenet5_formulas": (["shapes", "lenet5", "--formulas"], 0),
    "shapes_lenet5_too_small": (["shapes", "lenet5", "--input", "1x8x8"], 2),
    "shapes_resnet_mini_depth1": (
        ["shapes", "samples/resnet_mini.toml", "--depth", "1", "--batch", "4"],
        0,
    ),
    "models": (["models"], 0),
}


@pytest.mark.parametrize("case", list(CASES))
def test_golden_output(
    case: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args, status = CASES[case]
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.chdir(ROOT)
    assert main(args) == status
    out = capsys.readouterr().out
    path = GOLDEN / f"{case}.txt"
    if os.environ.get("CNNCLI_REGEN_GOLDEN"):
        path.write_text(out, encoding="utf-8")
    assert out == path.read_text(encoding="utf-8")
