"""The chain writer: appends entries, closes segments and writes checkpoints, all under the log's lock.

Entries arrive as drafts holding raw principal and identifier values; they are hashed here, under the
identifier-key version the segment's header pinned, so every entry of a segment uses one key version
(a segment opened before a key rotation keeps the old one; the next segment pins the new one).

Before appending, the writer checks its tail against the latest checkpoint: a log shorter than what a
checkpoint covers has lost entries (or was truncated on purpose), and nothing more is written to it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vaultline.audit.checkpoints import Checkpoint, SegmentDigest, is_reason, sign
from vaultline.audit.entries import (
    GENESIS,
    AuditEntry,
    IdentifierKind,
    Outcome,
    Scalar,
    now_text,
    seal,
)
from vaultline.audit.folders import Folder, conflict, write_read_only
from vaultline.audit.key_material import AuditKeys, fingerprint, keyed_hash, public_key_pem
from vaultline.audit.segments import SEGMENT_HEADER, SegmentStore, Tail, corrupt, disk_failure
from vaultline.audit.settings import (
    AuditPaths,
    AuditSettings,
    checkpoint_name,
    number_of,
    numbered_files,
    segment_name,
)
from vaultline.errors import AuditError, AuditUnavailableError
from vaultline.keys.hooks import KeyUse
from vaultline.keys.secret import SecretBytes


@dataclass(frozen=True)
class Draft:
    """An entry before it is chained: raw principal and identifiers, hashed when appended."""

    action: str
    outcome: Outcome
    principal: str
    resource: str | None = None
    identifiers: Mapping[IdentifierKind, str] = field(default_factory=dict)
    details: Mapping[str, Scalar] = field(default_factory=dict)
    run_id: str | None = None
    operation: str | None = None


def key_use_draft(use: KeyUse, run_id: str | None = None) -> Draft:
    """`key.<action>` for a key use: the key name as a keyed identifier, the rest as details; `run_id`
    is the run the use happened in (key uses carry no run of their own)."""
    return Draft(
        action=f"key.{use.action}",
        outcome=use.outcome,
        principal=use.principal,
        identifiers={"key": use.key},
        details={"version": use.version, "context": use.context, "provider": use.provider},
        run_id=run_id,
    )


class ChainWriter:
    """Appends to the chain and signs checkpoints; safe across threads and processes."""

    def __init__(
        self,
        *,
        paths: AuditPaths,
        settings: AuditSettings,
        store: SegmentStore,
        keys: AuditKeys,
        copy: Folder,
        archive: Folder | None,
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.store = store
        self.keys = keys
        self.copy = copy
        self.archive = archive
        self.lock = threading.RLock()
        self._latest: Checkpoint | None = None
        self._high_water = 0
        """The highest seq this process has seen: the chain never moves back below it."""

    # -- appending ---------------------------------------------------------------------------------
    def append(self, drafts: Sequence[Draft], principal: str) -> list[AuditEntry]:
        """Chain `drafts` (in order) and return their entries once fsynced. `principal` is the caller,
        named in the segment header and recovery entries the append may have to write first."""
        if not drafts:
            return []
        with self.lock, self.store.locked():
            tail, latest = self._consistent_state()
            if (
                tail is not None
                and not _closed(tail, latest)
                and tail.entries >= self.settings.segment_entries
            ):
                self._close(tail, latest, "segment-close")
                tail, latest = self._consistent_state()
            if tail is None or _closed(tail, latest):
                segment = tail.segment + 1 if tail else 1
                version = self.keys.current_version
                first_seq = tail.last_seq + 1 if tail else 1
                header = Draft(
                    action=SEGMENT_HEADER,
                    outcome="succeeded",
                    principal=principal,
                    details={"segment": segment, "identifier_key_version": version},
                )
                preamble = [header]
            else:
                segment, version, first_seq, preamble = tail.segment, tail.key_version, tail.first_seq, []
            key, derivations = self.keys.identifier_key(version)
            torn = self.store.take_torn_bytes()
            if torn:
                preamble.append(
                    Draft("audit.recovered", "succeeded", principal, details={"unfinished_bytes_cut": torn})
                )
            preamble.extend(key_use_draft(use) for use in derivations)
            lines, entries = _seal_all(
                [*preamble, *drafts], key, tail.last_seq if tail else 0, tail.last_hash if tail else GENESIS
            )
            seq, prev = entries[-1].seq, entries[-1].hash
            size = self.store.append(segment, b"".join(lines))
            tail = Tail(segment, size, first_seq, seq, prev, version)
            self.store.remember(tail)
            self._high_water = seq
            if tail.entries >= self.settings.segment_entries:
                self._close(tail, latest, "segment-close")
            return entries[len(preamble) :]

    # -- checkpoints -------------------------------------------------------------------------------
    def checkpoint(self, reason: str, *, close_segment: bool = False) -> Checkpoint:
        """Sign the chain as it stands; with `close_segment`, also close the open segment (if any)."""
        if not is_reason(reason):
            raise AuditError(
                f"'{reason[:64]}' is not a checkpoint reason",
                hint="use lower-case words joined by '-', such as 'run-end' or 'export'",
                where="audit checkpoint",
            )
        with self.lock, self.store.locked():
            tail, latest = self._consistent_state()
            if close_segment and tail is not None and not _closed(tail, latest):
                return self._close(tail, latest, reason)
            checkpoint = self._write_checkpoint(reason, tail, latest, closing=None)
            self.replicate()
            return checkpoint

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint in the log directory (call under the lock)."""
        number = self._latest.number if self._latest else 0
        if self._latest is None:
            files = numbered_files(self.paths.checkpoints, "json")
            number = files[-1][0] if files else 0
        else:
            while self.paths.checkpoint(number + 1).exists():
                number += 1
        if number == 0 or (self._latest is not None and number == self._latest.number):
            return self._latest
        try:
            checkpoint = Checkpoint.parse(self.paths.checkpoint(number).read_bytes())
        except (OSError, ValueError):
            raise AuditUnavailableError(
                f"audit checkpoint {number} is unreadable; nothing more is appended to a damaged chain",
                hint="run `vaultline audit verify`; the copy location holds every checkpoint",
                where="audit log",
                retryable=False,
            ) from None
        self._latest = checkpoint
        return checkpoint

    def _consistent_state(self) -> tuple[Tail | None, Checkpoint | None]:
        tail = self.store.tail()
        latest = self.latest_checkpoint()
        if (tail.last_seq if tail else 0) < self._high_water:
            raise corrupt(
                tail.segment if tail else 0, f"lost entries this process saw (up to seq {self._high_water})"
            )
        self._high_water = tail.last_seq if tail else 0
        if latest is not None and (
            tail is None or tail.last_seq < latest.last_seq or tail.segment < latest.closed_segments_through
        ):
            raise corrupt(
                tail.segment if tail else 0,
                f"ends before what checkpoint {latest.number} covers (seq {latest.last_seq})",
            )
        self.store.cut_torn()
        return tail, latest

    def _close(self, tail: Tail, latest: Checkpoint | None, reason: str) -> Checkpoint:
        digest = SegmentDigest(
            segment=tail.segment,
            sha256=self._segment_sha256(tail.segment),
            first_seq=tail.first_seq,
            last_seq=tail.last_seq,
        )
        checkpoint = self._write_checkpoint(reason, tail, latest, closing=digest)
        self.store.seal(tail.segment)
        self.replicate()
        return checkpoint

    def _segment_sha256(self, segment: int) -> str:
        try:
            return self.store.sha256(segment)
        except OSError as exc:
            raise disk_failure(exc, f"read audit segment {segment}") from None

    def _write_checkpoint(
        self, reason: str, tail: Tail | None, latest: Checkpoint | None, *, closing: SegmentDigest | None
    ) -> Checkpoint:
        checkpoint = sign(
            self.keys.signing_key,
            number=latest.number + 1 if latest else 1,
            reason=reason,
            first_seq=latest.last_seq + 1 if latest else 1,
            last_seq=tail.last_seq if tail else 0,
            last_hash=tail.last_hash if tail else GENESIS,
            segments=(closing,) if closing else (),
            closed_segments_through=(
                closing.segment if closing else (latest.closed_segments_through if latest else 0)
            ),
            previous=latest,
        )
        try:
            write_read_only(self.paths.checkpoint(checkpoint.number), checkpoint.to_bytes())
        except OSError as exc:
            raise disk_failure(exc, f"write audit checkpoint {checkpoint.number}") from None
        self._latest = checkpoint
        return checkpoint

    # -- copies ------------------------------------------------------------------------------------
    def check_replicas(self) -> None:
        """Before this process writes: every copy must be writable and hold this log's checkpoints, never
        more of them. A copy ahead of the log means the log was deleted or cut back (a fresh chain
        would start over beside the signed one); a copy whose newest shared checkpoint differs belongs
        to another log (writing there would corrupt it)."""
        with self.lock, self.store.locked():
            local = dict(numbered_files(self.paths.checkpoints, "json"))
            newest_here = max(local, default=0)
            for folder in self._replicas():
                there = [n for n in map(number_of, folder.names("checkpoints")) if n is not None]
                newest_there = max(there, default=0)
                if newest_there > newest_here:
                    raise _behind_its_copy(folder, newest_there, self.paths, newest_here)
                shared = min(newest_there, newest_here)
                if shared and shared in local:
                    relative = f"checkpoints/{checkpoint_name(shared)}"
                    if folder.get(relative) != local[shared].read_bytes():
                        raise conflict(folder.location, relative)
                folder.check_writable()

    def publish_public_key(self) -> None:
        """The signing key's public half next to the log, in the copy location and in the archive."""
        public = self.keys.public_key
        name = f"{fingerprint(public)}.pem"
        target = self.paths.public_keys / name
        pem = public_key_pem(public)
        try:
            if not target.exists():
                write_read_only(target, pem)
        except OSError as exc:
            raise disk_failure(exc, "write its public key") from None
        for folder in self._replicas():
            if name not in folder.names("public-keys"):
                folder.put(f"public-keys/{name}", pem)

    def replicate(self) -> None:
        """Copy what the copy location and the archive lack: every checkpoint and public key to both,
        closed segments to the archive. Idempotent; a failure raises (fail closed)."""
        latest = self._latest
        closed_through = latest.closed_segments_through if latest else 0
        for folder in self._replicas():
            present = set(folder.names("checkpoints"))
            for number, path in numbered_files(self.paths.checkpoints, "json"):
                # The newest is always put: a same-named file there from another log is refused.
                if checkpoint_name(number) not in present or (latest and number == latest.number):
                    folder.put(f"checkpoints/{checkpoint_name(number)}", path.read_bytes())
            keys = set(folder.names("public-keys"))
            for path in sorted(self.paths.public_keys.glob("*.pem")):
                if path.name not in keys:
                    folder.put(f"public-keys/{path.name}", path.read_bytes())
        if self.archive is not None:
            present = set(self.archive.names("segments"))
            for number, path in numbered_files(self.paths.segments, "jsonl"):
                if number <= closed_through and segment_name(number) not in present:
                    self.archive.put(f"segments/{segment_name(number)}", path.read_bytes())

    def _replicas(self) -> list[Folder]:
        return [self.copy] + ([self.archive] if self.archive is not None else [])


def _behind_its_copy(folder: Folder, there: int, paths: AuditPaths, here: int) -> AuditUnavailableError:
    return AuditUnavailableError(
        f"{folder.location} holds audit checkpoint {there}, but the log under {paths.root} has "
        f"{f'only up to {here}' if here else 'none'}: the log was deleted or cut back, or that location "
        "is another log's copy",
        hint="restore the audit folder (from `vaultline audit export` or the S3 archive) and run "
        "`vaultline audit verify`; if the location is another state directory's copy, point "
        "VAULTLINE_AUDIT_COPY at this one's",
        where="audit copy",
        retryable=False,
    )


def _seal_all(
    drafts: Sequence[Draft], key: SecretBytes, seq: int, prev: str
) -> tuple[list[bytes], list[AuditEntry]]:
    """Lines and entries for `drafts` chained after (`seq`, `prev`), hashed with the segment's key."""
    lines: list[bytes] = []
    entries: list[AuditEntry] = []
    time = now_text()
    for draft in drafts:
        seq += 1
        fields = {
            "seq": seq,
            "time": time,
            "action": draft.action,
            "outcome": draft.outcome,
            "principal": keyed_hash(key, "principal", draft.principal),
            "resource": draft.resource,
            "identifiers": {kind: keyed_hash(key, kind, value) for kind, value in draft.identifiers.items()},
            "details": dict(draft.details),
            "run_id": draft.run_id,
            "operation": draft.operation,
            "prev": prev,
        }
        line, prev = seal(fields)
        lines.append(line)
        entries.append(AuditEntry.model_validate({**fields, "hash": prev}))
    return lines, entries


def _closed(tail: Tail, latest: Checkpoint | None) -> bool:
    return latest is not None and tail.segment <= latest.closed_segments_through
