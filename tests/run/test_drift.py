"""Schema drift between runs, through `check_drift` on real planned reads (`read_source`): first runs
register, unchanged runs write nothing, added/removed/retyped columns fail or evolve per policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from vaultline.catalog.tables import TableCatalog, TableColumn
from vaultline.engines.polars.sources import read_source
from vaultline.errors import TerminalError
from vaultline.run.drift import SchemaDriftError, check_drift
from vaultline.spec.loader import loads
from vaultline.spec.models import Pipeline
from vaultline.state import State

SECRET = "4111111111111111"

SPEC = """\
version: 1
name: shop
sources:
  tx:
    format: csv
    path: {tx}
{tx_extra}
  ev:
    format: parquet
    path: {ev}
{ev_extra}
steps: []
outputs:
  o: {{path: {out}{mode}}}
"""


def _pipeline(tmp: Path, *, tx_extra: str = "", ev_extra: str = "", mode: str = "") -> Pipeline:
    text = SPEC.format(
        tx=tmp / "tx.csv",
        ev=tmp / "ev.parquet",
        out=tmp / "out",
        tx_extra=tx_extra,
        ev_extra=ev_extra,
        mode=mode,
    )
    return loads(text).pipeline


def _write(tmp: Path, *, csv_header: str = "id,card,amount", ev: dict[str, Any] | None = None) -> None:
    columns = csv_header.split(",")
    values = {"id": "001", "card": SECRET, "amount": "12.5", "city": "Oslo"}
    row = ",".join(values.get(c, "x") for c in columns)
    (tmp / "tx.csv").write_text(f"{csv_header}\n{row}\n{row}\n")
    pl.DataFrame(ev or {"event": [1, 2], "kind": ["a", "b"]}).write_parquet(tmp / "ev.parquet")


def _check(pipeline: Pipeline, state: State, run_id: str = "run-1") -> dict[str, Any]:
    ingests = {name: read_source(name, source) for name, source in pipeline.sources.items()}
    return check_drift(pipeline, state, ingests, run_id)


@pytest.fixture
def state(tmp_path: Path) -> State:
    return State(tmp_path / "state").ensure()


def test_first_run_registers_then_unchanged(tmp_path: Path, state: State) -> None:
    _write(tmp_path)
    pipeline = _pipeline(tmp_path)
    first = _check(pipeline, state)
    assert first == {
        "tx": {"table": "shop.tx", "version": 1, "changes": [], "action": "registered"},
        "ev": {"table": "shop.ev", "version": 1, "changes": [], "action": "registered"},
    }
    with TableCatalog(state.catalog_url) as tables:
        assert tables.get("shop.ev").columns == (TableColumn("event", "int64"), TableColumn("kind", "string"))
        assert tables.history("shop.tx")[0].run_id == "run-1"
        again = _check(pipeline, state, "run-2")
        assert {s: v["action"] for s, v in again.items()} == {"tx": "unchanged", "ev": "unchanged"}
        assert tables.history("shop.tx")[0].version == 1


def test_added_removed_and_retyped_columns_fail_by_default(tmp_path: Path, state: State) -> None:
    _write(tmp_path)
    _check(_pipeline(tmp_path), state)
    _write(tmp_path, csv_header="id,amount,city", ev={"event": ["1", "2"], "kind": ["a", "b"]})
    with pytest.raises(SchemaDriftError) as caught:
        _check(_pipeline(tmp_path), state, "run-2")
    error = caught.value
    text = error.render()
    assert "source tx (table shop.tx version 1)" in text and "source ev (table shop.ev version 1)" in text
    assert "added city (string)" in text and "removed card (string)" in text
    assert "retyped event: int64 -> string" in text
    assert "schema_drift: evolve" in text and "vaultline crawl" in text
    assert error.where == "source tx, source ev"
    assert error.report["tx"]["action"] == "drifted"
    assert SECRET not in text and SECRET not in json.dumps(error.report)
    # Nothing was written: both tables are still at version 1.
    with TableCatalog(state.catalog_url) as tables:
        assert tables.get("shop.tx").version == 1 and tables.get("shop.ev").version == 1


def test_evolve_records_a_new_version(tmp_path: Path, state: State) -> None:
    _write(tmp_path)
    evolve = "    schema_drift: evolve"
    _check(_pipeline(tmp_path, tx_extra=evolve), state)
    _write(tmp_path, csv_header="id,card,amount,city")
    section = _check(_pipeline(tmp_path, tx_extra=evolve), state, "run-2")
    assert section["tx"] == {
        "table": "shop.tx",
        "version": 2,
        "changes": [{"column": "city", "kind": "added", "old": None, "new": "string"}],
        "action": "evolved",
    }
    with TableCatalog(state.catalog_url) as tables:
        history = tables.history("shop.tx")
    assert [(v.version, v.run_id) for v in history] == [(2, "run-2"), (1, "run-1")]


def test_a_failing_source_stops_the_evolving_ones(tmp_path: Path, state: State) -> None:
    _write(tmp_path)
    evolve = "    schema_drift: evolve"
    _check(_pipeline(tmp_path, ev_extra=evolve), state)
    _write(tmp_path, csv_header="id,amount", ev={"event": [1], "kind": ["a"], "extra": [True]})
    with pytest.raises(SchemaDriftError, match="source tx"):
        _check(_pipeline(tmp_path, ev_extra=evolve), state, "run-2")
    assert TableCatalog(state.catalog_url).get("shop.ev").version == 1


def test_csv_text_columns_compare_by_name_declared_types_count(tmp_path: Path, state: State) -> None:
    _write(tmp_path)
    # A crawl inferred types; a run reading the same CSV as text is no drift.
    with TableCatalog(state.catalog_url) as catalog:
        crawled = [
            TableColumn("id", "string", False),
            TableColumn("card", "int64", False),
            TableColumn("amount", "float64", False),
        ]
        catalog.record(
            "shop.tx", location=str(tmp_path / "tx.csv"), file_format="csv", columns=crawled, source="crawl"
        )
        assert _check(_pipeline(tmp_path), state)["tx"]["action"] == "unchanged"
        # A type declared in the spec is compared: float64 matches, int64 does not.
        matching = _pipeline(tmp_path, tx_extra="    schema: {amount: float64}")
        assert _check(matching, state)["tx"]["action"] == "unchanged"
        retyped = _pipeline(tmp_path, tx_extra="    schema: {amount: int64}")
        with pytest.raises(SchemaDriftError, match="retyped amount: float64 -> int64"):
            _check(retyped, state)


def test_catalog_table_names_the_table(tmp_path: Path, state: State) -> None:
    _write(tmp_path)
    pipeline = _pipeline(tmp_path, tx_extra="    catalog_table: raw.transactions")
    assert _check(pipeline, state)["tx"]["table"] == "raw.transactions"
    assert TableCatalog(state.catalog_url).get("raw.transactions").format == "csv"


def test_drift_on_a_postgres_catalog(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    import psycopg

    schema = f"vl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
        monkeypatch.setenv("VAULTLINE_CATALOG_URL", f"{url}?options=-csearch_path%3D{schema}")
        state = State(tmp_path / "state").ensure()
        _write(tmp_path)
        assert _check(_pipeline(tmp_path), state)["tx"]["action"] == "registered"
        _write(tmp_path, csv_header="id,card")
        with pytest.raises(SchemaDriftError, match="removed amount"):
            _check(_pipeline(tmp_path), state, "run-2")
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_incremental_source_with_nothing_new_is_skipped(tmp_path: Path, state: State) -> None:
    from vaultline.catalog.bookmarks import SourceBookmark

    _write(tmp_path)
    # ev is read whole beside it: the output overwrites (appending would repeat ev's rows every run)
    pipeline = _pipeline(tmp_path, tx_extra="    incremental: {by: files}", mode=", mode: overwrite")
    _check(pipeline, state)
    delivered = SourceBookmark("tx", "files", "run-1", frozenset({str(tmp_path / "tx.csv")}))
    ingests = {
        "tx": read_source("tx", pipeline.sources["tx"], delivered),
        "ev": read_source("ev", pipeline.sources["ev"]),
    }
    section = check_drift(pipeline, state, ingests, "run-2")
    assert section["tx"] == {"table": "shop.tx", "version": None, "changes": [], "action": "skipped"}
    assert section["ev"]["action"] == "unchanged"
    assert TableCatalog(state.catalog_url).get("shop.tx").version == 1


def test_a_default_table_name_too_long_asks_for_catalog_table(tmp_path: Path, state: State) -> None:
    _write(tmp_path)
    text = SPEC.format(
        tx=tmp_path / "tx.csv",
        ev=tmp_path / "ev.parquet",
        out=tmp_path / "out",
        tx_extra="",
        ev_extra="",
        mode="",
    )
    long_name = "p" * 64
    pipeline = loads(
        text.replace("name: shop", f"name: {long_name}").replace("  tx:", "  " + "t" * 64 + ":")
    ).pipeline
    ingests = {name: read_source(name, source) for name, source in pipeline.sources.items()}
    with pytest.raises(TerminalError, match="set a shorter `catalog_table:`"):
        check_drift(pipeline, state, ingests, "run-1")
