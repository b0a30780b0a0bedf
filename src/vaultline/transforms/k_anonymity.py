"""k_anonymity: re-identification risk of the quasi-identifiers, measured and enforced.

Rows sharing the same values of every quasi-identifier (QI) form an equivalence class: someone who
knows those attributes of a person (age, ZIP3, admission year...) can narrow them down to that
class, and no further. The flow is k-anonymous for k = the size of its smallest class. With
sensitive columns, distinct l-diversity adds l = the fewest distinct values of a sensitive column
within any class (for several sensitive columns, the minimum over them): a class of 10 rows that all
share one diagnosis discloses it (l = 1) although k = 10.

Classes of fewer than `min_k` rows (or with fewer than `min_l` distinct sensitive values) are
violations. `on_violation: fail` stops the run with the QI columns, the k (or l) reached and how
many rows and classes fall short; `suppress` quarantines the rows of those classes with the reason
`k_anonymity:equivalence class smaller than k=<min_k>` (or `k_anonymity:equivalence class with
fewer than l=<min_l> distinct sensitive values`). Suppression removes whole classes, so the rows
left are k-anonymous with k >= min_k and l >= min_l. Without `min_k`/`min_l` the step only measures.
Rows are not changed. The step reads the whole flow where it stands (like `anomaly`): place it
after the generalizations and drops, last, so it measures the rows and columns the output holds.

A null QI value is a value of its own: rows with a null QI form their own classes (null equals
null, unlike SQL), so they are neither dropped nor merged with other classes. A null sensitive value
counts as one distinct value.

The report records k before and after suppression, l, the number of classes, the rows suppressed
and a histogram of class sizes (bucket -> number of classes); the reported k and l are computed by
pycanon on the rows kept (its `k_anonymity` and `l_diversity`). Values never appear in the facts,
in errors or in the quarantine reasons: only column names and counts.

Example (the HealthPlus output after Safe Harbor generalization)::

    - k_anonymity:
        quasi_identifiers: [age, gender, zip, admission_date]
        sensitive: [condition_code]
        min_k: 5
        on_violation: suppress
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from vaultline.transforms.base import ColumnFlow, ColumnName, StepParams, TransformSpec


class Params(StepParams):
    quasi_identifiers: list[ColumnName] = Field(min_length=1)
    """Columns that together could single a person out (age, ZIP3, gender, dates...): they define
    the equivalence classes. Null is a value of its own."""
    sensitive: list[ColumnName] = Field(default_factory=list)
    """Sensitive columns whose distinct values per class give l (distinct l-diversity)."""
    min_k: int | None = Field(default=None, ge=2)
    """Smallest class size allowed; smaller classes are violations (none: only measure k)."""
    min_l: int | None = Field(default=None, ge=2)
    """Fewest distinct values of each sensitive column a class must hold (needs `sensitive`)."""
    on_violation: Literal["fail", "suppress"] = "fail"
    """`fail` stops the run; `suppress` quarantines the rows of the violating classes."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_l is not None and not self.sensitive:
            raise ValueError("min_l needs at least one `sensitive` column to count distinct values in")
        both = sorted(set(self.quasi_identifiers) & set(self.sensitive))
        if both:
            raise ValueError(
                f"column(s) {', '.join(repr(c) for c in both)} are both quasi-identifier and sensitive"
            )
        return self

    def input_columns(self) -> list[str]:
        return list(dict.fromkeys([*self.quasi_identifiers, *self.sensitive]))

    def column_lineage(self) -> list[ColumnFlow]:
        # Values are never changed; only suppression decides which rows remain.
        if self.on_violation != "suppress" or (self.min_k is None and self.min_l is None):
            return []
        deciding = [*self.quasi_identifiers, *(self.sensitive if self.min_l is not None else [])]
        return [ColumnFlow(None, column, "FILTER", description="suppression") for column in deciding]

    def fits_on_data(self) -> bool:
        return True


SPEC = TransformSpec(
    "k_anonymity", Params, "k-anonymity / l-diversity of quasi-identifiers; suppress or fail below min_k"
)
