"""encode on Polars: map codes to attribute columns with `replace_strict` on each batch, vectorized.

The mapping is inline or read with `ctx.read_bytes(mapping_file)` and parsed by extension:
- `.csv` (UTF-8, optional BOM): the header names the code column then the attributes; each row is a
  code and its attribute values, all text; blank lines are skipped;
- `.json`: an object `{code: {attribute: value}}`;
- `.yaml` / `.yml`: the same, read with ruamel.yaml's safe loader (numeric keys become text).
It is checked with `validate_mapping` (the `unknown_key` entry exists, every entry has every
attribute) and `validate_attributes` (outputs and ordinal name real attributes, ordinal values listed).

Codes are compared as text: the column is cast to string (integer, text, categorical and enum
columns are accepted) and stripped, and so are the mapping's codes. A null code, a code not in the
mapping, and the code equal to `unknown_key` itself get the `unknown_key` attributes and are counted
in the metric `unknown`.

Output types per attribute: Boolean if every value is a bool, Int64 if every value is an integer,
Float64 if every value is a number, else String (numbers and bools written as text, bools as
`true`/`false`). Attributes listed in `ordinal` become `pl.Enum(order)`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlparse

import polars as pl

from vaultline.engines.polars.base import StepContext, StepResult, internal_column, require_columns, where
from vaultline.errors import SourceError, TransformError
from vaultline.transforms.encode import (
    Attributes,
    Params,
    attribute_names,
    validate_attributes,
    validate_mapping,
)

STEP = "encode"
_SCALARS = (str, int, float, bool)


def _error(ctx: StepContext, message: str, hint: str) -> TransformError:
    return TransformError(message, hint=hint, where=where(ctx, STEP))


def _from_csv(text: str, ctx: StepContext) -> dict[str, Any]:
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows or len(rows[0]) < 2:
        raise _error(
            ctx,
            "the CSV mapping needs a header with the code column and at least one attribute",
            "write a header such as `code,category,risk_level`",
        )
    names = [name.strip() for name in rows[0][1:]]
    if len(set(names)) != len(names) or not all(names):
        raise _error(ctx, "the CSV mapping header has empty or repeated attribute names", "name each once")
    mapping: dict[str, Any] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(names) + 1:
            raise _error(
                ctx,
                f"CSV mapping row {line} has {len(row)} fields, the header {len(names) + 1}",
                "give every row a code and one value per attribute (quote values holding commas)",
            )
        if row[0] in mapping:
            raise _error(ctx, f"CSV mapping row {line} repeats an earlier code", "keep one row per code")
        mapping[row[0]] = {name: value.strip() for name, value in zip(names, row[1:], strict=True)}
    return mapping


def _parse(location: str, data: bytes, ctx: StepContext) -> Any:
    suffix = PurePosixPath(urlparse(location).path).suffix.lower()
    try:
        text = data.decode("utf-8-sig")
        if suffix == ".csv":
            return _from_csv(text, ctx)
        if suffix == ".json":
            return json.loads(text, object_pairs_hook=lambda pairs: _unique(pairs, ctx))
        if suffix in (".yaml", ".yml"):
            from ruamel.yaml import YAML

            return YAML(typ="safe", pure=True).load(text)
    except TransformError:
        raise
    except Exception as exc:  # a parser's message may quote the file's content: name the type only
        raise _error(
            ctx,
            f"the mapping file could not be read as {suffix[1:].upper()} ({type(exc).__name__})",
            "check the file's syntax and that it is UTF-8",
        ) from None
    raise _error(
        ctx,
        f"the mapping file has an unsupported extension '{suffix}'",
        "use a .csv, .json, .yaml or .yml file",
    )


def _unique(pairs: list[tuple[str, Any]], ctx: StepContext) -> dict[str, Any]:
    """A JSON object whose keys are unique: `json` would keep the last of two entries for one code."""
    keys = [key for key, _ in pairs]
    if len(set(keys)) < len(keys):
        raise _error(
            ctx, "the mapping file repeats a key (a code, or an attribute of one)", "keep one of each"
        )
    return dict(pairs)


def _checked(raw: Any, ctx: StepContext) -> dict[str, Attributes]:
    """The mapping as {code text: {attribute: scalar}}, or a TransformError naming what is wrong."""
    hint = "the file must map each code to an object of attribute: value (text, number or bool)"
    if not isinstance(raw, dict):
        raise _error(ctx, "the mapping file does not hold a code -> attributes mapping", hint)
    mapping: dict[str, Attributes] = {}
    for code, attrs in raw.items():
        if not isinstance(code, str):  # YAML reads an unquoted 05411 as the number 5411
            raise _error(
                ctx,
                "the mapping file has a code that is not text (YAML reads an unquoted 05411 as 5411)",
                "quote every code in the file: codes are compared as text",
            )
        if not isinstance(attrs, dict):
            raise _error(ctx, "the mapping file has an entry that is not code -> attributes", hint)
        if not all(isinstance(k, str) and isinstance(v, _SCALARS) for k, v in attrs.items()):
            raise _error(ctx, "a mapping entry has a nested, null or non-text attribute", hint)
        if code in mapping:
            raise _error(ctx, "the mapping file lists a code twice", "keep one entry per code")
        mapping[code] = dict(attrs)
    return mapping


def load_mapping(params: Params, ctx: StepContext) -> dict[str, Attributes]:
    """The validated mapping, inline or from `mapping_file`."""
    if params.mapping is not None:
        mapping = params.mapping
    else:
        assert params.mapping_file is not None
        try:
            raw = ctx.read_bytes(params.mapping_file)
        except SourceError as exc:  # named as the step's, so the run names its line in the spec
            raise _error(
                ctx, f"its mapping_file cannot be read: {exc.message}", exc.hint or "check the path"
            ) from None
        mapping = _checked(_parse(params.mapping_file, raw, ctx), ctx)
    try:
        validate_mapping(mapping, params.unknown_key)
        validate_attributes(mapping, params.outputs, params.ordinal)
    except ValueError as exc:
        raise _error(ctx, f"invalid mapping for column '{params.column}': {exc}", "fix the mapping") from None
    return mapping


def _dtype(values: list[Any]) -> pl.DataType:
    if all(isinstance(v, bool) for v in values):
        return pl.Boolean()
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
        return pl.String()
    return pl.Int64() if all(isinstance(v, int) for v in values) else pl.Float64()


def _typed(values: list[Any], dtype: pl.DataType) -> pl.Series:
    if dtype == pl.Float64:
        values = [float(v) for v in values]
    elif dtype == pl.String:
        values = [str(v).lower() if isinstance(v, bool) else str(v) for v in values]
    return pl.Series(values, dtype=dtype)


def _codes(ctx: StepContext, params: Params, dtype: pl.DataType) -> pl.Expr:
    if not (dtype == pl.String or dtype.is_integer() or dtype in (pl.Categorical, pl.Enum, pl.Null)):
        raise _error(
            ctx,
            f"codes of column '{params.column}' must be text or integers, not {dtype}",
            "cast the column to string or int64 in a `clean` step first",
        )
    return pl.col(params.column).cast(pl.String).str.strip_chars()


class _Lookup:
    """`replace_strict` on one batch of codes. As an expression over the flow, the streaming engine
    runs it on the whole column at once (it held every row of the fraud example's flow); called on
    each batch, it streams."""

    def __init__(self, codes: pl.Series, values: pl.Series, fallback: pl.Series) -> None:
        self.codes, self.values, self.fallback = codes, values, fallback

    def __call__(self, batch: pl.Series) -> pl.Series:
        default = pl.lit(self.fallback).first()
        return batch.replace_strict(self.codes, self.values, default=default, return_dtype=self.values.dtype)


def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult:
    schema = require_columns(frame, [params.column], ctx, STEP)
    code = _codes(ctx, params, schema[params.column])
    mapping = load_mapping(params, ctx)

    unknown_attrs = mapping[params.unknown_key]
    known: dict[str, Attributes] = {}
    for raw_code, attrs in mapping.items():
        key = raw_code.strip()
        if raw_code == params.unknown_key:
            continue
        if key in known or key == params.unknown_key.strip():
            raise _error(ctx, "two mapping codes are equal once stripped of spaces", "keep one per code")
        known[key] = attrs
    codes = list(known)

    attributes = attribute_names(mapping)
    outputs = {a: params.output_column(a) for a in attributes}
    taken = [c for c in outputs.values() if c in schema and c != params.column]
    if taken or len(set(outputs.values())) != len(outputs):
        raise _error(
            ctx,
            f"encode outputs {taken or sorted(outputs.values())} collide with existing columns or each other",
            "rename them with `outputs:`, or drop the existing columns in an earlier step",
        )

    exprs: list[pl.Expr] = []
    for attribute in attributes:
        values = [known[c][attribute] for c in codes]
        fallback = unknown_attrs[attribute]
        dtype: pl.DataType
        if attribute in params.ordinal:
            dtype = pl.Enum(params.ordinal[attribute])
        else:
            dtype = _dtype([*values, fallback])
        lookup = _Lookup(pl.Series(codes, dtype=pl.String), _typed(values, dtype), _typed([fallback], dtype))
        mapped = code.map_batches(lookup, return_dtype=dtype, is_elementwise=True)
        exprs.append(mapped.alias(outputs[attribute]))
    flag = internal_column(ctx, "unknown")
    listed = code.is_in(pl.lit(pl.Series(codes, dtype=pl.String)).implode())
    exprs.append((code.is_null() | ~listed).alias(flag))

    facts: dict[str, Any] = {
        "column": params.column,
        "codes": len(codes),
        "attributes": attributes,
        "outputs": outputs,
        "ordinal": list(params.ordinal),
        "source": "inline" if params.mapping is not None else "file",
    }
    return StepResult(frame.with_columns(exprs), facts=facts, metrics={"unknown": pl.col(flag).sum()})
