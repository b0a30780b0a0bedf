"""`vaultline explain SPEC`: the reasoning behind each protection of a spec, and its weak choices.

For every protected column: what it is (from the sources' classification, when they can be read),
what the step does, why, the risk it addresses, and what the spec's profile would propose. Then the
findings, each with a fix:

- `unprotected-sensitive`: a detected identifier reaches an output in the clear (what the run's
  guardrail refuses);
- `unkeyed-hash`: an unkeyed hash of an identifier; ids, phones, SSNs and emails come from small or
  guessable spaces, so every hash is reversed by hashing the candidates (10^9 SSNs take minutes);
- `unneeded-reversible`: reversible encryption with no `readers` declared: if no one is listed to
  read the value back, a one-way token protects it better;
- `quasi-identifier-in-clear`: a ZIP code, date, birth date, place, age or gender reaches an output
  neither generalized nor covered by a `k_anonymity` step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vaultline.classify.assistant import QUASI_IDENTIFIER_ENTITIES, QUASI_IDENTIFIER_NAMES
from vaultline.classify.entities import BY_NAME
from vaultline.classify.policy import FAMILY, RISK, propose
from vaultline.errors import VaultlineError
from vaultline.spec.models import Pipeline
from vaultline.state import State
from vaultline.transforms import generalize

_REASONS = {
    "tokenize": "keyed HMAC-SHA256 token: joins still work, irreversible without the key",
    "encrypt_deterministic": "AES-SIV: joins still work, and holders of the key can read the value back",
    "format_preserving": "FF1 format-preserving encryption: same length and alphabet; reversible",
    "hash": "unkeyed hash: anyone can recompute it from a guessed value",
    "mask": "partial masking for display: irreversible",
    "redact": "replaced by a constant: irreversible",
    "drop": "removed from the output",
    "generalize": "coarsened (year, ZIP3, age top-coded 90+)",
    "k_anonymity": "groups smaller than k are suppressed or fail the run",
}
_HASHABLE_FAMILIES = {"record_id", "government_id", "email", "phone", "card", "account", "device", "ip"}


@dataclass(frozen=True)
class Finding:
    kind: str
    column: str
    message: str
    fix: str

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "column": self.column, "message": self.message, "fix": self.fix}


def _classification(pipeline: Pipeline, state: State) -> tuple[dict[str, dict[str, Any]], str | None]:
    from vaultline.classify.guardrail import classify_sources

    try:
        per_source = classify_sources(pipeline, state)
    except VaultlineError as exc:
        return {}, f"sources could not be classified ({exc.message}); reasoning from column names only"
    return {f["name"]: f for findings in per_source.values() for f in findings}, None


def explain(pipeline: Pipeline, state: State) -> dict[str, Any]:
    """Steps with their reasoning, and the findings; value-free JSON."""
    from vaultline.classify.guardrail import exposed_columns

    detected, note = _classification(pipeline, state)
    profile = pipeline.policy.profile or "hipaa-safe-harbor"
    steps: list[dict[str, Any]] = []
    findings: list[Finding] = []
    generalized: set[str] = set()
    k_covered: set[str] = set()
    # Numbered as `validate` paths (`steps.3`) and run reports number them, from 0.
    for index, (name, params) in enumerate(pipeline.all_steps()):
        if name == "k_anonymity":
            k_covered.update(params.input_columns())
        if name == "generalize":
            generalized.update(params.protected_columns())
            generalized.update(params.output_columns())
        for column in params.protected_columns():
            entity = (detected.get(column) or {}).get("entity")
            entry: dict[str, Any] = {
                "step": index,
                "transform": name,
                "column": column,
                "entity": entity,
                "does": _REASONS.get(name, ""),
            }
            if entity and BY_NAME[entity].identifies:
                proposal = propose(column, entity, profile)
                entry["risk"] = RISK.get(FAMILY.get(entity, ""), "")
                entry["profile_proposes"] = proposal.choice.action
                entry["profile_reason"] = proposal.choice.reason
                if name == "hash" and FAMILY.get(entity) in _HASHABLE_FAMILIES:
                    findings.append(_unkeyed_hash(column, entity, index))
            elif name == "hash":
                findings.append(_unkeyed_hash(column, entity, index))
            if (
                isinstance(params, generalize.Params)
                and entity == "DATE_OF_BIRTH"
                and params.rules[column].rule == "year"
            ):
                findings.append(
                    Finding(
                        "birth-year-over-89",
                        column,
                        f"step {index} keeps the birth year of '{column}': Safe Harbor requires the year "
                        "too to be aggregated where it shows an age over 89",
                        "use `rule: age_from_date` (ages over 89 become 90+), or drop the column",
                    )
                )
            if name == "encrypt_deterministic" and not getattr(params, "readers", None):
                findings.append(
                    Finding(
                        "unneeded-reversible",
                        column,
                        f"step {index} encrypts '{column}' reversibly, and no `readers` are declared",
                        "declare `readers: [role, ...]` who must decrypt it, or `tokenize` if no one does",
                    )
                )
            steps.append(entry)
    for output, columns in exposed_columns(pipeline, detected).items():
        for column in columns:
            if column in pipeline.policy.accept_unprotected:
                continue
            entity = detected[column]["entity"]
            step = propose(column, entity, profile).step()
            findings.append(
                Finding(
                    "unprotected-sensitive",
                    column,
                    f"output '{output}' holds '{column}' ({entity}) in the clear; the run will refuse it",
                    f"add `- {next(iter(step))}: ...` as `vaultline init` proposes, "
                    "or list it under policy.accept_unprotected with the reason",
                )
            )
    findings += _quasi_identifiers(pipeline, detected, generalized | k_covered)
    return {
        "profile": profile,
        "note": note,
        "steps": steps,
        "findings": [f.as_json() for f in findings],
    }


def _unkeyed_hash(column: str, entity: str | None, index: int) -> Finding:
    what = f"an identifier ({entity})" if entity else "a value"
    return Finding(
        "unkeyed-hash",
        column,
        f"step {index} hashes '{column}', {what}, without a key: it is reversed by hashing the candidates",
        "use `tokenize` (HMAC-SHA256 keyed from the keyring) in a token domain",
    )


def _quasi_identifiers(
    pipeline: Pipeline, detected: dict[str, dict[str, Any]], handled: set[str]
) -> list[Finding]:
    """Columns that reach an output unprotected and are quasi-identifiers by entity or by name."""
    protected = {c for _, params in pipeline.all_steps() for c in params.protected_columns()}
    columns = set(detected)
    for _, params in pipeline.all_steps():
        columns.update(params.output_columns())
    found = []
    for column in sorted(columns - protected - handled):
        entity = (detected.get(column) or {}).get("entity")
        by_name = column.lower().replace("_", "") in QUASI_IDENTIFIER_NAMES
        if entity in QUASI_IDENTIFIER_ENTITIES or by_name:
            in_output = any(o.columns is None or column in o.columns for o in pipeline.outputs.values())
            if in_output:
                found.append(
                    Finding(
                        "quasi-identifier-in-clear",
                        column,
                        f"'{column}' is a quasi-identifier and reaches the output as it is",
                        "generalize it (year, zip3, age bands) or add it to a `k_anonymity` step's "
                        "quasi_identifiers with a min_k",
                    )
                )
    return found
