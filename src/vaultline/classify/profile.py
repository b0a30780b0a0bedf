"""Column data profiles, in the spirit of Google Cloud DLP's: computed on the sample, value-free.

- `null_pct`: nulls (and empty or blank text) among the sampled rows, in percent;
- `distinct_pct`: distinct non-null values among the non-null values, in percent;
- `uniqueness`: the fraction of non-null values that occur exactly once (1.0: every value is unique,
  a likely identifier; near 0: a category);
- `min`/`max`: for numeric columns (or text columns whose non-null values all read as numbers) and
  ISO dates; withheld (null, `"withheld": true`) on a column classified as sensitive, because the
  extreme of a sensitive column is itself a value (the oldest date of birth is one person's), and
  null on identifier-like numbers (whole and at least 90% distinct), for the same reason;
- `free_text_score`: the fraction of values with at least four words and 25 characters;
- `avg_length`: mean length in characters of the text form.
"""

from __future__ import annotations

from typing import Any

import polars as pl

FREE_TEXT_WORDS = 4
FREE_TEXT_CHARS = 25


def text_form(series: pl.Series) -> pl.Series:
    """The column as trimmed text, empty strings as null (what recognizers and profiles look at)."""
    text = series if series.dtype == pl.String else series.cast(pl.String)
    stripped = text.str.strip_chars()
    return stripped.set(stripped == "", None)


def _identifier_like(numbers: pl.Series) -> bool:
    """Whole numbers that are nearly all distinct: ids, whose extremes are values of a record."""
    whole = bool((numbers == numbers.floor()).all())
    return whole and numbers.len() > 0 and numbers.n_unique() >= 0.9 * numbers.len()


def _extremes(series: pl.Series, text: pl.Series) -> tuple[Any, Any]:
    if series.dtype.is_numeric():
        numbers = series.drop_nulls().cast(pl.Float64)
        return (None, None) if _identifier_like(numbers) else (series.min(), series.max())
    if series.dtype in (pl.Date, pl.Datetime):
        low, high = series.min(), series.max()
        return str(low), str(high)
    present = text.drop_nulls()
    if present.len() == 0:
        return None, None
    numbers = present.cast(pl.Float64, strict=False)
    if numbers.null_count() == 0:
        return (None, None) if _identifier_like(numbers) else (numbers.min(), numbers.max())
    dates = present.str.to_date("%Y-%m-%d", strict=False)
    if dates.null_count() == 0:
        return str(dates.min()), str(dates.max())
    return None, None


def _ratio(value: object) -> float:
    """A Series mean as a float (None, for no values, as 0)."""
    return round(float(value), 4) if isinstance(value, int | float) else 0.0


def profile(series: pl.Series, text: pl.Series, *, sensitive: bool) -> dict[str, Any]:
    rows = text.len()
    present = text.drop_nulls()
    non_null = present.len()
    counts = present.value_counts(name="n")["n"] if non_null else pl.Series("n", [], pl.UInt32)
    words = present.str.split(" ").list.len()
    free_text = ((words >= FREE_TEXT_WORDS) & (present.str.len_chars() >= FREE_TEXT_CHARS)).mean()
    low, high = (None, None) if sensitive else _extremes(series, text)
    result: dict[str, Any] = {
        "rows_sampled": rows,
        "null_pct": round(100 * (rows - non_null) / rows, 2) if rows else 0.0,
        "distinct_pct": round(100 * counts.len() / non_null, 2) if non_null else 0.0,
        "uniqueness": round(float((counts == 1).sum()) / non_null, 4) if non_null else 0.0,
        "min": low,
        "max": high,
        "free_text_score": _ratio(free_text),
        "avg_length": round(_ratio(present.str.len_chars().mean()), 2),
    }
    if sensitive:
        result["withheld"] = True
    return result
