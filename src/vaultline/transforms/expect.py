"""expect: data-quality expectations on the rows flowing through, executed by pandera.

Each expectation has a unique `name`, a `kind` and a `severity`:

- row-level kinds, checked value by value (nulls pass every kind but `not_null`): `not_null`,
  `unique` (the combination of `columns`), `range` (`min`/`max`, inclusive unless
  `include_min`/`include_max` is false), `allowed_values` (`values`), `pattern` (a regular
  expression the whole text matches);
- dataset-level kinds, one verdict for the whole flow: `row_count` (`min`/`max` rows), `freshness`
  (the newest value of a date/timestamp `column` is at most `max_age` old, e.g. `36h`, `2d`), and
  `distribution_drift` (Population Stability Index of `column` against the pipeline's previous
  succeeded run's baseline; `threshold` 0.2 by default; the first run records the baseline and
  passes, a run with too few values to record one carries the previous baseline forward).

Severity: `warn` records the failure; `fail` stops the run (`DataQualityError`, results attached);
`quarantine` (row-level kinds only) routes each failing row to the quarantine with the reason
`expect:<name>`. `mostly` (warn and fail) is the fraction of rows that must pass, as in Great
Expectations. Results hold counts, fractions, PSI and bounds: never a data value.

Example (a list, or a mapping with `expectations:`)::

    - expect:
        - {name: keys_present, kind: not_null, columns: [transaction_id, customer_id]}
        - {name: amount_sane, kind: range, column: amount, min: 0, max: 50000, severity: quarantine}
        - {name: enough_rows, kind: row_count, min: 1000}
        - {name: amount_stable, kind: distribution_drift, column: amount, severity: warn}
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Self

from pydantic import ConfigDict, Field, StringConstraints, field_validator, model_validator

from vaultline.durations import duration_seconds
from vaultline.errors import TerminalError
from vaultline.input_model import InputModel
from vaultline.transforms.base import ColumnFlow, ColumnName, DomainName, StepParams, TransformSpec
from vaultline.transforms.patterns import RegularExpression

ExpectationName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
RowSeverity = Literal["warn", "fail", "quarantine"]
DatasetSeverity = Literal["warn", "fail"]
ROW_LEVEL_KINDS = ("not_null", "unique", "range", "allowed_values", "pattern")


class _Expectation(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: ExpectationName
    """Unique in the pipeline: names the result, the catalog row and the quarantine reason."""

    def targets(self) -> list[str]:
        """The columns the expectation reads."""
        return []


class RowExpectation(_Expectation):
    """An expectation checked row by row: failing rows are counted, and quarantined on request."""

    columns: list[ColumnName] = Field(default_factory=list)
    """Columns checked (a row fails when any of them fails); or give `column`."""
    column: ColumnName | None = None
    """The one column checked (instead of `columns`)."""
    severity: RowSeverity = "fail"
    """`warn` records the result, `fail` stops the run, `quarantine` moves each failing row to the
    quarantine with the reason `expect:<name>`."""
    mostly: float | None = Field(default=None, gt=0, le=1)
    """Fraction of rows that must pass (warn and fail only); default: every row."""

    @model_validator(mode="after")
    def _one_target_and_mostly(self) -> Self:
        if bool(self.columns) == (self.column is not None):
            raise ValueError("give the checked columns as either `columns: [...]` or `column: NAME`")
        if self.mostly is not None and self.severity == "quarantine":
            raise ValueError("mostly applies to warn and fail; quarantine routes every failing row")
        return self

    def targets(self) -> list[str]:
        return list(dict.fromkeys(self.columns or [str(self.column)]))


class DatasetExpectation(_Expectation):
    """An expectation with one verdict for the whole flow (no row fails on its own)."""

    severity: DatasetSeverity = "fail"
    """`warn` records the result, `fail` stops the run."""

    @field_validator("severity", mode="before")
    @classmethod
    def _not_quarantine(cls, value: Any) -> Any:
        if value == "quarantine":
            raise ValueError(
                f"quarantine applies to row-level kinds only ({', '.join(ROW_LEVEL_KINDS)}); use warn or fail"
            )
        return value


class NotNull(RowExpectation):
    kind: Literal["not_null"]


class Unique(RowExpectation):
    """The combination of the columns is unique; every row of a repeated combination fails."""

    kind: Literal["unique"]


class Range(RowExpectation):
    kind: Literal["range"]
    min: float | None = None
    """Lowest value that passes (numeric columns; NaN is above every bound)."""
    max: float | None = None
    """Highest value that passes."""
    include_min: bool = True
    """Whether `min` itself passes."""
    include_max: bool = True
    """Whether `max` itself passes."""

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        _check_bounds(self.min, self.max)
        return self


class AllowedValues(RowExpectation):
    kind: Literal["allowed_values"]
    values: list[str | int | float] = Field(min_length=1)
    """Numbers for numeric columns; for text columns every value is compared as text."""


class Pattern(RowExpectation):
    kind: Literal["pattern"]
    pattern: RegularExpression = Field(min_length=1)
    """A regular expression the whole text must match (Rust `regex` syntax: no look-around)."""


class RowCount(DatasetExpectation):
    kind: Literal["row_count"]
    min: int | None = Field(default=None, ge=0)
    """Fewest rows the flow may have where the step stands."""
    max: int | None = Field(default=None, ge=0)
    """Most rows the flow may have."""

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        _check_bounds(self.min, self.max)
        return self


class Freshness(DatasetExpectation):
    kind: Literal["freshness"]
    column: ColumnName
    """A date or timestamp column (naive timestamps are read as UTC)."""
    max_age: str
    """How old the newest value may be at run time: a number and a unit, s m h d w (`36h`, `2d`)."""

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not duration_seconds(value):
            raise ValueError("max_age is a whole number and a unit among s, m, h, d, w, e.g. 36h or 2d")
        return value

    @property
    def max_age_seconds(self) -> int:
        seconds = duration_seconds(self.max_age)
        assert seconds, "validated by _duration"
        return seconds

    def targets(self) -> list[str]:
        return [self.column]


class DistributionDrift(DatasetExpectation):
    """PSI against the previous succeeded run: numeric columns over that run's quantile bins,
    other columns over category frequencies (categories recorded as keyed hashes, never as text)."""

    kind: Literal["distribution_drift"]
    column: ColumnName
    threshold: float = Field(default=0.2, gt=0)
    """Largest PSI that passes (0.1: a small shift, 0.2: a significant one, by convention)."""
    bins: int = Field(default=10, ge=2, le=100)
    """Equal-frequency bins recorded for the next run (numeric columns; a run records them from at
    least 10 finite values per bin, else it keeps the baseline it compared with)."""
    max_categories: int = Field(default=50, ge=1, le=1000)
    """Most frequent categories recorded for the next run; the rest share one `other` bucket."""
    domain: DomainName = "quarantine"
    """Token domain whose key hashes the category labels (non-numeric columns only). Every run has a
    key for the default, the quarantine domain."""

    def targets(self) -> list[str]:
        return [self.column]


Expectation = Annotated[
    NotNull | Unique | Range | AllowedValues | Pattern | RowCount | Freshness | DistributionDrift,
    Field(discriminator="kind"),
]


def _check_bounds(low: float | None, high: float | None) -> None:
    if low is None and high is None:
        raise ValueError("give min, max or both")
    for bound in (low, high):
        if bound is not None and math.isnan(bound):
            raise ValueError("min and max must be numbers, not NaN")
    if low is not None and high is not None and low > high:
        raise ValueError("min must not be greater than max (nothing could pass)")


class Params(StepParams):
    expectations: list[Expectation] = Field(min_length=1)
    """Checked together, by one pandera schema, on the rows flowing into the step."""

    @model_validator(mode="before")
    @classmethod
    def _list_form(cls, data: Any) -> Any:
        # `expect:` may hold the list itself, the short form for the usual case.
        return {"expectations": data} if isinstance(data, list) else data

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [e.name for e in self.expectations]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"expectation names must be unique: {', '.join(repeated)} repeated")
        return self

    def input_columns(self) -> list[str]:
        return list(dict.fromkeys(c for e in self.expectations for c in e.targets()))

    def column_lineage(self) -> list[ColumnFlow]:
        # Values are never changed; only quarantine expectations decide which rows remain.
        deciding = [
            c for e in self.expectations if isinstance(e, RowExpectation) and e.severity == "quarantine"
            for c in e.targets()
        ]  # fmt: skip
        return [ColumnFlow(None, c, "FILTER", description="expect") for c in dict.fromkeys(deciding)]

    def fits_on_data(self) -> bool:
        return True


class DataQualityError(TerminalError):
    """Expectations of severity `fail` did not hold. `results` holds every expectation's value-free
    result (the run records them before it stops)."""

    def __init__(self, message: str, *, results: list[dict[str, Any]], hint: str, where: str) -> None:
        self.results = results
        super().__init__(message, hint=hint, where=where)


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The report's `quality` section from the results of every `expect` step."""
    passed = sum(1 for r in results if r["passed"])
    return {
        "expectations": len(results),
        "passed": passed,
        "failed": len(results) - passed,
        "results": results,
    }


SPEC = TransformSpec("expect", Params, "data-quality expectations (pandera): warn, fail or quarantine")
