"""derive on Polars: per-entity time deltas and velocity as window expressions, and safe arithmetic.

Every derivation reads the columns as they were before the step (an output may replace a column;
the other derivations still see the old values). Output row order is the input's: the per-entity
computations are `.over(entity, order_by=[time, row])` window expressions, which evaluate each
entity sorted by time and write the results back to the rows' original positions; nothing is
sorted globally. (Measured on 1M rows, 50k entities, 2 cores: window expressions 0.75 s in memory /
0.36 s streaming, against 0.80 s / 0.58 s for a global sort + restore.) The windows run while
planning, on a projection of the entity and time columns only (entities as categories), and the
flow gets their columns side by side, row for row: the rows stream on (fraud example, 10 M rows:
the projection and the windows took 3.7 s and about 16 bytes a row, where windows over the flow
held every row of it).

- time_since_previous (Float64): seconds since the same entity's previous event, divided by the
  unit's seconds; the entity's first event gets `first_value`. Events at equal times are ordered by
  input position, so of two simultaneous events the second gets 0. Time must be Date or Datetime.
- velocity (Int64): the number of the entity's events with time in the trailing window
  (t - window, t], the current event included, so events at exactly t - window are out and every
  event at t (before or after in input order) is in. Computed exactly on the integer time
  representation with two `search_sorted` per entity.
- For both, a row with a null entity or a null time gets null, and null times are not events.
- arithmetic (Float64): columns (numeric or bool, cast to Float64) and numbers with
  `+ - * / // % **` (`//` and `%` follow Python: floor division, result with the divisor's sign) and
  `abs log log10 exp sqrt round floor ceil` (`round` halves to even, like Python). Division, `//`
  and `%` by zero, log/log10 of a number <= 0 and sqrt of a negative give null; so does any other
  non-finite result (an overflow, NaN in an input): no inf or NaN leaves this step.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from vaultline.engines.polars.base import StepContext, StepResult, internal_column, require_columns, where
from vaultline.errors import TransformError
from vaultline.transforms.derive import (
    Arithmetic,
    BinaryOp,
    Call,
    Column,
    Negate,
    Node,
    Number,
    Params,
    TimeSincePrevious,
    Velocity,
)

STEP = "derive"
_PER_SECOND = {"ns": 1_000_000_000, "us": 1_000_000, "ms": 1_000}


def _error(ctx: StepContext, message: str, hint: str) -> TransformError:
    return TransformError(message, hint=hint, where=where(ctx, STEP))


def _instant(ctx: StepContext, schema: pl.Schema, output: str, column: str) -> tuple[pl.Expr, int]:
    """The time as Int64 ticks and the ticks per second (Datetime: its unit; Date: seconds)."""
    dtype = schema[column]
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).cast(pl.Int64), _PER_SECOND[dtype.time_unit]
    if dtype == pl.Date:
        return pl.col(column).cast(pl.Int64) * 86_400, 1
    hint = "parse it in a `clean` step first" if dtype == pl.String else "use a Date or Datetime column"
    raise _error(ctx, f"'{output}' needs a Date or Datetime time, but '{column}' has type {dtype}", hint)


def _time_since(
    ctx: StepContext, schema: pl.Schema, output: str, spec: TimeSincePrevious, row: str
) -> pl.Expr:
    _instant(ctx, schema, output, spec.time)  # type check only
    time = pl.col(spec.time)
    previous = time.shift(1).over(spec.entity, order_by=[spec.time, row])
    seconds = (time - previous).dt.total_seconds(fractional=True)
    present = pl.col(spec.entity).is_not_null() & time.is_not_null()
    return (
        pl.when(~present)
        .then(None)
        .when(previous.is_null())
        .then(pl.lit(spec.first_value, dtype=pl.Float64))
        .otherwise(seconds / spec.seconds_per_unit)
        .cast(pl.Float64)
    )


def _velocity(ctx: StepContext, schema: pl.Schema, output: str, spec: Velocity, row: str) -> pl.Expr:
    ticks, per_second = _instant(ctx, schema, output, spec.time)
    window = spec.window_seconds * per_second
    # In each entity, sorted by time (nulls first): events <= t minus events <= t - window.
    up_to_now = ticks.search_sorted(ticks, side="right")
    up_to_start = ticks.search_sorted(ticks - window, side="right")
    count = up_to_now.cast(pl.Int64) - up_to_start.cast(pl.Int64)
    count = count.over(spec.entity, order_by=[spec.time, row])
    present = pl.col(spec.entity).is_not_null() & pl.col(spec.time).is_not_null()
    return pl.when(present).then(count)


def _finite(value: pl.Expr) -> pl.Expr:
    return pl.when(value.is_finite()).then(value)


def _binary(op: str, left: pl.Expr, right: pl.Expr) -> pl.Expr:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if op == "**":
        return left.pow(right)
    by_nonzero = pl.when(right != 0)
    if op == "/":
        return by_nonzero.then(left / right)
    if op == "//":
        return by_nonzero.then(left // right)
    assert op == "%"
    return by_nonzero.then(left % right)


def _call(function: str, value: pl.Expr) -> pl.Expr:
    if function in ("log", "log10"):
        return pl.when(value > 0).then(value.log() if function == "log" else value.log10())
    if function == "sqrt":
        return pl.when(value >= 0).then(value.sqrt())
    if function == "round":
        return value.round(0, mode="half_to_even")
    plain = {"abs": pl.Expr.abs, "exp": pl.Expr.exp, "floor": pl.Expr.floor, "ceil": pl.Expr.ceil}
    return plain[function](value)


def expression(node: Node, schema: pl.Schema, ctx: StepContext, output: str) -> pl.Expr:
    """The Node tree from `transforms.derive` as a Float64 Polars expression (no text is evaluated)."""
    if isinstance(node, Column):
        dtype = schema[node.name]
        if not (dtype.is_numeric() or dtype == pl.Boolean):
            raise _error(
                ctx,
                f"'{output}' uses column '{node.name}' of type {dtype} in arithmetic",
                "use numeric columns only; cast it in a `clean` step first",
            )
        return pl.col(node.name).cast(pl.Float64)
    if isinstance(node, Number):
        return pl.lit(node.value, dtype=pl.Float64)
    if isinstance(node, Negate):
        return -expression(node.operand, schema, ctx, output)
    if isinstance(node, Call):
        return _call(node.function, expression(node.argument, schema, ctx, output))
    assert isinstance(node, BinaryOp)
    left = expression(node.left, schema, ctx, output)
    return _binary(node.op, left, expression(node.right, schema, ctx, output))


def _per_entity(frame: pl.LazyFrame, schema: pl.Schema, exprs: list[pl.Expr], row: str) -> pl.DataFrame:
    """The per-entity columns, computed on a projection of the entity and time columns only.

    The entities are read as categories (4 bytes a row: grouping by category is grouping by text),
    so the projection costs about 16 bytes a row whatever the entity's length."""
    needed = sorted({name for expr in exprs for name in expr.meta.root_names()} - {row})
    narrow = frame.select(
        pl.col(c).cast(pl.Categorical) if schema[c] == pl.String else pl.col(c) for c in needed
    ).collect(engine="streaming")
    return narrow.lazy().with_row_index(row).select(exprs).collect()


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    schema = require_columns(frame, params.input_columns(), ctx, STEP)
    row = internal_column(ctx, "row")
    arithmetic: list[pl.Expr] = []
    per_entity: list[pl.Expr] = []
    kinds: dict[str, str] = {}
    for output, spec in params.columns.items():
        kinds[output] = spec.kind
        if isinstance(spec, Arithmetic):
            arithmetic.append(_finite(expression(spec.tree, schema, ctx, output)).alias(output))
        elif isinstance(spec, TimeSincePrevious):
            per_entity.append(_time_since(ctx, schema, output, spec, row).alias(output))
        else:
            per_entity.append(_velocity(ctx, schema, output, spec, row).alias(output))
    facts: dict[str, Any] = {"columns": kinds, "inputs": params.input_columns()}
    out = frame.with_columns(arithmetic) if arithmetic else frame
    if not per_entity:
        return StepResult(out, facts=facts)
    # Windows over the whole flow would hold every row of it: they run on a narrow projection
    # (planning reads it once), and the stream gets their columns side by side, row for row.
    windows = _per_entity(frame, schema, per_entity, row)
    order = [*schema.names(), *(name for name in params.columns if name not in schema)]
    out = pl.concat([out.drop(windows.columns, strict=False), windows.lazy()], how="horizontal")
    return StepResult(out.select(order), facts=facts)
