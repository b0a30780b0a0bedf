"""Catalog tables: registration, versions only on change, change lists, drift without
writing. Catalog tests run on SQLite and PostgreSQL (`catalog_url`)."""

from __future__ import annotations

import threading

import pytest

from vaultline.catalog.tables import (
    SchemaChange,
    TableCatalog,
    TableColumn,
    TableError,
    TableNotFound,
    merged_schema,
    normalized_type,
    schema_changes,
)

BASE = [
    TableColumn("id", "int64", False),
    TableColumn("amount", "float64", True),
    TableColumn("city", "string"),
]


def test_register_then_unchanged_then_evolved_with_history(catalog_url: str) -> None:
    with TableCatalog(catalog_url) as catalog:
        first = catalog.record(
            "raw.tx", location="/d/tx.csv", file_format="csv", columns=BASE, source="crawl"
        )
        assert (first.action, first.version, first.changes) == ("registered", 1, ())
        again = catalog.record(
            "raw.tx", location="/d/tx.csv", file_format="csv", columns=BASE, source="crawl"
        )
        assert (again.action, again.version) == ("unchanged", 1)

        changed = [
            TableColumn("id", "string", False),
            TableColumn("amount", "float64", True),
            TableColumn("country", "string", True),
        ]
        evolved = catalog.record(
            "raw.tx", location="/d/tx2.csv", file_format="csv", columns=changed, source="run", run_id="r-1"
        )
        assert (evolved.action, evolved.version) == ("evolved", 2)
        assert {(c.kind, c.column) for c in evolved.changes} == {
            ("removed", "city"),
            ("added", "country"),
            ("retyped", "id"),
        }
        retyped = next(c for c in evolved.changes if c.kind == "retyped")
        assert (retyped.old, retyped.new) == ("int64", "string")

        record = catalog.get("raw.tx")
        assert record.version == 2 and record.location == "/d/tx2.csv"
        assert [c.name for c in record.columns] == ["id", "amount", "country"]
        history = catalog.history("raw.tx")
        assert [v.version for v in history] == [2, 1]
        assert history[0].run_id == "r-1" and history[0].source == "run"
        assert history[1].source == "crawl" and history[1].changes == ()
        assert [t.name for t in catalog.list()] == ["raw.tx"]


def test_drift_without_evolve_writes_nothing(catalog_url: str) -> None:
    with TableCatalog(catalog_url) as catalog:
        catalog.record("t", location="/d", file_format="parquet", columns=BASE, source="run")
        update = catalog.record(
            "t", location="/d", file_format="parquet", columns=BASE[:2], source="run", evolve=False
        )
        assert update.action == "drifted" and update.version == 1
        assert update.changes == (SchemaChange("city", "removed", "string", None),)
        assert catalog.get("t").version == 1 and len(catalog.history("t")) == 1


def test_untyped_columns_compare_by_name_and_keep_the_registered_type(catalog_url: str) -> None:
    with TableCatalog(catalog_url) as catalog:
        catalog.record("t", location="/d", file_format="csv", columns=BASE, source="crawl")
        as_text = [
            TableColumn("id", "string"),
            TableColumn("amount", "string"),
            TableColumn("city", "string"),
        ]
        same = catalog.record(
            "t", location="/d", file_format="csv", columns=as_text, source="run", typed=set()
        )
        assert same.action == "unchanged"
        # A new column evolves the table; the crawled types of the others survive the run's text view.
        grown = [*as_text, TableColumn("zip", "string")]
        evolved = catalog.record(
            "t", location="/d", file_format="csv", columns=grown, source="run", typed=set()
        )
        assert evolved.changes == (SchemaChange("zip", "added", None, "string"),)
        assert [(c.name, c.type, c.nullable) for c in catalog.get("t").columns] == [
            ("id", "int64", False),
            ("amount", "float64", True),
            ("city", "string", None),
            ("zip", "string", None),
        ]


def test_nullability_changes_only_where_measured() -> None:
    measured = [TableColumn("id", "int64", True), TableColumn("amount", "float64", None)]
    changes = schema_changes(BASE[:2], measured)
    assert changes == [SchemaChange("id", "nullability", "not null", "nullable")]
    assert merged_schema(BASE[:2], measured)[1] == TableColumn("amount", "float64", True)


def test_concurrent_first_registrations_make_one_version(catalog_url: str) -> None:
    with TableCatalog(catalog_url) as catalog:
        actions: list[str] = []
        errors: list[BaseException] = []

        def register() -> None:
            try:
                with TableCatalog(catalog_url) as own:
                    update = own.record(
                        "race", location="/d", file_format="csv", columns=BASE, source="crawl"
                    )
                actions.append(update.action)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=register) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert sorted(actions) == ["registered", "unchanged", "unchanged", "unchanged"]
        assert [v.version for v in catalog.history("race")] == [1]


def test_unknown_table_and_bad_names(catalog_url: str) -> None:
    with TableCatalog(catalog_url) as catalog:
        with pytest.raises(TableNotFound, match="no tables yet"):
            catalog.get("nope")
        catalog.record("known", location="/d", file_format="csv", columns=BASE, source="crawl")
        with pytest.raises(TableNotFound, match="known tables: known"):
            catalog.history("nope")
        with pytest.raises(TableError, match="not a valid table name"):
            catalog.get("bad name")
        with pytest.raises(TableError, match="a column twice"):
            catalog.record("dup", location="/d", file_format="csv", columns=BASE + BASE[:1], source="crawl")


def test_type_names_and_aliases() -> None:
    assert normalized_type("BIGINT") == "int64"
    assert normalized_type("double") == "float64"
    assert normalized_type("decimal(10, 2)") == "decimal"
    assert normalized_type("array<string>") == "list<string>"
    assert normalized_type("struct<a:int64,b:string>") == "struct<a:int64,b:string>"
    with pytest.raises(ValueError, match="unknown type"):
        normalized_type("money")
