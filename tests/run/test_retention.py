"""Retention: dry run vs apply on files aged with os.utime, policy file and overrides, catalog run rows
kept, S3 quarantine objects under Object Lock (moto) kept, the CLI's output and exit codes."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.catalog.runs import RunCatalog
from vaultline.cli.main import app
from vaultline.errors import SpecError
from vaultline.keys.local import PASSPHRASE_ENV
from vaultline.run.retention import RetentionPolicy, apply_retention, load_policy
from vaultline.state import State

OLD_RUN = "20240101T000000Z-aaaaaa"
NEW_RUN = "20991231T000000Z-bbbbbb"
DAY = 86_400
runner = CliRunner()


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> State:
    monkeypatch.setenv(PASSPHRASE_ENV, "retention-test-passphrase")
    return State(tmp_path / "state").ensure()


def _aged(path: Path, days: float, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp))
    return path


def _record_run(state: State, run_id: str, quarantine: str | None) -> None:
    with RunCatalog(state.catalog_url) as catalog:
        catalog.start(run_id, "pipe", "0" * 64)
        catalog.finish(run_id, {"status": "succeeded", "rows": {"input": 2}, "quarantine": quarantine})


@pytest.fixture
def files(state: State) -> dict[str, Path]:
    quarantine = state.quarantine_dir / "pipe"
    made = {
        "old_log": _aged(state.run_dir(OLD_RUN) / "run.log", 120),
        "old_report": _aged(state.run_dir(OLD_RUN) / "report.json", 120, "{}"),
        "new_log": _aged(state.run_dir(NEW_RUN) / "run.log", 2),
        "new_report": _aged(state.run_dir(NEW_RUN) / "report.json", 2, "{}"),
        "old_quarantine": _aged(quarantine / f"{OLD_RUN}.parquet", 120),
        "new_quarantine": _aged(quarantine / f"{NEW_RUN}.parquet", 2),
        "unrelated": _aged(quarantine / "notes.parquet", 400),
    }
    _record_run(state, OLD_RUN, str(made["old_quarantine"]))
    return made


def test_dry_run_lists_and_apply_removes(state: State, files: dict[str, Path]) -> None:
    policy = load_policy(state)
    assert policy == RetentionPolicy()
    dry = apply_retention(state, policy, dry_run=True)
    expected = {
        ("run_log", str(files["old_log"])),
        ("report", str(files["old_report"])),
        ("quarantine", str(files["old_quarantine"])),
    }
    assert {(i.kind, i.location) for i in dry.removed} == expected
    assert all(i.age_days >= 119 and i.reason == "older than 90 days" for i in dry.removed)
    assert dry.younger == {"run_log": 1, "report": 1, "quarantine": 1}
    assert dry.kept == []
    assert all(path.exists() for path in files.values())

    applied = apply_retention(state, policy)
    assert {(i.kind, i.location) for i in applied.removed} == expected
    assert not state.run_dir(OLD_RUN).exists()
    for name in ("new_log", "new_report", "new_quarantine", "unrelated"):
        assert files[name].exists()
    # The catalog's run row and its value-free report stay.
    assert RunCatalog(state.catalog_url).report(OLD_RUN)["status"] == "succeeded"
    assert apply_retention(state, policy).removed == []
    # Each application is an audited operation: intent first, then the counts (no path).
    from vaultline.audit import AuditLog

    with AuditLog.open(state) as audit:
        entries = list(audit.entries(action="retention.apply"))
    assert [e.outcome for e in entries] == ["intent", "succeeded"] * 3
    assert entries[3].details["removed_quarantine"] == 1 and entries[3].details["dry_run"] is False
    assert entries[1].details["dry_run"] is True
    log_text = "".join(p.read_text() for p in (state.root / "audit" / "segments").glob("*.jsonl"))
    assert OLD_RUN not in log_text and "notes.parquet" not in log_text


def test_policy_file_and_overrides(state: State, files: dict[str, Path]) -> None:
    (state.root / "retention.yaml").write_text("run_logs_days: 1\nquarantine_days: 500\n")
    policy = load_policy(state, {"reports_days": 1, "audit_segments_days": None})
    assert (policy.run_logs_days, policy.reports_days, policy.quarantine_days) == (1, 1, 500)
    assert policy.audit_segments_days == 365
    result = apply_retention(state, policy, dry_run=True)
    assert sorted(i.kind for i in result.removed) == ["report", "report", "run_log", "run_log"]
    assert result.younger["quarantine"] == 2


def test_invalid_policy_file_names_file_field_and_line(state: State) -> None:
    path = state.root / "retention.yaml"
    path.write_text("run_logs_days: 30\nreport_days: 10\nquarantine_days: 0\n")
    with pytest.raises(SpecError) as caught:
        load_policy(state)
    assert {(i.field, i.line) for i in caught.value.issues} == {("report_days", 2), ("quarantine_days", 3)}
    assert str(path) in caught.value.render()
    path.write_text("quarantine_days: true\n")  # lax pydantic reads it as 1: evidence gone 89 days early
    with pytest.raises(SpecError) as caught:
        load_policy(state)
    assert [(i.field, i.line) for i in caught.value.issues] == [("quarantine_days", 1)]


@pytest.mark.s3
def test_s3_quarantine_objects_under_object_lock_are_kept(state: State, s3_client: Any) -> None:
    bucket = f"vl-lock-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    plain_bucket = f"vl-plain-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=plain_bucket)
    until = datetime.now(UTC) + timedelta(days=1000)
    names = {tag: f"2024010{i}T000000Z-{tag * 6}.parquet" for i, tag in enumerate("abcd", start=1)}
    s3_client.put_object(
        Bucket=bucket,
        Key=f"q/{names['a']}",
        Body=b"locked",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )
    s3_client.put_object(Bucket=bucket, Key=f"q/{names['b']}", Body=b"held", ObjectLockLegalHoldStatus="ON")
    s3_client.put_object(Bucket=bucket, Key=f"q/{names['c']}", Body=b"free")
    s3_client.put_object(Bucket=plain_bucket, Key=f"q/{names['d']}", Body=b"free")
    _record_run(state, "20240101T000000Z-aaaaaa", f"s3://{bucket}/q/{names['a']}")
    _record_run(state, "20240104T000000Z-dddddd", f"s3://{plain_bucket}/q/{names['d']}")
    later = datetime.now(UTC) + timedelta(days=200)  # S3 sets LastModified itself: age the clock instead

    dry = apply_retention(state, RetentionPolicy(), dry_run=True, now=later)
    assert {i.location for i in dry.removed} == {
        f"s3://{bucket}/q/{names['c']}",
        f"s3://{plain_bucket}/q/{names['d']}",
    }
    kept = {i.location.rsplit("/", 1)[-1]: i.reason for i in dry.kept}
    assert kept == {
        names["a"]: f"under Object Lock (compliance mode until {until:%Y-%m-%d})",
        names["b"]: "under an Object Lock legal hold",
    }
    assert len(s3_client.list_objects_v2(Bucket=bucket)["Contents"]) == 3

    applied = apply_retention(state, RetentionPolicy(), now=later)
    assert len(applied.removed) == 2
    remaining = sorted(o["Key"] for o in s3_client.list_object_versions(Bucket=bucket).get("Versions", []))
    assert remaining == [f"q/{names['a']}", f"q/{names['b']}"]
    assert s3_client.list_objects_v2(Bucket=plain_bucket).get("KeyCount") == 0
    s3_client.put_object_legal_hold(Bucket=bucket, Key=f"q/{names['b']}", LegalHold={"Status": "OFF"})


def test_cli_dry_run_then_apply(state: State, files: dict[str, Path]) -> None:
    base = ["retention", "apply", "--state", str(state.root)]
    dry = runner.invoke(app, [*base, "--dry-run", "--run-logs", "1"])
    assert dry.exit_code == 0, dry.output
    assert "retention (dry run): run logs 1 d, reports 90 d" in dry.output
    assert f"would remove run_log {files['new_log']}" in dry.output
    assert f"would remove quarantine {files['old_quarantine']}" in dry.output
    assert files["new_log"].exists()
    applied = runner.invoke(app, [*base, "--json"])
    assert applied.exit_code == 0, applied.output
    payload = json.loads(applied.stdout)
    assert payload["dry_run"] is False and len(payload["removed"]) == 3
    assert not files["old_log"].exists() and files["new_log"].exists()
    bad = runner.invoke(app, [*base, "--reports", "0"])
    assert bad.exit_code == 2


def test_exported_audit_segments_are_pruned_through_the_audit_log(state: State, tmp_path: Path) -> None:
    from vaultline.audit import AuditLog

    with AuditLog.open(state, segment_entries=4) as audit:
        for index in range(14):
            audit.record("test.retention", details={"index": index})
        audit.export(str(tmp_path / "audit-export"))
    segments = sorted((state.root / "audit" / "segments").glob("*.jsonl"))
    assert len(segments) >= 3
    today = apply_retention(state, RetentionPolicy(), dry_run=True)
    assert list(today.audit["segments"]) == []
    assert today.audit["stop_reason"] == "too-recent"
    later = datetime.now(UTC) + timedelta(days=400)  # the entries were written now: age the clock
    dry = apply_retention(state, RetentionPolicy(), dry_run=True, now=later)
    assert dry.audit["dry_run"] is True and len(dry.audit["segments"]) >= 2
    assert sorted((state.root / "audit" / "segments").glob("*.jsonl")) == segments
    applied = apply_retention(state, RetentionPolicy(), now=later)
    assert applied.audit["segments"] == dry.audit["segments"]
    left = sorted((state.root / "audit" / "segments").glob("*.jsonl"))
    assert len(left) == len(segments) - len(dry.audit["segments"])
    with AuditLog.open(state) as audit:
        assert audit.verify().ok


def test_only_run_directories_under_runs_are_touched(state: State, files: dict[str, Path]) -> None:
    """A backup or another tool's files under runs/ are not run logs or reports, whatever their age."""
    backup = _aged(state.runs_dir / "mybackup" / "report.json", 400, "{}")
    foreign_log = _aged(state.runs_dir / "notes" / "run.log", 400)
    empty = state.runs_dir / "emptyforeign"
    empty.mkdir()
    applied = apply_retention(state, RetentionPolicy())
    assert {i.location for i in applied.removed} == {
        str(files["old_log"]),
        str(files["old_report"]),
        str(files["old_quarantine"]),
    }
    assert backup.exists() and foreign_log.exists() and empty.is_dir()
    assert not state.run_dir(OLD_RUN).exists() and state.run_dir(NEW_RUN).is_dir()


def test_a_relative_quarantine_location_is_never_resolved_against_the_working_directory(
    state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older run recorded `qdir/<run>.parquet` as its spec said: from another directory, a file of
    that name there is someone else's. Kept (and said why) once the run is past its bound."""
    _record_run(state, OLD_RUN, f"qdir/{OLD_RUN}.parquet")
    elsewhere = tmp_path / "elsewhere"
    foreign = _aged(elsewhere / "qdir" / f"{OLD_RUN}.parquet", 400)
    monkeypatch.chdir(elsewhere)
    today = apply_retention(state, RetentionPolicy())
    assert today.removed == [] and today.kept == []
    later = apply_retention(state, RetentionPolicy(), now=datetime.now(UTC) + timedelta(days=200))
    assert later.removed == []
    (kept,) = later.kept
    assert (kept.kind, kept.location) == ("quarantine", f"qdir/{OLD_RUN}.parquet")
    assert kept.reason.startswith("relative location recorded by an older run") and kept.age_days >= 199
    assert foreign.exists()


def test_a_killed_runs_quarantine_file_is_found_by_the_directory_recorded_at_its_start(
    state: State, tmp_path: Path
) -> None:
    """Killed before its report: only its start record names its `quarantine.path`."""
    elsewhere = tmp_path / "q" / "pipe"
    killed = _aged(elsewhere / f"{OLD_RUN}.parquet", 120)
    with RunCatalog(state.catalog_url) as catalog:
        catalog.start(OLD_RUN, "pipe", "0" * 64, quarantine_root=str(elsewhere))
    applied = apply_retention(state, RetentionPolicy())
    assert [(i.kind, i.location) for i in applied.removed] == [("quarantine", str(killed))]
    assert not killed.exists()


RELATIVE_QUARANTINE = """\
version: 1
name: relq
keys: {c: customer_key}
sources:
  tx: {format: csv, path: "RAW/transactions.csv"}
steps:
  - clean: {cast: {amount: float64}, constraints: {amount: {min: 0}}}
  - tokenize: {columns: [customer_id, email, device_id], domain: c}
  - drop: {columns: [card_number, account_number, ip_address]}
outputs:
  o: {path: out}
quarantine: {path: qdir, max_fraction: 0.5}
"""


def test_a_run_records_its_quarantine_absolute_and_retention_finds_it_from_anywhere(
    state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultline.demo.fraud import generate_fraud
    from vaultline.keys.local import LocalKeyring
    from vaultline.run.runner import run
    from vaultline.spec.loader import loads

    LocalKeyring(state.root, warn=False).create("customer_key")
    data = generate_fraud(900, tmp_path / "gen")
    demo = tmp_path / "demo"
    demo.mkdir()
    monkeypatch.chdir(demo)
    report = run(loads(RELATIVE_QUARANTINE.replace("RAW", str(data.data_path.parent))), state)
    real = demo / "qdir" / f"{report['run_id']}.parquet"
    assert report["rows"]["quarantined"] > 0 and report["quarantine"] == str(real)
    stamp = time.time() - 120 * DAY
    os.utime(real, (stamp, stamp))
    elsewhere = tmp_path / "elsewhere"
    foreign = _aged(elsewhere / "qdir" / f"{report['run_id']}.parquet", 400)
    monkeypatch.chdir(elsewhere)
    applied = apply_retention(state, RetentionPolicy(run_logs_days=365, reports_days=365))
    assert [(i.kind, i.location) for i in applied.removed] == [("quarantine", str(real))]
    assert not real.exists() and foreign.exists()


def _no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to find: fail fast
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it keeps the credentials it found first


@pytest.mark.s3
@pytest.mark.parametrize(
    ("case", "reason", "exit_code"),
    [
        ("bucket gone", "could not be listed (NoSuchBucket)", 1),
        ("no credentials", "could not be listed (NoCredentialsError)", 1),
        ("endpoint down", "could not be listed (EndpointConnectionError)", 75),
    ],
)
def test_an_s3_quarantine_location_that_cannot_be_listed_is_reported_and_the_rest_applied(
    state: State,
    files: dict[str, Path],
    moto_server: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    case: str,
    reason: str,
    exit_code: int,
) -> None:
    """Nothing under the location is removed, everything else is, the result names the location and
    why, and the command exits non-zero (75 when a rerun may cure it): not half-done silently."""
    location = f"s3://vl-gone-{uuid.uuid4().hex[:12]}/q"
    _record_run(state, "20240102T000000Z-cccccc", f"{location}/20240102T000000Z-cccccc.parquet")
    if case == "no credentials":
        _no_credentials(monkeypatch)
    if case == "endpoint down":
        request.getfixturevalue("unreachable_s3")
    dry = apply_retention(state, RetentionPolicy(), dry_run=True)
    ((unread),) = dry.unreadable
    assert unread.location == location and unread.reason.startswith(reason)
    assert unread.retryable is (exit_code == 75)
    result = runner.invoke(app, ["retention", "apply", "--state", str(state.root), "--json"])
    assert result.exit_code == exit_code, result.output
    payload = json.loads(result.stdout)
    assert [u["location"] for u in payload["unreadable"]] == [location]
    assert len(payload["removed"]) == 3  # the local logs, reports and quarantine all the same
    assert not files["old_log"].exists() and files["new_log"].exists()
    assert "could not be listed or read" in result.stderr and "Traceback" not in result.output
