"""The guardrail: a pipeline refuses to write a detected identifier in the clear.

Before any step runs, each source is classified on its first 20,000 rows (a head sample: parsing stops
there, so the check costs a fraction of a second; `vaultline classify` samples the whole input). The
result is cached under `<state>/classify/`, keyed by the SHA-256 of the input files, the classifier's
recognizers and settings, so a rerun on the same input does not classify again. A PostgreSQL source
has no content hash (its fingerprint names the query and counts rows), so it is classified every run.

The spec is then walked, step by step: a column stops being exposed when a protection step (token,
encryption, FPE, mask, redact, hash, generalize, drop) rewrites or removes it — a `custom` mask only
when its pattern, applied to the sample, leaves no value recognisable as the column's entity (what
such a mask hides depends on the data: a pattern for dashed SSNs misses bare ones). A column still exposed
that reaches an output — and whose entity identifies someone (`Entity.identifies`) — is a violation,
unless `policy.accept_unprotected` names it with a reason. By `policy.on_unprotected_sensitive` the
run fails before reading a row (`fail`, the default) or records warnings (`warn`).

Columns are tracked by name: a column a step *derives* from a sensitive one (a `derive` expression
over an email, say) is not followed; `vaultline explain` shows what each step reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vaultline.classify.entities import BY_NAME
from vaultline.classify.policy import propose
from vaultline.errors import TerminalError
from vaultline.spec.models import Pipeline
from vaultline.state import State, write_private
from vaultline.transforms import mask
from vaultline.transforms.base import StepParams

if TYPE_CHECKING:
    import polars as pl

    from vaultline.engines.polars.sources import Ingest


class UnprotectedSensitiveError(TerminalError):
    """An output would hold a column detected as sensitive, with no protection."""


@dataclass(frozen=True)
class Violation:
    output: str
    column: str
    entity: str
    sensitivity: str
    match_fraction: float
    fix: str

    def render(self) -> str:
        return (
            f"output '{self.output}' would hold column '{self.column}' in the clear: "
            f"detected as {self.entity} ({self.sensitivity}, {self.match_fraction:.0%} of sampled values); "
            f"fix: {self.fix}"
        )


def _recognizers_signature() -> str:
    from vaultline.classify import classifier
    from vaultline.classify.registry import RECOGNIZERS

    described = [(type(r).__name__, r.entity, r.candidate, r.keywords, r.column_names, r.needs_context)
                 for r in RECOGNIZERS]  # fmt: skip
    # the findings' own format is part of it: profiles without extremes are format 2
    settings = (
        classifier.DEFAULT_THRESHOLD,
        classifier.DEFAULT_CONTEXT_THRESHOLD,
        classifier.MAX_VALIDATED,
        2,
    )
    return hashlib.sha256(json.dumps([described, settings]).encode()).hexdigest()[:16]


def classify_sources(
    pipeline: Pipeline, state: State, ingests: Mapping[str, Ingest] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Findings per source (value-free JSON), from the cache when the input is unchanged. `ingests`:
    sources already planned by the caller (the runner hands the engine the same plans)."""
    from vaultline.classify.classifier import classify_frame
    from vaultline.classify.sample import head_sample
    from vaultline.engines.polars.sources import read_source

    cache_dir = state.root / "classify"
    masks = _custom_masks(pipeline)
    findings: dict[str, list[dict[str, Any]]] = {}
    for name, source in pipeline.sources.items():
        ingest = ingests[name] if ingests and name in ingests else read_source(name, source)
        if ingest.nothing_new:
            findings[name] = []
            continue
        fingerprints = [(f["location"], f["sha256"]) for f in ingest.fingerprints]
        signature = [fingerprints, _recognizers_signature(), masks]
        key = hashlib.sha256(json.dumps(signature).encode()).hexdigest()
        cached = cache_dir / f"{key}.json"
        by_content = all(f.get("bytes") is not None for f in ingest.fingerprints)
        if by_content and cached.is_file():
            findings[name] = json.loads(cached.read_text("utf-8"))
            continue
        sample = head_sample(name, source, ingest=ingest)
        findings[name] = [
            _with_mask_residue(f.as_json(), sample.frame, masks) for f in classify_frame(sample.frame)
        ]
        if by_content and state.root.is_dir():  # `explain` outside any state directory creates none
            cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_private(cached, json.dumps(findings[name]))
    return findings


def _custom_masks(pipeline: Pipeline) -> list[tuple[str, str]]:
    """(column, pattern) of every custom mask: what such a mask leaves depends on the data."""
    return sorted(
        {
            (column, params.pattern)
            for _, params in pipeline.all_steps()
            if isinstance(params, mask.Params) and params.style == "custom" and params.pattern is not None
            for column in params.columns
        }
    )


def _with_mask_residue(
    finding: dict[str, Any], frame: pl.DataFrame, masks: list[tuple[str, str]]
) -> dict[str, Any]:
    """The finding, with the fraction of sampled values a custom mask leaves whole and recognisable as
    its entity (`left_by_mask`, per pattern): a pattern that misses the identifier protects nothing."""
    import polars as pl

    from vaultline.classify.classifier import recognised_fraction

    entity, column = finding["entity"], str(finding["name"])
    if not entity:
        return finding
    values = frame.get_column(column).cast(pl.String).drop_nulls()

    def missed(pattern: str) -> float:
        # only values the pattern does not touch count: a mask that keeps a value's shape
        # (`***@example.org`) hid what it matched, though the result still looks like the entity
        untouched = values.filter(~values.str.contains(pattern))
        return round(recognised_fraction(untouched, entity) * untouched.len() / max(values.len(), 1), 4)

    left = {pattern: missed(pattern) for masked, pattern in masks if masked == column}
    return {**finding, "left_by_mask": left} if left else finding


def _left_in_clear(params: StepParams, finding: dict[str, Any]) -> float:
    """How much of `column` the step leaves recognisable (only custom masks leave any)."""
    if not isinstance(params, mask.Params) or params.style != "custom":
        return 0.0
    return float(finding.get("left_by_mask", {}).get(params.pattern, 0.0))


def exposed_columns(pipeline: Pipeline, detected: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Per output, the detected identifying columns that reach it with no protection on the way."""
    exposed = {c: f for c, f in detected.items() if f["entity"] and BY_NAME[f["entity"]].identifies}
    for _, params in pipeline.all_steps():
        if params.protection.value != "none":
            for column in params.protected_columns():
                if column in exposed and not _left_in_clear(params, exposed[column]):
                    exposed.pop(column)
    return {
        name: [c for c in exposed if output.columns is None or c in output.columns]
        for name, output in pipeline.outputs.items()
    }


def check(pipeline: Pipeline, state: State, ingests: Mapping[str, Ingest] | None = None) -> dict[str, Any]:
    """Classify the sources, then fail or warn per policy; returns the run report's `guardrail` section."""
    per_source = classify_sources(pipeline, state, ingests)
    detected = {f["name"]: f for findings in per_source.values() for f in findings if f["entity"]}
    accepted = pipeline.policy.accept_unprotected
    violations = [
        Violation(
            output,
            column,
            detected[column]["entity"],
            detected[column]["sensitivity"],
            detected[column]["match_fraction"],
            _fix(pipeline, column, detected[column]),
        )
        for output, columns in exposed_columns(pipeline, detected).items()
        for column in columns
        if column not in accepted
    ]
    section = {
        "policy": pipeline.policy.on_unprotected_sensitive,
        "detected": {c: f["entity"] for c, f in detected.items()},
        "accepted": dict(accepted),
        "violations": [v.render() for v in violations],
    }
    if violations and pipeline.policy.on_unprotected_sensitive == "fail":
        raise UnprotectedSensitiveError(
            "\n".join(
                [
                    "refusing to write sensitive columns in the clear:",
                    *(f"  {v.render()}" for v in violations),
                ]
            ),
            hint="add the protection step named for each column, or list the column under "
            "policy.accept_unprotected with the reason it may stay in the clear",
        )
    return section


def _fix(pipeline: Pipeline, column: str, finding: dict[str, Any]) -> str:
    entity = finding["entity"]
    left = max(finding.get("left_by_mask", {}).values(), default=0.0)
    if left:
        return (
            f"its custom `mask` pattern leaves {left * 100:.2g}% of sampled values recognisable as "
            f"{entity}: make the pattern match every form the identifier takes, or choose another style"
        )
    profile = pipeline.policy.profile or "hipaa-safe-harbor"
    proposal = propose(column, entity, profile)
    name, params = next(iter(proposal.step().items()))
    fix = f"add the step `- {name}: {json.dumps(params)}`"
    if proposal.domain and proposal.domain not in pipeline.keys:
        fix += f" and a key for domain '{proposal.domain}' under `keys:`"
    return fix
