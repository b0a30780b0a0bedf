"""clean on Polars: one vectorized pass of rules, every violation quarantined with its reason.

Order of the rules, each seeing the result of the previous ones::

    trim → empty_as_null → case → cast → parse → fill → required → constraints → dedupe

- empty_as_null: `""` becomes null in every text column; it runs after `trim`, so a value of
  spaces only in a trimmed column is null too (and `required` catches it);
- trim: surrounding whitespace (Unicode) is stripped from every text column (`true`) or the listed
  ones; case: `lower`, `upper` or `title` (Unicode aware; `ß` upper-cases to `SS`);
- cast: `string`, `int64`, `float64`, `bool`, `decimal` (Decimal(38, 2)); a non-null value that does
  not convert is a `cast:<column>` violation, and so is a lossy conversion: a float with a fraction
  to int64, a text with more than two significant decimals to decimal (floats are rounded to two
  decimals, half to even), a whole number a float64 cannot hold exactly to float64 (an integer past
  2**53, a text of 16 digits or more: a 16-digit account number would be stored rounded), and a
  text past float64's range (`1e309`, which would become inf; `inf` written as such converts). Text to
  bool accepts `true/false, t/f, yes/no, y/n, 1/0` in any case; numbers to bool accept 0 and 1 only;
- parse: text to Date or Datetime (microseconds) with `str.strptime(format, strict=False)`; a
  non-null value that does not parse is a `parse:<column>` violation;
- fill: nulls are replaced by the value, converted to the column's type (after cast and parse)
  when the step is planned; dates and timestamps are written in ISO 8601 (`2024-01-31`);
- required: a null after filling is `required:<column>`;
- constraints, per column in spec order: `range:<column>` (below `min` or above `max`; NaN is out of
  any range), `pattern:<column>` (the whole text must match), `allowed:<column>`. Nulls pass;
- dedupe: among the rows that broke no earlier rule, rows sharing the (cleaned) `keys` after the
  first (`keep: first`) or before the last (`keep: last`) in input order are
  `duplicate:<key1+key2>`. Null keys compare equal, as in Polars' `unique`. The copies are found
  while planning, on the keys and positions of those rows only (the step `fits_on_data`), so
  the rows themselves stream; the input is read twice (once narrow) when the step comes first.

A row's REASON is the first rule it breaks, in the order above. Reasons are computed on the cleaned
values, but a quarantined row carries its ORIGINAL values: the step keeps a copy of every column it
changes in internal columns and puts the copies back on the rejected rows, so nothing is lost (the
quarantine has the input's columns, types and order, plus REASON). Counts per reason are not known
while planning; the executor counts them from the quarantine, so `facts` lists the rules only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

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
from vaultline.errors import TransformError
from vaultline.transforms.clean import CastType, Constraint, DateParse, Dedupe, Params

STEP = "clean"
DECIMAL = pl.Decimal(38, 2)
# A wider decimal that shows whether a text had more than two significant decimals.
_DECIMAL_PROBE = pl.Decimal(38, 18)
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
_TARGETS: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int64": pl.Int64(),
    "float64": pl.Float64(),
    "bool": pl.Boolean(),
    "decimal": DECIMAL,
}


def _error(ctx: StepContext, message: str, hint: str) -> TransformError:
    return TransformError(message, hint=hint, where=where(ctx, STEP))


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def _visible(schema: pl.Schema) -> list[str]:
    return [c for c in schema.names() if not c.startswith(("__vl", "_vl"))]


def _cast(value: pl.Expr, source: pl.DataType, target: CastType) -> pl.Expr:
    """`value` converted to `target`, null where it does not convert exactly."""
    if source in (pl.Categorical, pl.Enum):
        value, source = value.cast(pl.String), pl.String()
    if target == "bool":
        if source == pl.String:
            low = value.str.to_lowercase()
            return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
        if _is_numeric(source):
            return pl.when(value == 1).then(True).when(value == 0).then(False)
        return value.cast(pl.Boolean, strict=False)
    if target == "int64" and (source.is_float() or source.is_decimal()):
        whole = value.cast(pl.Int64, strict=False)
        return pl.when(whole == value).then(whole)
    if target == "float64" and source.is_integer():
        floating = value.cast(pl.Float64)
        return pl.when(floating.cast(pl.Int128, strict=False) == value.cast(pl.Int128)).then(floating)
    if target == "float64" and source == pl.String:
        # the source readers' rule: a float drops digits past 2**53, so long whole numbers are refused
        text = value.str.strip_chars()
        too_long = text.str.contains(r"^[+-]?\d{16,}$")
        number = value.cast(pl.Float64, strict=False)
        # "1e309" overflows to inf: lossy too, unlike an infinity written as such ("inf", "-Infinity")
        overflow = number.is_infinite() & ~text.str.contains(r"(?i)^[+-]?inf(inity)?$")
        return pl.when(~too_long & ~overflow).then(number)
    if target == "decimal":
        if source == pl.String:
            narrow = value.cast(DECIMAL, strict=False)
            wide = value.cast(_DECIMAL_PROBE, strict=False)
            return pl.when(wide.is_null() | (wide == narrow)).then(narrow)
        if source.is_float():
            return value.round(2).cast(DECIMAL, strict=False)
        if source == pl.Boolean:
            return value.cast(pl.Int64).cast(DECIMAL)
    return value.cast(_TARGETS[target], strict=False)


def _check_cast(ctx: StepContext, column: str, source: pl.DataType, target: CastType) -> None:
    """Casts with a clear meaning only: text from any flat type; numbers and bools from text,
    numbers or bools (dates to numbers are refused: days or microseconds since when?)."""
    if source == pl.Null:
        return
    if target == "string" and not source.is_nested():
        return
    textual = source in (pl.String, pl.Categorical, pl.Enum)
    if target != "string" and (textual or source.is_numeric() or source == pl.Boolean):
        return
    raise _error(
        ctx,
        f"column '{column}' of type {source} cannot be cast to {target}",
        "cast it to string first (or parse text dates with `parse`), or choose another target type",
    )


def _check_parse(ctx: StepContext, column: str, dtype: pl.DataType, target: pl.DataType, fmt: str) -> None:
    if dtype != pl.String:
        raise _error(
            ctx,
            f"parse needs a text column, but '{column}' has type {dtype}",
            "remove the parse rule, or cast the column to string first",
        )
    try:
        pl.select(pl.lit(None, dtype=pl.String).str.strptime(target, fmt, strict=False))  # type: ignore[arg-type]
    except pl.exceptions.PolarsError:
        raise _error(
            ctx,
            f"the parse format of column '{column}' is not a valid strftime format",
            "use directives such as %Y-%m-%d or %Y-%m-%dT%H:%M:%S",
        ) from None


def _fill_value(ctx: StepContext, column: str, value: Any, dtype: pl.DataType) -> pl.Expr:
    literal = pl.lit(value)
    if isinstance(value, str) and dtype == pl.Date:
        literal = literal.str.to_date("%Y-%m-%d")
    elif isinstance(value, str) and isinstance(dtype, pl.Datetime):
        literal = literal.str.to_datetime(time_unit=dtype.time_unit, time_zone=dtype.time_zone)
    try:
        converted = pl.select(literal.cast(dtype, strict=True)).to_series()
    except pl.exceptions.PolarsError:
        converted = None
    lossy = isinstance(value, float) and dtype.is_integer() and not value.is_integer()
    if converted is None or converted.null_count() or lossy:
        raise _error(
            ctx,
            f"the fill value of column '{column}' does not convert to its type {dtype}",
            "give a fill value of the column's type (after cast and parse)",
        )
    return pl.lit(converted.item(), dtype=dtype)


def _when(condition: pl.Expr, reason: str) -> pl.Expr:
    return pl.when(condition).then(pl.lit(reason))


def _constraint_rules(
    ctx: StepContext, column: str, rule: Constraint, dtype: pl.DataType
) -> list[tuple[str, pl.Expr]]:
    """(reason, violated) per rule of one column: range, pattern, allowed."""
    value = pl.col(column)
    rules: list[tuple[str, pl.Expr]] = []
    if rule.min is not None or rule.max is not None:
        if not _is_numeric(dtype):
            raise _error(
                ctx,
                f"min/max need a numeric column, but '{column}' has type {dtype}",
                "cast the column to int64, float64 or decimal in this step",
            )
        outside = pl.lit(False)
        if rule.min is not None:
            outside = outside | (value < rule.min)
        if rule.max is not None:
            outside = outside | (value > rule.max)
        if dtype.is_float():
            outside = outside | value.is_nan()
        rules.append((f"range:{column}", outside))
    if rule.pattern is not None:
        if dtype != pl.String:
            raise _error(
                ctx,
                f"pattern needs a text column, but '{column}' has type {dtype}",
                "cast the column to string in this step",
            )
        whole = whole_text(rule.pattern)
        check_regex(ctx, STEP, whole, f"column '{column}'")
        rules.append((f"pattern:{column}", ~value.str.contains(whole)))
    if rule.allowed is not None:
        rules.append((f"allowed:{column}", ~_allowed(ctx, column, rule.allowed, dtype)))
    return rules


def _allowed(ctx: StepContext, column: str, allowed: list[str | int | float], dtype: pl.DataType) -> pl.Expr:
    """Numeric columns compare numbers; text, categorical and enum columns compare text."""
    value = pl.col(column)
    if _is_numeric(dtype):
        if any(isinstance(v, str) for v in allowed):
            raise _error(
                ctx,
                f"allowed values of numeric column '{column}' must be numbers",
                "write the numbers without quotes, or cast the column to string",
            )
        if dtype.is_integer() and all(isinstance(v, int) for v in allowed):
            return value.is_in(pl.lit(pl.Series(allowed, dtype=pl.Int64)).implode())
        return value.cast(pl.Float64).is_in(pl.lit(pl.Series(allowed, dtype=pl.Float64)).implode())
    if dtype in (pl.String, pl.Categorical, pl.Enum):
        texts = pl.Series([str(v) for v in allowed], dtype=pl.String)
        return value.cast(pl.String).is_in(pl.lit(texts).implode())
    raise _error(
        ctx,
        f"allowed needs a text or numeric column, but '{column}' has type {dtype}",
        "cast the column to string in this step",
    )


def _facts(params: Params, reasons: list[str], trimmed: list[str]) -> dict[str, Any]:
    return {
        "reasons": reasons,
        "empty_as_null": params.empty_as_null,
        "trim": trimmed,
        "case": dict(params.case),
        "cast": dict(params.cast),
        "parse": {c: p.type for c, p in params.parse.items()},
        "fill": list(params.fill),
        "required": list(params.required),
        "constraints": {
            c: [k for k in ("min", "max", "pattern", "allowed") if getattr(rule, k) is not None]
            for c, rule in params.constraints.items()
        },
        "dedupe": None if params.dedupe is None else {"keys": params.dedupe.keys, "keep": params.dedupe.keep},
        "quarantine_values": "original",
    }


class _Plan:
    """The lazy frame being cleaned, the types its columns have so far, and the reasons checked."""

    def __init__(self, frame: pl.LazyFrame, schema: pl.Schema, reason: str) -> None:
        self.frame = frame
        self.dtypes: dict[str, pl.DataType] = dict(schema)
        self.reason = reason
        self.reasons: list[str] = []

    def stage(self, values: list[pl.Expr], checks: Sequence[tuple[str, pl.Expr]] = ()) -> None:
        """Apply `values`, recording the first failing check; all see the previous stage's values."""
        exprs = list(values)
        if checks:
            self.reasons += [label for label, _ in checks]
            firsts = [_when(violated, label) for label, violated in checks]
            exprs.append(pl.coalesce(pl.col(self.reason), *firsts).alias(self.reason))
        if exprs:
            self.frame = self.frame.with_columns(exprs)

    def cast(self, ctx: StepContext, casts: dict[str, CastType]) -> None:
        values: list[pl.Expr] = []
        checks: list[tuple[str, pl.Expr]] = []
        for column, target in casts.items():
            _check_cast(ctx, column, self.dtypes[column], target)
            converted = _cast(pl.col(column), self.dtypes[column], target)
            values.append(converted.alias(column))
            checks.append((f"cast:{column}", pl.col(column).is_not_null() & converted.is_null()))
            self.dtypes[column] = _TARGETS[target]
        self.stage(values, checks)

    def parse(self, ctx: StepContext, parses: dict[str, DateParse]) -> None:
        values: list[pl.Expr] = []
        checks: list[tuple[str, pl.Expr]] = []
        for column, how in parses.items():
            target: pl.DataType = pl.Date() if how.type == "date" else pl.Datetime("us")
            _check_parse(ctx, column, self.dtypes[column], target, how.format)
            parsed = pl.col(column).str.strptime(target, how.format, strict=False)  # type: ignore[arg-type]
            if "%Y" in how.format:  # chrono reads `%Y` from fewer digits: `1/5/24` would be the year 24
                parsed = pl.when(pl.col(column).str.contains(r"\d{4}")).then(parsed)
            values.append(parsed.alias(column))
            checks.append((f"parse:{column}", pl.col(column).is_not_null() & parsed.is_null()))
            self.dtypes[column] = target
        self.stage(values, checks)

    def fill(self, ctx: StepContext, fills: dict[str, str | int | float | bool]) -> None:
        values = [_fill_value(ctx, c, value, self.dtypes[c]) for c, value in fills.items()]
        self.stage([pl.col(c).fill_null(v).alias(c) for c, v in zip(fills, values, strict=True)])

    def validate(self, ctx: StepContext, params: Params) -> None:
        checks = [(f"required:{c}", pl.col(c).is_null()) for c in dict.fromkeys(params.required)]
        for column, rule in params.constraints.items():
            checks += _constraint_rules(ctx, column, rule, self.dtypes[column])
        self.stage([], checks)

    def final_reason(self, dedupe: Dedupe | None, index: str) -> pl.Expr:
        """The row's first failing rule, dedupe last: only rows that broke no rule count as copies.

        The copies are found while planning, on a projection (`index` and the cleaned keys of the
        rows that broke no rule), and marked in the flow by position: the flow streams instead of
        holding every row for a window over the keys (fraud example, 4 M rows: that window held
        about 500 bytes a row, the projection holds about 60, and only while planning).
        """
        if dedupe is None:
            return pl.col(self.reason)
        keys = list(dict.fromkeys(dedupe.keys))
        passed = self.frame.filter(pl.col(self.reason).is_null()).select(index, *keys)
        copies = _copies(passed.collect(engine="streaming"), keys, dedupe.keep).get_column(index)
        label = f"duplicate:{'+'.join(keys)}"
        self.reasons.append(label)
        is_copy = pl.col(index).is_in(pl.lit(copies).implode())
        return pl.coalesce(pl.col(self.reason), _when(is_copy, label))


def _copies(found: pl.DataFrame, keys: list[str], keep: str) -> pl.DataFrame:
    """The rows of `found` whose keys an earlier row (`keep: first`) or a later one (`last`) has.

    Exact, in two rounds: a 64-bit hash of each row's keys finds the rows whose hash repeats (every
    row that has a copy, and the rare row whose hash collides), and only those are compared by
    value. Comparing every text key took 0.30 s on 2 M transaction ids, the two rounds 0.11 s."""
    # One key is hashed and compared as it is: as a struct, 10 M keys took 1.5 GB more, not 0.3.
    group = pl.col(keys[0]) if len(keys) == 1 else pl.struct(keys)
    candidates = found.filter(group.hash().is_duplicated())
    kept = group.is_first_distinct() if keep == "first" else group.is_last_distinct()
    return candidates.filter(~kept)


def _trimmed(ctx: StepContext, params: Params, text: list[str], dtypes: dict[str, pl.DataType]) -> list[str]:
    if isinstance(params.trim, bool):
        trimmed = text if params.trim else []
    else:
        trimmed = list(dict.fromkeys(params.trim))
    for column in [*trimmed, *params.case]:
        if dtypes[column] != pl.String:
            raise _error(
                ctx,
                f"trim and case need a text column, but '{column}' has type {dtypes[column]}",
                "remove the column from trim/case, or cast it to string in an earlier step",
            )
    return trimmed


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    schema = require_columns(frame, params.input_columns(), ctx, STEP)
    text = [c for c in _visible(schema) if schema[c] == pl.String]
    trimmed = _trimmed(ctx, params, text, dict(schema))

    # Copies of every column the step may change, put back on the quarantined rows.
    touched = {*(text if params.empty_as_null else []), *trimmed, *params.case, *params.cast, *params.parse}
    changed = [c for c in schema.names() if c in touched or c in params.fill]
    raw = {c: internal_column(ctx, f"raw_{i}") for i, c in enumerate(changed)}
    reason = internal_column(ctx, "reason")
    index = internal_column(ctx, "index")  # input position, for dedupe
    copies = [pl.col(c).alias(raw[c]) for c in changed]
    if params.dedupe is not None:
        frame = frame.with_row_index(index)
    plan = _Plan(frame.with_columns(*copies, pl.lit(None, pl.String).alias(reason)), schema, reason)

    plan.stage([pl.col(c).str.strip_chars().alias(c) for c in trimmed])
    if params.empty_as_null:
        plan.stage([pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in text])
    cases = {"lower": "to_lowercase", "upper": "to_uppercase", "title": "to_titlecase"}
    plan.stage([getattr(pl.col(c).str, cases[how])().alias(c) for c, how in params.case.items()])
    plan.cast(ctx, params.cast)
    plan.parse(ctx, params.parse)
    plan.fill(ctx, params.fill)
    plan.validate(ctx, params)
    final = plan.final_reason(params.dedupe, index)

    kept, rejected = split_quarantine(plan.frame, final)
    internals = [*raw.values(), reason, *([index] if params.dedupe is not None else [])]
    kept = kept.drop(internals)
    rejected = rejected.with_columns(pl.col(raw[c]).alias(c) for c in changed).drop(internals)
    return StepResult(kept, quarantine=rejected, facts=_facts(params, plan.reasons, trimmed))
