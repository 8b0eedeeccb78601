"""``cnncli shapes`` and ``cnncli forward`` as a new user meets them (issue 15, items 3-4, 8-11)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cnncli.nn import zoo
from cnncli.nn.summary import summarize

# ------------------------------------------------------------------ shapes --depth (item 11)


def test_depth_applies_to_json_and_to_the_rows_file(cli, tmp_path: Path) -> None:
    full = json.loads(cli("shapes", "resnet18", "--json").stdout)
    run = cli("shapes", "resnet18", "--depth", "2", "--json", "-o", str(tmp_path / "rows.csv"))
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    expected = [
        r.name for r in summarize(zoo.build("resnet18"), (3, 224, 224)).layers if r.depth <= 2
    ]
    assert [row["name"] for row in data["layers"]] == expected
    assert len(expected) < len(full["layers"])  # depth 2 hides the blocks' insides
    assert max(row["depth"] for row in data["layers"]) == 2 and data["depth"] == 2
    # totals stay those of the whole network; the depth-1 rows hold them between them
    assert data["total_params"] == full["total_params"]
    assert sum(row["params"] for row in data["layers"] if row["depth"] == 1) == full["total_params"]
    with (tmp_path / "rows.csv").open() as fh:
        assert [row["name"] for row in csv.DictReader(fh)] == expected
