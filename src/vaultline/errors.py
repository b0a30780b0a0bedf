"""One exception root. Every message says what was wrong, where, and how to fix it.

`retryable` marks failures worth retrying unchanged (a network blip); terminal ones need a change
by the user (a bad spec, a missing key). Messages never carry data values, only names and counts.
"""

from __future__ import annotations

import re

# Where a library's message may start quoting data: a value can hold any character (quotes, brackets,
# line breaks), so no pattern can find where it ends; everything from the first such mark is cut.
_QUOTE_MARK = re.compile(r"[\"'`\[(<{\u2018\u201c]")


def without_values(message: str, limit: int = 300) -> str:
    """The first line of a library's error message, up to where it starts quoting anything.

    Polars, pyarrow and PostgreSQL quote the offending values (`invalid value 'x'`, `values: ["x"]`):
    "conversion from `str` to `i64` failed ..." becomes "conversion from <…>"."""
    lines = message.strip().splitlines()
    first = lines[0] if lines else ""
    mark = _QUOTE_MARK.search(first)
    kept = f"{first[: mark.start()].rstrip()} <…>" if mark else first
    return kept[:limit]


class Terminated(BaseException):
    """SIGTERM, raised where the run is (what schedulers and `systemctl stop` send): the run ends as on
    Ctrl-C, failed and retryable, its files removed and its end recorded. A BaseException, like
    KeyboardInterrupt, so no `except Exception` swallows it."""


class VaultlineError(Exception):
    """Root of every error Vaultline raises on purpose."""

    retryable: bool = False
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None, where: str | None = None) -> None:
        self.message = message
        self.hint = hint
        self.where = where
        super().__init__(self.render())

    def render(self) -> str:
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class TerminalError(VaultlineError):
    """Retrying will not help until the input, spec or configuration changes."""


EX_TEMPFAIL = 75
"""sysexits.h's "temporary failure": a scheduler may rerun the same command unchanged."""


class RetryableError(VaultlineError):
    """A transient failure (network, lock contention); the same call may succeed later.

    `retryable=False` keeps the type (so fail-closed handlers still catch it) for a failure of the
    same kind that a rerun will not cure: an audit copy refused or altered, a corrupt segment."""

    retryable = True
    exit_code = EX_TEMPFAIL

    def __init__(
        self, message: str, *, hint: str | None = None, where: str | None = None, retryable: bool = True
    ) -> None:
        super().__init__(message, hint=hint, where=where)
        if not retryable:
            self.final()

    def final(self) -> None:
        """No rerun unchanged for this one: it would not help, or would repeat what already happened."""
        self.retryable = False
        self.exit_code = 1


class SpecError(TerminalError):
    """The pipeline spec (or another YAML file Vaultline reads, named by `what`) is invalid. `issues`
    lists every problem found, each with its location."""

    exit_code = 2

    def __init__(self, issues: list[SpecIssue], *, file: str, what: str = "the spec") -> None:
        self.issues = issues
        self.file = file
        lines = [f"{file}: {len(issues)} problem(s) in {what}"]
        lines += [f"  {issue.render()}" for issue in issues]
        super().__init__("\n".join(lines))

    def render(self) -> str:
        return self.message


class SpecIssue:
    """One problem in a spec: a dotted field path, the 1-based line (when known), what is wrong, a fix."""

    def __init__(self, field: str, message: str, *, line: int | None = None, hint: str | None = None) -> None:
        self.field = field
        self.message = message
        self.line = line
        self.hint = hint

    def render(self) -> str:
        where = f"line {self.line}, " if self.line else ""
        text = f"{where}field '{self.field}': {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text

    def __repr__(self) -> str:
        return f"SpecIssue({self.render()!r})"


class KeyringError(TerminalError):
    """A key is missing, locked or unusable. Never carries key material."""


class KeyUnavailableError(RetryableError):
    """The key provider cannot be reached; operations that need it stop (fail closed)."""


class SourceError(TerminalError):
    """A source cannot be read (missing file, bad credentials, unreadable format)."""


class SourceUnavailableError(RetryableError):
    """A source could not be reached (connection refused, timeout, throttling, a server restarting);
    the same run may succeed later."""


class TransformError(TerminalError):
    """A step cannot run with the data it was given (missing column, wrong type)."""

    step: int | None = None
    """Which step of the spec (0-based), set by the engine; the runner names its line in the file."""


class OutputError(TerminalError):
    """An output cannot be written."""


class OutputUnavailableError(RetryableError):
    """An output's location could not be reached (connection refused, timeout, throttling); the run
    committed nothing, and the same run may succeed later."""


class CatalogError(TerminalError):
    """The catalog database is misconfigured, refuses the connection, or is inconsistent."""


class AuditError(TerminalError):
    """The audit log was asked something it cannot do: a bad action name, an unusable verification input."""


class AuditUnavailableError(RetryableError):
    """The audit log cannot be written (directory, disk, key provider or copy location failed); the
    audited operation stops (fail closed)."""


def aws_error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (`AccessDenied`, `NoSuchKey`, ...); None for any
    other exception, such as a connection failure before a reply. Duck-typed, so botocore stays a lazy
    import of the modules that talk to AWS."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


S3_UNREACHABLE_HINT = (
    "check the S3 endpoint (VAULTLINE_S3_ENDPOINT) and the network, then run again unchanged"
)

TRANSIENT_AWS_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "ThrottlingException"}
)
# KMS's own "not now" answers (throttled, an internal or dependency failure, the key's custom key
# store out of reach): unlike a disabled key or a denied grant, the same request may succeed later.
TRANSIENT_KMS_CODES = TRANSIENT_AWS_CODES | frozenset(
    {
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
        "RequestLimitExceeded",
        "ServiceUnavailableException",
        "InternalFailure",
    }
)
# Connection-level failures by class name, so botocore and aiohttp stay lazy imports: the builtin
# ConnectionError and TimeoutError, botocore's ConnectionError and HTTPClientError, aiohttp's
# ClientConnectionError and ServerTimeoutError. TLS failures among them (botocore's SSLError,
# aiohttp's ClientSSLError and certificate errors) fail the same way on every retry.
_TRANSIENT_CLASSES = frozenset(
    {"ConnectionError", "TimeoutError", "HTTPClientError", "ClientConnectionError", "ServerTimeoutError"}
)
_TLS_WORDS = ("SSL", "Certificate")


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (or its cause) is a failure to reach a service, or the service asking to slow
    down, rather than a refusal: the same request may succeed later."""
    for error in (exc, exc.__cause__):
        if error is None:
            continue
        if aws_error_code(error) in TRANSIENT_AWS_CODES:
            return True
        names = [cls.__name__ for cls in type(error).__mro__]
        if any(word in name for name in names for word in _TLS_WORDS):
            return False
        if any(name in _TRANSIENT_CLASSES for name in names):
            return True
    return False


# libpq reports a failed connection without a SQLSTATE, so its text is all there is: what it says
# when no server answered, and what a server says when it cannot take a connection now. Anything
# else (an unknown role or database, a failed or missing password, TLS required) is a refusal.
_POSTGRES_UNREACHABLE = (
    "Connection refused",
    "timeout expired",
    "timed out",
    "could not translate host name",
    "failed to resolve host",  # psycopg 3 resolves names itself
    "Temporary failure in name resolution",
    "server closed the connection unexpectedly",
    "Network is unreachable",
    "No route to host",
    "Connection reset",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "too many clients",
    "remaining connection slots",
)
# 08000/08001/08003/08006: connection exception, cannot connect, no connection, connection failure;
# 57P01-57P03: the server shutting down (admin, crash) or not accepting connections yet; 53300: full
_POSTGRES_UNREACHABLE_STATES = frozenset(
    {"08000", "08001", "08003", "08006", "57P01", "57P02", "57P03", "53300"}
)


def postgres_unreachable(exc: BaseException) -> bool:
    """Whether a PostgreSQL error (psycopg's, or SQLAlchemy's around it) means the server could not
    be reached or cannot take a connection now, rather than that it refused this one, which a retry
    will not change."""
    orig = getattr(exc, "orig", None) or exc
    state = str(getattr(orig, "sqlstate", "") or "")
    if state:
        return state in _POSTGRES_UNREACHABLE_STATES
    if is_operational(orig):  # psycopg's ConnectionTimeout is one too
        text = str(orig).lower()
        return any(phrase.lower() in text for phrase in _POSTGRES_UNREACHABLE)
    return is_transient(orig)


def is_operational(exc: BaseException) -> bool:
    """A DB-API OperationalError (or a subclass), by name: the driver stays a lazy import."""
    return any(cls.__name__ == "OperationalError" for cls in type(exc).__mro__)
