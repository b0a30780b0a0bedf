"""Alarm delivery to a local webhook receiver (signature verified), a local SMTP server (STARTTLS and
AUTH), and the terminal; failures are recorded, never raised."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import pytest
from monitor_support import Receiver, closed_port, start_mailbox

from vaultline.catalog.metrics import AlarmEvent
from vaultline.keys.local import LocalKeyring
from vaultline.keys.provider import KeyRef
from vaultline.keys.secret import SecretBytes
from vaultline.monitor import deliver as delivery
from vaultline.monitor.deliver import (
    SIGNATURE_HEADER,
    SMTP_KEY_CONTEXT,
    WEBHOOK_KEY_CONTEXT,
    deliver,
    smtp_password,
)
from vaultline.monitor.rules import EmailTarget, TerminalTarget, WebhookTarget

EVENT = AlarmEvent(
    id="a" * 32, rule="fraud-latency", kind="latency", severity="critical",
    message="run 20260101T000000Z-abcdef of pipeline fraud: latency_seconds=7200.0 is above the bound "
    "of 3600s",
    fired_at="2026-01-01T00:00:01.000+00:00", pipeline="fraud", run_id="20260101T000000Z-abcdef",
)  # fmt: skip


def _keys(keyring: LocalKeyring) -> Any:
    def derive(ref: str, context: str) -> SecretBytes:
        return keyring.derive(KeyRef.parse(ref), context=context)[0]

    return derive


def _webhook(url: str, **extra: Any) -> WebhookTarget:
    return WebhookTarget.model_validate({"kind": "webhook", "url": url, **extra})


def test_webhook_receives_the_alarm_signed_with_the_derived_key(
    receiver: Receiver, keyring: LocalKeyring
) -> None:
    keyring.create("alarm_hook")
    outcomes = deliver(EVENT, [_webhook(receiver.url, signing_key="alarm_hook")], _keys(keyring))
    port = receiver.url.split(":")[2].split("/")[0]
    assert [o.__dict__ for o in outcomes] == [
        {"target": f"webhook:127.0.0.1:{port}", "outcome": "delivered", "attempts": 1, "error": None}
    ]
    (got,) = receiver.requests
    assert got.path == "/hooks/vaultline?token=t0ken"
    assert got.headers["Content-Type"] == "application/json"
    # The receiver holds the same derived key and checks the HMAC of the exact body.
    key = keyring.derive(KeyRef.parse("alarm_hook"), context=WEBHOOK_KEY_CONTEXT)[0].reveal()
    expected = "sha256=" + hmac.new(key, got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers[SIGNATURE_HEADER], expected)
    other = keyring.derive(KeyRef.parse("alarm_hook"), context="tokenize/other")[0].reveal()
    assert got.headers[SIGNATURE_HEADER] != "sha256=" + hmac.new(other, got.body, hashlib.sha256).hexdigest()
    payload = json.loads(got.body)
    assert payload["rule"] == "fraud-latency" and payload["severity"] == "critical"
    assert payload["run_id"] == EVENT.run_id and payload["message"] == EVENT.message
    assert "deliveries" not in payload
    assert "t0ken" not in json.dumps([o.__dict__ for o in outcomes])  # the URL's token is never recorded


def test_webhook_without_secret_is_not_signed(receiver: Receiver, keyring: LocalKeyring) -> None:
    deliver(EVENT, [_webhook(receiver.url)], _keys(keyring))
    assert SIGNATURE_HEADER not in receiver.requests[0].headers


def test_webhook_is_retried_on_5xx_then_delivered(receiver: Receiver, keyring: LocalKeyring) -> None:
    receiver.statuses.extend([503, 500])
    (outcome,) = deliver(EVENT, [_webhook(receiver.url)], _keys(keyring), backoff_seconds=0.01)
    assert (outcome.outcome, outcome.attempts) == ("delivered", 3)
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1  # the same signed body each time


def test_failing_webhook_is_recorded_after_three_retries_without_raising(
    receiver: Receiver, keyring: LocalKeyring
) -> None:
    receiver.statuses.extend([500] * 10)
    started = time.perf_counter()
    (outcome,) = deliver(EVENT, [_webhook(receiver.url)], _keys(keyring), backoff_seconds=0.05)
    elapsed = time.perf_counter() - started
    assert (outcome.outcome, outcome.attempts, outcome.error) == ("failed", 4, "HTTP 500")
    assert len(receiver.requests) == 4
    assert elapsed >= 0.05 + 0.1 + 0.2  # exponential backoff between the attempts


def test_client_error_is_final(receiver: Receiver, keyring: LocalKeyring) -> None:
    receiver.statuses.append(404)
    (outcome,) = deliver(EVENT, [_webhook(receiver.url)], _keys(keyring), backoff_seconds=0.01)
    assert (outcome.outcome, outcome.attempts, outcome.error) == ("failed", 1, "HTTP 404")


def test_unreachable_webhook_and_missing_key_fail_without_raising(keyring: LocalKeyring) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hook"
    refused, missing_key, terminal = deliver(
        EVENT, [_webhook(url), _webhook(url, signing_key="no_such_key"), TerminalTarget()], _keys(keyring),
        backoff_seconds=0.01,
    )  # fmt: skip
    assert (refused.outcome, refused.attempts, refused.error) == ("failed", 4, "ConnectionRefusedError")
    assert (missing_key.outcome, missing_key.error) == ("failed", "KeyringError")
    assert terminal.outcome == "delivered"  # one target's failure does not stop the others


def test_terminal_prints_the_alarm_on_stderr(
    keyring: LocalKeyring, capsys: pytest.CaptureFixture[str]
) -> None:
    (outcome,) = deliver(EVENT, [TerminalTarget()], _keys(keyring))
    captured = capsys.readouterr()
    assert outcome.outcome == "delivered" and captured.out == ""
    assert captured.err == f"vaultline alarm [critical] fraud-latency (latency): {EVENT.message}\n"


def test_email_goes_through_starttls_and_login_with_the_derived_password(
    tmp_path: Path, keyring: LocalKeyring
) -> None:
    keyring.create("smtp_key")
    password = smtp_password(keyring.derive(KeyRef.parse("smtp_key"), context=SMTP_KEY_CONTEXT)[0])
    box, controller = start_mailbox(tmp_path, "vaultline", password)
    try:
        target = EmailTarget.model_validate({
            "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": box.port, "from": "vaultline@example.com",
            "to": ["oncall@example.com", "data-team@example.com"], "starttls": True, "ca_file": box.ca_file,
            "username": "vaultline", "login_key": "smtp_key",
        })  # fmt: skip
        (outcome,) = deliver(EVENT, [target], _keys(keyring))
    finally:
        controller.stop()
    assert (outcome.target, outcome.outcome) == (f"email:127.0.0.1:{box.port}", "delivered")
    assert box.logins  # the server accepted the derived password, over TLS only (auth_require_tls)
    (sender, recipients, raw) = box.messages[0]
    assert sender == "vaultline@example.com"
    assert recipients == ["oncall@example.com", "data-team@example.com"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "[Vaultline critical] fraud-latency on pipeline fraud"
    assert message["X-Vaultline-Rule"] == "fraud-latency" and message["X-Vaultline-Alarm"] == EVENT.id
    body = message.get_body().get_content()  # type: ignore[union-attr]
    assert EVENT.message in body and f"run_id: {EVENT.run_id}" in body
    assert password not in raw.decode()


def test_email_with_a_wrong_password_fails_without_raising(tmp_path: Path, keyring: LocalKeyring) -> None:
    keyring.create("smtp_key")
    box, controller = start_mailbox(tmp_path, "vaultline", "not-the-derived-password")
    try:
        target = EmailTarget.model_validate({
            "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": box.port, "from": "vaultline@example.com",
            "to": ["oncall@example.com"], "starttls": True, "ca_file": box.ca_file, "username": "vaultline",
            "login_key": "smtp_key", "timeout_seconds": 2,
        })  # fmt: skip
        (outcome,) = deliver(EVENT, [target], _keys(keyring))
    finally:
        controller.stop()
    # After the 535 for PLAIN, smtplib tries LOGIN, which this server leaves waiting until the timeout.
    assert outcome.outcome == "failed"
    assert outcome.error in {"SMTPAuthenticationError", "SMTPServerDisconnected"}
    assert not box.messages


def test_email_refuses_a_certificate_it_cannot_verify(tmp_path: Path, keyring: LocalKeyring) -> None:
    box, controller = start_mailbox(tmp_path, "u", "p")
    try:
        target = EmailTarget.model_validate({
            "kind": "email", "smtp_host": "127.0.0.1", "smtp_port": box.port, "from": "vaultline@example.com",
            "to": ["oncall@example.com"], "starttls": True,
        })  # fmt: skip
        (outcome,) = deliver(EVENT, [target], _keys(keyring))
    finally:
        controller.stop()
    assert (outcome.outcome, outcome.error) == ("failed", "SSLCertVerificationError")


def test_redirects_are_not_followed(keyring: LocalKeyring, receiver: Receiver) -> None:
    receiver.statuses.append(307)
    (outcome,) = deliver(EVENT, [_webhook(receiver.url)], _keys(keyring), backoff_seconds=0.01)
    assert (outcome.outcome, outcome.error) == ("failed", "HTTP 307")
    assert delivery.WEBHOOK_RETRIES == 3
