"""Where the audit log lives and how it is configured (environment variables, all optional).

- `VAULTLINE_AUDIT_COPY`: the second location every checkpoint and public key is copied to, a
  directory or `s3://bucket/prefix` (default `<state>/audit-copy/`; production points it at another disk
  or bucket, since verification trusts the public keys found there).
- `VAULTLINE_AUDIT_URL`: `s3://bucket/prefix` to archive closed segments and checkpoints as write-once
  objects under Object Lock (COMPLIANCE); unset keeps the log local only.
- `VAULTLINE_AUDIT_RETAIN_DAYS`: the Object Lock retention of those objects (default 365).
- `VAULTLINE_AUDIT_SEGMENT_ENTRIES`: entries per segment before it closes (default 1000).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vaultline.errors import AuditError

COPY_ENV = "VAULTLINE_AUDIT_COPY"
URL_ENV = "VAULTLINE_AUDIT_URL"
RETAIN_DAYS_ENV = "VAULTLINE_AUDIT_RETAIN_DAYS"
SEGMENT_ENTRIES_ENV = "VAULTLINE_AUDIT_SEGMENT_ENTRIES"
DEFAULT_SEGMENT_ENTRIES = 1000
DEFAULT_RETAIN_DAYS = 365
_NUMBERED = re.compile(r"^(\d{6})\.(jsonl|json)$")


class AuditSettings(BaseModel):
    """The audit log's configuration, read once when the log is opened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment_entries: int = Field(DEFAULT_SEGMENT_ENTRIES, ge=2)
    copy_location: str
    archive_url: str | None = Field(None, pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")
    retain_days: int = Field(DEFAULT_RETAIN_DAYS, ge=1)

    @classmethod
    def from_env(cls, state_root: Path, *, segment_entries: int | None = None) -> AuditSettings:
        """Settings from the environment; `segment_entries` (tests, benchmarks) wins over it."""
        values: dict[str, object] = {
            "copy_location": os.environ.get(COPY_ENV) or str(state_root / "audit-copy"),
            "archive_url": os.environ.get(URL_ENV) or None,
        }
        if segment_entries is not None:
            values["segment_entries"] = segment_entries
        elif os.environ.get(SEGMENT_ENTRIES_ENV):
            values["segment_entries"] = os.environ[SEGMENT_ENTRIES_ENV]
        if os.environ.get(RETAIN_DAYS_ENV):
            values["retain_days"] = os.environ[RETAIN_DAYS_ENV]
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            fields = ", ".join(str(error["loc"][0]) for error in exc.errors())
            raise AuditError(
                f"invalid audit setting(s): {fields}",
                hint=f"{SEGMENT_ENTRIES_ENV} is a whole number >= 2, {RETAIN_DAYS_ENV} a whole number of "
                f"days >= 1, {URL_ENV} an s3://bucket/prefix URL",
                where="audit settings",
            ) from None


@dataclass(frozen=True)
class AuditPaths:
    """The files of one audit log: `<root>/segments/NNNNNN.jsonl`, `<root>/checkpoints/NNNNNN.json`,
    `<root>/public-keys/<fingerprint>.pem`, the lock file and the export manifest."""

    root: Path

    @classmethod
    def of_state(cls, state_root: Path) -> AuditPaths:
        return cls(state_root / "audit")

    @property
    def segments(self) -> Path:
        return self.root / "segments"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def public_keys(self) -> Path:
        return self.root / "public-keys"

    @property
    def lock(self) -> Path:
        return self.root / "lock"

    @property
    def exports(self) -> Path:
        return self.root / "exports.json"

    def segment(self, number: int) -> Path:
        return self.segments / segment_name(number)

    def checkpoint(self, number: int) -> Path:
        return self.checkpoints / checkpoint_name(number)

    def create(self) -> None:
        for folder in (self.root, self.segments, self.checkpoints, self.public_keys):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)


def segment_name(number: int) -> str:
    return f"{number:06d}.jsonl"


def checkpoint_name(number: int) -> str:
    return f"{number:06d}.json"


def numbered_files(folder: Path, suffix: str) -> list[tuple[int, Path]]:
    """`NNNNNN.<suffix>` files of `folder` by number, ascending (other files are ignored)."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NUMBERED.match(path.name)
        if match and match.group(2) == suffix:
            found.append((int(match.group(1)), path))
    return sorted(found)


def number_of(name: str) -> int | None:
    """The number in a segment or checkpoint file name (`000012.json` → 12), None for other names."""
    match = _NUMBERED.match(name)
    return int(match.group(1)) if match else None
