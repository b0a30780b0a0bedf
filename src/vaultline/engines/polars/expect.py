"""expect on Polars: the step's expectations become one pandera `DataFrameSchema`, validated lazily.

How each kind is declared (pandera's native Polars backend, no pandas copy):

- not_null: `Column(nullable=False)`; in float columns NaN counts as null (pandera's rule);
- unique: a schema-level Check of the combination of the columns: when its number of distinct
  values equals the row count (the usual case, 4x cheaper to count than to mark) every row passes,
  else `is_duplicated()` marks every row of a repeated value; a repeated null repeats too;
- range: `Check.in_range` (`ge`/`gt`/`le`/`lt` with one bound); NaN sorts above every number;
- allowed_values: `Check.isin`; pattern: a `Check` of `str.contains` on the whole text (`base.whole_text`),
  Categorical and Enum columns as their category text;
- row_count, freshness, distribution_drift: schema-level Checks that compute their statistic over
  the whole frame with Polars aggregations and compare it with the bound.

Nulls pass every value check (pandera's `ignore_na`); `not_null` is the presence check.

`schema.validate(frame, lazy=True)` runs every check and gathers every failure (pandera's config
is pinned, so its environment variables cannot switch data checks off). Each failure carries the
check's boolean output per row (`check_output`): that is the row mask used for counts, `mostly`
and quarantine. pandera also gathers failure-case *values* and quotes them in its message; neither
is ever read, kept or re-raised. The statistics reported for the dataset-level kinds come from one
extra pass of the same Polars aggregations the checks run.

How distribution_drift measures a change (PSI against the previous run's baseline) is in `expect_drift`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth, config_context
from pandera.errors import SchemaError, SchemaErrorReason, SchemaErrors

from vaultline.engines.polars.base import (
    StepContext,
    StepResult,
    check_regex,
    internal_column,
    require_columns,
    split_quarantine,
    where,
    whole_text,
)
from vaultline.engines.polars.expect_drift import Drift, Statistic, drift_of
from vaultline.errors import TransformError
from vaultline.transforms.expect import (
    AllowedValues,
    DataQualityError,
    DatasetExpectation,
    DistributionDrift,
    Freshness,
    NotNull,
    Params,
    Pattern,
    Range,
    RowCount,
    RowExpectation,
    Unique,
)

STEP = "expect"
# Failure cases pandera gathers per check: values that are never read, so as few as it allows (the
# row mask, `check_output`, stays complete). Gathering all costs a Python object per failing row.
FAILURE_CASES = 1
_TEXT_TYPES = (pl.String, pl.Categorical, pl.Enum)
RowKind = NotNull | Unique | Range | AllowedValues | Pattern
DatasetKind = RowCount | Freshness | DistributionDrift


def _error(ctx: StepContext, message: str, hint: str) -> TransformError:
    return TransformError(message, hint=hint, where=where(ctx, STEP))


def _require_types(
    ctx: StepContext, e: Any, schema: pl.Schema, fits: Callable[[Any], bool], kind: str
) -> None:
    for column in e.targets():
        if not fits(schema[column]):
            raise _error(
                ctx,
                f"expectation '{e.name}' ({e.kind}) needs {kind} column, "
                f"but '{column}' has type {schema[column]}",
                "cast or parse the column in a clean step before this one",
            )


def _bounded(statistic: pl.Expr, low: float | None, high: float | None) -> pl.Expr:
    """`statistic` within [low, high]; a null statistic (nothing to measure) is out of bounds."""
    inside = pl.lit(True)
    if low is not None:
        inside = inside & (statistic >= low)
    if high is not None:
        inside = inside & (statistic <= high)
    return inside.fill_null(False)


@dataclass
class _Suite:
    """The pandera schema being declared, and which expectation owns each of its checks."""

    nullable: dict[str, list[str]] = field(default_factory=dict)
    """column -> its not_null expectations (pandera reports `not_nullable` per column)."""
    column_checks: dict[str, list[pa.Check]] = field(default_factory=dict)
    frame_checks: list[pa.Check] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    """check name -> expectation name."""
    statistics: dict[str, pl.LazyFrame] = field(default_factory=dict)
    """dataset-level expectation -> its statistics over this step's frame."""

    def _name(self, expectation: str) -> str:
        name = f"{expectation}#{len(self.owners)}"
        self.owners[name] = expectation
        return name

    def column_check(
        self, expectation: str, column: str, builtin: Callable[..., pa.Check], **args: Any
    ) -> None:
        check = builtin(**args, name=self._name(expectation), n_failure_cases=FAILURE_CASES)
        self.column_checks.setdefault(column, []).append(check)

    def frame_check(self, expectation: str, check: Callable[[Any], bool | pl.LazyFrame]) -> None:
        """A check of the whole frame: `check(data)` gets pandera's PolarsData and returns one boolean
        per row, one for the frame, or True (every row passes)."""
        self.frame_checks.append(pa.Check(check, name=self._name(expectation), n_failure_cases=FAILURE_CASES))

    def schema(self, columns: list[str]) -> pa.DataFrameSchema:
        # dtype None: the types were checked before, with value-free messages; other columns may exist.
        return pa.DataFrameSchema(
            {
                c: pa.Column(
                    None,
                    checks=self.column_checks.get(c, []),
                    nullable=c not in self.nullable,
                )
                for c in columns
            },
            checks=self.frame_checks,
        )


# --- row-level kinds -------------------------------------------------------------------------------


def _declare_range(suite: _Suite, e: Range) -> None:
    for column in e.targets():
        if e.min is not None and e.max is not None:
            suite.column_check(
                e.name, column, pa.Check.in_range, min_value=e.min, max_value=e.max,
                include_min=e.include_min, include_max=e.include_max,
            )  # fmt: skip
        elif e.min is not None:
            suite.column_check(e.name, column, pa.Check.ge if e.include_min else pa.Check.gt, min_value=e.min)
        else:
            suite.column_check(e.name, column, pa.Check.le if e.include_max else pa.Check.lt, max_value=e.max)


def _allowed(ctx: StepContext, e: AllowedValues, column: str, dtype: pl.DataType) -> list[Any]:
    """The allowed values in the column's own type (Polars compares like with like)."""
    if dtype in _TEXT_TYPES:
        return [str(v) for v in e.values]
    numbers = [v for v in e.values if not isinstance(v, str)]
    if not dtype.is_numeric() or len(numbers) != len(e.values):
        raise _error(
            ctx,
            f"expectation '{e.name}' compares column '{column}' of type {dtype} with allowed values "
            "that are not all of its kind",
            "use numbers for a numeric column and text for a text column, or cast it in a clean step",
        )
    if dtype.is_integer():
        if any(float(v) != int(v) for v in numbers):
            raise _error(
                ctx,
                f"expectation '{e.name}' lists fractional values for integer column '{column}'",
                "list whole numbers, or cast the column to float64 in a clean step",
            )
        return [int(v) for v in numbers]
    return pl.Series([str(v) for v in numbers]).cast(dtype).to_list()


def _matches(data: Any, *, pattern: str) -> pl.LazyFrame:
    """Whether each value's text matches `pattern`; Categorical and Enum as their category text."""
    frame: pl.LazyFrame = data.lazyframe
    return frame.select(pl.col(data.key).cast(pl.String).str.contains(pattern))


def _unique_rows(data: Any, *, columns: list[str]) -> bool | pl.LazyFrame:
    """True when every combination of `columns` occurs once, else whether each row's does."""
    frame: pl.LazyFrame = data.lazyframe
    key = pl.col(columns[0]) if len(columns) == 1 else pl.struct(columns)
    if frame.select(key.n_unique() == pl.len()).collect().item():
        return True
    return frame.select(~key.is_duplicated())


def _declare_row(suite: _Suite, ctx: StepContext, e: RowKind, schema: pl.Schema) -> None:
    columns = e.targets()
    if isinstance(e, NotNull):
        for column in columns:
            suite.nullable.setdefault(column, []).append(e.name)
    elif isinstance(e, Unique):
        suite.frame_check(e.name, partial(_unique_rows, columns=columns))
    elif isinstance(e, Range):
        _require_types(ctx, e, schema, lambda t: t.is_numeric(), "a numeric")
        _declare_range(suite, e)
    elif isinstance(e, AllowedValues):
        for column in columns:
            allowed = _allowed(ctx, e, column, schema[column])
            suite.column_check(e.name, column, pa.Check.isin, allowed_values=allowed)
    elif isinstance(e, Pattern):
        _require_types(ctx, e, schema, lambda t: t in _TEXT_TYPES, "a text or categorical")
        whole = whole_text(e.pattern)
        check_regex(ctx, STEP, whole, f"expectation '{e.name}'")
        for column in columns:
            suite.column_check(e.name, column, pa.Check, check_fn=partial(_matches, pattern=whole))


# --- dataset-level kinds ---------------------------------------------------------------------------


def _age_seconds(column: str, dtype: pl.DataType, now: datetime) -> pl.Expr:
    """Seconds from the column's newest value to `now` (naive timestamps and dates read as UTC)."""
    newest = pl.col(column).max()
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        newest = newest.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    age = pl.lit(now.replace(tzinfo=None)) - newest.cast(pl.Datetime("us"))
    return age.dt.total_seconds(fractional=True)


def _select(expr: pl.Expr, frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.select(expr)


def _is_temporal(dtype: pl.DataType) -> bool:
    return dtype == pl.Date or isinstance(dtype, pl.Datetime)


def _declare_dataset(
    suite: _Suite, ctx: StepContext, e: DatasetKind, data: pl.DataFrame, *, now: datetime,
    drift: dict[str, Drift],
) -> None:  # fmt: skip
    statistic: Statistic | None
    if isinstance(e, RowCount):
        statistic = partial(_select, pl.len().alias("rows"))
        bounded = _bounded(pl.col("rows"), e.min, e.max)
    elif isinstance(e, Freshness):
        _require_types(ctx, e, data.schema, _is_temporal, "a date or timestamp")
        statistic = partial(_select, _age_seconds(e.column, data.schema[e.column], now).alias("age_seconds"))
        bounded = _bounded(pl.col("age_seconds"), None, e.max_age_seconds)
    else:
        statistic = drift[e.name].statistic
        bounded = _bounded(pl.col("psi"), None, e.threshold)
    if statistic is not None:
        measure = statistic
        suite.statistics[e.name] = measure(data.lazy())
        suite.frame_check(e.name, lambda data: measure(data.lazyframe).select(bounded))


# --- validation and results ------------------------------------------------------------------------


def _validate(schema: pa.DataFrameSchema, frame: pl.LazyFrame) -> list[SchemaError]:
    """Every failure pandera finds. Its exception quotes failure-case values: it is dropped here, and
    the function returns outside the handler so that nothing raised later can chain it."""
    with config_context(validation_enabled=True, validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        try:
            schema.validate(frame, lazy=True)
        except SchemaErrors as exc:
            return list(exc.schema_errors)
    return []


@dataclass
class _Failures:
    rows: dict[str, pl.Series] = field(default_factory=dict)
    """row-level expectation -> boolean mask of its failing rows."""
    dataset: set[str] = field(default_factory=set)
    """dataset-level expectations that failed."""


def _owners(err: SchemaError, suite: _Suite) -> list[str]:
    column = str(getattr(err.schema, "name", ""))
    if err.check == "not_nullable":
        return suite.nullable.get(column, [])
    owner = suite.owners.get(str(getattr(err.check, "name", "")))
    return [owner] if owner else []


def _failures(errors: list[SchemaError], suite: _Suite, row_level: set[str], ctx: StepContext) -> _Failures:
    found = _Failures()
    for err in errors:
        owners = _owners(err, suite)
        if err.reason_code is SchemaErrorReason.CHECK_ERROR or not owners or err.check_output is None:
            reason = err.reason_code.name if err.reason_code else "unknown"
            raise _error(
                ctx,
                f"pandera could not evaluate expectation(s) {', '.join(owners) or '(unknown)'} ({reason})",
                "check that each column's type suits the expectation's kind and bounds",
            )
        for owner in owners:
            if owner not in row_level:
                found.dataset.add(owner)
                continue
            mask = ~err.check_output.to_series()
            found.rows[owner] = found.rows[owner] | mask if owner in found.rows else mask
    return found


def _evaluated_rows(data: pl.DataFrame, expectations: list[RowKind]) -> dict[str, int]:
    """Rows each row-level expectation judged: every row for presence and uniqueness, else the rows
    with a value in one of its columns (nulls pass value checks and do not count, as in GE's mostly)."""
    if not expectations:
        return {}
    counts = data.select(
        pl.len().alias(e.name)
        if isinstance(e, NotNull | Unique)
        else pl.any_horizontal([pl.col(c).is_not_null() for c in e.targets()]).sum().alias(e.name)
        for e in expectations
    )
    return {name: int(counts[name][0]) for name in counts.columns}


def _result(e: RowKind | DatasetKind, *, passed: bool, failed_rows: int,
            observed: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {
        "name": e.name,
        "kind": e.kind,
        "columns": e.targets(),
        "severity": e.severity,
        "passed": passed,
        "failed_rows": failed_rows,
        "observed": observed,
    }


def _row_result(e: RowKind, failed: int, evaluated: int) -> dict[str, Any]:
    fraction = failed / evaluated if evaluated else 0.0
    passed = failed == 0 if e.mostly is None else 1.0 - fraction >= e.mostly
    observed: dict[str, Any] = {"rows": evaluated, "failed_fraction": round(fraction, 6)}
    if e.mostly is not None:
        observed["mostly"] = e.mostly
    return _result(e, passed=passed, failed_rows=failed, observed=observed)


def _rounded(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _dataset_result(
    e: DatasetKind, passed: bool, measured: dict[str, Any], drift: dict[str, Drift]
) -> dict[str, Any]:
    if isinstance(e, RowCount):
        observed = {"rows": measured["rows"], "min": e.min, "max": e.max}
    elif isinstance(e, Freshness):
        observed = {"age_seconds": _rounded(measured["age_seconds"], 3), "max_age_seconds": e.max_age_seconds}
    else:
        observed = dict(drift[e.name].observed)
        if measured:
            observed.update(psi=_rounded(measured["psi"], 6), values=measured["values"])
    return _result(e, passed=passed, failed_rows=0, observed=observed)


def _previous_baselines(ctx: StepContext) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """The baselines the pipeline's previous succeeded run recorded, by expectation name."""
    # A context without a run catalog (golden tests) has no history: every drift check starts a baseline.
    lookup = getattr(ctx, "previous_run_facts", None)
    found = lookup(STEP) if lookup is not None else None
    if not found:
        return None, {}
    run_id, steps = found
    return run_id, {
        name: baseline for facts in steps for name, baseline in facts.get("baselines", {}).items()
    }


def _fail_if_breached(results: list[dict[str, Any]], ctx: StepContext) -> None:
    breached = [r for r in results if r["severity"] == "fail" and not r["passed"]]
    if breached:
        described = ", ".join(f"{r['name']} ({r['kind']}, {r['failed_rows']} failing rows)" for r in breached)
        raise DataQualityError(
            f"{len(breached)} expectation(s) of severity fail did not hold: {described}",
            results=results,
            hint="the run report's quality section has every result; fix the input, or adjust the "
            "expectation (bounds, mostly) or lower its severity to warn",
            where=where(ctx, STEP),
        )


def _collect(frame: pl.LazyFrame, params: Params, schema: pl.Schema) -> pl.DataFrame:
    """The columns the expectations read, collected (the rows stream on; see the end of `apply`).

    A column that only not_null expectations read is collected as its presence: a Boolean, null
    where the value is missing (null, or NaN in a float column, as pandera counts it), a bit or two
    a row instead of the values (a 64-character token: 80 bytes). Dataset expectations on no column
    (row_count) read the first column for the height."""
    valued = {c for e in params.expectations if not isinstance(e, NotNull) for c in e.targets()}
    columns = params.input_columns() or schema.names()[:1]
    return frame.select(
        pl.col(c) if c in valued else pl.when(_present(c, schema[c])).then(True).alias(c) for c in columns
    ).collect(engine="streaming")


def _present(column: str, dtype: pl.DataType) -> pl.Expr:
    value = pl.col(column)
    return value.is_not_null() & ~value.is_nan() if dtype.is_float() else value.is_not_null()


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    schema = require_columns(frame, params.input_columns(), ctx, STEP)
    data = _collect(frame, params, schema)
    run, baselines = _previous_baselines(ctx)
    rows: list[RowKind] = [e for e in params.expectations if isinstance(e, RowExpectation)]
    datasets: list[DatasetKind] = [e for e in params.expectations if isinstance(e, DatasetExpectation)]
    drift = {
        e.name: drift_of(data, ctx, e, baselines.get(e.name), run)
        for e in datasets
        if isinstance(e, DistributionDrift)
    }
    suite = _Suite()
    for row_expectation in rows:
        _declare_row(suite, ctx, row_expectation, data.schema)
    now = datetime.now(UTC)
    for dataset_expectation in datasets:
        _declare_dataset(suite, ctx, dataset_expectation, data, now=now, drift=drift)

    errors = _validate(suite.schema(params.input_columns()), data.lazy())
    failures = _failures(errors, suite, {e.name for e in rows}, ctx)
    evaluated = _evaluated_rows(data, rows)
    measured_names = list(suite.statistics)
    measured = pl.collect_all([suite.statistics[n] for n in measured_names]) if measured_names else []
    statistics = {n: m.row(0, named=True) for n, m in zip(measured_names, measured, strict=True)}

    by_name: dict[str, dict[str, Any]] = {}
    for e in rows:
        mask = failures.rows.get(e.name)
        by_name[e.name] = _row_result(e, 0 if mask is None else int(mask.sum()), evaluated[e.name])
    for d in datasets:
        by_name[d.name] = _dataset_result(
            d, d.name not in failures.dataset, statistics.get(d.name, {}), drift
        )
    results = [by_name[e.name] for e in params.expectations]
    _fail_if_breached(results, ctx)

    facts: dict[str, Any] = {
        "expectations": results,
        "baselines": {name: d.next_baseline for name, d in drift.items() if d.next_baseline is not None},
    }
    # A row failing several quarantine expectations carries the first one's reason, in spec order.
    reasons = [
        pl.when(pl.lit(failures.rows[e.name])).then(pl.lit(f"expect:{e.name}"))
        for e in rows
        if e.severity == "quarantine" and e.name in failures.rows
    ]
    if not reasons:
        return StepResult(frame, facts=facts)
    # The reasons were found on the collected columns; the flow gets them side by side, row for
    # row (the same plan gives the same rows in the same order).
    reason = internal_column(ctx, "reason")
    marked = pl.concat([frame, data.select(pl.coalesce(reasons).alias(reason)).lazy()], how="horizontal")
    kept, rejected = split_quarantine(marked, pl.col(reason))
    return StepResult(kept.drop(reason), quarantine=rejected.drop(reason), facts=facts)
