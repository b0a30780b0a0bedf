"""Expected schemas: every kind of mismatch with a registered table, and file errors that name the
file, field and line. Catalog tests run on SQLite and PostgreSQL (`catalog_url`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultline.catalog.expected_schema import ExpectedSchema, check_schema
from vaultline.catalog.tables import TableCatalog, TableColumn
from vaultline.errors import SpecError
from vaultline.spec.yaml_tree import read_model

BASE = [
    TableColumn("id", "int64", False),
    TableColumn("amount", "float64", True),
    TableColumn("city", "string"),
]


def test_check_schema_lists_every_kind_of_mismatch(catalog_url: str) -> None:
    with TableCatalog(catalog_url) as catalog:
        catalog.record("t", location="/d", file_format="csv", columns=BASE, source="crawl")
        record = catalog.get("t")
        conforming = ExpectedSchema.model_validate(
            {"columns": {"id": {"type": "bigint", "nullable": False}, "amount": "double", "city": "string"}}
        )
        assert check_schema(record, conforming) == []
        strict = ExpectedSchema.model_validate(
            {
                "columns": {
                    "id": "string",  # type
                    "amount": {"type": "float64", "nullable": False},  # nulls were seen
                    "city": {"type": "string", "nullable": False},  # never measured
                    "zip": "string",  # missing
                }
            }
        )
        found = {(m.column, m.kind) for m in check_schema(record, strict)}
        assert found == {("id", "type"), ("amount", "nullable"), ("city", "nullable"), ("zip", "missing")}
        extra = ExpectedSchema.model_validate({"columns": {"id": "int64"}})
        assert {(m.column, m.kind) for m in check_schema(record, extra)} == {
            ("amount", "extra"),
            ("city", "extra"),
        }
        allowed = ExpectedSchema.model_validate({"columns": {"id": "int64"}, "extra_columns": "allow"})
        assert check_schema(record, allowed) == []


def test_expected_schema_file_errors_name_file_field_and_line(tmp_path: Path) -> None:
    path = tmp_path / "expect.yaml"
    path.write_text("columns:\n  id: int64\n  amount:\n    type: money\nextra_columns: maybe\n")
    with pytest.raises(SpecError) as caught:
        read_model(path, ExpectedSchema)
    issues = {issue.field: issue.line for issue in caught.value.issues}
    assert issues == {"columns.amount.type": 4, "extra_columns": 5}
    assert str(path) in caught.value.render()
    path.write_text("columns: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        read_model(path, ExpectedSchema)
    with pytest.raises(SpecError, match="cannot be read"):
        read_model(tmp_path / "missing.yaml", ExpectedSchema)
