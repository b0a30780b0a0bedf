"""Alarm rules in the spec: the discriminated unions, defaults, and what is refused (with the field named)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from vaultline.errors import SpecError
from vaultline.monitor.rules import (
    AlarmRules,
    AnomalySpikeRule,
    DqBreachRule,
    EmailTarget,
    TerminalTarget,
    UnusualAccessRule,
    WebhookTarget,
)
from vaultline.spec.loader import load

RULES: TypeAdapter[list[Any]] = TypeAdapter(AlarmRules)


def test_rules_and_targets_are_picked_by_kind() -> None:
    rules = RULES.validate_python([
        {"kind": "job_failure", "name": "failed", "severity": "critical", "notify": [
            "terminal",
            {"kind": "webhook", "url": "https://hooks.example.com/x", "signing_key": "alarm_hook@2"},
            {"kind": "email", "smtp_host": "mail.example.com", "smtp_port": 587, "from": "vl@example.com",
             "to": ["oncall@localhost"], "starttls": True, "username": "vl", "login_key": "smtp_key"},
        ]},
        {"kind": "dq_breach", "name": "dq"},
        {"kind": "anomaly_spike", "name": "spike", "factor": 2.5, "window": 5, "min_runs": 5},
        {"kind": "latency", "name": "slow", "metric": "duration_seconds", "max_seconds": 600},
        {"kind": "unusual_access", "name": "reads", "window": "6h", "baseline": "30d", "min_reads": 5},
    ])  # fmt: skip
    failed, dq, spike, _slow, reads = rules
    terminal, webhook, mail = failed.notify
    assert isinstance(terminal, TerminalTarget) and isinstance(webhook, WebhookTarget)
    assert isinstance(mail, EmailTarget) and mail.sender == "vl@example.com" and mail.smtp_port == 587
    assert isinstance(dq, DqBreachRule) and dq.severities == ["fail", "warn"] and dq.severity == "warning"
    assert isinstance(dq.notify[0], TerminalTarget)  # the terminal by default
    assert isinstance(spike, AnomalySpikeRule) and spike.min_rate == 0.0
    assert isinstance(reads, UnusualAccessRule)
    assert (reads.window, reads.baseline) == (timedelta(hours=6), timedelta(days=30))


def _mail(**fields: Any) -> dict[str, Any]:
    """A job_failure rule notifying one email target with `fields` added."""
    target = {"kind": "email", "smtp_host": "h", "from": "a@b", "to": ["c@d"], **fields}
    return {"kind": "job_failure", "name": "a", "notify": [target]}


@pytest.mark.parametrize(
    ("rules", "fragment"),
    [
        ([{"kind": "job_failure", "name": "a"}, {"kind": "latency", "name": "a", "max_seconds": 1}],
         "alarm names must be unique; repeated: a"),
        ([{"kind": "job_flailure", "name": "a"}], "does not match any of the expected tags"),
        ([_mail(username="u", login_key="k")], "needs `starttls: true`"),
        ([_mail(login_key="k", starttls=True)], "needs both `username` and `login_key`"),
        ([{"kind": "job_failure", "name": "a", "notify": [{"kind": "webhook", "url": "ftp://x/y"}]}],
         "URL scheme should be 'http' or 'https'"),
        ([{"kind": "job_failure", "name": "a", "notify": [{"kind": "webhook", "url": "https://x/",
                                                          "signing_key": "s3cr3t value!"}]}],
         "String should match pattern"),
        ([{"kind": "job_failure", "name": "a", "notify": []}], "at least 1 item"),
        ([{"kind": "anomaly_spike", "name": "a", "window": 3, "min_runs": 4}], "cannot exceed window"),
        ([{"kind": "unusual_access", "name": "a", "window": "0h"}], "must be positive durations"),
        ([{"kind": "latency", "name": "a"}], "Field required"),
        ([{"kind": "dq_breach", "name": "a", "severities": ["loud"]}], "Input should be 'fail'"),
    ],
)  # fmt: skip
def test_invalid_rules_are_refused(rules: list[dict[str, Any]], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        RULES.validate_python(rules)
    assert fragment in str(caught.value)


def test_the_loader_reports_a_bad_rule_with_its_line(tmp_path: Path) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(
        "version: 1\nname: p\nsources:\n  s: {path: in.csv, format: csv}\noutputs:\n  o: {path: out}\n"
        "alarms:\n  - kind: latency\n    name: slow\n    max_seconds: -5\n",
        "utf-8",
    )
    with pytest.raises(SpecError) as caught:
        load(spec)
    (issue,) = caught.value.issues
    assert issue.field == "alarms.0.max_seconds"  # the field as the spec writes it, without the kind tag
    assert issue.line == 10  # the field's own line


def test_key_references_pass_the_literal_secret_lint_and_literals_do_not(tmp_path: Path) -> None:
    head = "version: 1\nname: p\nsources:\n  s: {path: in.csv, format: csv}\noutputs:\n  o: {path: out}\n"
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(
        head + "alarms:\n  - kind: job_failure\n    name: failed\n    notify:\n"
        "      - {kind: webhook, url: 'https://hooks.example.com/a', signing_key: alarm_hook}\n"
        "      - {kind: email, smtp_host: mail.example.com, from: vl@example.com, to: [oncall@example.com],\n"
        "         starttls: true, username: vl, login_key: smtp_key}\n",
        "utf-8",
    )
    (rule,) = load(spec).pipeline.alarms
    assert [type(t).__name__ for t in rule.notify] == ["WebhookTarget", "EmailTarget"]
    spec.write_text(
        head + "alarms:\n  - kind: job_failure\n    name: failed\n    notify:\n"
        "      - {kind: email, smtp_host: h, from: a@b, to: [c@d], starttls: true, password: hunter22}\n",
        "utf-8",
    )
    with pytest.raises(SpecError) as caught:
        load(spec)
    assert [issue.field for issue in caught.value.issues] == ["alarms.0.notify.0.password"]
    assert "hunter22" not in str(caught.value)
