"""clean: trim, case, cast, date/time parsing, null policy, constraints and dedupe.

Rows that break a rule leave the flow for quarantine with the rule that failed (`cast:amount`,
`range:amount`, `duplicate:transaction_id`...); nothing is dropped silently.

Example::

    - clean:
        trim: true
        case: {email: lower, currency: upper}
        cast: {amount: float64}
        parse: {timestamp: {format: "%Y-%m-%d %H:%M:%S", type: datetime}}
        required: [transaction_id, amount]
        fill: {currency: USD}
        constraints:
          amount: {min: 0}
          email: {pattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$'}  # single quotes: YAML keeps \\s as is
          currency: {allowed: [USD, EUR, GBP]}
        dedupe: {keys: [transaction_id]}
"""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from vaultline.input_model import InputModel
from vaultline.transforms.base import EVERY_COLUMN, ColumnFlow, ColumnName, StepParams, TransformSpec
from vaultline.transforms.patterns import RegularExpression

CastType = Literal["string", "int64", "float64", "bool", "decimal"]


class DateParse(InputModel):
    """How to parse a text column into a date or timestamp."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format: str = Field(min_length=2)
    """strftime format, e.g. `%Y-%m-%d` or `%Y-%m-%dT%H:%M:%S`."""
    type: Literal["date", "datetime"] = "date"

    @field_validator("format")
    @classmethod
    def _directives_known(cls, value: str) -> str:
        # An unknown directive (`%Q`) is no error to the engines: every value fails to parse instead.
        position, directives = value.find("%"), 0
        while position >= 0:
            known = _DIRECTIVE.match(value, position)
            if known is None:
                raise ValueError(f"has an unknown strftime directive at character {position + 1}")
            if known.group().endswith("Z"):  # chrono skips any text there: "EST" or "garbage" alike
                raise ValueError(
                    "uses %Z, a time zone name the engines skip without reading; use %z (+05:00)"
                )
            directives += known.group() != "%%"
            position = value.find("%", known.end())
        if not directives:
            raise ValueError("has no strftime directive (%Y, %m, %d, %H, ...)")
        return value


_DIRECTIVE = re.compile(r"%[-_0]?(?:\.?[369]?f|:{1,3}z|#z|[YCymbBhdeaAwuUWGgVjDxFvHkIlPpMSRTXrZzcs+tn%])")
"""chrono's strftime directives (the engines' dates), with their padding modifiers."""


class Constraint(InputModel):
    """A rule a value must satisfy; nulls pass (use `required` for presence)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min: float | None = None
    max: float | None = None
    pattern: RegularExpression | None = None
    """A regular expression the whole value must match (Rust `regex` syntax: no look-around)."""
    allowed: list[str | int | float] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Constraint:
        if self.min is None and self.max is None and self.pattern is None and self.allowed is None:
            raise ValueError("a constraint needs at least one of min, max, pattern, allowed")
        for bound in (self.min, self.max):
            if bound is not None and math.isnan(bound):
                raise ValueError("min and max must be numbers, not NaN")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be greater than max (no value could pass)")
        if self.allowed is not None and not self.allowed:
            raise ValueError("allowed needs at least one value")
        return self


class Dedupe(InputModel):
    """Rows sharing `keys` after the first are quarantined as duplicates."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    keys: list[ColumnName] = Field(min_length=1)
    keep: Literal["first", "last"] = "first"


class Params(StepParams):
    trim: bool | list[ColumnName] = False
    """Strip surrounding whitespace: `true` for every text column, or a list of columns."""
    case: dict[ColumnName, Literal["lower", "upper", "title"]] = Field(default_factory=dict)
    cast: dict[ColumnName, CastType] = Field(default_factory=dict)
    """Target type per column; a value that does not convert is quarantined with `cast:<column>`."""
    parse: dict[ColumnName, DateParse] = Field(default_factory=dict)
    """Date/time parsing per column; failures are quarantined with `parse:<column>`."""
    empty_as_null: bool = True
    """Treat empty strings as nulls before the null policy applies."""
    required: list[ColumnName] = Field(default_factory=list)
    """Columns that must not be null after filling; violations are quarantined with `required:<column>`."""
    fill: dict[ColumnName, str | int | float | bool] = Field(default_factory=dict)
    """Values that replace nulls."""
    constraints: dict[ColumnName, Constraint] = Field(default_factory=dict)
    dedupe: Dedupe | None = None

    def input_columns(self) -> list[str]:
        cols: list[str] = [] if isinstance(self.trim, bool) else list(self.trim)
        for group in (self.case, self.cast, self.parse, self.fill, self.constraints):
            cols += list(group)
        cols += self.required + (self.dedupe.keys if self.dedupe else [])
        return list(dict.fromkeys(cols))

    def fits_on_data(self) -> bool:
        # finding duplicates reads the keys of every row while planning (a narrow projection: the
        # rows stream, so the engine need not spill the flow first)
        return self.dedupe is not None

    def needs_all_rows(self) -> bool:
        return False

    def output_columns(self) -> list[str]:
        trimmed = [] if isinstance(self.trim, bool) else list(self.trim)
        return list(dict.fromkeys([*trimmed, *self.case, *self.cast, *self.parse, *self.fill]))

    def column_lineage(self) -> list[ColumnFlow]:
        rewritten = [ColumnFlow(column, column) for column in self.output_columns()]
        if self.trim is True or self.empty_as_null:  # every text column is trimmed or its "" made null
            rewritten.append(ColumnFlow(EVERY_COLUMN, EVERY_COLUMN))
        # rows whose value fails a cast, parse, presence or constraint rule, or repeats a key, leave the flow
        dedupe = self.dedupe.keys if self.dedupe else []
        deciding = dict.fromkeys([*self.cast, *self.parse, *self.required, *self.constraints, *dedupe])
        return rewritten + [
            ColumnFlow(None, column, "FILTER", description="quarantine") for column in deciding
        ]


SPEC = TransformSpec("clean", Params, "trim, case, cast, parse dates, null policy, constraints, dedupe")
