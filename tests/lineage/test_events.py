"""OpenLineage events of real runs of both examples: structure, datasets, facets, FAIL, no data value.

The client does not ship the OpenLineage JSON schema, so the structure the spec requires is asserted
here: a RunEvent needs eventTime, producer, run.runId (a UUID), job.namespace and job.name; every
dataset needs namespace and name; every facet carries _producer and _schemaURL.
"""

from __future__ import annotations

import csv
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from lineage_runs import EXAMPLES, Runs

from vaultline.errors import SourceError
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.lineage.emitter import events_path
from vaultline.lineage.events import JOB_NAMESPACE, PRODUCER, run_uuid, start_event
from vaultline.lineage.naming import location_dataset, source_dataset
from vaultline.run.runner import run
from vaultline.spec.loader import load
from vaultline.spec.sources import Source
from vaultline.state import State

OPENLINEAGE_SPEC = "https://openlineage.io/spec/"


def _facets(event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = list((event["run"].get("facets") or {}).items()) + list(
        (event["job"].get("facets") or {}).items()
    )
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        for key in ("facets", "inputFacets", "outputFacets"):
            found += list((dataset.get(key) or {}).items())
    return found


def _assert_run_event(event: dict[str, Any]) -> None:
    assert event["eventType"] in {"START", "COMPLETE", "FAIL"}
    assert "T" in event["eventTime"] and datetime.fromisoformat(event["eventTime"]).tzinfo is not None
    assert event["producer"] == PRODUCER
    assert event["schemaURL"].startswith(OPENLINEAGE_SPEC) and event["schemaURL"].endswith("/RunEvent")
    uuid.UUID(event["run"]["runId"])
    assert event["job"]["namespace"] == JOB_NAMESPACE and event["job"]["name"]
    for dataset in [*event.get("inputs", []), *event.get("outputs", [])]:
        assert isinstance(dataset["namespace"], str) and dataset["namespace"]
        assert isinstance(dataset["name"], str) and dataset["name"]
    for name, facet in _facets(event):
        assert facet["_producer"], name
        assert facet["_schemaURL"].startswith((OPENLINEAGE_SPEC, "urn:vaultline:facets:")), name


@pytest.mark.parametrize("pipeline", ["fraud", "healthplus"])
def test_events_have_the_openlineage_structure(examples: Runs, pipeline: str) -> None:
    report = examples.reports[pipeline]
    events = [e for e in examples.events() if e["job"]["name"] == pipeline]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        _assert_run_event(event)
        assert event["run"]["runId"] == run_uuid(report["run_id"])
        assert event["run"]["facets"]["vaultline"]["runId"] == report["run_id"]
        assert event["run"]["facets"]["processing_engine"]["name"] == "vaultline"
        assert event["job"]["facets"]["jobType"]["processingType"] == "BATCH"
    assert events[0]["eventTime"] == report["started_at"]
    assert events[1]["eventTime"] == report["finished_at"]
    assert events[1]["run"]["facets"]["vaultline"]["rows"] == {
        k: report["rows"][k] for k in ("input", "output", "quarantined")
    }


def test_run_ids_are_uuid5_of_the_vaultline_run_id() -> None:
    first = uuid.UUID(run_uuid("20261130T045157Z-2c8cfe"))
    assert first.version == 5
    assert str(first) == run_uuid("20261130T045157Z-2c8cfe")
    assert run_uuid("20261130T045157Z-2c8cff") != str(first)


@pytest.mark.parametrize("pipeline", ["fraud", "healthplus"])
def test_complete_names_what_was_read_and_committed(examples: Runs, pipeline: str) -> None:
    report = examples.reports[pipeline]
    complete = next(
        e for e in examples.events() if e["job"]["name"] == pipeline and e["eventType"] == "COMPLETE"
    )
    (source,) = complete["inputs"]
    (read,) = report["inputs"]
    assert (source["namespace"], source["name"]) == ("file", read["location"])
    assert source["facets"]["version"]["datasetVersion"] == read["sha256"]
    assert source["inputFacets"]["inputStatistics"] == {
        **source["inputFacets"]["inputStatistics"],
        "size": read["bytes"],
        "fileCount": 1,
    }
    output, quarantine = complete["outputs"]
    (written,) = report["outputs"]
    # Rejected rows are an output too: the quarantine directory, with its row count.
    assert (quarantine["namespace"], quarantine["name"]) == ("file", str(Path(report["quarantine"]).parent))
    assert quarantine["outputFacets"]["outputStatistics"]["rowCount"] == report["rows"]["quarantined"]
    assert "encrypted" in quarantine["facets"]["documentation"]["description"]
    assert (output["namespace"], output["name"]) == ("file", str(Path(written["location"]).parent))
    assert output["facets"]["version"]["datasetVersion"] == str(report["datasets"][written["name"]])
    assert output["facets"]["symlinks"]["identifiers"] == [
        {"namespace": "vaultline", "name": written["name"], "type": "DATASET"}
    ]
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == written["columns"]
    statistics = output["outputFacets"]["outputStatistics"]
    assert (statistics["rowCount"], statistics["size"]) == (written["rows"], written["bytes"])


def test_start_needs_only_what_a_run_knows_when_it_begins(examples: Runs) -> None:
    pipeline = examples.loaded["fraud"].pipeline
    event = start_event(pipeline, "20261130T000000Z-abcdef", {"started_at": "2026-11-30T00:00:00.000+00:00"})
    assert event.eventType is not None and event.eventType.value == "START"
    (source,) = event.inputs or []
    assert (source.namespace, source.name) == location_dataset(str(examples.out / "raw" / "transactions.csv"))
    (output,) = event.outputs or []
    assert output.name == str(examples.out / "output" / "fraud_features")
    assert not source.facets  # no schema yet: the source's columns are known once the run has planned


def test_fail_event_of_a_real_failed_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "lineage-fail-passphrase")
    state = State(tmp_path / ".vaultline").ensure()
    loaded = load(EXAMPLES / "fraud" / "pipeline.yaml", {"source_bucket": str(tmp_path / "missing")})
    keyring = LocalKeyring(state.root, warn=False)
    for ref in loaded.pipeline.keys.values():
        keyring.ensure(ref)
    with pytest.raises(SourceError):
        run(loaded, state)
    (run_dir,) = state.runs_dir.iterdir()
    report = json.loads((run_dir / "report.json").read_text("utf-8"))
    assert report["status"] == "failed"
    start, fail = (json.loads(line) for line in events_path(state).read_text("utf-8").splitlines())
    _assert_run_event(fail)
    assert (start["eventType"], fail["eventType"]) == ("START", "FAIL")
    assert fail["run"]["runId"] == start["run"]["runId"] == run_uuid(report["run_id"])
    error = fail["run"]["facets"]["errorMessage"]
    assert error["message"] == report["error"] and error["programmingLanguage"] == "python"
    assert "stackTrace" not in error
    assert fail["outputs"] == [] and fail["run"]["facets"]["vaultline"]["status"] == "failed"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"format": "csv", "path": "s3://raw/landing/2026/*.csv"}, ("s3://raw", "landing/2026")),
        ({"format": "parquet", "path": "s3://raw-bucket/t.parquet"}, ("s3://raw-bucket", "t.parquet")),
        ({"format": "postgres", "url": "postgresql://etl@db.internal:6543/sales", "table": "crm.customers"},
         ("postgres://db.internal:6543", "sales.crm.customers")),
        ({"format": "postgres", "url": "postgresql+psycopg://etl@db/sales", "table": "orders"},
         ("postgres://db:5432", "sales.public.orders")),
    ],
)  # fmt: skip
def test_dataset_names_follow_the_openlineage_naming_spec(
    source: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert source_dataset(Source.model_validate(source)) == expected


def test_local_names_are_absolute_and_globs_name_their_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert location_dataset("raw/part-*.csv") == ("file", str(tmp_path / "raw"))
    assert location_dataset("raw/a.csv") == ("file", str(tmp_path / "raw" / "a.csv"))


def test_a_query_source_is_named_by_its_digest_not_its_text() -> None:
    query = "SELECT * FROM claims WHERE member_ssn = '123-45-6789'"
    namespace, name = source_dataset(
        Source.model_validate({"format": "postgres", "url": "postgresql://etl@db/claims", "query": query})
    )
    assert namespace == "postgres://db:5432" and name.startswith("claims.query-")
    assert "123-45-6789" not in name and "etl" not in namespace


def _input_values(path: Path) -> set[str]:
    """Every value of every column of a generated input, long enough to be told apart from a name."""
    values: set[str] = set()
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            values.update(v.strip() for v in row.values() if isinstance(v, str) and len(v.strip()) >= 6)
    return values


def _strings(document: Any) -> list[str]:
    """Every string value (keys left out: "inputFields" is no leak of the surname "Fields")."""
    if isinstance(document, dict):
        return [s for value in document.values() for s in _strings(value)]
    if isinstance(document, list):
        return [s for value in document for s in _strings(value)]
    return [str(document)]


def test_no_data_value_in_any_event(examples: Runs) -> None:
    text = "\n".join(s for event in examples.events() for s in _strings(event))
    values = set().union(*(_input_values(d.data_path) for d in examples.datasets.values()))
    assert len(values) > 10_000
    leaked = [v for v in values if v in text]
    assert not leaked, f"{len(leaked)} input value(s) found in the lineage events"  # never the values
