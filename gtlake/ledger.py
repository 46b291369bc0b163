"""The ledger: per step and labeling job, what the step last processed (a fingerprint of its inputs) and the run
that did it, in `_gtlake/ledger/<step>/<job>.json`. Written only as part of a commit (`gtlake.journal`)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gtlake.lake import Lake

FOLDER = ("_gtlake", "ledger")


def read(lake: Lake, step: str) -> dict[str, dict]:
    """job -> the step's entry."""
    folder = lake.path(*FOLDER, step)
    return {name[:-5]: json.loads(lake.read_bytes(lake.path(*FOLDER, step, name)))
            for name in lake.listdir(folder) if name.endswith(".json")}


def write(lake: Lake, step: str, entries: dict[str, dict]) -> None:
    """Write the step's `entries` (job -> entry), each file at once."""
    for job, entry in entries.items():
        lake.write_bytes(lake.path(*FOLDER, step, f"{job}.json"), json.dumps(entry, indent=1).encode())
