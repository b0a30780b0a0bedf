"""Retention for the audit log: remove whole old segments, oldest first, and say so in the chain.

A segment goes only when all of these hold, checked from the oldest segment up and stopping at the first
that fails (so what remains is always a contiguous suffix of the log):
- it is closed and is not the newest segment file (the writer chains onto the newest);
- the checkpoint that closed it has been exported (`audit/exports.json`);
- its last entry is older than the cut-off;
- its archived S3 object, if any, is no longer under Object Lock (locked objects are never touched).

An `audit.prune` intent entry precedes the removal; its outcome entry (through which segment and
seq, and the hash of the last pruned entry) follows it and is signed by a checkpoint at once;
verification accepts a missing prefix only up to what such a signed entry states.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from vaultline.audit.checkpoints import Checkpoint
from vaultline.audit.export import exported_through
from vaultline.audit.folders import fsync_directory
from vaultline.audit.reading import time_text
from vaultline.audit.segments import disk_failure
from vaultline.audit.settings import AuditPaths, numbered_files, segment_name
from vaultline.audit.verify import PRUNE_ACTION
from vaultline.audit.writer import ChainWriter, Draft

log = logging.getLogger("vaultline.audit.prune")


class PruneResult(BaseModel):
    """What a prune removed (or, with dry_run, would remove) and why it stopped where it did."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dry_run: bool
    segments: tuple[int, ...]
    entries: int
    bytes: int
    through_seq: int | None
    stopped_at: int | None
    """The first segment kept (None when there was none to consider)."""
    stop_reason: str | None
    """newest | open | not-exported | too-recent | locked | unreadable"""
    locked_until: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


@dataclass(frozen=True)
class _Candidate:
    number: int
    path: Path
    first_seq: int
    last_seq: int
    last_hash: str
    last_time: str
    size: int


def prune_log(writer: ChainWriter, older_than: datetime, *, dry_run: bool, principal: str) -> PruneResult:
    cutoff = time_text(older_than)
    with writer.lock, writer.store.locked():
        tail = writer.store.tail()
        latest = writer.latest_checkpoint()
        exported = exported_through(writer.paths)
        closed_by = _closing_checkpoints(writer.paths)
        chosen: list[_Candidate] = []
        stop: tuple[int | None, str | None, str | None] = (None, None, None)
        for number, path in numbered_files(writer.paths.segments, "jsonl"):
            candidate = _read(number, path)
            reason: str | None
            if candidate is None:
                reason, until = "unreadable", None
            else:
                reason, until = _keep_reason(
                    writer,
                    candidate,
                    tail_segment=tail.segment if tail else 0,
                    latest=latest,
                    exported=exported,
                    closed_by=closed_by,
                    cutoff=cutoff,
                )
            if reason is not None or candidate is None:
                stop = (number, reason, until)
                break
            chosen.append(candidate)
        result = PruneResult(
            dry_run=dry_run,
            segments=tuple(c.number for c in chosen),
            entries=sum(c.last_seq - c.first_seq + 1 for c in chosen),
            bytes=sum(c.size for c in chosen),
            through_seq=chosen[-1].last_seq if chosen else None,
            stopped_at=stop[0],
            stop_reason=stop[1],
            locked_until=stop[2],
        )
        if dry_run or not chosen:
            return result
        last = chosen[-1]
        details: dict[str, str | int] = {
            "segments": len(chosen),
            "entries": result.entries,
            "bytes": result.bytes,
            "through_segment": last.number,
            "through_seq": last.last_seq,
            "through_hash": last.last_hash,
            "older_than": cutoff,
        }
        # Intent first, as for every operation: a prune that stops half-way leaves its intent (and, when
        # it raised, its failure) beside the gap, which verification still reports until a prune that
        # succeeds covers it.
        writer.append([Draft(PRUNE_ACTION, "intent", principal, details=details)], principal)
        try:
            _remove(writer, chosen)
        except BaseException as exc:
            failure = {**details, "error": type(exc).__name__}
            try:  # the failure that stopped the prune is the one to report, even if this append fails
                writer.append([Draft(PRUNE_ACTION, "failed", principal, details=failure)], principal)
            except Exception as also:
                log.warning("the failed prune could not be recorded (%s)", type(also).__name__)
            raise
        writer.append([Draft(PRUNE_ACTION, "succeeded", principal, details=details)], principal)
        # Sign the prune entry now: verification honours only a prune a checkpoint covers.
        writer.checkpoint("prune")
        return result


def _remove(writer: ChainWriter, chosen: list[_Candidate]) -> None:
    for candidate in chosen:
        if writer.archive is not None:
            writer.archive.delete(f"segments/{segment_name(candidate.number)}")
        try:
            candidate.path.unlink()
        except OSError as exc:
            raise disk_failure(exc, f"remove audit segment {candidate.number}") from None
    fsync_directory(writer.paths.segments)


def _keep_reason(
    writer: ChainWriter,
    candidate: _Candidate,
    *,
    tail_segment: int,
    latest: Checkpoint | None,
    exported: int,
    closed_by: dict[int, int],
    cutoff: str,
) -> tuple[str | None, str | None]:
    """Why this segment must stay (None: it may go), and the lock date when locked."""
    if candidate.number >= tail_segment:
        return "newest", None
    if latest is None or candidate.number > latest.closed_segments_through:
        return "open", None
    closing = closed_by.get(candidate.number)
    if closing is None or closing > exported:
        return "not-exported", None
    if candidate.last_time >= cutoff:
        return "too-recent", None
    if writer.archive is not None:
        until = writer.archive.retained_until(f"segments/{segment_name(candidate.number)}")
        if until is not None and until > datetime.now(UTC):
            return "locked", until.isoformat()
    return None, None


def _closing_checkpoints(paths: AuditPaths) -> dict[int, int]:
    """Segment number → the number of the checkpoint that closed it."""
    closed_by: dict[int, int] = {}
    for number, path in numbered_files(paths.checkpoints, "json"):
        try:
            checkpoint = Checkpoint.parse(path.read_bytes())
        except (OSError, ValueError):
            continue  # an unreadable checkpoint closes nothing here; verify reports it
        for digest in checkpoint.segments:
            closed_by[digest.segment] = number
    return closed_by


def _read(number: int, path: Path) -> _Candidate | None:
    """The segment's first and last entries (None when they cannot be read: keep it, verify will tell)."""
    try:
        data = path.read_bytes()
        lines = data.rstrip(b"\n").split(b"\n")
        first, last = json.loads(lines[0]), json.loads(lines[-1])
        return _Candidate(
            number=number,
            path=path,
            first_seq=int(first["seq"]),
            last_seq=int(last["seq"]),
            last_hash=str(last["hash"]),
            last_time=str(last["time"]),
            size=len(data),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
