"""JSON Lines, decoded by Polars block by block; a block that fails is bisected down to its bad lines,
which become quarantined rows with the reason (`json:Expecting value`, `json:not an object`, `type:<field>`).
Scalar fields are read as text and converted like CSV columns; nested fields are decoded as they are.

Lines Polars would decode with a loss are set aside too: a key outside the fields (its value would be
dropped), a key twice in one object (one value would be dropped), an unpaired surrogate escape
(`"\\ud800"`, which Polars decodes as NUL). Each is found by a vectorized check on the line's text,
confirmed by Python's `json` on the few lines it flags."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl
from polars.io.plugins import register_io_source

from vaultline.engines.polars.base import REASON, ROW_ID
from vaultline.engines.polars.sources.convert import kind_of, split_valid
from vaultline.engines.polars.sources.ingest import RAW, SET_ASIDE, Ingest, check_names, where
from vaultline.engines.polars.sources.input_files import (
    Head,
    InputFile,
    Reader,
    Utf8,
    check_unchanged,
    fingerprint_files,
    first_invalid_byte,
    io_error,
    open_input,
)
from vaultline.engines.polars.sources.plugin import IoPlugin, conform
from vaultline.errors import SourceError
from vaultline.spec.sources import ColumnType, Source

_JSON_SAMPLE_LINES = 10_000
_KEY = r'"(?:[^"\\]|\\.)*"\s*:'
"""A JSON object key with its colon (a string followed by `:` is a key, wherever it stands)."""
UNKNOWN_FIELD = "json:a field outside the source's fields"
"""The reason of a line holding a key no field has (the first lines fix the fields): decoding it would
drop that key's value without a trace. The key is not named: in JSON a key may itself be a value."""
DUPLICATE_KEY = "json:a key twice in one object"
UNPAIRED_SURROGATE = "json:an unpaired surrogate escape"
_HIGH_SURROGATE = r"\\u[dD][89abAB][0-9a-fA-F]{2}"
_SURROGATE_PAIR = _HIGH_SURROGATE + r"\\u[dD][c-fC-F][0-9a-fA-F]{2}"


def _names(dtype: Any) -> set[str]:
    """Every field name of a struct, at any depth (inside lists too)."""
    if isinstance(dtype, pl.Struct):
        return {name for field in dtype.fields for name in (field.name, *_names(field.dtype))}
    inner = getattr(dtype, "inner", None)
    return _names(inner) if isinstance(inner, pl.DataType) else set()


def _unpaired_surrogate(value: Any) -> bool:
    """Does a decoded JSON value hold a lone surrogate code point (in a key or a string, at any depth)?"""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unpaired_surrogate(k) or _unpaired_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unpaired_surrogate(item) for item in value)
    return False


def _repeats_a_key(line: str) -> bool:
    """Does an object of the line (at any depth) hold a key twice? False for a line that is not JSON."""
    repeated = False

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        repeated = repeated or len({key for key, _ in items}) != len(items)
        return dict(items)

    try:
        json.loads(line, object_pairs_hook=pairs)
    except ValueError:
        return False
    return repeated


def _json_reason(line: str, fields: dict[str, pl.DataType]) -> str:
    """Why one line could not be decoded (never quoting it)."""
    try:
        value = json.loads(line)
    except ValueError as exc:
        return f"json:{getattr(exc, 'msg', 'invalid JSON')}"
    if not isinstance(value, dict):
        return "json:not an object"
    if _unpaired_surrogate(value):
        return UNPAIRED_SURROGATE
    for key, dtype in fields.items():
        if key in value:
            try:
                pl.Series([json.dumps({key: value[key]})]).str.json_decode(pl.Struct({key: dtype}))
            except (pl.exceptions.PolarsError, ValueError, TypeError):
                return f"type:{key}"
    return "json:not decodable"


class JsonlScan(IoPlugin):
    """The IO plugin reading JSON Lines: scalar fields as text, nested fields decoded, bad lines set aside."""

    def __init__(self, name: str, files: list[InputFile], fields: dict[str, pl.DataType]) -> None:
        self.name = name
        self.files = files
        self.fields = fields
        self.struct = pl.Struct(fields)
        self.known_keys = sorted(
            f'"{json.dumps(name, ensure_ascii=False)[1:-1]}"' for name in _names(self.struct)
        )
        self.schema: dict[str, pl.DataType] = dict(fields)
        self.schema |= SET_ASIDE

    def _decode(self, lines: pl.Series) -> tuple[list[tuple[int, pl.DataFrame]], list[tuple[int, str]]]:
        """Decode lines, bisecting a failing run down to the lines that fail."""
        good: list[tuple[int, pl.DataFrame]] = []
        bad: list[tuple[int, str]] = []
        stack = [(0, lines.len())]
        while stack:
            start, length = stack.pop()
            part = lines.slice(start, length)
            try:
                decoded = part.str.json_decode(self.struct)
            except pl.exceptions.PolarsError:
                if length == 1:
                    bad.append((start, _json_reason(str(part[0]), self.fields)))
                else:
                    half = length // 2
                    stack.append((start + half, length - half))
                    stack.append((start, half))
                continue
            nulls = decoded.is_null()
            if nulls.any():  # a line holding `null`
                for offset in nulls.arg_true().to_list():
                    bad.append((start + offset, "json:not an object"))
            good.append((start, decoded.struct.unnest() if self.fields else pl.DataFrame(height=length)))
        good.sort(key=lambda item: item[0])
        bad.sort()
        return good, bad

    def _lossy(self, lines: pl.Series) -> list[tuple[int, str]]:
        """Positions of the lines Polars decodes with a loss, with the reason: a key outside the fields
        (keys compared as JSON text), a key twice in one object, an unpaired surrogate escape."""
        keys = lines.str.extract_all(_KEY).list.eval(pl.element().str.replace(r"\s*:$", ""))
        unknown = keys.list.eval(~pl.element().is_in(self.known_keys)).list.any()
        lossy = dict.fromkeys(unknown.arg_true().to_list() if unknown.any() else [], UNKNOWN_FIELD)
        repeats = keys.list.len() != keys.list.n_unique()  # the same key text anywhere in the line
        for index in repeats.arg_true().to_list() if repeats.any() else []:
            if index not in lossy and _repeats_a_key(lines[index]):
                lossy[index] = DUPLICATE_KEY
        escaped = lines.str.contains(_HIGH_SURROGATE).arg_true()  # one pass; counted only where found
        some = lines.gather(escaped)
        uneven = escaped.filter(
            some.str.count_matches(_HIGH_SURROGATE) != some.str.count_matches(_SURROGATE_PAIR)
        )
        for index in uneven.to_list():
            if index not in lossy and _unpaired_surrogate(_loads_or_none(lines[index])):
                lossy[index] = UNPAIRED_SURROGATE
        return sorted(lossy.items())

    def _block_frame(self, lines: pl.Series, base: int) -> pl.DataFrame:
        good, bad = self._decode(lines)
        undecodable = {i for i, _ in bad}
        lossy = [(i, reason) for i, reason in self._lossy(lines) if i not in undecodable]
        bad = sorted(bad + lossy) if lossy else bad
        bad_at = np.asarray([i for i, _ in bad], dtype=np.int64)
        parts: list[pl.DataFrame] = []
        for start, decoded in good:
            ids = np.arange(base + start, base + start + decoded.height, dtype=np.uint64)
            frame = decoded.with_columns(pl.Series(ROW_ID, ids, dtype=pl.UInt64))
            if bad_at.size:
                positions = np.arange(start, start + decoded.height)
                frame = frame.filter(pl.Series(np.isin(positions, bad_at, invert=True)))
            parts.append(
                frame.with_columns(pl.lit(None, pl.String).alias(REASON), pl.lit(None, pl.String).alias(RAW))
            )
        if bad:
            parts.append(
                pl.DataFrame(
                    {
                        ROW_ID: [base + i for i, _ in bad],
                        REASON: [r for _, r in bad],
                        RAW: [lines[i] for i, _ in bad],
                    },
                    schema=SET_ASIDE,
                )
            )
        if not parts:
            return pl.DataFrame(schema=self.schema)
        return conform(pl.concat(parts, how="diagonal"), self.schema)

    def batches(self, needed: list[str], n_rows: int | None) -> Iterator[pl.DataFrame]:
        # Every line is decoded whole: JSON gives no cheaper way to read some of its fields.
        base = 0
        for file in self.files:
            check_unchanged(self.name, file)
            try:
                handle = open_input(file.location)
            except Exception as exc:
                raise io_error(self.name, file.location, exc) from None
            with handle:
                reader = Reader(self.name, file.location, handle, "utf-8")
                carry = b""
                read = 0  # offset of `carry` in the file's text
                while (buf := reader.extend(carry)) is not None:
                    cut = buf.rfind(b"\n") + 1
                    carry = bytes(buf[cut:])
                    if cut:
                        frame, count = self._lines(bytes(buf[:cut]), file.location, base, read)
                        read += cut
                        base += count
                        if frame.height:
                            yield frame
                if carry:
                    frame, count = self._lines(carry, file.location, base, read)
                    base += count
                    if frame.height:
                        yield frame

    def _lines(self, data: bytes, location: str, base: int, start: int) -> tuple[pl.DataFrame, int]:
        """The records of `data` (whole lines, at offset `start` of the file's text), numbered from `base`."""
        try:
            lines = pl.read_lines(data).to_series()
        except pl.exceptions.PolarsError:
            raise SourceError(
                f"{location} is not valid UTF-8 text{first_invalid_byte(data, start)}",
                hint="JSON Lines must be UTF-8",
                where=where(self.name),
            ) from None
        lines = lines.filter(lines.str.strip_chars().str.len_bytes() > 0)
        return self._block_frame(lines, base), lines.len()


def _loads_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _inferred(sample: list[str]) -> dict[str, pl.DataType]:
    """Field types from the sample lines. Where lines disagree on a nested type, each field is inferred
    on its own, from its first values that agree (later lines with another type are set aside as
    `type:<field>`): every key of the sample stays a field, since one left out would be set aside on
    every line holding it."""
    objects = [json.loads(line) for line in sample]
    keys = list(dict.fromkeys(key for value in objects for key in value))  # in the order the file has them
    inferred = _schema(sample)
    if inferred is not None:  # Polars' inference orders the fields as it pleases, run by run
        return {key: inferred[key] for key in keys if key in inferred} | inferred
    fields: dict[str, pl.DataType] = {}
    for key in keys:
        values = [json.dumps({key: value[key]}) for value in objects if key in value]
        while (schema := _schema(values)) is None and len(values) > 1:
            values = values[: len(values) // 2]
        fields[key] = schema[key] if schema is not None else pl.String()
    return fields


def _schema(lines: list[str]) -> dict[str, pl.DataType] | None:
    try:
        return dict(pl.read_ndjson(io.StringIO("\n".join(lines)), infer_schema_length=None).schema)
    except pl.exceptions.PolarsError:
        return None


def _json_fields(
    name: str, file: InputFile, start: Head, declared: dict[str, ColumnType]
) -> tuple[dict[str, pl.DataType], dict[str, ColumnType]]:
    """Fields inferred from the first lines; scalars are read as text and converted like CSV columns."""
    sample: list[str] = []
    head = Utf8(name, file.location, "utf-8").feed(start.data, final=False).decode("utf-8", errors="ignore")
    for line in head.splitlines()[:_JSON_SAMPLE_LINES]:
        if not line.strip():
            continue
        try:
            if isinstance(json.loads(line), dict):
                sample.append(line)
        except ValueError:
            continue
    inferred = _inferred(sample)
    for column in declared:
        inferred.setdefault(column, pl.String())
    fields: dict[str, pl.DataType] = {}
    kinds: dict[str, ColumnType] = {}
    for column, dtype in inferred.items():
        kind = kind_of(dtype)
        if dtype.is_numeric() or dtype in (pl.Boolean, pl.String, pl.Null) or kind is not None:
            fields[column] = pl.String()
            if column in declared:
                kinds[column] = declared[column]
            elif dtype.is_integer():
                kinds[column] = "int64"
            elif dtype.is_float():
                kinds[column] = "float64"
            elif dtype == pl.Boolean:
                kinds[column] = "bool"
        else:
            fields[column] = dtype
            if column in declared:
                kinds[column] = declared[column]
    if not fields:
        raise SourceError(
            f"no JSON object with fields found in the first lines of {file.location}",
            hint='JSON Lines hold one object per line, for example {"id": 1}; or declare the schema',
            where=where(name),
        )
    check_names(name, list(fields), f"the objects in {file.location}")
    return fields, kinds


def read_jsonl(name: str, source: Source, files: list[str]) -> Ingest:
    declared = dict(source.columns or {})

    def fields_of(
        index: int, file: InputFile, head: Head
    ) -> tuple[dict[str, pl.DataType], dict[str, ColumnType]]:
        return _json_fields(name, file, head, declared) if index == 0 else ({}, {})

    fingerprints, inputs, seen = fingerprint_files(name, files, fields_of)
    fields, kinds = seen[0]
    scan = JsonlScan(name, inputs, fields)
    lazy = register_io_source(
        scan, schema=scan.schema, is_pure=True, explain_name="vaultline jsonl", explain_detail=name
    )
    frame, quarantine = split_valid(name, lazy, kinds, marked=True)
    return Ingest(frame, quarantine, fingerprints, records=lambda: scan.records)


# -------------------------------------------------------------------------------------------- Parquet
