"""Audit entries: the model, the rules for what an entry may hold, and how a line is sealed and checked.

A segment line is the canonical JSON of the entry without `hash` (keys sorted, no spaces, UTF-8),
with `"hash":"<sha256 hex>"` appended as the last member, where the digest is SHA-256 over that
canonical JSON. So the line checks itself from its bytes: cut at the last `,"hash":"`, close the
brace, hash. Verification never re-serializes, and any changed byte changes the digest.

Entries hold no values: `principal` and `identifiers` are keyed hashes, `resource` a name checked
against a strict pattern, `details` scalars whose meaning callers keep value-free (counts, names).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from vaultline.errors import AuditError

Outcome = Literal["intent", "succeeded", "failed", "denied", "allowed"]
IdentifierKind = Literal["principal", "path", "key", "subject"]
Scalar = str | int | float | bool | None
IDENTIFIER_KINDS: tuple[IdentifierKind, ...] = get_args(IdentifierKind)
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
GENESIS = "0" * 64
"""The `prev` of the first entry of a log."""
HASH_MEMBER = b',"hash":"'

_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,4}$")
# Dataset, pipeline and key names, optionally `@version`: never a path or free text (those are
# identifiers, stored hashed).
_RESOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_DETAIL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_DETAIL_TEXT = 256
_MAX_DETAILS = 64


class AuditEntry(BaseModel):
    """One line of the audit log, as written."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: int
    time: str
    action: str
    outcome: Outcome
    principal: str
    resource: str | None
    identifiers: dict[str, str]
    details: dict[str, Scalar]
    run_id: str | None
    operation: str | None
    prev: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


def now_text() -> str:
    """UTC time with milliseconds, `2026-11-30T12:00:00.123Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8, no NaN: one byte string per document."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def seal(fields: Mapping[str, Any]) -> tuple[bytes, str]:
    """The line (with its trailing newline) and the digest for an entry given without `hash`."""
    body = canonical_json(fields)
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + HASH_MEMBER + digest.encode("ascii") + b'"}\n', digest


def check_line(line: bytes) -> tuple[str, str] | None:
    """(stored digest, recomputed digest) of a line without its newline; None when it has no hash."""
    cut = line.rfind(HASH_MEMBER)
    if cut < 0 or not line.endswith(b'"}'):
        return None
    stored = line[cut + len(HASH_MEMBER) : -2].decode("ascii", errors="replace")
    return stored, hashlib.sha256(line[:cut] + b"}").hexdigest()


def parse_entry(line: bytes) -> AuditEntry:
    """The entry on `line` (raises ValueError when it is not one)."""
    return AuditEntry.model_validate_json(line)


def check_action(action: str) -> str:
    if not _ACTION.match(action):
        raise AuditError(
            f"'{action[:64]}' is not an audit action name",
            hint="use dotted lower-case words such as 'dataset.read' or 'gc'",
            where="audit entry",
        )
    return action


def check_outcome(outcome: str) -> Outcome:
    for known in OUTCOMES:
        if outcome == known:
            return known
    raise AuditError(
        f"'{outcome[:32]}' is not an audit outcome",
        hint=f"use one of: {', '.join(OUTCOMES)}",
        where="audit entry",
    )


def check_resource(resource: str | None) -> str | None:
    if resource is not None and not _RESOURCE.match(resource):
        raise AuditError(
            "the audit resource is not a plain name (letters, digits, '_', '.', '@', ':', '-'; up to 128)",
            hint="pass a dataset, pipeline or key name as resource; paths and people go in "
            "identifiers={'path': ..., 'subject': ...}, which are stored as keyed hashes",
            where="audit entry",
        )
    return resource


def check_run_id(run_id: str | None) -> str | None:
    if run_id is not None and not _RUN_ID.match(run_id):
        raise AuditError(
            "the run id is not a plain identifier",
            hint="pass the run id Vaultline generated",
            where="audit entry",
        )
    return run_id


def check_kind(kind: str) -> IdentifierKind:
    for known in IDENTIFIER_KINDS:
        if kind == known:
            return known
    raise AuditError(
        f"'{kind[:32]}' is not an identifier kind",
        hint=f"use one of: {', '.join(IDENTIFIER_KINDS)}",
        where="audit entry",
    )


def check_details(details: Mapping[str, Any] | None) -> dict[str, Scalar]:
    """Details as a plain dict of scalars; containers, long text and non-finite numbers are refused."""
    checked: dict[str, Scalar] = {}
    for key, value in (details or {}).items():
        if not isinstance(key, str) or not _DETAIL_KEY.match(key):
            raise AuditError(
                "an audit detail name is not a lower-case identifier",
                hint="name details like 'rows' or 'key_version'",
                where="audit entry",
            )
        if not _scalar(value):
            raise AuditError(
                f"audit detail '{key}' is not a short scalar ({type(value).__name__})",
                hint=f"details hold numbers, booleans, None or names up to {_MAX_DETAIL_TEXT} characters; "
                "record values that identify someone or something as identifiers (hashed)",
                where="audit entry",
            )
        checked[key] = value
    if len(checked) > _MAX_DETAILS:
        raise AuditError(
            f"{len(checked)} audit details (at most {_MAX_DETAILS})",
            hint="keep details to the facts an auditor needs",
            where="audit entry",
        )
    return checked


def _scalar(value: object) -> bool:
    if value is None or isinstance(value, bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str) and len(value) <= _MAX_DETAIL_TEXT
