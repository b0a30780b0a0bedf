"""Declared types applied to what a reader produced: text converted non-strictly, and every row whose
non-null text does not convert split off to quarantine with `type:<column>`."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources.ingest import RAW, where
from vaultline.errors import SourceError, without_values
from vaultline.spec.sources import ColumnType

DECIMAL = pl.Decimal(38, 9)
"""What `decimal` means for text input: up to 29 integer and 9 fractional digits (more fractional digits
are quarantined rather than rounded)."""

DATETIME = pl.Datetime("us")
"""What `datetime` means: microseconds, no time zone; ISO values with an offset are converted to UTC."""

_VALID = "__vl_valid"
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_DTYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "int64": pl.Int64(),
    "float64": pl.Float64(),
    "bool": pl.Boolean(),
    "date": pl.Date(),
    "datetime": DATETIME,
    "decimal": DECIMAL,
}


def kind_of(dtype: pl.DataType) -> ColumnType | None:
    """The spec type a Polars type already satisfies (None: needs converting for any declared type)."""
    if dtype == pl.String:
        return "string"
    if dtype == pl.Int64:
        return "int64"
    if dtype == pl.Float64:
        return "float64"
    if dtype == pl.Boolean:
        return "bool"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if isinstance(dtype, pl.Decimal):
        return "decimal"
    return None


def _iso(text: pl.Expr) -> pl.Expr:
    return text.str.strip_chars().str.replace(" ", "T", literal=True, n=1)


def _four_digit_year(text: pl.Expr) -> pl.Expr:
    """ISO dates have four-digit years: `%Y` alone would read `24-01-31` as the year 24."""
    return text.str.strip_chars_start().str.contains(r"^\d{4}-")


def parse_text(text: pl.Expr, kind: ColumnType) -> pl.Expr:
    """Non-strict conversion of a text expression: null where the text does not convert. For `datetime`
    this is the common ISO form only; `refine` adds the others."""
    if kind == "string":
        return text
    value = text.str.strip_chars()
    if kind == "int64":
        return value.cast(pl.Int64, strict=False)
    if kind == "float64":
        # past 2**53 a float drops digits: a 20-digit identifier would be stored rounded, so refuse it
        lossy = value.str.contains(r"^[+-]?\d{16,}$")
        return pl.when(~lossy).then(value.cast(pl.Float64, strict=False))
    if kind == "bool":
        lowered = value.str.to_lowercase()
        return (
            pl.when(lowered.is_in(_TRUE))
            .then(pl.lit(True))
            .when(lowered.is_in(_FALSE))
            .then(pl.lit(False))
            .otherwise(pl.lit(None, pl.Boolean))
        )
    if kind == "date":
        return pl.when(_four_digit_year(value)).then(value.str.to_date("%Y-%m-%d", strict=False))
    if kind == "datetime":
        parsed = _iso(text).str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us", cache=False)
        return pl.when(_four_digit_year(text)).then(parsed)
    # decimal: more fractional digits than the scale would be rounded: refuse them instead
    too_fine = value.str.contains(r"\.\d{9}0*[1-9]")
    return pl.when(too_fine).then(pl.lit(None, DECIMAL)).otherwise(value.str.to_decimal(scale=9))


def refine(text: pl.Expr, first: pl.Expr) -> pl.Expr:
    """The other ISO datetime forms (offset, minutes only, date only), parsed only where `first` failed:
    parsing a masked (null) value costs nothing, and the common form is the expensive one."""
    rest = pl.when(first.is_null() & _four_digit_year(text)).then(_iso(text))
    return pl.coalesce(
        first,
        rest.str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us", time_zone="UTC", cache=False
        ).dt.replace_time_zone(None),
        rest.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us", cache=False),
        rest.str.to_date("%Y-%m-%d", strict=False).cast(DATETIME),
    )


@dataclass(frozen=True)
class _Conversion:
    column: str
    value: pl.Expr
    raw: pl.Expr
    """The text kept in quarantine when the conversion fails."""
    refine: bool = False
    """Second pass over the first result (`refine`), in its own stage so the first is computed once."""


def _conversion(column: str, dtype: pl.DataType, kind: ColumnType) -> _Conversion | None:
    if kind_of(dtype) == kind:
        return None
    source = pl.col(column)
    if dtype == pl.String:
        return _Conversion(column, parse_text(source, kind), source, refine=kind == "datetime")
    if kind == "string":
        return _Conversion(column, source.cast(pl.String), source.cast(pl.String))
    value = source.cast(_DTYPES[kind], strict=False)
    if kind == "int64" and (dtype.is_float() or isinstance(dtype, pl.Decimal)):
        value = pl.when(value.cast(dtype) == source).then(value)  # 1.5 is refused, not truncated to 1
    return _Conversion(column, value, source.cast(pl.String, strict=False))


def split_valid(
    name: str,
    scan: pl.LazyFrame,
    kinds: dict[str, ColumnType],
    *,
    marked: bool,
    hint: str | None = None,
) -> tuple[pl.LazyFrame, pl.LazyFrame | None]:
    """Convert the declared columns and split valid rows from quarantined ones.

    `scan` has the data columns, ROW_ID and, when `marked`, REASON and RAW (rows the reader could not split).
    Each stage only refers to columns computed by the one before, so no conversion runs twice.
    """
    schema = scan.collect_schema()
    data = [c for c in schema.names() if c not in (ROW_ID, REASON, RAW)]
    missing = [c for c in kinds if c not in data]
    if missing:
        raise SourceError(
            f"column(s) {', '.join(missing)} declared in the schema are not in the input",
            hint=f"the input has: {', '.join(data)}" + (f"; {hint}" if hint else ""),
            where=where(name),
        )
    conversions = [
        c for c in (_conversion(col, schema[col], kinds[col]) for col in data if col in kinds) if c
    ]
    if not conversions and not marked:
        return scan.select(*data, ROW_ID), None
    temp = {c.column: f"__vl_typed_{i}" for i, c in enumerate(conversions)}
    try:
        typed = scan.with_columns(c.value.alias(temp[c.column]) for c in conversions)
        refined = [
            refine(pl.col(c.column), pl.col(temp[c.column])).alias(temp[c.column])
            for c in conversions
            if c.refine
        ]
        if refined:
            typed = typed.with_columns(refined)
        typed.collect_schema()
    except pl.exceptions.PolarsError as exc:
        raise SourceError(
            f"a declared type cannot be applied: {without_values(str(exc))}",
            hint="check the types in the source's schema against the input's column types",
            where=where(name),
        ) from None
    failed = {
        c.column: pl.col(c.column).is_not_null() & pl.col(temp[c.column]).is_null() for c in conversions
    }
    reasons: list[pl.Expr] = [pl.when(failed[c.column]).then(pl.lit(f"type:{c.column}")) for c in conversions]
    raws: list[pl.Expr] = [pl.when(failed[c.column]).then(c.raw) for c in conversions]
    if marked:
        reasons.insert(0, pl.col(REASON))
        raws.insert(0, pl.col(RAW))
    reason = reasons[0] if len(reasons) == 1 else pl.coalesce(reasons)
    raw = raws[0] if len(raws) == 1 else pl.coalesce(raws)
    # One cached node: valid and quarantined rows come from a single read when collected together. The
    # filters test a computed flag, which keeps Polars from pushing them into the scan (two different
    # predicates there would make two scans).
    flagged = (
        typed.with_columns(reason.cast(pl.String).alias(REASON), raw.cast(pl.String).alias(RAW))
        .with_columns(pl.col(REASON).is_null().alias(_VALID))
        .cache()
    )
    frame = flagged.filter(pl.col(_VALID)).select(
        *[pl.col(temp[c]).alias(c) if c in temp else pl.col(c) for c in data], ROW_ID
    )
    quarantine = flagged.filter(~pl.col(_VALID)).select(ROW_ID, REASON, RAW, *data)
    return frame, quarantine
