"""`AuditLog`: the public face of the audit log (record, intent, operation, checkpoint, read, search).

Opening is fail-closed: the directory must be writable and the key provider must answer, else
`AuditUnavailableError`; so is every `record`/`intent`, which returns only after the entry is fsynced.
The log's own key derivations (while opening, or for an older identifier-key version) are recorded as
`key.derive` entries by the log itself, never through the key-use hook.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from vaultline.audit.checkpoints import Checkpoint
from vaultline.audit.entries import (
    AuditEntry,
    Outcome,
    Scalar,
    check_action,
    check_details,
    check_kind,
    check_outcome,
    check_resource,
    check_run_id,
)
from vaultline.audit.folders import open_folder
from vaultline.audit.key_material import AuditKeys, is_own_key_use, keyed_hash, unavailable
from vaultline.audit.reading import iter_entries
from vaultline.audit.segments import SegmentStore
from vaultline.audit.settings import AuditPaths, AuditSettings
from vaultline.audit.writer import ChainWriter, Draft, key_use_draft
from vaultline.errors import AuditError, VaultlineError
from vaultline.keys.hooks import KeyUse
from vaultline.keys.principal import current_caller

_current_run: ContextVar[str | None] = ContextVar("vaultline_audit_run", default=None)

if TYPE_CHECKING:
    from vaultline.audit.export import ExportResult
    from vaultline.audit.prune import PruneResult
    from vaultline.audit.verify import VerifyReport
    from vaultline.keys.provider import KeyProvider
    from vaultline.state import State


@dataclass
class Operation:
    """An audited operation in progress: add value-free `details` to land in its outcome entry."""

    id: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    """The tamper-evident audit log of one state directory."""

    def __init__(self, writer: ChainWriter) -> None:
        self._writer = writer
        self._runs: list[str] = []
        """Runs in progress on this log (`within_run`), for key uses from threads that did not inherit
        the context variable (pyarrow wraps the output's keys from its own)."""

    @classmethod
    def open(
        cls, state: State, *, segment_entries: int | None = None, provider: KeyProvider | None = None
    ) -> AuditLog:
        """Open (creating on first use) the log under `<state>/audit/`; raises AuditUnavailableError when
        it cannot be written or its keys cannot be derived."""
        settings = AuditSettings.from_env(state.root, segment_entries=segment_entries)
        paths = AuditPaths.of_state(state.root)
        store = SegmentStore(paths)
        store.open()
        try:
            if provider is None:
                from vaultline.keys.providers import open_provider

                try:
                    provider = open_provider(state.root)
                except Exception as exc:
                    raise unavailable(exc, "open the key provider") from None
            signed_before = any(paths.public_keys.glob("*.pem"))  # published by an earlier opening
            keys, own_uses = AuditKeys.load(provider, signed_before=signed_before)
            writer = ChainWriter(
                paths=paths,
                settings=settings,
                store=store,
                keys=keys,
                copy=open_folder(settings.copy_location),
                archive=(
                    open_folder(settings.archive_url, retain_days=settings.retain_days)
                    if settings.archive_url
                    else None
                ),
            )
            writer.check_replicas()
            writer.publish_public_key()
            log = cls(writer)
            log._writer.append([key_use_draft(use) for use in own_uses], _principal())
        except BaseException:
            store.close()
            raise
        return log

    def close(self) -> None:
        """Release the lock file; the log cannot be written afterwards."""
        self._writer.store.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def paths(self) -> AuditPaths:
        return self._writer.paths

    @property
    def settings(self) -> AuditSettings:
        return self._writer.settings

    # -- writing -----------------------------------------------------------------------------------
    def record(
        self,
        action: str,
        *,
        outcome: Outcome = "succeeded",
        resource: str | None = None,
        run_id: str | None = None,
        identifiers: Mapping[str, str] | None = None,
        details: Mapping[str, Scalar] | None = None,
        operation: str | None = None,
    ) -> AuditEntry:
        """Append one entry, fsynced before returning. `identifiers` maps a kind (principal, path, key,
        subject) to a raw value, stored only as its keyed hash."""
        draft = Draft(
            action=check_action(action),
            outcome=check_outcome(outcome),
            principal=_principal(),
            resource=check_resource(resource),
            identifiers={
                check_kind(kind): _spelled_one_way(kind, str(value))
                for kind, value in (identifiers or {}).items()
            },
            details=check_details(details),
            run_id=check_run_id(run_id),
            operation=check_run_id(operation),
        )
        return self._writer.append([draft], draft.principal)[0]

    def intent(
        self,
        action: str,
        *,
        resource: str | None = None,
        run_id: str | None = None,
        identifiers: Mapping[str, str] | None = None,
        details: Mapping[str, Scalar] | None = None,
        operation: str | None = None,
    ) -> AuditEntry:
        """Record that `action` is about to happen; the caller proceeds only once this returns."""
        return self.record(
            action,
            outcome="intent",
            resource=resource,
            run_id=run_id,
            identifiers=identifiers,
            details=details,
            operation=operation,
        )

    @contextmanager
    def operation(
        self,
        action: str,
        *,
        resource: str | None = None,
        identifiers: Mapping[str, str] | None = None,
        details: Mapping[str, Scalar] | None = None,
        run_id: str | None = None,
    ) -> Iterator[Operation]:
        """An intent entry first, then one outcome entry (succeeded, or failed with the exception's type
        name only) with the same `operation` id and the details gathered on the way."""
        op = Operation(id=uuid.uuid4().hex, action=action, details=dict(details or {}))
        common: dict[str, Any] = {"resource": resource, "identifiers": identifiers, "run_id": run_id}
        self.intent(action, details=details, operation=op.id, **common)
        try:
            yield op
        except BaseException as exc:
            failure = {**op.details, "error": type(exc).__name__}
            try:
                self.record(action, outcome="failed", details=failure, operation=op.id, **common)
            except VaultlineError as audit_exc:
                exc.add_note(f"the audit log could not record this failure: {audit_exc.message}")
            raise
        self.record(action, outcome="succeeded", details=op.details, operation=op.id, **common)

    def record_key_use(self, use: KeyUse) -> None:
        """The key-use hook: `key.<action>` with outcome allowed or denied (skips the log's own uses),
        attributed to the run bound in this thread or task (`within_run`), or else to the one run in
        progress on this log, if there is exactly one."""
        if is_own_key_use():
            return
        run_id = _current_run.get() or (self._runs[0] if len(self._runs) == 1 else None)
        self._writer.append([key_use_draft(use, run_id)], use.principal)

    @contextmanager
    def within_run(self, run_id: str) -> Iterator[None]:
        """Key uses recorded inside the block name `run_id` (a run's derives, wraps and unwraps)."""
        token = _current_run.set(run_id)
        self._runs.append(run_id)
        try:
            yield
        finally:
            self._runs.remove(run_id)
            _current_run.reset(token)

    def checkpoint(self, reason: str) -> Checkpoint:
        """Sign the chain as it stands now (reason such as 'run-end'), also when nothing was recorded."""
        return self._writer.checkpoint(reason)

    # -- reading -----------------------------------------------------------------------------------
    def entries(
        self, *, action: str | None = None, since: datetime | None = None, run_id: str | None = None
    ) -> Iterator[AuditEntry]:
        """Entries in log order, optionally of one action (or dotted prefix), since a time, of one run."""
        return iter_entries(self.paths.segments, action=action, since=since, run_id=run_id)

    def hash_identifier(self, kind: str, value: str) -> str:
        """The keyed hash of `value` as `kind` under the newest identifier-key version this log holds."""
        key, _ = self._writer.keys.identifier_key(self._writer.keys.current_version)
        return keyed_hash(key, check_kind(kind), value)

    def search(self, subject: str, *, kind: str | None = None) -> list[AuditEntry]:
        """Entries naming `subject` (as `kind`, or as any kind), under every identifier-key version. The
        search itself is recorded, the subject as a keyed hash."""
        if not subject.strip():
            raise AuditError(
                "the subject to search for is empty",
                hint="give the value with --subject VALUE (or --subject - to read it from stdin), or --me",
                where="audit search",
            )
        kinds = [check_kind(kind)] if kind else ["principal", "path", "key", "subject"]
        keys, uses = self._writer.keys.all_identifier_keys()
        if uses:
            self._writer.append([key_use_draft(use) for use in uses], _principal())
        # as typed too: entries written before paths were made absolute hold them as the caller wrote them
        spellings = {subject, _spelled_one_way("path", subject)}
        wanted = {keyed_hash(key, k, text) for key in keys.values() for k in kinds for text in spellings}
        found = [
            entry
            for entry in self.entries()
            if ("principal" in kinds and entry.principal in wanted)
            or any(k in kinds and h in wanted for k, h in entry.identifiers.items())
        ]
        self.record(
            "audit.search",
            identifiers={kinds[0] if kind else "subject": subject},
            details={"kind": kind or "any", "matches": len(found)},
        )
        return found

    # -- export, retention, verification -----------------------------------------------------------
    def export(self, destination: str) -> ExportResult:
        """Copy segments, checkpoints and public keys to a directory or `s3://` prefix (see export.py)."""
        from vaultline.audit.export import export_log

        return export_log(self._writer, destination, principal=_principal())

    def prune(self, older_than: datetime, *, dry_run: bool = False) -> PruneResult:
        """Remove whole closed, exported, unlocked segments whose entries are all older than `older_than`."""
        from vaultline.audit.prune import prune_log

        return prune_log(self._writer, older_than, dry_run=dry_run, principal=_principal())

    def verify(self) -> VerifyReport:
        """Verify this log against its copy location (see verify.py)."""
        from vaultline.audit.verify import verify_log

        return verify_log(self.paths.root, copy=self._writer.copy)


def _spelled_one_way(kind: str, value: str) -> str:
    """A local path made absolute and normal, so `raw/a.csv`, `./raw/a.csv` and `/srv/raw/a.csv` (run
    from /srv) hash alike and `audit search` finds them all; URLs (s3://, postgresql://) stay verbatim."""
    if kind != "path" or "://" in value:
        return value
    return os.path.normpath(os.path.abspath(value))


def _principal() -> str:
    return current_caller().principal
