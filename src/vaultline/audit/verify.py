"""Verification: replay the chain, check the checkpoints' signatures and chain, cross-check both.

Read-only and key-free: it needs the log directory (or an export of it), the copy location's
checkpoints and the public keys to trust (from the copy location, or given). Findings carry segment,
seq and checkpoint numbers, never entry contents. Segments are streamed one at a time, each line is
checked from its own bytes (entries.py), and only the Ed25519 signatures of the checkpoints are
verified, never re-created.

What it cannot see: entries appended after the last checkpoint that reached the copy location can be
cut off (or rewritten, hashes recomputed) without a trace. The copy location bounds that window; run
checkpoints often (every run ends with one) and keep the copy on another disk or bucket.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from pydantic import BaseModel, ConfigDict

from vaultline.audit.checkpoints import Checkpoint
from vaultline.audit.entries import GENESIS, check_line
from vaultline.audit.folders import Folder
from vaultline.audit.key_material import fingerprint
from vaultline.audit.segments import SEGMENT_HEADER
from vaultline.audit.settings import number_of, numbered_files
from vaultline.errors import AuditError

Severity = Literal["error", "warning"]
PRUNE_ACTION = "audit.prune"
# A gap wider than this is reported as one range without listing which of its seqs came back later.
_GAP_DETAIL_LIMIT = 1_000_000


class Finding(BaseModel):
    """One problem: a code, what is wrong, and where (segment, seq range, checkpoint)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    severity: Severity
    message: str
    segment: int | None = None
    seq: int | None = None
    last_seq: int | None = None
    checkpoint: int | None = None


class VerifyReport(BaseModel):
    """The outcome of one verification."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    findings: tuple[Finding, ...]
    entries: int
    segments: int
    checkpoints: int
    last_seq: int
    checkpointed_seq: int
    """The last seq a valid, signed checkpoint covers: entries after it are not yet tamper-evident."""
    pruned_through_segment: int
    trusted_keys: int

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    def as_dict(self) -> dict[str, Any]:
        return {**self.model_dump(), "ok": self.ok}


def load_public_keys(pems: Iterable[bytes]) -> dict[str, Ed25519PublicKey]:
    """Ed25519 public keys (PEM) by fingerprint."""
    keys: dict[str, Ed25519PublicKey] = {}
    for pem in pems:
        try:
            key = load_pem_public_key(pem)
        except ValueError:
            key = None
        if not isinstance(key, Ed25519PublicKey):
            raise AuditError(
                "a trusted public key is not an Ed25519 public key in PEM form",
                hint="pass the .pem file from the copy location's public-keys/ folder",
                where="audit verify",
            )
        keys[fingerprint(key)] = key
    return keys


def trusted_keys_of(copy: Folder) -> dict[str, Ed25519PublicKey]:
    """The public keys published in the copy location."""
    pems = (copy.get(f"public-keys/{name}") for name in copy.names("public-keys") if name.endswith(".pem"))
    return load_public_keys(pem for pem in pems if pem is not None)


def verify_log(
    log_dir: Path,
    *,
    copy: Folder | None,
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    closed_only: bool = False,
) -> VerifyReport:
    """Verify the log in `log_dir` (`segments/`, `checkpoints/`) against the copy location's
    checkpoints; trust `public_keys`, else the keys published in the copy location. `closed_only`: the
    directory holds closed segments only (the S3 archive, an export), so entries that only the open
    segment held are not expected."""
    if not (log_dir / "segments").is_dir():
        raise AuditError(
            f"no audit log at {log_dir}",
            hint="pass the state directory holding audit/ (or an export directory)",
            where="audit verify",
        )
    findings: list[Finding] = []
    trusted = dict(public_keys) if public_keys is not None else (trusted_keys_of(copy) if copy else {})
    checkpoints = _merged_checkpoints(log_dir, copy, findings, closed_only=closed_only)
    if checkpoints and not trusted:
        if copy is None:
            why, fix = "", "pass --copy LOCATION (the copy location) or --public-key FILE"
        else:  # a missing or mistyped copy location publishes nothing: say which one was looked at
            why = f" (the copy location {copy.location} holds none: missing, empty or not this log's)"
            fix = "pass --copy with the right copy location (VAULTLINE_AUDIT_COPY), or --public-key FILE"
        raise AuditError(
            f"no trusted public key to check the checkpoints' signatures with{why}",
            hint=fix,
            where="audit verify",
        )
    valid = _check_chain(checkpoints, trusted, findings)
    scan = _Scan(valid)
    scan.run(log_dir, findings)
    _check_coverage(scan, valid, findings, closed_only=closed_only)
    return VerifyReport(
        findings=tuple(findings),
        entries=scan.entries,
        segments=len(scan.digests),
        checkpoints=len(checkpoints),
        last_seq=scan.last_seen,
        checkpointed_seq=scan.checkpointed,
        pruned_through_segment=scan.pruned_through,
        trusted_keys=len(trusted),
    )


# -- checkpoints -------------------------------------------------------------------------------------
def _read(path: Path) -> bytes:
    """A checkpoint file's bytes; one that cannot be read (a directory in its place) reads as empty,
    which no checkpoint parses from."""
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _parsed(data: bytes | None) -> Checkpoint | None:
    if data is None:
        return None
    try:
        return Checkpoint.parse(data)
    except ValueError:
        return None


def _merged_checkpoints(
    log_dir: Path, copy: Folder | None, findings: list[Finding], *, closed_only: bool
) -> dict[int, Checkpoint]:
    """Checkpoints by number, the copy location's version winning; differences become findings. A copy
    of closed segments (`closed_only`) was taken at some point: later checkpoints are not expected in it."""
    local = {number: _read(path) for number, path in numbered_files(log_dir / "checkpoints", "json")}
    copied: dict[int, bytes] = {}
    if copy is not None:
        for name in copy.names("checkpoints"):
            number = number_of(name)
            data = copy.get(f"checkpoints/{name}") if number is not None else None
            if number is not None and data is not None:
                copied[number] = data
    if closed_only:
        copied = {number: data for number, data in copied.items() if number <= max(local, default=0)}
    merged: dict[int, Checkpoint] = {}
    for number in sorted(set(local) | set(copied)):
        mine, theirs = local.get(number), copied.get(number)
        if mine is None:
            findings.append(
                _error("checkpoint-missing", "in the copy location but not in the log directory", number)
            )
        elif theirs is None and copy is not None:
            findings.append(
                Finding(
                    code="checkpoint-not-copied",
                    severity="warning",
                    message=f"checkpoint {number} is not in the copy location",
                    checkpoint=number,
                )
            )
        elif theirs is not None and mine != theirs:
            findings.append(
                _error("checkpoint-differs", "differs from its copy in the copy location", number)
            )
        chosen = _parsed(theirs) or _parsed(mine)
        if chosen is None:
            findings.append(_error("checkpoint-unreadable", "is not a readable checkpoint", number))
        elif chosen.number != number:
            findings.append(
                _error("checkpoint-misnamed", f"holds checkpoint {chosen.number} (moved or swapped)", number)
            )
        else:
            merged[number] = chosen
    return merged


def _error(code: str, what: str, checkpoint: int) -> Finding:
    return Finding(
        code=code, severity="error", message=f"checkpoint {checkpoint} {what}", checkpoint=checkpoint
    )


def _check_chain(
    checkpoints: dict[int, Checkpoint], trusted: Mapping[str, Ed25519PublicKey], findings: list[Finding]
) -> dict[int, Checkpoint]:
    """Signature and link of each checkpoint; returns the ones whose signature is good."""
    valid: dict[int, Checkpoint] = {}
    previous: Checkpoint | None = None
    for number in range(1, max(checkpoints, default=0) + 1):
        checkpoint = checkpoints.get(number)
        if checkpoint is None:
            findings.append(
                _error("checkpoint-missing", "is missing (a gap in the checkpoint chain)", number)
            )
            previous = None
            continue
        key = trusted.get(checkpoint.public_key)
        if key is None:
            findings.append(
                _error("checkpoint-untrusted-key", "is signed by a key that is not trusted", number)
            )
        elif not checkpoint.signature_valid(key):
            findings.append(_error("checkpoint-signature", "has a signature that does not verify", number))
        else:
            valid[number] = checkpoint
        if number == 1:
            linked = checkpoint.previous_signature == "" and checkpoint.first_seq == 1
        elif previous is not None:
            linked = (
                checkpoint.previous_signature == previous.signature
                and checkpoint.first_seq == previous.last_seq + 1
                and checkpoint.closed_segments_through >= previous.closed_segments_through
            )
        else:
            linked = True  # its predecessor is missing, reported above
        if not linked:
            findings.append(
                _error("checkpoint-chain", "does not follow the previous checkpoint (chain broken)", number)
            )
        previous = checkpoint
    return valid


# -- entries -----------------------------------------------------------------------------------------
@dataclass
class _Scan:
    """One streaming pass over the segments."""

    valid: dict[int, Checkpoint]
    entries: int = 0
    expected: int | None = None
    last_hash: str = ""
    first: tuple[int, str, int] | None = None
    late: set[int] = field(default_factory=set)
    """Seqs that arrived after a higher one (so memory grows with anomalies, not with the log)."""
    gaps: list[tuple[int, int, int]] = field(default_factory=list)
    hashes_at: dict[int, str] = field(default_factory=dict)
    digests: dict[int, tuple[str, int | None, int | None]] = field(default_factory=dict)
    prunes: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    pruned_through: int = 0

    @property
    def last_seen(self) -> int:
        return self.expected - 1 if self.expected else 0

    @property
    def checkpointed(self) -> int:
        return max((c.last_seq for c in self.valid.values()), default=0)

    @property
    def closed_last_seq(self) -> int:
        """The last seq of the newest segment a valid checkpoint closed."""
        return max((d.last_seq for c in self.valid.values() for d in c.segments), default=0)

    @property
    def closed_through(self) -> int:
        return max((c.closed_segments_through for c in self.valid.values()), default=0)

    def run(self, log_dir: Path, findings: list[Finding]) -> None:
        files = numbered_files(log_dir / "segments", "jsonl")
        needed = {c.last_seq for c in self.valid.values()}
        newest = files[-1][0] if files else 0
        for number, path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:  # replaced by a directory, unreadable: a finding, and it counts as missing
                findings.append(
                    Finding(
                        code="segment-unreadable",
                        severity="error",
                        message=f"segment {number} cannot be read ({exc.strerror or type(exc).__name__})",
                        segment=number,
                    )
                )
                continue
            if (number <= self.closed_through or number < newest) and path.stat().st_mode & (
                stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
            ):
                findings.append(
                    Finding(
                        code="segment-writable",
                        severity="warning",
                        message=f"segment {number} is closed but still writable",
                        segment=number,
                    )
                )
            self._segment(number, data, needed, findings)

    def _segment(self, number: int, data: bytes, needed: set[int], findings: list[Finding]) -> None:
        lines = data.split(b"\n")
        unfinished = lines.pop()
        first_seq: int | None = None
        last_seq: int | None = None
        for index, line in enumerate(lines, 1):
            document = _document(line)
            checked = check_line(line)
            if document is None or checked is None:
                findings.append(
                    Finding(
                        code="entry-unreadable",
                        severity="error",
                        message=f"line {index} of segment {number} is not a sealed entry",
                        segment=number,
                    )
                )
                continue
            self.entries += 1
            seq: int = document["seq"]
            stored, actual = checked
            if stored != actual or document.get("hash") != stored:
                findings.append(
                    Finding(
                        code="entry-modified",
                        severity="error",
                        message=f"entry {seq} in segment {number} does not match its hash (modified)",
                        segment=number,
                        seq=seq,
                    )
                )
            elif seq in needed:
                self.hashes_at[seq] = stored
            if index == 1 and not _is_header(document, number):
                findings.append(
                    Finding(
                        code="segment-header",
                        severity="error",
                        message=f"segment {number} does not start with its own header entry",
                        segment=number,
                        seq=seq,
                    )
                )
            self._link(number, seq, str(document.get("prev")), findings)
            self.last_hash = stored
            first_seq = seq if first_seq is None else first_seq
            last_seq = seq
            if document.get("action") == PRUNE_ACTION and document.get("outcome") == "succeeded":
                details = document.get("details")
                self.prunes.append((seq, details if isinstance(details, dict) else {}))
        if unfinished:
            findings.append(
                Finding(
                    code="entry-unreadable",
                    severity="error",
                    message=f"segment {number} ends in an unfinished line (cut off)",
                    segment=number,
                )
            )
        self.digests[number] = (hashlib.sha256(data).hexdigest(), first_seq, last_seq)

    def _link(self, number: int, seq: int, prev: str, findings: list[Finding]) -> None:
        if self.expected is None:
            self.first = (seq, prev, number)
        elif seq == self.expected:
            if prev != self.last_hash:
                findings.append(
                    Finding(
                        code="chain-broken",
                        severity="error",
                        message=f"entry {seq} in segment {number} does not link to the entry before it",
                        segment=number,
                        seq=seq,
                    )
                )
        elif seq > self.expected:
            self.gaps.append((self.expected, seq - 1, number))
        else:
            # Every seq below `expected` was either seen already or lies in a gap: only a gap's
            # seqs can arrive late; any other is a second copy.
            duplicate = seq in self.late or not any(start <= seq <= end for start, end, _ in self.gaps)
            self.late.add(seq)
            findings.append(
                Finding(
                    code="entry-duplicate" if duplicate else "entries-reordered",
                    severity="error",
                    message=f"entry {seq} appears {'again' if duplicate else 'out of order'} "
                    f"in segment {number}",
                    segment=number,
                    seq=seq,
                )
            )
        self.expected = max(self.expected or 0, seq + 1)


def _document(line: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(line)
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("seq"), int):
        return None
    return document


def _is_header(document: dict[str, Any], number: int) -> bool:
    details = document.get("details")
    return (
        document.get("action") == SEGMENT_HEADER
        and isinstance(details, dict)
        and details.get("segment") == number
    )


# -- cross-checks ------------------------------------------------------------------------------------
def _check_coverage(
    scan: _Scan, valid: dict[int, Checkpoint], findings: list[Finding], *, closed_only: bool
) -> None:
    pruned_seq, pruned_hash = _prune_boundary(scan)
    _check_start(scan, pruned_seq, pruned_hash, findings)
    _check_segments_present(scan, findings)
    _check_gaps(scan, findings)
    # A copy of closed segments only (an archive, an export) legitimately lacks the open segment.
    expected_end = scan.closed_last_seq if closed_only else scan.checkpointed
    if scan.last_seen < expected_end:
        newest = min((c for c in valid.values() if c.last_seq >= expected_end), key=lambda c: c.number)
        findings.append(
            Finding(
                code="truncated-tail",
                severity="error",
                message=f"the log ends at entry {scan.last_seen} but checkpoint {newest.number} covers "
                f"entries up to {expected_end} (tail cut off)",
                seq=scan.last_seen + 1,
                last_seq=expected_end,
                checkpoint=newest.number,
            )
        )
    for checkpoint in valid.values():
        held = scan.hashes_at.get(checkpoint.last_seq)
        if checkpoint.last_seq > pruned_seq and held is not None and held != checkpoint.last_hash:
            findings.append(
                _error(
                    "checkpoint-mismatch", f"does not match entry {checkpoint.last_seq}", checkpoint.number
                )
            )
        for digest in checkpoint.segments:
            found = scan.digests.get(digest.segment)
            if found is not None and found != (digest.sha256, digest.first_seq, digest.last_seq):
                findings.append(
                    Finding(
                        code="checkpoint-mismatch",
                        severity="error",
                        message=f"segment {digest.segment} no longer matches the SHA-256 checkpoint "
                        f"{checkpoint.number} signed for it",
                        segment=digest.segment,
                        checkpoint=checkpoint.number,
                    )
                )


def _prune_boundary(scan: _Scan) -> tuple[int, str]:
    """The last pruned seq and its hash, from `audit.prune` entries a valid checkpoint covers (an
    unsigned tail could claim anything)."""
    best: tuple[int, int, str] = (0, 0, GENESIS)
    for seq, details in scan.prunes:
        through = details.get("through_segment")
        through_seq, through_hash = details.get("through_seq"), details.get("through_hash")
        if (
            seq <= scan.checkpointed
            and isinstance(through, int)
            and isinstance(through_seq, int)
            and isinstance(through_hash, str)
            and through > best[0]
        ):
            best = (through, through_seq, through_hash)
    scan.pruned_through = best[0]
    return best[1], best[2]


def _check_start(scan: _Scan, pruned_seq: int, pruned_hash: str, findings: list[Finding]) -> None:
    if scan.first is None:
        return
    seq, prev, segment = scan.first
    if seq > pruned_seq + 1:
        scan.gaps.insert(0, (pruned_seq + 1, seq - 1, segment))
    elif seq < pruned_seq + 1 or prev != pruned_hash:
        findings.append(
            Finding(
                code="chain-broken",
                severity="error",
                message=f"the first entry ({seq}, segment {segment}) does not continue where the log "
                f"{'was pruned' if pruned_seq else 'starts'}",
                segment=segment,
                seq=seq,
            )
        )


def _check_segments_present(scan: _Scan, findings: list[Finding]) -> None:
    present = set(scan.digests)
    top = max(max(present, default=0), scan.closed_through)
    missing = sorted(set(range(scan.pruned_through + 1, top + 1)) - present)
    for start, end in _runs(missing):
        findings.append(
            Finding(
                code="segment-missing",
                severity="error",
                message=f"segment(s) {start}..{end} are missing"
                if end > start
                else f"segment {start} is missing",
                segment=start,
            )
        )


def _check_gaps(scan: _Scan, findings: list[Finding]) -> None:
    for start, end, segment in scan.gaps:
        if end - start > _GAP_DETAIL_LIMIT:
            runs = [(start, end)]
        else:
            runs = _runs([seq for seq in range(start, end + 1) if seq not in scan.late])
        for first, last in runs:
            findings.append(
                Finding(
                    code="entries-missing",
                    severity="error",
                    message=f"entries {first}..{last} are missing (noticed in segment {segment})",
                    segment=segment,
                    seq=first,
                    last_seq=last,
                )
            )


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted numbers: [1, 2, 3, 7] → [(1, 3), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs
