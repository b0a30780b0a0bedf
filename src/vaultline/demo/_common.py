"""What both demo generators share: the result type, seeding, check digits, text formatting, the dirty-row
plan and the chunked CSV writer.

Randomness is drawn per block of `BLOCK_ROWS` rows from a NumPy generator seeded with
`(seed, dataset stream, purpose, block index)`, so a block's rows depend only on the seed, the requested
row count and the block's position. How many rows are written at a time (`chunk_rows`) changes nothing in
the files. The name, street, city and ZIP pools come from a seeded Faker, so the files are byte-identical
for the same (rows, seed) with the same Faker version (its word lists are the pools' source).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import polars as pl

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

BLOCK_ROWS = 1 << 16
"""Rows generated from one random stream (fixed: changing it changes the files)."""

DEFAULT_CHUNK_ROWS = 500_000
"""Rows appended to the CSV per write; bounds the memory a generation holds (it does not change the files)."""

DIRTY_KINDS: tuple[str, ...] = ("bad_date", "negative_amount", "malformed_email", "duplicate", "ragged_line")
"""Kinds of dirty row, in the order they are placed (`duplicate` is placed first: it needs a clean
predecessor)."""

DIRTY_RATE = 0.001
"""Share of rows per kind (bad_date, negative_amount, malformed_email, duplicate); at least one each."""

RAGGED_LINES = 2
"""Ragged CSV lines (one extra field) per file."""

MIN_ROWS_FOR_DIRTY = 100
"""Smaller datasets are generated clean."""

RAGGED = "__vl_demo_ragged"
"""Internal column: the unquoted raw text that replaces one field of a ragged row (null elsewhere)."""

_PLACEHOLDER = "VLDEMORAGGEDFIELDPLACEHOLDER"

BAD_DATES: tuple[str, ...] = ("2026-13-45", "not-a-date", "2023-02-30", "31/12/2023", "2024-00-10")
"""Unparseable `%Y-%m-%d` values (a bad datetime adds a time of day to the date-shaped ones)."""

_PLAN = 1
"""Purpose id of the dirty-row plan's random stream."""


@dataclass
class GeneratedDataset:
    """One generated dataset: where it was written and what it holds."""

    data_path: Path
    """`OUT/raw/<name>.csv`."""
    labels_path: Path
    """`OUT/labels/<name>_labels.csv`: ground truth a pipeline never reads."""
    rows: int
    """Data records in the CSV (header excluded), dirty ones included: exactly the rows requested."""
    dirty_rows: dict[str, int]
    """Injected dirty rows per kind (every kind of DIRTY_KINDS, zero included)."""
    sensitive_columns: list[str]
    """Columns whose raw values must never appear in anything a pipeline writes."""
    anomaly_rows: dict[str, int] = field(default_factory=dict)
    """Rows per injected anomaly kind (fraud only; their ground truth is only in the labels file)."""


def check_args(rows: int, seed: int, chunk_rows: int) -> None:
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")


def rng_for(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator for (seed, *stream)."""
    return np.random.default_rng(np.random.SeedSequence([seed, *stream]))


def blocks(rows: int) -> Iterable[tuple[int, int, int]]:
    """(block index, first row, row count) for every block."""
    for index, start in enumerate(range(0, rows, BLOCK_ROWS)):
        yield index, start, min(BLOCK_ROWS, rows - start)


# ------------------------------------------------------------------------------------ check digits


def luhn_check_digits(payload: npt.NDArray[Any], offset: int = 0) -> IntArray:
    """The Luhn check digit to append to each row of `payload` ((n, width) digits, most significant first).

    `offset` is added to the digit sum before the digit is computed (24 for an NPI: the `80840` prefix).
    """
    digits = payload.astype(np.int64)
    width = digits.shape[1]
    doubled = (width - 1 - np.arange(width)) % 2 == 0  # the rightmost payload digit is doubled
    values = np.where(doubled, digits * 2, digits)
    values = np.where(values > 9, values - 9, values)
    total = values.sum(axis=1) + offset
    return np.asarray((10 - total % 10) % 10, dtype=np.int64)


def digits_to_int(digits: npt.NDArray[Any]) -> IntArray:
    """Rows of (n, width <= 18) digits as integers."""
    width = digits.shape[1]
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return np.asarray(digits.astype(np.int64) @ powers, dtype=np.int64)


def npi_numbers(rng: np.random.Generator, n: int) -> IntArray:
    """Valid 10-digit NPIs: 1 or 2, eight digits, and the Luhn digit over `80840` + the nine digits."""
    payload = np.empty((n, 9), dtype=np.int64)
    payload[:, 0] = rng.integers(1, 3, size=n)
    payload[:, 1:] = rng.integers(0, 10, size=(n, 8))
    return digits_to_int(payload) * 10 + luhn_check_digits(payload, offset=24)


# ------------------------------------------------------------------------------------------- text


def padded(values: npt.NDArray[Any], width: int) -> pl.Series:
    """Non-negative integers as zero-padded text."""
    return pl.Series(np.asarray(values, dtype=np.int64)).cast(pl.String).str.zfill(width)


def money(cents: pl.Expr) -> pl.Expr:
    """Integer cents as text with exactly two decimals (`-12.05`)."""
    absolute = cents.abs()
    return pl.concat_str(
        pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit("")),
        (absolute // 100).cast(pl.String),
        pl.lit("."),
        (absolute % 100).cast(pl.String).str.zfill(2),
    )


def money_with_separator(cents: int) -> str:
    """`123456` -> `1,234.56`: a thousands separator an upstream export forgot to quote."""
    return f"{cents // 100:,}.{cents % 100:02d}"


def uuid4_text(rng: np.random.Generator, n: int) -> pl.Series:
    """n random version-4 UUIDs as text (`8-4-4-4-12` lowercase hex)."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = hexdigits[raw >> 4]
    nibbles[:, 1::2] = hexdigits[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    for source, target, width in ((0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12)):
        text[:, target : target + width] = nibbles[:, source : source + width]
    return pl.Series(np.ascontiguousarray(text).view("S36").ravel()).cast(pl.String)


def pick(rng: np.random.Generator, weights: Sequence[float], n: int) -> IntArray:
    """n indices drawn with the given (unnormalized) weights."""
    p = np.asarray(weights, dtype=np.float64)
    return np.asarray(rng.choice(len(p), size=n, p=p / p.sum()), dtype=np.int64)


# ------------------------------------------------------------------------------------------ pools


@dataclass(frozen=True)
class PeoplePools:
    """Small pools drawn with a seeded Faker (weighted like Faker draws them), sampled per row by index."""

    first_female: pl.Series
    first_male: pl.Series
    last: pl.Series
    street_names: pl.Series
    street_suffixes: pl.Series
    cities: pl.Series
    states: pl.Series
    zip3: IntArray
    """The first three digits of a ZIP in the location's state."""
    email_domains: pl.Series


def _letters(values: Iterable[Any]) -> list[str]:
    return ["".join(ch for ch in str(v) if ch.isalpha()) or "Alex" for v in values]


@functools.lru_cache(maxsize=8)
def people_pools(seed: int) -> PeoplePools:
    """Name and address pools for `seed` (cached: building them is the only slow part of a small run)."""
    from faker import Faker
    from faker.providers.address.en_US import Provider as Address
    from faker.providers.person.en_US import Provider as Person

    fake = Faker("en_US")
    fake.seed_instance(seed)
    female = _letters(fake.random_elements(Person.first_names_female, length=1500, use_weighting=True))
    male = _letters(fake.random_elements(Person.first_names_male, length=1500, use_weighting=True))
    last = _letters(fake.random_elements(Person.last_names, length=2000, use_weighting=True))
    # street names like Faker's ("{{first_name}} {{street_suffix}}" / "{{last_name}} {{street_suffix}}")
    streets = _letters(fake.random_elements(Person.last_names, length=600, use_weighting=False))
    streets += _letters(fake.random_elements(Person.first_names, length=400, use_weighting=True))
    suffixes = [str(s) for s in Address.street_suffixes]
    cities: list[str] = []
    states: list[str] = []
    zip3: list[int] = []
    for _ in range(400):
        state = str(fake.state_abbr(include_territories=False))
        cities.append(str(fake.city()))
        states.append(state)
        zip3.append(int(str(fake.zipcode_in_state(state))[:3]))
    # only the reserved example domains (RFC 2606) and subdomains of them: no address can be a real one
    domains = ["example.com", "example.net", "example.org", "mail.example.com", "inbox.example.net"]
    domains += [f"{str(fake.domain_word()).lower()}.example.org" for _ in range(25)]
    domains = ["".join(ch for ch in d if ch.isalnum() or ch in ".-") for d in domains]
    return PeoplePools(
        first_female=pl.Series(female),
        first_male=pl.Series(male),
        last=pl.Series(last),
        street_names=pl.Series(streets),
        street_suffixes=pl.Series(suffixes),
        cities=pl.Series(cities),
        states=pl.Series(states),
        zip3=np.asarray(zip3, dtype=np.int64),
        email_domains=pl.Series(domains),
    )


def email_expr(first: pl.Expr, last: pl.Expr, style: pl.Expr, number: pl.Expr, domain: pl.Expr) -> pl.Expr:
    """`first.last42@domain`-style addresses from LOWER-CASE name columns.

    style 0..5: `first.last`, `firstlast`, `flast`, `first_last`, `last.first`, `first.l`; a number >= 0
    is appended to the local part.
    """
    head = pl.when(style == 2).then(first.str.head(1)).when(style == 4).then(last).otherwise(first)
    separator = (
        pl.when(style.is_in([1, 2]))
        .then(pl.lit(""))
        .when(style == 3)
        .then(pl.lit("_"))
        .otherwise(pl.lit("."))
    )
    tail = pl.when(style == 4).then(first).when(style == 5).then(last.str.head(1)).otherwise(last)
    suffix = pl.when(number >= 0).then(number.cast(pl.String)).otherwise(pl.lit(""))
    return pl.concat_str(head, separator, tail, suffix, pl.lit("@"), domain)


def malformed_emails(emails: Sequence[str], rng: np.random.Generator) -> list[str]:
    """Each address broken one way: `local@`, `local at domain`, `local@@domain` or `local@domainname`."""
    broken: list[str] = []
    for email, how in zip(emails, rng.integers(0, 4, size=len(emails)), strict=True):
        local, _, domain = email.partition("@")
        if how == 0:
            broken.append(f"{local}@")
        elif how == 1:
            broken.append(f"{local} at {domain}")
        elif how == 2:
            broken.append(f"{local}@@{domain}")
        else:
            broken.append(f"{local}@{domain.split('.')[0]}")
    return broken


# ----------------------------------------------------------------------------------- dirty rows


@dataclass(frozen=True)
class DirtyPlan:
    """Where each kind of dirty row is meant to go (global row positions, sorted)."""

    positions: dict[str, IntArray]

    def in_block(self, start: int, n: int) -> dict[str, IntArray]:
        local: dict[str, IntArray] = {}
        for kind, positions in self.positions.items():
            lo, hi = np.searchsorted(positions, [start, start + n])
            local[kind] = positions[lo:hi] - start
        return local


def plan_dirty(rows: int, seed: int, stream: int) -> DirtyPlan:
    """Planned positions: DIRTY_RATE of the rows per kind (at least one) and RAGGED_LINES ragged lines."""
    counts = dict.fromkeys(DIRTY_KINDS, 0)
    if rows >= MIN_ROWS_FOR_DIRTY:
        counts = {kind: max(1, round(DIRTY_RATE * rows)) for kind in DIRTY_KINDS}
        counts["ragged_line"] = RAGGED_LINES
    rng = rng_for(seed, stream, _PLAN)
    chosen = np.asarray(rng.choice(rows, size=sum(counts.values()), replace=False), dtype=np.int64)
    positions: dict[str, IntArray] = {}
    offset = 0
    for kind in DIRTY_KINDS:
        positions[kind] = np.sort(chosen[offset : offset + counts[kind]])
        offset += counts[kind]
    return DirtyPlan(positions)


def place_dirty(
    planned: dict[str, IntArray], n: int, blocked: BoolArray | None = None
) -> dict[str, IntArray]:
    """Final in-block positions per kind: each planned position, or the next free one (cyclically).

    A row holds at most one dirty kind and no `blocked` row (an anomaly) is dirtied. A duplicate at p
    copies row p - 1, which must be free and stays clean. A position that finds no room is dropped (only
    in tiny blocks); callers count what was placed.
    """
    taken = np.zeros(n, dtype=np.bool_) if blocked is None else blocked.copy()
    placed: dict[str, IntArray] = {}
    for kind in ("duplicate", *[k for k in DIRTY_KINDS if k != "duplicate"]):
        chosen: list[int] = []
        duplicate = kind == "duplicate"
        for wanted in planned.get(kind, np.empty(0, dtype=np.int64)).tolist():
            for step in range(n):
                p = (wanted + step) % n
                if taken[p] or (duplicate and (p == 0 or taken[p - 1])):
                    continue
                chosen.append(p)
                taken[p] = True
                if duplicate:
                    taken[p - 1] = True
                break
        placed[kind] = np.asarray(sorted(chosen), dtype=np.int64)
    return placed


def duplicate_sources(n: int, duplicates: IntArray) -> IntArray:
    """Row gather order: every row is itself, but a duplicate at p repeats row p - 1."""
    source = np.arange(n, dtype=np.int64)
    source[duplicates] = duplicates - 1
    return source


def reason_columns(n: int, placed: dict[str, IntArray], columns: dict[str, list[str]]) -> pl.DataFrame:
    """`dirty_reason` and `dirty_column` for n rows (null for clean rows).

    `columns[kind]` holds, in position order, the column each dirty row of that kind broke
    (missing: the kind breaks no single column, as for duplicates and ragged lines).
    """
    reason: list[str | None] = [None] * n
    column: list[str | None] = [None] * n
    for kind, positions in placed.items():
        broken = columns.get(kind)
        for i, p in enumerate(positions.tolist()):
            reason[p] = kind
            column[p] = broken[i] if broken else None
    return pl.DataFrame(
        {"dirty_reason": reason, "dirty_column": column},
        schema={"dirty_reason": pl.String, "dirty_column": pl.String},
    )


def scatter_text(
    frame: pl.DataFrame, column: str, positions: IntArray, values: Sequence[str]
) -> pl.DataFrame:
    """`frame` with `column` replaced by `values` at `positions`."""
    if len(positions) == 0:
        return frame
    series = frame.get_column(column).clone()
    series.scatter(positions, pl.Series(list(values), dtype=pl.String))
    return frame.with_columns(series)


def ragged_column(n: int, positions: IntArray, raw: Sequence[str]) -> pl.Series:
    """The internal RAGGED column: `raw` at `positions`, null elsewhere."""
    series = pl.Series(RAGGED, [None] * n, dtype=pl.String)
    if len(positions):
        series.scatter(positions, pl.Series(list(raw), dtype=pl.String))
    return series


# ------------------------------------------------------------------------------------------- CSV


class ChunkedCsv:
    """A CSV file written `chunk_rows` rows at a time: header, comma, `\\n`, quotes only where needed.

    Frames are buffered until a chunk is full. A frame may carry the internal RAGGED column; on its
    non-null rows the field `ragged_field` is written unquoted as that raw text (a comma in it makes
    the line ragged).
    """

    def __init__(self, path: Path, columns: Sequence[str], chunk_rows: int, ragged_field: str | None = None):
        # generated records are realistic PII: the directory is the owner's alone, as doctor checks
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._columns = list(columns)
        self._chunk_rows = chunk_rows
        self._ragged_field = ragged_field
        self._pending: list[pl.DataFrame] = []
        self._pending_rows = 0
        self._handle: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._handle.write((",".join(self._columns) + "\n").encode())

    def __enter__(self) -> ChunkedCsv:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self._handle.close()

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        self._pending.append(frame)
        self._pending_rows += frame.height
        while self._pending_rows >= self._chunk_rows:
            buffered = pl.concat(self._pending, how="vertical", rechunk=False)
            self._write(buffered.slice(0, self._chunk_rows))
            rest = buffered.slice(self._chunk_rows)
            self._pending = [rest] if rest.height else []
            self._pending_rows = rest.height

    def close(self) -> None:
        try:
            if self._pending:
                self._write(pl.concat(self._pending, how="vertical", rechunk=False))
                self._pending = []
                self._pending_rows = 0
        finally:
            self._handle.close()

    def _write(self, frame: pl.DataFrame) -> None:
        if RAGGED not in frame.columns:
            frame.select(self._columns).write_csv(self._handle, include_header=False)
            return
        ragged = frame.get_column(RAGGED)
        data = frame.select(self._columns)
        start = 0
        for p in ragged.is_not_null().arg_true().to_list():
            if p > start:
                data.slice(start, p - start).write_csv(self._handle, include_header=False)
            assert self._ragged_field is not None
            line = data.slice(p, 1).with_columns(pl.lit(_PLACEHOLDER).alias(self._ragged_field))
            text = line.write_csv(include_header=False).replace(_PLACEHOLDER, str(ragged[p]))
            self._handle.write(text.encode())
            start = p + 1
        if start < data.height:
            data.slice(start).write_csv(self._handle, include_header=False)
