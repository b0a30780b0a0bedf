"""Governance inside runs: fail closed without an audit log, schema drift, quality results of a failed run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.audit import AuditUnavailableError
from vaultline.catalog.quality import results_for
from vaultline.catalog.runs import RunCatalog
from vaultline.cli.main import app
from vaultline.engines.polars import sources
from vaultline.errors import VaultlineError
from vaultline.keys.local import PASSPHRASE_ENV
from vaultline.run.drift import SchemaDriftError
from vaultline.run.runner import run
from vaultline.spec.loader import load
from vaultline.state import State
from vaultline.transforms.expect import DataQualityError

SPEC = """\
version: 1
name: ledger
params: {raw: raw, out: out, drift: fail, min_rows: 1}
sources:
  entries:
    format: csv
    path: ${params.raw}/entries.csv
    schema: {entry_id: int64, amount: float64}
    schema_drift: ${params.drift}
steps:
  - expect:
      - {name: enough_rows, kind: row_count, min: "${params.min_rows}"}
outputs:
  ledger_out:
    path: ${params.out}
"""


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(PASSPHRASE_ENV, "governance-runs")
    (tmp_path / "raw").mkdir()
    (tmp_path / "pipeline.yaml").write_text(SPEC, "utf-8")
    _write(tmp_path, ["entry_id", "amount"], 50)
    return {"root": tmp_path, "state": State(tmp_path / "state").ensure()}


def _write(root: Path, columns: list[str], rows: int) -> None:
    lines = [",".join(columns)] + [",".join(str(i + k) for k in range(len(columns))) for i in range(rows)]
    (root / "raw" / "entries.csv").write_text("\n".join(lines) + "\n", "utf-8")


def _run(work: dict[str, Any], **params: str) -> dict[str, Any]:
    root = work["root"]
    overrides = {"raw": str(root / "raw"), "out": str(root / "out"), **params}
    return run(load(root / "pipeline.yaml", overrides), work["state"])


def test_a_run_without_a_writable_audit_log_reads_nothing(
    work: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    (work["state"].root / "audit").write_text("not a directory", "utf-8")  # the log cannot be opened
    reads: list[str] = []
    original = sources.read_source
    monkeypatch.setattr(sources, "read_source", lambda *a, **k: reads.append(a[0]) or original(*a, **k))
    with pytest.raises(AuditUnavailableError):
        _run(work)
    assert reads == []
    assert not (work["root"] / "out").exists()
    assert RunCatalog(work["state"].catalog_url).list() == []


def test_vaultline_read_fails_closed_when_the_audit_log_is_gone(work: dict[str, Any]) -> None:
    _run(work)
    audit = work["state"].root / "audit"
    audit.rename(audit.with_name("audit.moved"))
    audit.write_text("not a directory", "utf-8")
    result = CliRunner().invoke(app, ["read", "ledger_out", "--state", str(work["state"].root)])
    assert result.exit_code != 0
    assert "audit" in result.output and "entry_id" not in result.output  # no row was printed


def test_schema_drift_fails_the_run_or_evolves_the_table(work: dict[str, Any]) -> None:
    first = _run(work)
    assert first["schema_drift"]["entries"]["action"] == "registered"
    _write(work["root"], ["entry_id", "amount", "branch"], 50)
    with pytest.raises(SchemaDriftError) as raised:
        _run(work)
    assert "branch" in raised.value.message
    failed = RunCatalog(work["state"].catalog_url).list(limit=1)[0]
    report = RunCatalog(work["state"].catalog_url).report(failed.run_id)
    assert report["status"] == "failed" and report["schema_drift"]["entries"]["changes"]
    evolved = _run(work, drift="evolve")
    assert evolved["schema_drift"]["entries"]["action"] == "evolved"
    assert _run(work)["schema_drift"]["entries"]["action"] == "unchanged"


def test_a_run_stopped_by_an_expectation_still_records_its_results(work: dict[str, Any]) -> None:
    with pytest.raises(DataQualityError):
        _run(work, min_rows="1000")
    failed = RunCatalog(work["state"].catalog_url).list(limit=1)[0]
    report = RunCatalog(work["state"].catalog_url).report(failed.run_id)
    assert report["quality"]["failed"] == 1
    stored = results_for(work["state"].catalog_url, failed.run_id)
    assert [(r["name"], r["passed"]) for r in stored] == [("enough_rows", False)]
    assert report["alarms"] == []  # the spec has no alarm rules; the observation still ran


def test_a_failed_run_is_audited_with_the_error_type_only(work: dict[str, Any]) -> None:
    from vaultline.audit.reading import iter_entries

    (work["root"] / "raw" / "entries.csv").unlink()
    with pytest.raises(VaultlineError) as raised:
        _run(work)
    assert str(work["root"]) in raised.value.render()  # the user sees the path ...
    (end,) = [e for e in iter_entries(work["state"].root / "audit" / "segments") if e.action == "run.end"]
    assert end.details["error"] == type(raised.value).__name__  # ... the log keeps no path
    segments = (work["state"].root / "audit" / "segments").glob("*.jsonl")
    assert not any(str(work["root"]) in segment.read_text("utf-8") for segment in segments)


def test_a_changed_spec_is_audited_as_a_configuration_change(work: dict[str, Any]) -> None:
    from vaultline.audit.reading import iter_entries

    first = _run(work)
    _run(work)  # same spec: no change recorded
    spec = work["root"] / "pipeline.yaml"
    spec.write_text(spec.read_text("utf-8").replace("name: ledger", "name: ledger\ndescription: v2"), "utf-8")
    changed = _run(work)
    entries = [
        e
        for e in iter_entries(work["state"].root / "audit" / "segments")
        if e.action == "pipeline.spec_change"
    ]
    assert [e.run_id for e in entries] == [changed["run_id"]]
    assert entries[0].details["previous_sha256"] == first["spec"]["sha256"] != changed["spec"]["sha256"]


def test_a_run_whose_closing_checkpoint_fails_says_what_was_committed(
    work: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultline.audit.log import AuditLog
    from vaultline.audit.reading import iter_entries

    def unwritable(self: AuditLog, reason: str) -> None:
        raise AuditUnavailableError("the audit log could not write audit checkpoint 9 (PermissionError)")

    monkeypatch.setattr(AuditLog, "checkpoint", unwritable)
    with pytest.raises(AuditUnavailableError) as raised:
        _run(work)
    assert re.match(
        r"run \S+ succeeded \(committed: ledger_out@1\), but the audit log failed after its commit: "
        r"the audit log could not write audit checkpoint 9",
        raised.value.message,
    )
    assert (raised.value.retryable, raised.value.exit_code) == (False, 1)  # a rerun would commit again
    commits = [
        e.outcome
        for e in iter_entries(work["state"].root / "audit" / "segments")
        if e.action == "dataset.commit"
    ]
    assert commits == ["intent", "succeeded"]  # the log heard of the commit before it happened


def test_a_run_whose_log_fails_right_after_the_commit_is_recorded_as_succeeded(
    work: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultline.audit.log import AuditLog

    real = AuditLog.record

    def fails_after_the_commit(self: AuditLog, action: str, **kwargs: Any) -> Any:
        if action == "dataset.commit" and kwargs.get("outcome", "succeeded") == "succeeded":
            raise AuditUnavailableError("the audit log could not write (OSError)")
        return real(self, action, **kwargs)

    monkeypatch.setattr(AuditLog, "record", fails_after_the_commit)
    with pytest.raises(AuditUnavailableError) as raised:
        _run(work)
    assert re.match(
        r"run \S+ succeeded \(committed: ledger_out@1\), but the audit log failed", raised.value.message
    )
    with RunCatalog(work["state"].catalog_url) as catalog:
        [recorded] = catalog.list(limit=1)
    assert recorded.status == "succeeded"  # the data is committed: the run is not shown as failed
