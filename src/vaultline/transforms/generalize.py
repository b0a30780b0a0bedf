"""generalize: HIPAA Safe Harbor generalizations (45 CFR 164.514(b)(2)).

Rules per column:
- `year`: a date or timestamp becomes its year (all elements of dates except the year are removed);
  not for a birth date, whose year shows an age over 89 (`explain` flags it): use `age_from_date`;
- `zip3`: a ZIP code becomes its first three digits, or `000` when that ZIP3 area has 20,000 people or
  fewer (the 17 restricted prefixes published from Census data);
- `age_top_code`: ages over 89 become `90+` (output is text);
- `age_band`: ages become bands of `width` years (`30-39`), over 89 always `90+`;
- `age_from_date`: the age at `as_of` (a column or `today`, the run's date in UTC) computed from a
  birth date, top-coded.

Example::

    - generalize:
        rules:
          date_of_birth: {rule: age_from_date, as_of: admission_date, output: age}
          admission_date: {rule: year}
          zip: {rule: zip3}
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ConfigDict, Field

from vaultline.input_model import InputModel
from vaultline.transforms.base import ColumnFlow, ColumnName, Protection, StepParams, TransformSpec

# Census 2000 ZIP3 areas with 20,000 or fewer people, listed by HHS for Safe Harbor.
RESTRICTED_ZIP3: tuple[str, ...] = (
    "036", "059", "063", "102", "203", "556", "692", "790", "821",
    "823", "830", "831", "878", "879", "884", "890", "893",
)  # fmt: skip
TOP_CODE_AGE = 90


class Rule(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: Literal["year", "zip3", "age_top_code", "age_band", "age_from_date"]
    width: int = Field(default=10, ge=1, le=50)
    """Band width in years for age_band."""
    as_of: str = "today"
    """For age_from_date: a date column, or `today`."""
    output: ColumnName | None = None
    """Write to a new column instead of replacing the input (the input is then dropped)."""


class Params(StepParams):
    protection: ClassVar[Protection] = Protection.GENERALIZE
    rules: dict[ColumnName, Rule] = Field(min_length=1)

    def input_columns(self) -> list[str]:
        extra = [r.as_of for r in self.rules.values() if r.rule == "age_from_date" and r.as_of != "today"]
        return list(dict.fromkeys([*self.rules, *extra]))

    def output_columns(self) -> list[str]:
        return [rule.output or column for column, rule in self.rules.items()]

    def protected_columns(self) -> list[str]:
        # an `as_of` column is only read, not generalized
        return list(self.rules)

    def column_lineage(self) -> list[ColumnFlow]:
        flows: list[ColumnFlow] = []
        for column, rule in self.rules.items():
            target = rule.output or column
            flows.append(ColumnFlow(target, column, masking=True, description=rule.rule))
            if rule.rule == "age_from_date" and rule.as_of != "today":
                flows.append(ColumnFlow(target, rule.as_of, description=f"{rule.rule} as of"))
        return flows

    def removed_columns(self) -> list[str]:
        return [column for column, rule in self.rules.items() if rule.output not in (None, column)]


SPEC = TransformSpec("generalize", Params, "HIPAA Safe Harbor generalization")
