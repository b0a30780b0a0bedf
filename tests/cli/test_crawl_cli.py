"""`vaultline crawl` and `vaultline catalog`: CSV, Parquet, JSON Lines, S3 (moto) and spec sources;
versions only on change; `catalog check` exit codes; a PostgreSQL catalog. Outputs never hold values."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from vaultline.cli.main import app

runner = CliRunner()
CARD = "4111111111111111"
EMAIL = "ann.secret@example.org"
HEADER = "id,zip,card,email,amount,paid,day,seen_at"
ROWS = [
    f"1,02134,{CARD},{EMAIL},12.50,yes,2024-01-02,2024-01-02 10:00:00",
    "2,10001,5500000000000004,bob@example.org,,no,2024-01-03,2024-01-03T11:30:00+01:00",
    "3,94105,340000000000009,,7,Y,2024-01-04,2024-01-04",
]
TYPES = {
    "id": "int64",
    "zip": "string",
    "card": "int64",
    "email": "string",
    "amount": "float64",
    "paid": "bool",
    "day": "date",
    "seen_at": "datetime",
}


def _invoke(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    for secret in (CARD, EMAIL):
        assert secret not in result.output
    return result


def _crawl(state: Path, source: str, name: str = "raw.tx", *extra: str) -> dict[str, Any]:
    result = _invoke("crawl", source, "--name", name, "--state", str(state), "--json", *extra)
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def _csv(path: Path, header: str = HEADER, rows: list[str] = ROWS) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_crawl_csv_infers_types_and_nullability_and_registers(tmp_path: Path) -> None:
    source = _csv(tmp_path / "tx.csv")
    state = tmp_path / "state"
    result = _invoke("crawl", str(source), "--name", "raw.tx", "--state", str(state))
    assert result.exit_code == 0, result.output
    assert "registered as version 1" in result.output and "seen_at" in result.output
    payload = _crawl(state, str(source))
    assert payload["action"] == "unchanged" and payload["version"] == 1
    assert {c["name"]: c["type"] for c in payload["columns"]} == TYPES
    nullable = {c["name"] for c in payload["columns"] if c["nullable"]}
    assert nullable == {"email", "amount"}
    assert payload["rows_sampled"] == 3 and payload["location"] == str(source)
    assert payload["inputs"][0]["sha256"]


def test_recrawl_detects_added_removed_and_retyped_columns(tmp_path: Path) -> None:
    state = tmp_path / "state"
    source = _csv(tmp_path / "tx.csv")
    _crawl(state, str(source))
    header = "id,zip,card,amount,paid,day,seen_at,country"
    rows = [r.replace(f",{EMAIL}", "").replace(",bob@example.org", "").replace(",,7", ",7") for r in ROWS]
    rows = [r.replace("1,02134", "A1,02134", 1) + ",NL" for r in rows]
    _csv(source, header, rows)
    result = _invoke("crawl", str(source), "--name", "raw.tx", "--state", str(state))
    assert result.exit_code == 0, result.output
    assert "version 2, changed:" in result.output
    for line in ("removed email (string)", "added country (string)", "retyped id: int64 -> string"):
        assert line in result.output
    history = _invoke("catalog", "history", "raw.tx", "--state", str(state))
    assert history.exit_code == 0
    lines = history.output.strip().splitlines()
    assert lines[0].startswith("version 2") and "retyped id: int64 -> string" in lines[0]
    assert lines[1].startswith("version 1") and "registered with 8 column(s)" in lines[1]
    as_json = json.loads(_invoke("catalog", "history", "raw.tx", "--state", str(state), "--json").stdout)
    assert [v["version"] for v in as_json] == [2, 1]
    assert {(c["kind"], c["column"]) for c in as_json[0]["changes"]} >= {("added", "country")}


def test_sample_rows_bound_the_inference(tmp_path: Path) -> None:
    rows = [f"{i},x" for i in range(300)] + ["not-a-number,x"]
    source = _csv(tmp_path / "big.csv", "code,other", rows)
    state = tmp_path / "state"
    sampled = _crawl(state, str(source), "t", "--sample-rows", "100")
    assert sampled["rows_sampled"] == 100 and sampled["columns"][0]["type"] == "int64"
    everything = _crawl(state, str(source), "t", "--sample-rows", "0")
    assert everything["rows_sampled"] == 301 and everything["columns"][0]["type"] == "string"
    assert everything["action"] == "evolved"


def test_crawl_parquet_and_jsonl(tmp_path: Path) -> None:
    state = tmp_path / "state"
    frame = pl.DataFrame(
        {
            "id": pl.Series([1, 2], dtype=pl.Int32),
            "amount": [1.5, None],
            "tags": [["a"], ["b", "c"]],
            "when": pl.Series(["2024-01-01", "2024-01-02"]).str.to_date(),
            "point": [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}],
        }
    )
    frame.write_parquet(tmp_path / "ev.parquet")
    parquet = _crawl(state, str(tmp_path / "ev.parquet"), "raw.ev")
    assert [(c["name"], c["type"], c["nullable"]) for c in parquet["columns"]] == [
        ("id", "int64", False),
        ("amount", "float64", True),
        ("tags", "list<string>", False),
        ("when", "date", False),
        ("point", "struct<x:int64,y:string>", False),
    ]
    lines = [
        {"id": 1, "ok": True, "score": 0.5, "name": "a"},
        {"id": 2, "ok": False, "score": None, "name": "b"},
    ]
    (tmp_path / "ev.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    jsonl = _crawl(state, str(tmp_path / "ev.jsonl"), "raw.jsonl")
    assert [(c["name"], c["type"], c["nullable"]) for c in jsonl["columns"]] == [
        ("id", "int64", False),
        ("ok", "bool", False),
        ("score", "float64", True),
        ("name", "string", False),
    ]
    assert jsonl["format"] == "jsonl"
    # A file without a known extension needs --format.
    (tmp_path / "ev.data").write_text((tmp_path / "ev.jsonl").read_text())
    assert _invoke("crawl", str(tmp_path / "ev.data"), "--name", "x", "--state", str(state)).exit_code == 1
    assert _crawl(state, str(tmp_path / "ev.data"), "raw.jsonl", "--format", "jsonl")["action"] == "unchanged"


@pytest.mark.s3
def test_crawl_an_s3_source(tmp_path: Path, s3_client: Any, s3_bucket: str) -> None:
    body = "\n".join([HEADER, *ROWS]) + "\n"
    for part in ("a", "b"):
        s3_client.put_object(Bucket=s3_bucket, Key=f"raw/tx-{part}.csv", Body=body.encode())
    payload = _crawl(tmp_path / "state", f"s3://{s3_bucket}/raw/*.csv")
    assert payload["location"] == f"s3://{s3_bucket}/raw/*.csv"
    assert {c["name"]: c["type"] for c in payload["columns"]} == TYPES
    assert payload["rows_sampled"] == 6 and len(payload["inputs"]) == 2
    show = json.loads(
        _invoke("catalog", "show", "raw.tx", "--state", str(tmp_path / "state"), "--json").stdout
    )
    assert show["format"] == "csv" and show["version"] == 1


def test_crawl_a_spec_source_with_params(tmp_path: Path) -> None:
    _csv(tmp_path / "tx.csv")
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(
        "version: 1\nname: p\nparams: {raw: nowhere}\n"
        "sources:\n  tx: {format: csv, path: '${params.raw}/tx.csv', schema: {amount: decimal}}\n"
        f"steps: []\noutputs:\n  o: {{path: {tmp_path / 'out'}}}\n"
    )
    payload = _crawl(tmp_path / "state", f"{spec}:tx", "p.tx", "--param", f"raw={tmp_path}")
    types = {c["name"]: c["type"] for c in payload["columns"]}
    assert types["amount"] == "decimal" and types["id"] == "int64"
    missing = _invoke("crawl", f"{spec}:nope", "--name", "x", "--state", str(tmp_path / "state"))
    assert missing.exit_code == 1 and "has no source 'nope'" in missing.output


def test_catalog_list_and_show(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    empty = _invoke("catalog", "list", "--state", str(state))
    assert empty.exit_code == 0 and "no tables yet" in empty.output
    _crawl(state, str(_csv(tmp_path / "tx.csv")))
    listed = json.loads(_invoke("catalog", "list", "--state", str(state), "--json").stdout)
    assert [(t["name"], t["version"], len(t["columns"])) for t in listed] == [("raw.tx", 1, 8)]
    shown = _invoke("catalog", "show", "raw.tx", "--state", str(state))
    assert shown.exit_code == 0 and "raw.tx version 1 (csv" in shown.output and "datetime" in shown.output
    unknown = _invoke("catalog", "show", "nope", "--state", str(state))
    assert unknown.exit_code == 1 and "known tables: raw.tx" in unknown.output


@pytest.fixture
def crawled(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    _crawl(state, str(_csv(tmp_path / "tx.csv")))
    return state


def _check(state: Path, tmp_path: Path, text: str, *extra: str) -> Any:
    expect = tmp_path / "expect.yaml"
    expect.write_text(text)
    return _invoke("catalog", "check", "raw.tx", "--expect", str(expect), "--state", str(state), *extra)


CONFORMING = """\
columns:
  id: {type: bigint, nullable: false}
  zip: string
  card: int64
  email: {type: string, nullable: true}
  amount: double
  paid: boolean
  day: date
  seen_at: timestamp
extra_columns: deny
"""


def test_catalog_check_passes(crawled: Path, tmp_path: Path) -> None:
    result = _check(crawled, tmp_path, CONFORMING)
    assert result.exit_code == 0, result.output
    assert "matches" in result.output
    partial = _check(crawled, tmp_path, "columns: {id: int64}\nextra_columns: allow\n", "--json")
    assert partial.exit_code == 0 and json.loads(partial.stdout)["passed"] is True


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("  zip: string\n", ""), "zip: not expected (string; extra_columns is deny)"),
        (
            ("seen_at: timestamp", "seen_at: timestamp\n  country: string"),
            "country: missing (expected string)",
        ),
        (("card: int64", "card: string"), "card: type is int64, expected string"),
        (
            ("amount: double", "amount: {type: double, nullable: false}"),
            "amount: nullable is nullable, expected not null",
        ),
    ],
)
def test_catalog_check_failures_exit_1(
    crawled: Path, tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    result = _check(crawled, tmp_path, CONFORMING.replace(*change))
    assert result.exit_code == 1
    assert "1 mismatch(es)" in result.output and expected in result.output


def test_catalog_check_lists_every_mismatch_as_json(crawled: Path, tmp_path: Path) -> None:
    text = "columns:\n  id: string\n  country: string\n"
    result = _check(crawled, tmp_path, text, "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["passed"] is False
    kinds = sorted(m["kind"] for m in payload["mismatches"])
    assert kinds == ["extra"] * 7 + ["missing", "type"]


def test_catalog_check_bad_expect_file_exit_2(crawled: Path, tmp_path: Path) -> None:
    result = _check(crawled, tmp_path, "columns:\n  id: {type: int64, nulable: false}\n")
    assert result.exit_code == 2
    assert (
        "expect.yaml" in result.output and "line 2" in result.output and "columns.id.nulable" in result.output
    )


@pytest.fixture
def postgres_catalog(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import psycopg

    schema = f"vl_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    monkeypatch.setenv("VAULTLINE_CATALOG_URL", f"{url}?options=-csearch_path%3D{schema}")
    try:
        yield
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_catalog")
def test_crawl_and_check_on_a_postgres_catalog(tmp_path: Path) -> None:
    state = tmp_path / "state"
    source = _csv(tmp_path / "tx.csv")
    assert _crawl(state, str(source))["action"] == "registered"
    assert _crawl(state, str(source))["action"] == "unchanged"
    _csv(source, HEADER + ",extra", [r + ",1" for r in ROWS])
    assert _crawl(state, str(source))["version"] == 2
    assert not (state / "catalog.db").exists()
    assert _check(state, tmp_path, CONFORMING).exit_code == 1
