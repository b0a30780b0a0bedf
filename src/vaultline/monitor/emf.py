"""Stored run metrics as CloudWatch Embedded Metric Format: one JSON document per run, one per line.

Written to a log stream that CloudWatch Logs ingests (a Lambda's or an ECS task's standard output, or the
CloudWatch agent), each line becomes metrics in namespace `Vaultline` with the dimension `pipeline`;
`run_id` travels as a property, searchable in Logs Insights without becoming a dimension (which would
create one metric per run).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from vaultline.catalog.metrics import RunMetrics
from vaultline.monitor.metrics import METRICS

NAMESPACE = "Vaultline"
_UNITS = {spec.name: spec.unit for spec in METRICS}


def emf_document(record: RunMetrics) -> dict[str, Any]:
    """The EMF document of one run: `_aws` metadata, the `pipeline` dimension, `run_id` and the values."""
    names = [spec.name for spec in METRICS if spec.name in record.values]
    return {
        "_aws": {
            "Timestamp": int(datetime.fromisoformat(record.recorded_at).timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["pipeline"]],
                    "Metrics": [{"Name": name, "Unit": _UNITS[name]} for name in names],
                }
            ],
        },
        "pipeline": record.pipeline,
        "run_id": record.run_id,
        **{name: record.values[name] for name in names},
    }


def render_emf(records: Iterable[RunMetrics]) -> str:
    """One EMF line per run, in the order given."""
    return "".join(json.dumps(emf_document(record), sort_keys=True) + "\n" for record in records)
