"""generalize on Polars: HIPAA Safe Harbor generalizations, one expression per rule.

Every rule reads the columns as they were before the step (so `date_of_birth: {rule: age_from_date,
as_of: admission_date}` sees the full admission date even when `admission_date: {rule: year}` runs
in the same step). With `output`, the result goes to the new column and the input is dropped.

- year: Date/Datetime -> Int32 year. Text dates are refused: parse them in a `clean` step first.
- zip3: text `12345`, `12345-6789` or `123456789` (surrounding spaces ignored) -> first three
  digits, `000` for the restricted prefixes; a ZIP3 already (`021`) is kept, `000` if restricted.
  Other text is null (counted). Integer ZIPs are refused (leading zeros are lost).
- age_top_code: integer or float age (floats floored) -> text, `90+` from 90 up.
- age_band: the same age -> `lo-hi` bands of `width` years (`30-39`), the last band before 90 ends
  at 89, `90+` from 90 up.
- age_from_date: whole years from a Date/Datetime birth date to `as_of` (a Date/Datetime column, or
  the run's date in UTC for `today`), a birthday counting from its calendar day (29 February: 1 March in
  other years), then top-coded like age_top_code.

A non-null value the rule cannot use (a malformed ZIP, a negative or non-finite age, a birth date
after `as_of`) becomes null and is counted in the metric `invalid:<column>`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from vaultline.engines.polars.base import StepContext, StepResult, internal_column, require_columns, where
from vaultline.errors import TransformError
from vaultline.transforms.generalize import RESTRICTED_ZIP3, TOP_CODE_AGE, Params, Rule

STEP = "generalize"
_ZIP = r"^(?:[0-9]{5}(?:-?[0-9]{4})?|[0-9]{3})$"  # 3 digits: a ZIP3 already, mapped as a ZIP's prefix
_TOP = f"{TOP_CODE_AGE}+"


def _refuse(ctx: StepContext, column: str, dtype: pl.DataType, rule: str, hint: str) -> TransformError:
    return TransformError(
        f"rule {rule} cannot use column '{column}' of type {dtype}", hint=hint, where=where(ctx, STEP)
    )


def _temporal(ctx: StepContext, schema: pl.Schema, column: str, rule: str) -> pl.Expr:
    dtype = schema[column]
    if dtype in (pl.Date, pl.Datetime):
        return pl.col(column)
    hint = (
        "parse it to a date in a `clean` step first"
        if dtype == pl.String
        else "the column must hold dates or timestamps; cast it in a `clean` step first"
    )
    raise _refuse(ctx, column, dtype, rule, hint)


def _age(ctx: StepContext, schema: pl.Schema, column: str, rule: str) -> pl.Expr:
    dtype = schema[column]
    if dtype.is_integer():
        age = pl.col(column).cast(pl.Int64)
    elif dtype.is_float():
        age = pl.col(column).floor().cast(pl.Int64, strict=False)
    else:
        raise _refuse(
            ctx, column, dtype, rule, "ages must be numbers; cast the column in a `clean` step first"
        )
    return pl.when(age >= 0).then(age)


def _top_code(age: pl.Expr) -> pl.Expr:
    return pl.when(age >= TOP_CODE_AGE).then(pl.lit(_TOP)).otherwise(age.cast(pl.String))


def _band(age: pl.Expr, width: int) -> pl.Expr:
    low = age // width * width
    high = pl.min_horizontal(low + width - 1, TOP_CODE_AGE - 1)
    label = pl.concat_str(low.cast(pl.String), pl.lit("-"), high.cast(pl.String))
    return pl.when(age >= TOP_CODE_AGE).then(pl.lit(_TOP)).otherwise(label)


def _zip3(ctx: StepContext, schema: pl.Schema, column: str) -> pl.Expr:
    if schema[column] != pl.String:
        raise _refuse(
            ctx, column, schema[column], "zip3", "read ZIP codes as text (an integer loses leading zeros)"
        )
    text = pl.col(column).str.strip_chars()
    prefix = text.str.head(3)
    restricted = prefix.is_in(list(RESTRICTED_ZIP3))
    return pl.when(text.str.contains(_ZIP)).then(pl.when(restricted).then(pl.lit("000")).otherwise(prefix))


def _years_between(birth: pl.Expr, as_of: pl.Expr) -> pl.Expr:
    def day_of_year(d: pl.Expr) -> pl.Expr:
        return d.dt.month().cast(pl.Int32) * 100 + d.dt.day().cast(pl.Int32)

    years = as_of.dt.year().cast(pl.Int64) - birth.dt.year().cast(pl.Int64)
    before_birthday = (day_of_year(as_of) < day_of_year(birth)).cast(pl.Int64)
    return years - before_birthday


def _expression(ctx: StepContext, schema: pl.Schema, column: str, rule: Rule, today: dt.date) -> pl.Expr:
    if rule.rule == "year":
        return _temporal(ctx, schema, column, "year").dt.year().cast(pl.Int32)
    if rule.rule == "zip3":
        return _zip3(ctx, schema, column)
    if rule.rule == "age_top_code":
        return _top_code(_age(ctx, schema, column, "age_top_code"))
    if rule.rule == "age_band":
        return _band(_age(ctx, schema, column, "age_band"), rule.width)
    birth = _temporal(ctx, schema, column, "age_from_date")
    as_of = pl.lit(today) if rule.as_of == "today" else _temporal(ctx, schema, rule.as_of, "age_from_date")
    age = _years_between(birth, as_of)
    return _top_code(pl.when(age >= 0).then(age))


def _check_outputs(params: Params, schema: pl.Schema, ctx: StepContext) -> None:
    outputs = params.output_columns()
    inputs = set(params.input_columns())
    for name in dict.fromkeys(outputs):
        if outputs.count(name) > 1:
            raise TransformError(
                f"several rules write column '{name}'",
                hint="give each rule its own `output` name",
                where=where(ctx, STEP),
            )
        if name in schema and name not in inputs:
            raise TransformError(
                f"rule output '{name}' would overwrite an existing column",
                hint="choose another `output` name, or drop the existing column in an earlier step",
                where=where(ctx, STEP),
            )


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    schema = require_columns(frame, params.input_columns(), ctx, STEP)
    _check_outputs(params, schema, ctx)
    today = dt.datetime.now(dt.UTC).date()  # the run's date, in UTC as its recorded times are
    exprs: list[pl.Expr] = []
    metrics: dict[str, pl.Expr] = {}
    for column, rule in params.rules.items():
        expr = _expression(ctx, schema, column, rule, today)
        exprs.append(expr.alias(rule.output or column))
        if rule.rule != "year":
            flag = internal_column(ctx, f"invalid_{column}")
            present = pl.col(column).is_not_null()
            if rule.rule == "age_from_date" and rule.as_of != "today":
                present = present & pl.col(rule.as_of).is_not_null()
            exprs.append((present & expr.is_null()).alias(flag))
            metrics[f"invalid:{column}"] = pl.col(flag).sum()
    outputs = set(params.output_columns())
    replaced = [c for c, rule in params.rules.items() if rule.output and c not in outputs]
    out = frame.with_columns(exprs).drop(replaced)

    facts: dict[str, Any] = {
        "columns": list(params.rules),
        "outputs": {c: rule.output or c for c, rule in params.rules.items()},
        "rules": {c: rule.rule for c, rule in params.rules.items()},
    }
    if any(r.rule == "age_from_date" and r.as_of == "today" for r in params.rules.values()):
        facts["as_of_date"] = today.isoformat()
    return StepResult(out, facts=facts, metrics=metrics)
