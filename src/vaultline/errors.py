"""One exception root. Every message says what was wrong, where, and how to fix it.

`retryable` marks failures worth retrying unchanged (a network blip); terminal ones need a change
by the user (a bad spec, a missing key). Messages never carry data values, only names and counts.
"""

from __future__ import annotations


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


class RetryableError(VaultlineError):
    """A transient failure (network, lock contention); the same call may succeed later."""

    retryable = True
    exit_code = 75  # EX_TEMPFAIL (sysexits.h): a scheduler may rerun the same command unchanged


class SpecError(TerminalError):
    """The pipeline spec is invalid. `issues` lists every problem found, each with its location."""

    exit_code = 2

    def __init__(self, issues: list[SpecIssue], *, file: str) -> None:
        self.issues = issues
        self.file = file
        lines = [f"{file}: {len(issues)} problem(s) in the spec"]
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
    """The catalog database is unreachable or inconsistent."""


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


TRANSIENT_AWS_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "ThrottlingException"}
)
# Connection-level failures by class name, so botocore and aiohttp stay lazy imports: the builtin
# ConnectionError and TimeoutError, botocore's ConnectionError and HTTPClientError, aiohttp's
# ClientConnectionError and ServerTimeoutError.
_TRANSIENT_CLASSES = frozenset(
    {"ConnectionError", "TimeoutError", "HTTPClientError", "ClientConnectionError", "ServerTimeoutError"}
)


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` (or its cause) is a failure to reach a service, or the service asking to slow
    down, rather than a refusal: the same request may succeed later."""
    for error in (exc, exc.__cause__):
        if error is None:
            continue
        if aws_error_code(error) in TRANSIENT_AWS_CODES:
            return True
        if any(cls.__name__ in _TRANSIENT_CLASSES for cls in type(error).__mro__):
            return True
    return False


# What a PostgreSQL server says, at connection time, when it cannot take a connection now (libpq
# reports connection failures without a SQLSTATE, so the server's answer is all there is).
_POSTGRES_BUSY = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "too many clients",
    "remaining connection slots",
)


def postgres_unreachable(exc: BaseException) -> bool:
    """Whether a PostgreSQL error (psycopg's, or SQLAlchemy's around it) means the server could not
    be reached or cannot take a connection now, rather than that it refused this one (an unknown
    role or database, a failed authentication), which a retry will not change."""
    orig = getattr(exc, "orig", None) or exc
    state = str(getattr(orig, "sqlstate", "") or "")
    if state:
        return state.startswith(("08", "57P0")) or state == "53300"
    if type(orig).__name__ != "OperationalError":
        return is_transient(orig)
    text = str(orig)
    # no FATAL: no server answered (refused, timed out, host not found)
    return "FATAL:" not in text or any(phrase in text for phrase in _POSTGRES_BUSY)
