"""The classification report of one source: the stable JSON `vaultline classify --format json` prints.

    {"source": "<location or spec:source>",
     "sample": {"fraction": 0.1, "rows": 20000, "inputs": [{"location", "sha256", "bytes"}]},
     "settings": {"threshold": 0.5, "context_threshold": 0.1},
     "columns": [{"name", "entity", "sensitivity", "confidence", "match_fraction", "evidence", "profile"}]}

`entity` is null for a column found not sensitive. No value of the source appears anywhere in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vaultline.classify.classifier import DEFAULT_CONTEXT_THRESHOLD, DEFAULT_THRESHOLD, classify_frame
from vaultline.classify.sample import DEFAULT_FRACTION, named_source, sample_source


def classify_location(
    reference: str,
    *,
    fraction: float = DEFAULT_FRACTION,
    threshold: float = DEFAULT_THRESHOLD,
    context_threshold: float = DEFAULT_CONTEXT_THRESHOLD,
    file_format: str | None = None,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    name, source = named_source(reference, file_format, params)
    sample = sample_source(name, source, fraction)
    context_threshold = min(context_threshold, threshold)
    findings = classify_frame(sample.frame, threshold=threshold, context_threshold=context_threshold)
    return {
        "source": reference,
        "sample": {"fraction": fraction, "rows": sample.frame.height, "inputs": sample.fingerprints},
        "settings": {"threshold": threshold, "context_threshold": context_threshold},
        "columns": [finding.as_json() for finding in findings],
    }
