"""Expected schemas (`vaultline catalog check --expect FILE`): what a registered table must look like.

An expected-schema file lists columns with a logical type and, optionally, whether nulls are allowed;
`check_schema` lists every way a table's registered version differs from it (names and types, never
values). The file is read with `spec.yaml_tree.read_model`, so problems name their field and line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from vaultline.catalog.tables import TableRecord, normalized_type, nullability_text
from vaultline.input_model import InputModel


class ExpectedColumn(InputModel):
    """One expected column: its type and, optionally, whether nulls are allowed."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
    type: str
    """A logical type (string, int64, float64, bool, date, datetime, decimal, ...) or a Glue name."""
    nullable: bool | None = None
    """false: the crawl must have seen no null; true: nulls are allowed (not required); unset: not checked."""

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return normalized_type(value)


class ExpectedSchema(InputModel):
    """An expected-schema file: the columns a table must have and whether others may exist.

    A column may be written `name: type` or `name: {type: ..., nullable: false}`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
    columns: dict[str, ExpectedColumn] = Field(min_length=1)
    extra_columns: Literal["allow", "deny"] = "deny"
    """deny: a registered column the file does not list is a mismatch."""

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: {"type": v} if isinstance(v, str) else v for k, v in value.items()}
        return value


@dataclass(frozen=True)
class Mismatch:
    """One way a table differs from its expected schema."""

    column: str
    kind: Literal["missing", "extra", "type", "nullable"]
    expected: str | None
    actual: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        if self.kind == "missing":
            return f"{self.column}: missing (expected {self.expected})"
        if self.kind == "extra":
            return f"{self.column}: not expected ({self.actual}; extra_columns is deny)"
        return f"{self.column}: {self.kind} is {self.actual}, expected {self.expected}"


def check_schema(record: TableRecord, expected: ExpectedSchema) -> list[Mismatch]:
    """Every mismatch between a registered table and an expected schema (empty: it conforms).

    `nullable: false` needs a crawl that saw no null (a table registered by a run has not measured it)."""
    actual = {c.name: c for c in record.columns}
    found: list[Mismatch] = []
    for name, want in expected.columns.items():
        column = actual.get(name)
        if column is None:
            found.append(Mismatch(name, "missing", want.type, None))
            continue
        if column.type != want.type:
            found.append(Mismatch(name, "type", want.type, column.type))
        if want.nullable is False and column.nullable is not False:
            found.append(Mismatch(name, "nullable", "not null", nullability_text(column.nullable)))
    if expected.extra_columns == "deny":
        unlisted = [c for c in record.columns if c.name not in expected.columns]
        found += [Mismatch(c.name, "extra", None, c.type) for c in unlisted]
    return found
