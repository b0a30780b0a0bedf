"""Deliver a fired alarm to its targets: the terminal, a webhook (signed), email over SMTP.

Delivery never raises: each target's outcome is a `Delivery` (delivered, or failed with the exception
type or HTTP status), so a dead receiver cannot fail the run that fired the alarm. Webhooks are retried
3 times with exponential backoff on network errors, 408, 429 and 5xx; any other 4xx is final. What is
sent is the alarm as stored: names, metric values, a run id, a keyed hash; never a data value. Delivery
records name a webhook by host and port only, since its path or query may carry a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from vaultline import __version__
from vaultline.catalog.metrics import AlarmEvent, Delivery
from vaultline.keys.secret import SecretBytes
from vaultline.monitor.rules import EmailTarget, TerminalTarget, WebhookTarget

SIGNATURE_HEADER = "X-Vaultline-Signature"
WEBHOOK_KEY_CONTEXT = "alarms/webhook"
SMTP_KEY_CONTEXT = "alarms/smtp"
WEBHOOK_RETRIES = 3
BACKOFF_SECONDS = 0.5
_RETRIED_STATUSES = frozenset({408, 429})
log = logging.getLogger("vaultline.monitor")

KeySource = Callable[[str, str], SecretBytes]
"""(key reference, derivation context) -> the derived key."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would resend (or drop) the signed body where the spec never said: it is a failure."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def alarm_payload(event: AlarmEvent) -> dict[str, Any]:
    """The JSON document a webhook receives (and what the email body lists)."""
    document = event.as_dict()
    document.pop("deliveries")
    document["vaultline_version"] = __version__
    return document


def sign(body: bytes, key: SecretBytes) -> str:
    """The `X-Vaultline-Signature` header value: `sha256=` + hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(key.reveal(), body, hashlib.sha256).hexdigest()


def smtp_password(key: SecretBytes) -> str:
    """The SMTP password a keyring key stands for: its derived key as unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(key.reveal()).rstrip(b"=").decode("ascii")


def target_label(target: Any) -> str:
    if isinstance(target, WebhookTarget):
        return f"webhook:{target.url.host}:{target.url.port}"
    if isinstance(target, EmailTarget):
        return f"email:{target.smtp_host}:{target.smtp_port}"
    return "terminal"


def deliver(
    event: AlarmEvent, targets: Sequence[Any], keys: KeySource, *, backoff_seconds: float | None = None
) -> tuple[Delivery, ...]:
    """Send `event` to every target, in order; one target's failure does not stop the others. Webhook
    retries wait `backoff_seconds` (default `BACKOFF_SECONDS`), then twice as long each time."""
    backoff = BACKOFF_SECONDS if backoff_seconds is None else backoff_seconds
    outcomes = []
    for target in targets:
        label = target_label(target)
        try:
            if isinstance(target, WebhookTarget):
                outcome = _webhook(event, target, keys, label, backoff)
            elif isinstance(target, EmailTarget):
                _email(event, target, keys)
                outcome = Delivery(label, "delivered", 1)
            else:
                _terminal(event, target)
                outcome = Delivery(label, "delivered", 1)
        except Exception as exc:  # any failure is recorded, never raised into the run
            outcome = Delivery(label, "failed", 1, type(exc).__name__)
        if outcome.outcome == "failed":
            log.warning("alarm %s not delivered to %s: %s", event.rule, label, outcome.error)
        outcomes.append(outcome)
    return tuple(outcomes)


def _terminal(event: AlarmEvent, _target: TerminalTarget) -> None:
    sys.stderr.write(f"vaultline alarm [{event.severity}] {event.rule} ({event.kind}): {event.message}\n")
    sys.stderr.flush()


def _webhook(
    event: AlarmEvent, target: WebhookTarget, keys: KeySource, label: str, backoff_seconds: float
) -> Delivery:
    body = json.dumps(alarm_payload(event), sort_keys=True, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"vaultline/{__version__}"}
    if target.signing_key is not None:
        headers[SIGNATURE_HEADER] = sign(body, keys(target.signing_key, WEBHOOK_KEY_CONTEXT))
    opener = urllib.request.build_opener(_NoRedirects)
    error = ""
    for attempt in range(1, WEBHOOK_RETRIES + 2):
        if attempt > 1:
            time.sleep(backoff_seconds * 2 ** (attempt - 2))
        # The spec model (HttpUrl) admits only http and https URLs.
        request = urllib.request.Request(str(target.url), data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with opener.open(request, timeout=target.timeout_seconds) as response:
                response.read()
            return Delivery(label, "delivered", attempt)
        except urllib.error.HTTPError as exc:
            error = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code not in _RETRIED_STATUSES:
                return Delivery(label, "failed", attempt, error)
        except OSError as exc:  # URLError is one: refused, reset, DNS, timeout
            error = _network_error(exc)
    return Delivery(label, "failed", WEBHOOK_RETRIES + 1, error)


def _network_error(exc: OSError) -> str:
    """The type of what went wrong, unwrapped from urllib's URLError when it wraps an exception."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return type(reason).__name__ if isinstance(reason, BaseException) else type(exc).__name__


def alarm_email(event: AlarmEvent, target: EmailTarget) -> EmailMessage:
    """The message sent for `event`: headers name the alarm, the body lists the stored fields."""
    message = EmailMessage()
    where = f" on pipeline {event.pipeline}" if event.pipeline else ""
    message["Subject"] = f"[Vaultline {event.severity}] {event.rule}{where}"
    message["From"] = target.sender
    message["To"] = ", ".join(target.to)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=target.sender.rsplit("@", 1)[1])
    message["X-Vaultline-Alarm"] = event.id
    message["X-Vaultline-Rule"] = event.rule
    message["X-Vaultline-Severity"] = event.severity
    fields = alarm_payload(event)
    lines = [
        f"Vaultline alarm {event.rule} ({event.kind}), severity {event.severity}.",
        "",
        event.message,
        "",
    ]
    lines += [f"{name}: {fields[name]}" for name in sorted(fields) if fields[name] is not None]
    message.set_content("\n".join(lines) + "\n")
    return message


def _email(event: AlarmEvent, target: EmailTarget, keys: KeySource) -> None:
    message = alarm_email(event, target)
    password = smtp_password(keys(target.login_key, SMTP_KEY_CONTEXT)) if target.login_key else None
    with smtplib.SMTP(target.smtp_host, target.smtp_port, timeout=target.timeout_seconds) as smtp:
        smtp.ehlo()
        if target.starttls:
            smtp.starttls(context=ssl.create_default_context(cafile=target.ca_file))
            smtp.ehlo()
        if target.username is not None and password is not None:
            smtp.login(target.username, password)
        smtp.send_message(message)
