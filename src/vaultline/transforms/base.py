"""What every transform is: a name, a typed parameter model, and what it does to columns.

A transform module under `transforms/` holds only this engine-neutral part (pydantic, no dataframe
library). Each engine implements it in its own folder (`engines/polars/<name>.py`), so a Spark engine
can arrive without touching the spec or the parameter models.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, StringConstraints

from vaultline.input_model import InputModel

ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
DomainName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class Protection(StrEnum):
    """How a transform protects the columns it touches, as recorded in the report and the catalog."""

    NONE = "none"
    TOKEN = "token"  # noqa: S105 - a protection kind
    DETERMINISTIC_ENCRYPTION = "deterministic_encryption"
    FORMAT_PRESERVING = "format_preserving_encryption"
    HASH = "unkeyed_hash"
    MASK = "mask"
    REDACT = "redact"
    DROP = "drop"
    GENERALIZE = "generalize"


LineageSubtype = Literal[
    "IDENTITY", "TRANSFORMATION", "AGGREGATION", "JOIN", "GROUP_BY", "FILTER", "SORT", "WINDOW", "CONDITIONAL"
]
_INDIRECT: frozenset[str] = frozenset({"JOIN", "GROUP_BY", "FILTER", "SORT", "WINDOW", "CONDITIONAL"})
EVERY_COLUMN = "*"
"""A ColumnFlow's source and target for a step that rewrites every column of the flow in place."""


@dataclass(frozen=True)
class ColumnFlow:
    """One edge of column-level lineage: `source` feeds `target`, or decides which rows remain when
    `target` is None. `subtype` is OpenLineage's transformation subtype (its type, DIRECT or INDIRECT,
    follows from it); `masking` marks a protection: the target no longer shows the source's values."""

    target: str | None
    source: str
    subtype: LineageSubtype = "TRANSFORMATION"
    masking: bool = False
    description: str = ""

    @property
    def kind(self) -> str:
        return "INDIRECT" if self.subtype in _INDIRECT else "DIRECT"


class StepParams(InputModel):
    """Base of every transform's parameters: strict, no unknown fields, documented in the JSON Schema."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    protection: ClassVar[Protection] = Protection.NONE

    def input_columns(self) -> list[str]:
        """Columns the step reads (lineage, and the check that they exist before running)."""
        return []

    def output_columns(self) -> list[str]:
        """Columns the step creates or replaces."""
        return []

    def protected_columns(self) -> list[str]:
        """Columns the step leaves protected (rewritten or removed), for the guardrail and `explain`."""
        return self.input_columns() if self.protection is not Protection.NONE else []

    def fits_on_data(self) -> bool:
        """Whether planning the step reads the rows flowing into it (to fit edges, a model...).

        Such a step also `needs_all_rows` unless it says otherwise: one that reads only a narrow
        projection (dedupe's keys) is cheaper reading its upstream again than holding every row.
        """
        return False

    def needs_all_rows(self) -> bool:
        """Whether what the step computes for one row depends on every other row (per-entity
        windows, fits): no row can leave it before all rows have been read.

        The Polars engine spills the flow, encrypted, before the first such step (after the first
        step), and the step reads the columns it needs from the spill; see engines/polars/executor.py.
        """
        return self.fits_on_data()

    def column_lineage(self) -> list[ColumnFlow]:
        """Which columns feed which, from the parameters alone (OpenLineage column lineage). By default
        the step rewrites each input column in place; steps that create, derive or filter override it."""
        masking = self.protection is not Protection.NONE
        return [ColumnFlow(column, column, masking=masking) for column in self.input_columns()]

    def removed_columns(self) -> list[str]:
        """Columns the step removes from the flow."""
        return []


class ProtectParams(StepParams):
    """Parameters shared by the protections that rewrite columns in place."""

    columns: list[ColumnName] = Field(min_length=1)
    """Columns to protect; each is rewritten in place."""

    def input_columns(self) -> list[str]:
        return list(self.columns)

    def output_columns(self) -> list[str]:
        return list(self.columns)


class KeyedParams(ProtectParams):
    """A protection keyed by a token domain; the spec's `keys:` section maps the domain to a keyring key."""

    domain: DomainName
    """Token domain. Equal values give equal outputs within a domain; domains are unlinkable."""


@dataclass(frozen=True)
class TransformSpec:
    """Class-level description of one transform, listed in `transforms.registry.TRANSFORMS`."""

    name: str
    params: type[StepParams]
    summary: str
    needs_key: bool = False


def describe(params: StepParams) -> dict[str, Any]:
    """Parameters as plain data for the run report (models hold key *names*, never key material)."""
    return params.model_dump(mode="json", exclude_defaults=True)
