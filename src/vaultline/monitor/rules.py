"""Alarm rules in the spec (`alarms:`): what fires, how loud, and where it is delivered.

A rule is a mapping whose `kind` picks its model; `notify` lists delivery targets, each a mapping whose
`kind` picks its model (`terminal` may be written alone). Secrets are keyring key references: the webhook
signing key and the SMTP password are derived from them, never written in the spec.

Imported by `spec/models.py`: pydantic only, nothing heavy.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, HttpUrl, model_validator

from vaultline.durations import duration_seconds
from vaultline.input_model import InputModel

RuleName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,127}$")]
KeyReference = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}(@[1-9][0-9]*)?$")]
# Deliberately loose: internal relays deliver to addresses such as `oncall@localhost`.
Address = Annotated[str, Field(pattern=r"^[^@\s<>,]+@[^@\s<>,]+$")]
Severity = Literal["info", "warning", "critical"]


def _parse_duration(value: Any) -> Any:
    """'90m', '24h', '7d' as a timedelta; anything else is left to pydantic (seconds, ISO 8601)."""
    if isinstance(value, str) and (seconds := duration_seconds(value)) is not None:
        return timedelta(seconds=seconds)
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]


class _Model(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class TerminalTarget(_Model):
    """Write the alarm to the terminal (standard error) of the process that fired it."""

    kind: Literal["terminal"] = "terminal"


class WebhookTarget(_Model):
    """POST the alarm as JSON; 2xx is delivered, 408/429/5xx and network errors are retried 3 times."""

    kind: Literal["webhook"]
    url: HttpUrl
    """Receiver URL. Only its host and port appear in delivery records (the path may hold a token)."""
    signing_key: KeyReference | None = None
    """Keyring key to sign with: header `X-Vaultline-Signature: sha256=<HMAC-SHA256 of the body>` under
    the key derived for context `alarms/webhook` (`vaultline alarms secret` writes it for the receiver)."""
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)


class EmailTarget(_Model):
    """Send the alarm by SMTP."""

    kind: Literal["email"]
    smtp_host: Annotated[str, Field(min_length=1, max_length=253)]
    smtp_port: int = Field(default=25, ge=1, le=65535)
    sender: Address = Field(alias="from")
    """The From address."""
    to: list[Address] = Field(min_length=1)
    starttls: bool = False
    """Upgrade the connection with STARTTLS (certificate verified) before anything else is sent."""
    ca_file: str | None = None
    """CA bundle that signed the relay's certificate, for relays with a private CA."""
    username: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    login_key: KeyReference | None = None
    """Keyring key the SMTP password is derived from (context `alarms/smtp`); needs `username` and
    `starttls`. `vaultline alarms secret` writes the derived password for the relay's account."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _login_needs_both(self) -> EmailTarget:
        if (self.username is None) != (self.login_key is None):
            raise ValueError("SMTP login needs both `username` and `login_key` (a keyring key reference)")
        if self.login_key is not None and not self.starttls:
            raise ValueError(
                "SMTP login needs `starttls: true`: the password would cross the network in the clear"
            )
        return self


def _target_shorthand(value: Any) -> Any:
    """`- terminal` is accepted for `- {kind: terminal}`."""
    return {"kind": value} if value == "terminal" else value


Target = Annotated[
    TerminalTarget | WebhookTarget | EmailTarget,
    Field(discriminator="kind"),
    BeforeValidator(_target_shorthand),
]


def _terminal_only() -> list[Target]:
    return [TerminalTarget()]


def _failing_severities() -> list[Literal["fail", "warn", "quarantine"]]:
    return ["fail", "warn"]


class _Rule(_Model):
    name: RuleName
    """Unique among the pipeline's alarms; named in every message and delivery."""
    severity: Severity = "warning"
    notify: list[Target] = Field(default_factory=_terminal_only, min_length=1)
    """Where the alarm goes: `terminal`, `{kind: webhook, ...}`, `{kind: email, ...}`."""


class JobFailureRule(_Rule):
    """Fires when a run ends in any status but `succeeded`."""

    kind: Literal["job_failure"]


class DqBreachRule(_Rule):
    """Fires when a run has a failed data-quality expectation of one of `severities`."""

    kind: Literal["dq_breach"]
    severities: list[Literal["fail", "warn", "quarantine"]] = Field(
        default_factory=_failing_severities, min_length=1
    )


class AnomalySpikeRule(_Rule):
    """Fires when a run's anomaly rate exceeds `factor` x the mean of the last `window` succeeded runs."""

    kind: Literal["anomaly_spike"]
    factor: float = Field(default=3.0, gt=0)
    window: int = Field(default=10, ge=1, le=1000)
    min_runs: int = Field(default=3, ge=1)
    """Succeeded runs the trailing mean needs before the rule can fire."""
    min_rate: float = Field(default=0.0, ge=0, le=1)
    """Rates at or below this never fire (a trailing mean of 0 would otherwise make any flag a spike)."""

    @model_validator(mode="after")
    def _history_fits_window(self) -> AnomalySpikeRule:
        if self.min_runs > self.window:
            raise ValueError(f"min_runs ({self.min_runs}) cannot exceed window ({self.window})")
        return self


class LatencyRule(_Rule):
    """Fires when a run's latency (or duration) exceeds `max_seconds`."""

    kind: Literal["latency"]
    metric: Literal["latency_seconds", "duration_seconds"] = "latency_seconds"
    max_seconds: float = Field(gt=0)


class UnusualAccessRule(_Rule):
    """Fires when one principal read datasets more than `factor` x its trailing norm in the last `window`.

    The norm is the principal's mean reads per day over `baseline` before the window, scaled to the
    window's length; a principal with no history has a norm of 0, so `min_reads` is what guards it."""

    kind: Literal["unusual_access"]
    window: Duration = timedelta(days=1)
    baseline: Duration = timedelta(days=14)
    factor: float = Field(default=3.0, gt=0)
    min_reads: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _positive_periods(self) -> UnusualAccessRule:
        if self.window <= timedelta(0) or self.baseline <= timedelta(0):
            raise ValueError("window and baseline must be positive durations such as 1h or 14d")
        return self


AlarmRule = Annotated[
    JobFailureRule | DqBreachRule | AnomalySpikeRule | LatencyRule | UnusualAccessRule,
    Field(discriminator="kind"),
]
RUN_RULE_KINDS = ("job_failure", "dq_breach", "anomaly_spike", "latency")
"""Rules evaluated when a run finishes; `unusual_access` is evaluated on reads (`check_access`)."""


def _unique_names(rules: list[Any]) -> list[Any]:
    names = [rule.name for rule in rules]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"alarm names must be unique; repeated: {', '.join(duplicated)}")
    return rules


AlarmRules = Annotated[list[AlarmRule], AfterValidator(_unique_names)]
"""The `alarms:` list of a pipeline."""
