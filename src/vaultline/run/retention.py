"""Retention: remove run logs, run reports, quarantine files and audit segments past their age bound.

Bounds come from `<state root>/retention.yaml` (`RetentionPolicy`, every field optional) and the command
line; without either: 90 days for logs, reports and quarantine, 365 for audit segments. Age is the time
since a file was last written (mtime; S3: LastModified).

- Run logs and reports: `<state>/runs/<run id>/run.log` and `report.json`; the run's directory goes
  once empty. Only directories named as run ids (`20261201T000000Z-abcdef`) are touched: anything else
  under `runs/` (a backup, another tool's files) is left. The run's row in the catalog stays: it holds
  the same value-free report, so `vaultline runs show` still answers and datasets keep the run they name.
- Quarantine: files named `<run id>.parquet` under `<state>/quarantine/` and under every quarantine
  location a run report names (a pipeline's `quarantine.path`, local or s3://; the directory every run
  records when it starts, so a killed run's file is reached too). Any other file is left.
  Runs record absolute locations; a relative one (recorded by an older version) is never resolved
  against the working directory, which may not be the run's: it is reported as kept, with that reason,
  once its run is past the bound, for an operator to remove by hand.

Every quarantine location is listed before anything is removed. A location that cannot be listed or
read (bucket gone, access denied, no credentials, endpoint out of reach) is reported in `unreadable`
with the reason and whether a rerun may cure it; nothing under it is removed, and the rest is still
applied (a bucket gone for good must not stop logs and reports from being removed). The command then
exits non-zero (75 when every such failure is transient, else 1), so nothing is left half-done silently.
- Audit segments: `AuditLog.prune`, which removes whole closed segments whose checkpoint was exported,
  never one under Object Lock. It runs first: when the audit log cannot be opened nothing is removed.
  The file removals are one audited operation, `retention.apply`: its intent entry is written before
  any file goes, its outcome holds the counts by kind (never a path).

Nothing under S3 Object Lock is touched: an object under a retention date still in the future, or under
a legal hold, is kept; so is one whose lock status cannot be read (a failure to check is not a yes).
Only locations, ages, sizes and counts are reported, never file contents.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from vaultline.errors import TerminalError, aws_error_code, is_transient
from vaultline.input_model import InputModel
from vaultline.state import State
from vaultline.storage import locations

POLICY_FILE = "retention.yaml"
RUN_FILES = {"run_log": "run.log", "report": "report.json"}
RUN_ID = r"\d{8}T\d{6}Z-[0-9a-f]{6}"
"""A run id as `run.runner.new_run_id` makes it: the only directory names under `runs/` retention touches."""
QUARANTINE_FILE = re.compile(rf"{RUN_ID}\.parquet")
"""The name the engine gives a run's quarantine file (`<run id>.parquet`): nothing else is removed."""
RELATIVE_REASON = "relative location recorded by an older run: not resolved here, remove it by hand"
DAY_SECONDS = 86_400
# S3's answer for a bucket without Object Lock.
_NO_LOCK_CODES = frozenset({"ObjectLockConfigurationNotFoundError"})
Kind = Literal["run_log", "report", "quarantine"]
KINDS: tuple[Kind, ...] = ("run_log", "report", "quarantine")
log = logging.getLogger("vaultline.retention")


class RetentionPolicy(InputModel):
    """Age bounds in days (`retention.yaml` in the state directory)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
    run_logs_days: int = Field(default=90, ge=1)
    """`run.log` of each run."""
    reports_days: int = Field(default=90, ge=1)
    """`report.json` of each run (the catalog keeps the run's row and its report)."""
    quarantine_days: int = Field(default=90, ge=1)
    """Encrypted quarantine files."""
    audit_segments_days: int = Field(default=365, ge=1)
    """Closed audit segments whose checkpoint was exported."""


@dataclass(frozen=True)
class RetentionItem:
    """A file past its bound: removed (or, in a dry run, to be removed), or kept and why."""

    kind: Kind
    location: str
    age_days: float
    bytes: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class UnreadableLocation:
    """A quarantine location (or object) that could not be listed or read: nothing under it was removed."""

    location: str
    reason: str
    retryable: bool
    """Whether the failure is transient (a store out of reach, throttling): a rerun unchanged may cure it."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RetentionResult:
    policy: RetentionPolicy
    dry_run: bool
    removed: list[RetentionItem] = field(default_factory=list)
    kept: list[RetentionItem] = field(default_factory=list)
    """Past the bound but kept: under Object Lock, lock status unreadable, removal refused, or a relative
    location recorded by an older run."""
    unreadable: list[UnreadableLocation] = field(default_factory=list)
    """Quarantine locations that could not be listed or read: not checked, nothing under them removed."""
    younger: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    """Files seen within their bound, by kind."""
    audit: dict[str, Any] = field(default_factory=dict)
    """`AuditLog.prune`'s `PruneResult.as_dict()`: segments, entries, where it stopped and why."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.model_dump(),
            "dry_run": self.dry_run,
            "removed": [item.as_dict() for item in self.removed],
            "kept": [item.as_dict() for item in self.kept],
            "unreadable": [item.as_dict() for item in self.unreadable],
            "younger": dict(self.younger),
            "audit": self.audit,
        }


def load_policy(state: State, overrides: Mapping[str, int | None] | None = None) -> RetentionPolicy:
    """The policy from `<state>/retention.yaml` (when present), with `overrides` (field → days) on top."""
    from vaultline.spec.yaml_tree import read_model

    path = state.root / POLICY_FILE
    if path.is_file():
        base = read_model(path, RetentionPolicy, what="the retention policy")
    else:
        base = RetentionPolicy()
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        return RetentionPolicy.model_validate({**base.model_dump(), **given})
    except ValidationError as exc:
        fields = ", ".join(str(error["loc"][0]) for error in exc.errors())
        raise TerminalError(
            f"invalid retention bound(s): {fields}",
            hint=f"bounds are whole days >= 1; fields: {', '.join(RetentionPolicy.model_fields)}",
        ) from None


def apply_retention(
    state: State, policy: RetentionPolicy, *, dry_run: bool = False, now: datetime | None = None
) -> RetentionResult:
    """Remove (or, with `dry_run`, list) everything older than its bound; see the module docstring."""
    from vaultline.audit import AuditLog

    moment = now or datetime.now(UTC)
    result = RetentionResult(policy=policy, dry_run=dry_run)
    with AuditLog.open(state) as audit:
        # Listed before anything goes, audit segments included: a location out of reach is known (and
        # reported) before the first removal, never found half-way through.
        quarantine = _quarantine_files(result, state, moment)
        pruned = audit.prune(moment - timedelta(days=policy.audit_segments_days), dry_run=dry_run)
        result.audit = pruned.as_dict()
        # The intent is recorded before any file goes; the outcome carries the counts (never paths).
        with audit.operation("retention.apply", details={"dry_run": dry_run, **policy.model_dump()}) as op:
            _remove_files(result, state, moment, quarantine)
            op.details.update(
                {f"removed_{kind}": sum(i.kind == kind for i in result.removed) for kind in KINDS}
                | {"kept_past_bound": len(result.kept), "unreadable_locations": len(result.unreadable)}
            )
    log.info(
        "retention%s: %d file(s) removed, %d kept past their bound, %d location(s) unreadable",
        " (dry run)" if dry_run else "", len(result.removed), len(result.kept), len(result.unreadable),
    )  # fmt: skip
    return result


def _remove_files(result: RetentionResult, state: State, moment: datetime, quarantine: _Quarantine) -> None:
    policy = result.policy
    bounds = {"run_log": policy.run_logs_days, "report": policy.reports_days}
    for kind, path in _run_files(state):
        _local(result, kind, path, bounds[kind], moment)
    for location in quarantine.files:
        if quarantine.s3 is not None and locations.is_remote(location):
            quarantine.s3.apply(result, location, policy.quarantine_days, moment)
        else:
            _local(result, "quarantine", Path(location), policy.quarantine_days, moment)
    if not result.dry_run:
        _drop_empty_run_dirs(state)


def _run_dirs(state: State) -> Iterator[Path]:
    """The directories under `runs/` named as run ids (not links): anything else there is not ours."""
    if not state.runs_dir.is_dir():
        return
    for run_dir in sorted(state.runs_dir.iterdir()):
        if re.fullmatch(RUN_ID, run_dir.name) and run_dir.is_dir() and not run_dir.is_symlink():
            yield run_dir


def _run_files(state: State) -> Iterator[tuple[Kind, Path]]:
    for run_dir in _run_dirs(state):
        for kind, name in RUN_FILES.items():
            if (run_dir / name).is_file():
                yield kind, run_dir / name  # type: ignore[misc]


def _drop_empty_run_dirs(state: State) -> None:
    for run_dir in _run_dirs(state):
        if not any(run_dir.iterdir()):
            run_dir.rmdir()


def _age_days(modified: datetime, moment: datetime) -> float:
    return round((moment - modified).total_seconds() / DAY_SECONDS, 2)


def _local(result: RetentionResult, kind: Kind, path: Path, days: int, moment: datetime) -> None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return
    age = _age_days(datetime.fromtimestamp(stat.st_mtime, UTC), moment)
    if age < days:
        result.younger[kind] += 1
        return
    item = RetentionItem(kind, str(path), age, stat.st_size, f"older than {days} days")
    if not result.dry_run:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            reason = f"removal refused ({type(exc).__name__})"
            result.kept.append(RetentionItem(kind, str(path), age, stat.st_size, reason))
            return
    result.removed.append(item)


# ---- quarantine ---------------------------------------------------------------------------------


@dataclass
class _Quarantine:
    """Every quarantine file found, listed before anything is removed, and the S3 client that listed them."""

    files: list[str]
    s3: _S3Objects | None


def _quarantine_roots(result: RetentionResult, state: State, moment: datetime) -> list[str]:
    """The state's quarantine directory and the directory of every quarantine file a run report names.

    A relative location (older runs recorded `quarantine.path` as written) is relative to the directory
    that run was started from, which nothing recorded: resolving it here would remove another
    directory's files. It is reported as kept instead, once its run is past the bound."""
    import sqlalchemy as sa

    from vaultline.catalog.runs import RunCatalog, runs
    from vaultline.catalog.schema import reading

    roots = {str(state.quarantine_dir)}
    # Reports are JSON: only those that name a quarantine location or directory are parsed. The
    # directory, recorded when a run starts, is the only trace of a killed run's quarantine file.
    query = sa.select(runs.c.report, runs.c.finished_at, runs.c.started_at).where(
        sa.or_(runs.c.report.like('%"quarantine": "%'), runs.c.report.like('%"quarantine_root": "%'))
    )
    with (
        RunCatalog(state.catalog_url) as catalog,
        reading(catalog.engine, catalog.url, "listing quarantine locations") as conn,
    ):
        for report, finished_at, started_at in conn.execute(query):
            loaded = json.loads(report)
            root = loaded.get("quarantine_root")
            if isinstance(root, str) and (locations.is_remote(root) or os.path.isabs(root)):
                roots.add(root)  # recorded absolute (s3:// verbatim) by `RunCatalog.start`
            location = loaded.get("quarantine")
            if not isinstance(location, str) or not QUARANTINE_FILE.fullmatch(location.rsplit("/", 1)[-1]):
                continue
            if not locations.is_remote(location):
                location = location.removeprefix("file://")
                if not os.path.isabs(location):
                    _keep_relative(result, location, finished_at or started_at, moment)
                    continue
            roots.add(location.rsplit("/", 1)[0])
    return sorted(roots)


def _keep_relative(result: RetentionResult, location: str, recorded: str, moment: datetime) -> None:
    """A relative location past its bound (aged from its run's end: the file itself is not looked at)."""
    finished = datetime.fromisoformat(recorded)
    age = _age_days(finished if finished.tzinfo else finished.replace(tzinfo=UTC), moment)
    if age >= result.policy.quarantine_days:
        result.kept.append(RetentionItem("quarantine", location, age, 0, RELATIVE_REASON))


def _quarantine_files(result: RetentionResult, state: State, moment: datetime) -> _Quarantine:
    found: set[str] = set()
    s3: _S3Objects | None = None
    for root in _quarantine_roots(result, state, moment):
        if locations.is_remote(root):
            s3 = s3 or _S3Objects()
            found.update(s3.listing(result, root))
        elif os.path.isdir(root):
            found.update(
                str(path) for path in Path(root).rglob("*.parquet") if QUARANTINE_FILE.fullmatch(path.name)
            )
    return _Quarantine(sorted(found), s3)


def _split_s3(location: str) -> tuple[str, str]:
    bucket, _, key = location[len("s3://") :].partition("/")
    return bucket, key


def _s3_client() -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=locations.s3_endpoint())


def _unreadable(result: RetentionResult, location: str, exc: Exception, doing: str) -> None:
    """Record a location S3 would not answer for (by the error's code or type: its text is not shown)."""
    code = aws_error_code(exc) or type(exc).__name__
    reason = f"{doing} ({code}): nothing there was removed"
    result.unreadable.append(UnreadableLocation(location, reason, retryable=is_transient(exc)))
    log.warning("retention: %s %s", location, reason)


# HeadObject's answers for an object that is not there (any more).
_GONE_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


class _S3Objects:
    """Listing, age, lock status and removal of quarantine objects, with one client and one lock lookup
    per bucket. A failure to reach S3 or a refusal is recorded (`unreadable`, or `kept` with the reason),
    never raised half-way through the removals."""

    def __init__(self) -> None:
        self.client = _s3_client()
        self.lock_enabled: dict[str, bool | str] = {}

    def listing(self, result: RetentionResult, root: str) -> list[str]:
        """The quarantine files under `root`; none (recorded as unreadable) when it cannot be listed."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, prefix = _split_s3(root.rstrip("/") + "/")
        found = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if QUARANTINE_FILE.fullmatch(item["Key"].rsplit("/", 1)[-1]):
                        found.append(f"s3://{bucket}/{item['Key']}")
        except (ClientError, BotoCoreError) as exc:  # NoCredentialsError, endpoint down: BotoCoreErrors
            _unreadable(result, root, exc, "could not be listed")
            return []
        return found

    def bucket_lock(self, bucket: str) -> bool | str:
        """Whether the bucket has Object Lock enabled, or why that is unknown."""
        from botocore.exceptions import BotoCoreError, ClientError

        if bucket not in self.lock_enabled:
            try:
                config = self.client.get_object_lock_configuration(Bucket=bucket)
                enabled = config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
                self.lock_enabled[bucket] = enabled
            except (ClientError, BotoCoreError) as exc:
                code = aws_error_code(exc) or type(exc).__name__
                self.lock_enabled[bucket] = False if code in _NO_LOCK_CODES else code
        return self.lock_enabled[bucket]

    def lock(self, bucket: str, head: Mapping[str, Any], moment: datetime) -> str | None:
        """Why the object must be kept (retention date ahead, legal hold, status unknown), or None.

        HeadObject carries the object's retention and legal hold (the headers GetObjectRetention and
        GetObjectLegalHold return); if a caller may not read them, S3 still refuses the delete."""
        enabled = self.bucket_lock(bucket)
        if enabled is False:
            return None
        if enabled is not True:
            return f"Object Lock status of the bucket unreadable ({enabled})"
        until = head.get("ObjectLockRetainUntilDate")
        if until is not None and until > moment:
            mode = str(head.get("ObjectLockMode", "unknown")).lower()
            return f"under Object Lock ({mode} mode until {until.astimezone(UTC):%Y-%m-%d})"
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            return "under an Object Lock legal hold"
        return None

    def head(self, result: RetentionResult, location: str) -> Mapping[str, Any] | None:
        """The object's HeadObject answer; None when it is gone since the listing or cannot be read."""
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = _split_s3(location)
        try:
            head: Mapping[str, Any] = self.client.head_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            if aws_error_code(exc) not in _GONE_CODES:
                _unreadable(result, location, exc, "could not be read")
            return None
        return head

    def apply(self, result: RetentionResult, location: str, days: int, moment: datetime) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        head = self.head(result, location)
        if head is None:
            return
        bucket, key = _split_s3(location)
        size = int(head.get("ContentLength", 0))
        age = _age_days(head["LastModified"], moment)
        if age < days:
            result.younger["quarantine"] += 1
            return
        version = head.get("VersionId")
        locked = self.lock(bucket, head, moment)
        if locked is not None:
            result.kept.append(RetentionItem("quarantine", location, age, size, locked))
            return
        if not result.dry_run:
            try:
                # That version: a plain delete in a versioned bucket would only hide it behind a marker.
                self.client.delete_object(
                    Bucket=bucket, Key=key, **({"VersionId": version} if version else {})
                )
            except (ClientError, BotoCoreError) as exc:
                reason = f"removal refused ({aws_error_code(exc) or type(exc).__name__})"
                result.kept.append(RetentionItem("quarantine", location, age, size, reason))
                return
        result.removed.append(RetentionItem("quarantine", location, age, size, f"older than {days} days"))
