"""Column data profiles, in the spirit of Google Cloud DLP's: computed on the sample, value-free.

- `null_pct`: nulls (and empty or blank text) among the sampled rows, in percent;
- `distinct_pct`: distinct non-null values among the non-null values, in percent;
- `uniqueness`: the fraction of non-null values that occur exactly once (1.0: every value is unique,
  a likely identifier; near 0: a category);
- `free_text_score`: the fraction of values with at least four words and 25 characters;
- `avg_length`: mean length in characters of the text form.

No minimum or maximum: an extreme is a value of one record (the largest amount is one customer's, the
oldest date of birth one person's), whether or not the classifier found the column sensitive.
"""

from __future__ import annotations

import contextlib
from typing import Any

import polars as pl

from vaultline.engines.polars.text import lossless_text

FREE_TEXT_WORDS = 4
FREE_TEXT_CHARS = 25


def text_form(series: pl.Series) -> pl.Series:
    """The column as trimmed text, empty strings as null (what recognizers and profiles look at).
    Nested values (structs, lists) become their JSON text, so a recognizer still sees what they hold."""
    text = series
    if series.dtype == pl.Binary:  # bytes that are all UTF-8 may hold what a recognizer knows
        with contextlib.suppress(pl.exceptions.ComputeError):
            text = series.cast(pl.String)
    if text.dtype != pl.String:
        text = series.to_frame().select(lossless_text(series.name, series.dtype)).to_series()
    stripped = text.str.strip_chars()
    return stripped.set(
        stripped.is_in(["", "null", "[]", "{}"]) if series.dtype.is_nested() else stripped == "", None
    )


def _ratio(value: object) -> float:
    """A Series mean as a float (None, for no values, as 0)."""
    return round(float(value), 4) if isinstance(value, int | float) else 0.0


def profile(text: pl.Series) -> dict[str, Any]:
    """The profile of one column's text form (`text_form`)."""
    rows = text.len()
    present = text.drop_nulls()
    non_null = present.len()
    counts = present.unique_counts()  # occurrences of each distinct value (named after no column)
    words = present.str.split(" ").list.len()
    free_text = ((words >= FREE_TEXT_WORDS) & (present.str.len_chars() >= FREE_TEXT_CHARS)).mean()
    return {
        "rows_sampled": rows,
        "null_pct": round(100 * (rows - non_null) / rows, 2) if rows else 0.0,
        "distinct_pct": round(100 * counts.len() / non_null, 2) if non_null else 0.0,
        "uniqueness": round(float((counts == 1).sum()) / non_null, 4) if non_null else 0.0,
        "free_text_score": _ratio(free_text),
        "avg_length": round(_ratio(present.str.len_chars().mean()), 2),
    }
