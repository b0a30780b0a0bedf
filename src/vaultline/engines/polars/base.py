"""The contract between the executor and each step implementation of the Polars engine.

A step implementation is a module in this folder with a function::

    def apply(frame: pl.LazyFrame, params: Params, ctx: StepContext) -> StepResult

It receives the lazy frame flowing through the pipeline and returns the new one. It never collects
the whole frame; when it must learn from the data (bin edges, an anomaly model) it calls
`ctx.fit(...)` style helpers or collects a projection/sample of `frame` itself, and records what it
learned in `StepResult.facts`.

Rules every implementation follows:
- nothing it returns (facts, errors) contains a data value: only column names, counts, edges of
  numeric bins and fingerprints;
- rows it rejects go to `StepResult.quarantine`, a lazy frame with the input's columns plus
  `REASON` (text such as `range:amount`); they are removed from `frame`;
- aggregates it wants reported (unknown codes...) are expressions in `metrics`, evaluated over the
  final frame; columns named with the `INTERNAL` prefix may carry them and are dropped before output;
- key material (from `ctx.domain_key`) goes only into expressions that are executed, never into a
  plan that is printed, logged, serialized or cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from vaultline.errors import TransformError
from vaultline.keys.secret import SecretBytes

REASON = "_vl_reason"
ROW_ID = "__vl_row"
INTERNAL = "__vl_"
_KEEP = "__vl_keep"


class StepContext(Protocol):
    """What a step may ask of the run."""

    step_index: int
    """Position of the step in the spec (0-based), used to name internal columns uniquely."""

    key_versions: dict[str, int]
    """`purpose/domain` -> master key version used so far in this run (for facts and reports)."""

    def domain_key(self, domain: str, purpose: str) -> SecretBytes:
        """The 32-byte key of `domain` for `purpose` (HKDF from the keyring key the spec assigns)."""
        ...

    def read_bytes(self, location: str) -> bytes:
        """Read a small file (a mapping) from a local path or an s3:// URL."""
        ...

    def previous_facts(self, run_id: str, step_index: int) -> dict[str, Any]:
        """Facts a step recorded in an earlier run (to reuse fitted bin edges)."""
        ...


@dataclass
class StepResult:
    frame: pl.LazyFrame
    quarantine: pl.LazyFrame | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    """JSON-able, value-free facts for the report: fitted edges, model fingerprint, key versions."""
    metrics: dict[str, pl.Expr] = field(default_factory=dict)
    """Name -> aggregate expression over the final frame (may use this step's INTERNAL columns)."""


StepImplementation = Callable[[pl.LazyFrame, Any, StepContext], StepResult]


def internal_column(ctx: StepContext, name: str) -> str:
    """A column name private to one step, dropped before any output is written."""
    return f"{INTERNAL}{ctx.step_index}_{name}"


def split_quarantine(frame: pl.LazyFrame, reason: pl.Expr) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Split on a reason expression (null = keep): kept rows, and rejected rows with REASON.

    The marked frame is one cached node and the filters test a computed flag (which Polars cannot push
    below the cache), so when both branches are collected together the upstream plan runs once.
    """
    marked = (
        frame.with_columns(reason.alias(REASON)).with_columns(pl.col(REASON).is_null().alias(_KEEP)).cache()
    )
    kept = marked.filter(pl.col(_KEEP)).drop(REASON, _KEEP)
    rejected = marked.filter(~pl.col(_KEEP)).drop(_KEEP)
    return kept, rejected


def where(ctx: StepContext, step: str) -> str:
    return f"step {ctx.step_index} ({step})"


def whole_text(pattern: str) -> str:
    """`pattern` matching the whole text: `\\A(?:PATTERN(?x)`, a newline, `)\\z`.

    A pattern may switch on verbose mode (`(?x)`), where `#` starts a comment that runs to the end
    of the line and would swallow a closing `)\\z` on the same line. The trailing `(?x)` (swallowed
    too when inside a comment) and the newline leave the group in verbose mode with no comment open
    either way, so the newline is ignored whitespace, never a character to match. Flags set inside
    the group end with it (Rust `regex`), so they cannot change the anchors."""
    return f"\\A(?:{pattern}(?x)\n)\\z"


def check_regex(ctx: StepContext, step: str, pattern: str, what: str) -> None:
    """Refuse at plan time a pattern Polars' regex engine (Rust `regex`) cannot compile, naming `what`."""
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.PolarsError:
        raise TransformError(
            f"the pattern of {what} is not supported by Polars' regular expressions",
            hint="rewrite it without look-around or backreferences (Rust `regex` syntax)",
            where=where(ctx, step),
        ) from None


def require_columns(frame: pl.LazyFrame, columns: list[str], ctx: StepContext, step: str) -> pl.Schema:
    """The frame's schema, after checking `columns` are in it (the error lists names, never values)."""
    schema = frame.collect_schema()
    missing = [c for c in columns if c not in schema]
    if missing:
        available = [c for c in schema.names() if not c.startswith(("__vl", "_vl"))]
        raise TransformError(
            f"column(s) {', '.join(repr(c) for c in missing)} not in the flow",
            hint=f"available columns: {', '.join(available) or 'none'}; check the spelling, "
            "or whether an earlier step dropped or renamed the column",
            where=where(ctx, step),
        )
    return schema


def key_version(ctx: StepContext, purpose: str, domain: str) -> int | None:
    """The master key version the run context recorded, when it records one ."""
    return ctx.key_versions.get(f"{purpose}/{domain}")
