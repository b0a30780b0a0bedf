"""Classify the columns of a sample: which entity each holds, how sure we are, and why.

For every column and recognizer (see `recognizer.py`), on the column's non-null sampled values:

    match_fraction = values whose candidate validates / non-null values

Distinct candidates are validated once each; past `MAX_VALIDATED` distinct candidates a recognizer
validates an even spread of them and scales (the fraction is then an estimate, within about 2%).

The column name is context: it *supports* a recognizer when one of its words (split on `_`, `-`,
spaces and camelCase, or the whole name run together) is one of the recognizer's keywords.

A recognizer flags the column when
- `match_fraction >= threshold` (default 0.5, as AWS Glue DataBrew; Glue's 10% flags mixed
  columns such as a free-form "reference" field too often), and it does not need context; or
- its name supports it and `match_fraction >= context_threshold` (default 0.1, Glue's threshold:
  with the name saying so, one value in ten is enough).

confidence = match_fraction, raised to (1 + match_fraction) / 2 with name support. Of the flagging
recognizers one the name supports wins over one it does not, then one whose layout alone identifies
the entity (for at least `threshold` of the values) over a name-only one, then the most confident;
ties go to the one listed first in `registry.RECOGNIZERS`.
Nothing here keeps or returns a value: evidence holds validator names, keywords and counts.

Free text (a `free_text_score` of 0.5 or more and no whole-value entity): candidate spans of the
span-capable recognizers are searched inside the text and validated; the column is flagged with the
entity found in the most rows when at least `context_threshold` of its rows hold one, and the
evidence lists the fraction of rows holding each entity (the policy assistant offers span masking).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from vaultline.classify.entities import BY_NAME, Sensitivity
from vaultline.classify.profile import profile, text_form
from vaultline.classify.recognizer import Recognizer
from vaultline.classify.registry import RECOGNIZERS

DEFAULT_THRESHOLD = 0.5
DEFAULT_CONTEXT_THRESHOLD = 0.1
MAX_VALIDATED = 2_000
FREE_TEXT = 0.5
SPAN_ENTITIES = ("EMAIL", "PHONE_NUMBER", "USA_SSN", "CREDIT_CARD", "IP_ADDRESS", "URL", "IBAN",
                 "USA_MEDICARE_BENEFICIARY_IDENTIFIER", "CREDENTIAL")  # fmt: skip
_SPLIT = re.compile(r"[\W_]+")  # any non-letter, non-digit: `straße`, `teléfono` stay whole words
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")  # dateOfBirth, CPTCode
_TRIM = " \t,;:.!?()[]<>\"'#="


@dataclass
class ColumnFinding:
    name: str
    entity: str | None
    sensitivity: str
    confidence: float
    match_fraction: float
    evidence: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entity": self.entity,
            "sensitivity": self.sensitivity,
            "confidence": self.confidence,
            "match_fraction": self.match_fraction,
            "evidence": self.evidence,
            "profile": self.profile,
        }


@dataclass(frozen=True)
class _Score:
    recognizer: Recognizer
    match_fraction: float
    keyword: str | None
    candidates: int
    validated: int

    @property
    def confidence(self) -> float:
        f = self.match_fraction
        return (1 + f) / 2 if self.keyword else f


def name_words(column: str) -> set[str]:
    """Words of a column name, lowercase, plus the whole name run together (`dateOfBirth` → dateofbirth)."""
    spaced = _CAMEL.sub("_", column).lower()
    words = {w for w in _SPLIT.split(spaced) if w}
    words.add("".join(_SPLIT.split(spaced)))
    return words


def run_together(column: str) -> str:
    """The column name lowercase without separators (`First-Name` → firstname)."""
    return "".join(_SPLIT.split(column.lower()))


def supporting_keyword(recognizer: Recognizer, words: set[str], whole: str) -> str | None:
    """The keyword of the column name supporting the recognizer, if any (`whole`: see run_together)."""
    if whole in recognizer.column_names:
        return whole
    return next((k for k in recognizer.keywords if k in words), None)


def _validated(recognizer: Recognizer, candidates: pl.Series) -> int:
    """How many candidate values validate (estimated from an even spread past MAX_VALIDATED distinct)."""
    if type(recognizer).validate is Recognizer.validate:
        return candidates.len()
    counts = candidates.rename("value").value_counts(name="count")  # the column's own name may be either
    if counts.height > MAX_VALIDATED:
        counts = counts.gather_every(counts.height // MAX_VALIDATED).head(MAX_VALIDATED)
    values: list[str] = counts["value"].to_list()
    weights: list[int] = counts["count"].to_list()
    good = sum(n for value, n in zip(values, weights, strict=True) if recognizer.validate(value))
    return round(good * candidates.len() / sum(weights))


def _score(recognizer: Recognizer, values: pl.Series, words: set[str], whole: str) -> _Score | None:
    keyword = supporting_keyword(recognizer, words, whole)
    if recognizer.needs_context and keyword is None:
        return None
    candidates = values.filter(values.str.contains(f"^(?:{recognizer.candidate})$"))
    if candidates.len() == 0:
        return None
    validated = _validated(recognizer, candidates)
    return _Score(recognizer, validated / values.len(), keyword, candidates.len(), validated)


def _flags(score: _Score, threshold: float, context_threshold: float) -> bool:
    if score.keyword is not None and score.match_fraction >= context_threshold:
        return True
    return not score.recognizer.needs_context and score.match_fraction >= threshold


def _spans(values: pl.Series, entities: tuple[str, ...] = SPAN_ENTITIES) -> dict[str, float]:
    """Fraction of rows holding a validated span of each span-capable entity (of `entities`)."""
    found: dict[str, float] = {}
    for recognizer in RECOGNIZERS:
        if recognizer.entity not in entities or recognizer.needs_context or recognizer.entity in found:
            continue
        # bounded by space or punctuation, quotes (JSON) and `#` / `=` (`SSN#...`, `ssn=...`) included
        pattern = rf"(?:^|[\s,;:(<\[\"'#=])(?:{recognizer.candidate})(?:$|[\s,;:)>\].!?\"'])"
        pieces = values.str.extract_all(pattern)
        rows = 0
        for spans in pieces.to_list():
            if spans and any(recognizer.validate(s.strip(_TRIM)) for s in spans):
                rows += 1
        if rows:
            found[recognizer.entity] = round(rows / values.len(), 4)
    return found


def classify_column(
    series: pl.Series,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    context_threshold: float = DEFAULT_CONTEXT_THRESHOLD,
) -> ColumnFinding:
    text = text_form(series)
    values = text.drop_nulls()
    words, whole = name_words(series.name), run_together(series.name)
    best: _Score | None = None
    flagged: list[_Score] = []
    if values.len():
        scores = [s for r in RECOGNIZERS if (s := _score(r, values, words, whole)) is not None]
        flagged = [s for s in scores if _flags(s, threshold, context_threshold)]

        # The name decides between layouts that overlap (HCPCS `J1100` is also an ICD-10 layout); then a
        # specific layout that holds for most values beats a name-only one (an MBI column is also
        # "member ids"); then confidence. max() keeps the first of equal keys: registry order.
        def rank(s: _Score) -> tuple[bool, bool, float]:
            specific = not s.recognizer.needs_context and s.match_fraction >= threshold
            return s.keyword is not None, specific, round(s.confidence, 2)

        best = max(flagged, key=rank, default=None)
    column_profile = profile(text)
    # a list or struct is searched as free text: its JSON text holds values within quotes
    searched = column_profile["free_text_score"] >= FREE_TEXT or series.dtype.is_nested()
    if best is None and values.len() and searched:
        spans = _spans(values)
        if spans and max(spans.values()) >= context_threshold:
            found = max(spans, key=lambda e: spans[e])
            return ColumnFinding(
                series.name, found, BY_NAME[found].sensitivity.value, spans[found], spans[found],
                {"free_text": True, "entities_in_text": spans}, column_profile,
            )  # fmt: skip
    if best is None:
        return ColumnFinding(series.name, None, Sensitivity.NONE.value, 0.0, 0.0, {}, column_profile)
    entity = BY_NAME[best.recognizer.entity]
    evidence = {
        "validator": best.recognizer.validator,
        "name_keyword": best.keyword,
        "candidates": best.candidates,
        "validated": best.validated,
        "non_null_sampled": values.len(),
        # other entities the column also qualified as: a reviewer sees the runner-up
        "also_flagged": {
            s.recognizer.entity: round(s.match_fraction, 4)
            for s in sorted(flagged, key=lambda s: -s.confidence)
            if s.recognizer.entity != entity.name
        },
    }
    return ColumnFinding(
        series.name, entity.name, entity.sensitivity.value, round(best.confidence, 4),
        round(best.match_fraction, 4), evidence, column_profile,
    )  # fmt: skip


def classify_frame(
    frame: pl.DataFrame, *, threshold: float | None = None, context_threshold: float | None = None
) -> list[ColumnFinding]:
    """One finding per column of `frame` (a sample), in column order."""
    t = DEFAULT_THRESHOLD if threshold is None else threshold
    c = DEFAULT_CONTEXT_THRESHOLD if context_threshold is None else min(context_threshold, t)
    return [classify_column(frame[name], threshold=t, context_threshold=c) for name in frame.columns]


def recognised_fraction(series: pl.Series, entity: str) -> float:
    """The fraction of a column's non-null values some recognizer of `entity` still accepts, whole or
    as a span inside text: how much of a detected identifier a mask left in the clear."""
    values = text_form(series).drop_nulls()
    if not values.len():
        return 0.0
    words, whole = name_words(series.name), run_together(series.name)
    scores = [s for r in RECOGNIZERS if r.entity == entity and (s := _score(r, values, words, whole))]
    in_text = _spans(values, (entity,)).get(entity, 0.0) if entity in SPAN_ENTITIES else 0.0
    return round(max([in_text, *(s.match_fraction for s in scores)]), 4)
