"""`vaultline init`: classify a source and write a complete, valid pipeline spec for a human to review.

Every sensitive column gets the protection `classify.policy` proposes for the chosen profile and the
column's use, preceded by YAML comments: what was detected and from what evidence, the use assumed,
why this protection, the risk it addresses, and the alternative. Columns kept in the clear are listed
with the reason. The spec is validated by the same loader as `vaultline validate` before it is
written, and nothing is applied: no key is created, nothing runs.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from vaultline.classify.classifier import ColumnFinding, classify_frame
from vaultline.classify.entities import BY_NAME
from vaultline.classify.policy import Proposal, Use, dropped, fitted_to_digits, propose, renamed_output
from vaultline.classify.recognizers.dates import date_layout
from vaultline.classify.registry import RECOGNIZERS
from vaultline.classify.sample import DEFAULT_FRACTION, sample_source, source_for
from vaultline.errors import TerminalError

# Columns that single people out in combination (Sweeney: ZIP, birth date and sex identify 87% of
# the US): proposed as the quasi-identifiers of a k-anonymity check, by name or by what was detected.
QUASI_IDENTIFIER_NAMES = frozenset(
    {"age", "gender", "sex", "race", "ethnicity", "zip", "zipcode", "postcode", "marital", "maritalstatus"}
)
QUASI_IDENTIFIER_ENTITIES = frozenset({"ZIP_CODE", "DATE", "DATE_OF_BIRTH", "LOCATION"})
MIN_K = 5
"""The k proposed once the quasi-identifiers are coarse enough (a common floor in health data release)."""
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class InitError(TerminalError):
    """`vaultline init` cannot write the spec (the output exists, the source yields nothing...)."""


@dataclass
class Draft:
    """A spec being written: YAML lines plus what the CLI prints afterwards."""

    name: str
    profile: str
    lines: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    proposals: list[Proposal] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def flow(value: Any) -> str:
    """A value as YAML flow style, quoting only what plain YAML would misread."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{flow(k)}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, str):
        reserved = value.lower() in ("yes", "no", "on", "off", "true", "false", "null", "~")
        return value if _PLAIN.match(value) and not reserved else json.dumps(value)
    return json.dumps(value)


def spec_name(location: str) -> str:
    stem = Path(location.rstrip("/")).name.split(".")[0]
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_-") or "pipeline"
    return cleaned if cleaned[0].isalpha() else f"p_{cleaned}"[:64]


def _use_overrides(uses: list[str]) -> dict[str, Use]:
    chosen: dict[str, Use] = {}
    for item in uses:
        column, sep, use = item.partition("=")
        if not sep or use not in Use.__members__.values():
            raise InitError(
                f"--use {item!r} is not COLUMN=USE",
                hint=f"USE is one of: {', '.join(u.value for u in Use)}",
            )
        chosen[column] = Use(use)
    return chosen


def _span_pattern(entities: dict[str, float]) -> str:
    """One Rust regex matching the candidates of the entities found inside a free-text column."""
    candidates = dict.fromkeys(
        r.candidate for r in RECOGNIZERS if r.entity in entities and not r.needs_context
    )  # fmt: skip
    return "|".join(f"(?:{c})" for c in candidates)


def _finding_comment(finding: ColumnFinding) -> str:
    keyword = finding.evidence.get("name_keyword")
    if finding.evidence.get("free_text"):
        inside = ", ".join(f"{e} in {f:.0%} of rows" for e, f in finding.evidence["entities_in_text"].items())
        return f"free text holding {inside}"
    how = finding.evidence.get("validator", "")
    return (
        f"{finding.entity} ({finding.sensitivity}): {finding.match_fraction:.0%} of sampled values pass {how}"
        + (f"; column name says '{keyword}'" if keyword else "")
    )


def _protection_lines(proposal: Proposal, finding: ColumnFinding) -> list[str]:
    step = proposal.step()
    name, params = next(iter(step.items()))
    if proposal.use is Use.FREE_TEXT:
        params["pattern"] = _span_pattern(finding.evidence["entities_in_text"])
    how = f"{proposal.choice.action}" + (f" in token domain '{proposal.domain}'" if proposal.domain else "")
    return [
        *comment(f"{finding.name}: {_finding_comment(finding)}"),
        *comment(f"use: {proposal.use.value} -> {how}", indent=2),
        *comment(f"why: {proposal.choice.reason}", indent=2),
        *comment(f"risk addressed: {proposal.risk}", indent=2),
        *comment(f"alternative: {proposal.choice.alternative}", indent=2),
        f"  - {name}: {flow(params)}",
    ]


def comment(text: str, *, indent: int = 0) -> list[str]:
    """A step comment wrapped to 100 columns, continuation lines indented under the first."""
    first = "  # " + " " * indent
    return textwrap.wrap(text, 100, initial_indent=first, subsequent_indent=first + "    ")


def _quasi_identifiers(findings: list[ColumnFinding], proposals: list[Proposal]) -> list[str]:
    """Columns of the *output* that are quasi-identifiers (a generalized birth date becomes `age`)."""
    dropped = {p.column for p in proposals if p.choice.action == "drop"}
    renamed = {p.column: p.choice.params.get("output") for p in proposals if p.choice.action == "generalize"}
    names: list[str] = []
    for finding in findings:
        column = finding.name
        is_qi = finding.entity in QUASI_IDENTIFIER_ENTITIES or column.lower().replace("_", "") in (
            QUASI_IDENTIFIER_NAMES
        )
        if is_qi and column not in dropped:
            names.append(renamed.get(column) or column)
    return list(dict.fromkeys(names))


def _fitted(proposal: Proposal, values: pl.Series, taken: set[str]) -> Proposal:
    """The proposal fitted to the column's sampled values and to the names already taken (which it
    extends with the column it adds, if any)."""
    if proposal.choice.action == "format_preserving":
        proposal = fitted_to_digits(proposal, _fewest_digits(values))
    proposal = renamed_output(proposal, taken)
    if "output" in proposal.choice.params:
        taken.add(proposal.choice.params["output"])
    return proposal


def _fewest_digits(values: pl.Series) -> int:
    """The fewest digits a non-empty value of the column holds (what FF1 has to work with)."""
    counts = values.cast(pl.String).str.count_matches("[0-9]")
    shortest = counts.filter(counts > 0).min()
    return int(shortest) if isinstance(shortest, int) else 0


def draft_spec(
    location: str,
    *,
    profile: str,
    uses: list[str] | None = None,
    fraction: float = DEFAULT_FRACTION,
    file_format: str | None = None,
    target: str = "output",
) -> Draft:
    """Classify `location` and draft the spec text (validated by the caller, see `write_spec`)."""
    source = source_for(location, file_format)
    sample = sample_source(location, source, fraction)  # its errors name the location
    if sample.frame.height == 0:
        raise InitError(f"{location} has no readable rows to classify", hint="check the path and the format")
    findings = classify_frame(sample.frame)
    chosen_uses = _use_overrides(uses or [])
    unknown = set(chosen_uses) - set(sample.frame.columns)
    if unknown:
        raise InitError(f"--use names columns the source does not have: {', '.join(sorted(unknown))}")
    name = spec_name(location)
    draft = Draft(name, profile)
    parse: dict[str, dict[str, str]] = {}  # column -> clean.parse entry
    protect: list[tuple[Proposal, ColumnFinding]] = []
    taken = set(sample.frame.columns)  # column names an output of a step must not overwrite
    clear: list[str] = []
    for finding in findings:
        entity = BY_NAME[finding.entity] if finding.entity else None
        if entity is None or not entity.identifies:
            why = "not detected as sensitive" if entity is None else f"{entity.name}: identifies no one"
            clear.append(f"{finding.name} ({why})")
            continue
        proposal = propose(
            finding.name, entity.name, profile,
            use=chosen_uses.get(finding.name), free_text=bool(finding.evidence.get("free_text")),
        )  # fmt: skip
        proposal = _fitted(proposal, sample.frame[finding.name], taken)
        if proposal.domain:
            draft.keys[proposal.domain] = f"{name}_{proposal.domain}_key"
        typed = sample.frame[finding.name].dtype.is_temporal()  # a Parquet date needs no parsing
        if proposal.choice.action == "generalize" and proposal.choice.params["rule"] != "zip3" and not typed:
            layout = date_layout(sample.frame[finding.name])
            if layout is None:
                proposal = dropped(
                    proposal, "its dates follow no single layout, so they cannot be generalized"
                )
            else:
                parse[finding.name] = {"format": layout[0], "type": layout[1]}
        draft.proposals.append(proposal)
        protect.append((proposal, finding))

    lines = draft.lines
    lines += _head(draft, location, source.format, sample.frame.height, target)
    lines.append("steps:")
    lines.append("  # trim whitespace; parse the dates that are generalized below")
    lines.append(f"  - clean: {flow({'trim': True, **({'parse': parse} if parse else {})})}")
    for proposal, finding in protect:
        lines += _protection_lines(proposal, finding)
    quasi = _quasi_identifiers(findings, draft.proposals)
    if quasi:
        lines += comment(
            f"quasi-identifiers left in the output: {', '.join(quasi)}. Together they can single out a "
            "person. This step measures k-anonymity (the smallest group of rows sharing their values) "
            f"into the run report; once they are coarse enough, add `min_k: {MIN_K}` and "
            "`on_violation: suppress` (small groups quarantined with the reason) or `fail`."
        )
        lines.append(f"  - k_anonymity: {flow({'quasi_identifiers': quasi})}")
    if clear:
        lines.append("  # kept as they are:")
        lines += [f"  #   {item}" for item in clear]
    lines += [
        "",
        "outputs:",
        f"  {name}:",
        f"    path: ${{params.target}}/{name}",
        "",
        "policy:",
        f"  profile: {profile}",
        "  on_unprotected_sensitive: fail  # the run refuses to write a detected identifier in the clear",
    ]
    return draft


def _head(draft: Draft, location: str, file_format: str, rows: int, target: str) -> list[str]:
    """Header comment, identity, params, keys and the source."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [
        f"# Drafted by `vaultline init` on {stamp} from {rows:,} sampled rows of {location},",
        f"# profile {draft.profile}. A proposal, not a decision: review every step, then",
        "#   vaultline validate <this file> && vaultline explain <this file>",
        "version: 1",
        f"name: {draft.name}",
        f"description: {flow(f'Protect {location} ({draft.profile})')}",
        "",
        "params:",
        f"  source: {flow(location)}",
        f"  target: {flow(target)}",
        "",
    ]
    if draft.keys:
        lines.append("keys:  # token domain -> keyring key; create each: vaultline keys create NAME")
        lines += [f"  {domain}: {key}" for domain, key in draft.keys.items()]
        lines.append("")
    return [
        *lines,
        "sources:",
        f"  {draft.name}:",
        f"    format: {file_format}",
        "    path: ${params.source}",
        "",
    ]


def write_spec(location: str, out: Path, *, force: bool = False, **options: Any) -> Draft:
    """Draft, validate with the spec loader, and write atomically (refusing to overwrite unless forced)."""
    from vaultline.spec.loader import loads

    if out.exists() and not force:
        raise InitError(f"{out} already exists", hint="choose another --out, or pass --force to replace it")
    draft = draft_spec(location, **options)
    loads(draft.text(), file=str(out))  # a SpecError here is a bug in the assistant, not the user's
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(draft.text(), "utf-8")
    partial.replace(out)
    return draft
