"""End to end on a real fraud run: metrics computed from its report and stored, rules evaluated,
alarms delivered (terminal, signed webhook, SMTP) and recorded, and no input value anywhere in them;
then `vaultline metrics` (Prometheus text parsed back, EMF, JSON) and `vaultline alarms`."""

from __future__ import annotations

import copy
import email
import email.policy
import hashlib
import hmac
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from monitor_support import FraudRun, Receiver, closed_port, run_fraud, start_mailbox
from prometheus_client.parser import text_string_to_metric_families
from pydantic import TypeAdapter
from typer.testing import CliRunner

from vaultline.catalog.metrics import list_alarms, recent_run_metrics
from vaultline.catalog.schema import open_catalog
from vaultline.cli.main import app
from vaultline.errors import SourceError
from vaultline.keys.local import LocalKeyring
from vaultline.keys.provider import KeyRef
from vaultline.monitor import access, deliver
from vaultline.monitor.deliver import SIGNATURE_HEADER, SMTP_KEY_CONTEXT, WEBHOOK_KEY_CONTEXT, smtp_password
from vaultline.monitor.metrics import compute_metrics
from vaultline.monitor.observe import check_access, observe_run
from vaultline.monitor.rules import AlarmRules
from vaultline.run.runner import run
from vaultline.spec.loader import load
from vaultline.spec.models import Pipeline

RULES: TypeAdapter[list[Any]] = TypeAdapter(AlarmRules)


@pytest.fixture(scope="module")
def fraud(passphrase: None, tmp_path_factory: pytest.TempPathFactory) -> FraudRun:
    done = run_fraud(tmp_path_factory.mktemp("fraud"), alarms=[{"kind": "job_failure", "name": "failed"}])
    keyring = LocalKeyring(done.state.root, warn=False)
    keyring.create("alarm_hook")
    keyring.create("smtp_key")
    return done


@pytest.fixture(scope="module")
def failed_report(fraud: FraudRun) -> dict[str, Any]:
    """A real failed run: the same spec over a source file that does not exist."""
    from vaultline.catalog.runs import RunCatalog

    missing = fraud.out / "nowhere"
    loaded = load(
        fraud.loaded.file, {"source_bucket": str(missing), "target_bucket": str(fraud.out / "output")}
    )
    with pytest.raises(SourceError):
        run(loaded, fraud.state)
    with RunCatalog(fraud.state.catalog_url) as catalog:
        newest = catalog.list(limit=1)[0]
        assert newest.status == "failed"
        return catalog.report(newest.run_id)


def _pipeline(fraud: FraudRun, rules: list[dict[str, Any]]) -> Pipeline:
    pipeline: Pipeline = fraud.loaded.pipeline
    return pipeline.model_copy(update={"alarms": RULES.validate_python(rules)})


def _engine(fraud: FraudRun) -> Iterator[sa.Engine]:
    engine = open_catalog(fraud.state.catalog_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _leaks(fraud: FraudRun, *texts: str) -> int:
    """How many sensitive input values occur in `texts` (the values themselves are never shown)."""
    return sum(1 for value in fraud.sensitive if any(value in text for text in texts))


def test_metrics_are_computed_from_the_real_report(fraud: FraudRun) -> None:
    report = fraud.report
    metrics = compute_metrics(report)
    rows = report["rows"]
    assert metrics["succeeded"] == 1.0
    assert metrics["duration_seconds"] == report["seconds"] > 0
    assert (metrics["rows_input"], metrics["rows_output"], metrics["rows_quarantined"]) == (
        rows["input"], rows["output"], rows["quarantined"],
    )  # fmt: skip
    assert rows["quarantined"] > 0 and metrics["quarantine_rate"] == rows["quarantined"] / rows["input"]
    assert 0 < metrics["anomaly_rate"] == report["anomaly"]["flagged_rate"] < 0.05
    on_disk = sum(os.path.getsize(output["location"]) for output in report["outputs"])
    assert metrics["bytes_output"] == on_disk > 0
    # Latency: finish minus the newest input's modification time, measured independently here.
    newest = max(os.stat(item["location"]).st_mtime for item in report["inputs"])
    finished = datetime.fromisoformat(report["finished_at"]).timestamp()
    assert metrics["latency_seconds"] == pytest.approx(finished - newest, abs=0.01)
    assert 0 < metrics["latency_seconds"] < 600
    assert "dq_pass_rate" not in metrics or "quality" in report


def test_latency_is_left_out_when_an_input_changed_after_the_run_started(fraud: FraudRun) -> None:
    report = copy.deepcopy(fraud.report)
    report["started_at"] = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    assert "latency_seconds" not in compute_metrics(report)
    report = copy.deepcopy(fraud.report)
    report["inputs"] = [{"location": "postgres:public.transactions", "sha256": "0" * 64}]
    assert "latency_seconds" not in compute_metrics(report)


def test_a_run_that_failed_at_its_commit_keeps_its_counts_but_no_latency_or_bytes(fraud: FraudRun) -> None:
    report = copy.deepcopy(fraud.report) | {"status": "failed"}  # it had counted and written its rows
    metrics = compute_metrics(report)
    assert metrics["succeeded"] == 0.0 and metrics["rows_input"] == report["rows"]["input"]
    assert "latency_seconds" not in metrics and "bytes_output" not in metrics  # its files were removed


def test_observe_run_stores_metrics_delivers_and_records_alarms(
    fraud: FraudRun, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    keyring = LocalKeyring(fraud.state.root, warn=False)
    password = smtp_password(keyring.derive(KeyRef.parse("smtp_key"), context=SMTP_KEY_CONTEXT)[0])
    box, controller = start_mailbox(fraud.out, "vaultline", password)
    rules: list[dict[str, Any]] = [
        {"kind": "job_failure", "name": "failed", "severity": "critical"},
        {"kind": "latency", "name": "stale-input", "severity": "critical", "max_seconds": 0.001, "notify": [
            "terminal",
            {"kind": "webhook", "url": receiver.url, "signing_key": "alarm_hook"},
            {"kind": "email", "smtp_host": "127.0.0.1", "smtp_port": box.port,
             "from": "vaultline@example.com", "to": ["oncall@example.com"], "starttls": True,
             "ca_file": box.ca_file, "username": "vaultline",
             "login_key": "smtp_key"},
        ]},
        {"kind": "latency", "name": "slow", "metric": "duration_seconds", "max_seconds": 3600},
        {"kind": "unusual_access", "name": "reads"},
    ]  # fmt: skip
    try:
        events = observe_run(fraud.state, _pipeline(fraud, rules), fraud.report)
    finally:
        controller.stop()
    (event,) = events  # only the latency bound is crossed: the run succeeded and took seconds
    assert (event.rule, event.kind, event.run_id, event.pipeline) == (
        "stale-input",
        "latency",
        fraud.report["run_id"],
        "fraud",
    )
    assert event.message.startswith(f"run {fraud.report['run_id']} of pipeline fraud: latency_seconds=")
    assert [(d.target.split(":")[0], d.outcome) for d in event.deliveries] == [
        ("terminal", "delivered"), ("webhook", "delivered"), ("email", "delivered")
    ]  # fmt: skip
    assert event.message in capsys.readouterr().err
    (hook,) = receiver.requests
    key = keyring.derive(KeyRef.parse("alarm_hook"), context=WEBHOOK_KEY_CONTEXT)[0].reveal()
    assert hook.headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(key, hook.body, hashlib.sha256).hexdigest()
    assert json.loads(hook.body)["id"] == event.id
    (_, recipients, raw) = box.messages[0]
    assert recipients == ["oncall@example.com"]
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == "[Vaultline critical] stale-input on pipeline fraud"
    for engine in _engine(fraud):
        (stored,) = list_alarms(engine, fraud.state.catalog_url, rule="stale-input")
        assert stored == event
        (record,) = recent_run_metrics(engine, fraud.state.catalog_url, pipeline="fraud")
        assert record.run_id == fraud.report["run_id"] and record.values == compute_metrics(fraud.report) | {
            "latency_seconds": pytest.approx(record.values["latency_seconds"])
        }
    stored_text = json.dumps([stored.as_dict(), record.__dict__])
    assert _leaks(fraud, hook.body.decode(), raw.decode("latin-1"), stored_text) == 0
    assert len(fraud.sensitive) > 500


def test_failed_run_fires_job_failure_and_a_dead_webhook_is_recorded_not_raised(
    fraud: FraudRun, failed_report: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deliver, "BACKOFF_SECONDS", 0.01)
    dead = f"http://127.0.0.1:{closed_port()}/hook"
    rules: list[dict[str, Any]] = [
        {"kind": "job_failure", "name": "failed", "severity": "critical", "notify": [
            {"kind": "webhook", "url": dead}, "terminal"]},
        {"kind": "anomaly_spike", "name": "spike", "min_runs": 1},
        {"kind": "dq_breach", "name": "dq"},
    ]  # fmt: skip
    (event,) = observe_run(fraud.state, _pipeline(fraud, rules), failed_report)
    assert event.message == f"run {failed_report['run_id']} of pipeline fraud ended with status failed"
    webhook, terminal = event.deliveries
    assert (webhook.outcome, webhook.attempts, webhook.error) == ("failed", 4, "ConnectionRefusedError")
    assert terminal.outcome == "delivered"
    for engine in _engine(fraud):
        # The runner observed the failed run itself already; this is the alarm observed here.
        (stored,) = [
            a for a in list_alarms(engine, fraud.state.catalog_url, rule="failed") if a.id == event.id
        ]
        assert stored.deliveries == event.deliveries
        (record,) = [
            r
            for r in recent_run_metrics(engine, fraud.state.catalog_url, last=50)
            if r.run_id == failed_report["run_id"]
        ]
    assert record.values["succeeded"] == 0.0 and "rows_input" not in record.values


def _as_run(fraud: FraudRun, index: int, anomaly_rate: float) -> dict[str, Any]:
    report = copy.deepcopy(fraud.report)
    report["run_id"] = f"{fraud.report['run_id']}-h{index}"
    report["anomaly"]["flagged_rate"] = anomaly_rate
    return report


def test_anomaly_spike_against_stored_history(fraud: FraudRun) -> None:
    rate = fraud.report["anomaly"]["flagged_rate"]
    rules = [{"kind": "anomaly_spike", "name": "spike", "factor": 3, "window": 5, "min_runs": 3}]
    # A pipeline name of its own, so the history is exactly the runs observed here.
    pipeline = _pipeline(fraud, rules).model_copy(update={"name": "fraud-spike"})
    calm = [observe_run(fraud.state, pipeline, _as_run(fraud, 20 + i, rate)) for i in range(3)]
    assert calm == [[], [], []]  # no history first, then runs just like it
    # bound 3 x mean(1, 1, 1) x rate = 3 x rate
    assert observe_run(fraud.state, pipeline, _as_run(fraud, 23, rate * 2.9)) == []
    # now 3 x mean(1, 1, 1, 2.9) x rate = 4.425 x rate
    (spike,) = observe_run(fraud.state, pipeline, _as_run(fraud, 24, rate * 4.5))
    assert spike.kind == "anomaly_spike" and f"anomaly_rate={rate * 4.5:.4f}" in spike.message
    assert spike.pipeline == "fraud-spike"
    assert "of 4 succeeded run(s)" in spike.message


def _cli(fraud: FraudRun, *args: str) -> Any:
    result = CliRunner().invoke(app, [*args, "--state", str(fraud.state.root)])
    assert result.exit_code == 0, result.output
    return result


def test_prometheus_exposition_parses_back_to_the_stored_values(fraud: FraudRun) -> None:
    observe_run(fraud.state, _pipeline(fraud, []), fraud.report)
    other = _pipeline(fraud, []).model_copy(update={"name": "fraud-copy"})
    observe_run(fraud.state, other, _as_run(fraud, 30, 0.25))
    text = _cli(fraud, "metrics").stdout
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for engine in _engine(fraud):
        (newest,) = recent_run_metrics(engine, fraud.state.catalog_url, pipeline="fraud")
    for name, value in newest.values.items():
        family = families[f"vaultline_run_{name}"]
        assert family.type == "gauge"
        by_pipeline = {sample.labels["pipeline"]: sample.value for sample in family.samples}
        assert by_pipeline["fraud"] == pytest.approx(value)  # the newest run of each pipeline
    assert {s.labels["pipeline"]: s.value for s in families["vaultline_run_anomaly_rate"].samples}[
        "fraud-copy"
    ] == 0.25
    assert families["vaultline_run_quarantine_rate"].documentation == "Quarantined rows / input rows."
    runs = {
        s.labels["status"]: s.value
        for s in families["vaultline_runs"].samples
        if s.name == "vaultline_runs_total"
    }
    assert families["vaultline_runs"].type == "counter"
    assert runs["succeeded"] >= 1 and runs.get("failed", 0) >= 0
    assert _leaks(fraud, text) == 0


def test_emf_and_json_formats(fraud: FraudRun) -> None:
    for index in range(3):
        observe_run(fraud.state, _pipeline(fraud, []), _as_run(fraud, 10 + index, 0.01))
    lines = _cli(
        fraud, "metrics", "--format", "emf", "--last", "3", "--pipeline", "fraud"
    ).stdout.splitlines()
    documents = [json.loads(line) for line in lines]
    assert len(documents) == 3
    assert [d["run_id"] for d in documents] == [f"{fraud.report['run_id']}-h{i}" for i in (12, 11, 10)]
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Vaultline" and directive["Dimensions"] == [["pipeline"]]
        units = {m["Name"]: m["Unit"] for m in directive["Metrics"]}
        assert units["duration_seconds"] == "Seconds" and units["bytes_output"] == "Bytes"
        assert units["rows_input"] == "Count" and units["anomaly_rate"] == "None"
        assert all(isinstance(document[name], float) for name in units)  # every declared metric is present
        assert document["pipeline"] == "fraud" and document["anomaly_rate"] == 0.01
        assert abs(document["_aws"]["Timestamp"] / 1000 - datetime.now(UTC).timestamp()) < 600
    records = json.loads(
        _cli(fraud, "metrics", "--format", "json", "--last", "2", "--pipeline", "fraud").stdout
    )
    assert [r["run_id"] for r in records] == [d["run_id"] for d in documents[:2]]


def test_alarms_cli_list_test_and_secret(
    fraud: FraudRun, failed_report: dict[str, Any], receiver: Receiver, tmp_path: Path
) -> None:
    observe_run(fraud.state, _pipeline(fraud, [{"kind": "job_failure", "name": "failed"}]), failed_report)
    listed = json.loads(_cli(fraud, "alarms", "list", "--json").stdout)
    assert listed and {"rule", "deliveries", "message"} <= set(listed[0])
    table = _cli(fraud, "alarms", "list", "--rule", "failed").stdout
    assert "failed" in table and "job_failure" in table
    spec = tmp_path / "pipeline.yaml"
    text = fraud.loaded.file and Path(fraud.loaded.file).read_text("utf-8")
    rules: list[dict[str, Any]] = [
        {
            "kind": "job_failure",
            "name": "failed",
            "notify": [{"kind": "webhook", "url": receiver.url, "signing_key": "alarm_hook"}],
        }
    ]
    spec.write_text(text.rsplit("\nalarms:", 1)[0] + f"\nalarms: {json.dumps(rules)}\n", "utf-8")
    tested = _cli(fraud, "alarms", "test", str(spec), "--rule", "failed")
    assert "delivered (1 attempt(s))" in tested.stdout
    from vaultline.audit.reading import iter_entries

    actions = [e.action for e in iter_entries(fraud.state.root / "audit" / "segments")]
    assert actions[-3:] == ["alarms.test", "key.derive", "alarms.test"]  # intent, the signing key, outcome
    assert json.loads(receiver.requests[0].body)["message"].startswith("test alarm for rule failed")
    secret = tmp_path / "hook.key"
    _cli(fraud, "alarms", "secret", str(spec), "--rule", "failed", "--target", "1", "--out", str(secret))
    key = bytes.fromhex(secret.read_text().strip())
    body = receiver.requests[0].body
    assert (
        receiver.requests[0].headers[SIGNATURE_HEADER]
        == "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    )
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    again = CliRunner().invoke(
        app, ["alarms", "secret", str(spec), "--rule", "failed", "--target", "1", "--out", str(secret),
              "--state", str(fraud.state.root)],
    )  # fmt: skip
    assert again.exit_code == 1 and "already exists" in again.stderr
    missing = CliRunner().invoke(
        app, ["alarms", "test", str(spec), "--rule", "nope", "--state", str(fraud.state.root)]
    )
    assert missing.exit_code == 1 and "rules in this spec: failed" in missing.stderr


def test_check_access_fires_once_per_principal_per_window(
    fraud: FraudRun, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The audit log stamps entries with the time they are written, so two weeks of history cannot be
    # written into it here: these (principal hash, time) pairs go through the adapter's seam instead
    # (the next test reads the real log).
    now = datetime.now(UTC)
    reads = [("h-analyst", now - timedelta(days=d, minutes=5)) for d in range(1, 15) for _ in range(2)]
    reads += [("h-analyst", now - timedelta(minutes=m + 1)) for m in range(30)]
    # a steady reader: 15 a day for two weeks and today; and a new one, under the minimum count
    reads += [("h-batch", now - timedelta(hours=h + 1)) for h in range(0, 15 * 24, 22)]
    reads += [("h-new", now - timedelta(minutes=m + 1)) for m in range(9)]
    asked: list[datetime] = []

    def audited_reads(_state: Any, since: datetime) -> Iterator[tuple[str, datetime]]:
        asked.append(since)
        return iter([(p, t) for p, t in reads if t >= since])

    monkeypatch.setattr(access, "dataset_reads", audited_reads)
    rules = RULES.validate_python([
        {"kind": "unusual_access", "name": "reads", "severity": "critical", "factor": 3, "min_reads": 10,
         "notify": [{"kind": "webhook", "url": receiver.url}]},
        {"kind": "job_failure", "name": "failed"},
    ])  # fmt: skip
    (event,) = check_access(fraud.state, rules, pipeline="fraud")
    assert asked == [pytest.approx(now - timedelta(days=15), abs=timedelta(seconds=5))]
    assert (event.subject, event.pipeline, event.run_id) == ("h-analyst", "fraud", None)
    assert event.message == (
        "principal h-analyst read datasets 30 times in the last 1d, above 3 x its norm of 2.0 for that "
        "period (alarms from 10 reads)"
    )
    assert json.loads(receiver.requests[0].body)["subject"] == "h-analyst"
    assert check_access(fraud.state, rules, pipeline="fraud") == []  # already alarmed in this window
    assert check_access(fraud.state, rules[1:], pipeline="fraud") == []
    # rule names are unique within a pipeline only: another pipeline's "reads" is another rule
    (other,) = check_access(fraud.state, rules, pipeline="claims")
    assert (other.rule, other.pipeline, other.subject) == ("reads", "claims", "h-analyst")


def test_check_access_counts_each_read_of_the_real_audit_log_once(
    fraud: FraudRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultline.audit import AuditLog

    monkeypatch.setenv("VAULTLINE_PRINCIPAL", "analyst@example.com")
    with AuditLog.open(fraud.state) as log:
        for _ in range(12):  # each read: an intent entry, then its outcome, under one operation id
            with log.operation("dataset.read", resource="features@1"):
                pass
        hashed = log.hash_identifier("principal", "analyst@example.com")
    rules = RULES.validate_python(
        [{"kind": "unusual_access", "name": "audited-reads", "min_reads": 10, "notify": ["terminal"]}]
    )
    (event,) = check_access(fraud.state, rules, pipeline="fraud")
    assert event.subject == hashed
    assert event.message.startswith(f"principal {hashed} read datasets 12 times in the last 1d")
    assert "analyst" not in json.dumps(event.as_dict())
