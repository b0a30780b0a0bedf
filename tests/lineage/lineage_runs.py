"""What the lineage tests' fixtures hand over: real runs of pipelines and the events they emitted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vaultline.demo
from vaultline.lineage.emitter import events_path
from vaultline.spec.loader import LoadedSpec
from vaultline.state import State

EXAMPLES = Path(vaultline.demo.__file__).parent / "examples"
"""The example specs as the package ships them."""


@dataclass
class Runs:
    out: Path
    state: State
    loaded: dict[str, LoadedSpec]
    reports: dict[str, dict[str, Any]]
    datasets: dict[str, Any]

    def events(self) -> list[dict[str, Any]]:
        lines = events_path(self.state).read_text("utf-8").splitlines()
        return [json.loads(line) for line in lines]
