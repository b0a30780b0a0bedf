"""Reading entries back, segment by segment, for `show`, `search` and the lead's monitors.

Reading does not verify: a line that does not parse (an unfinished write, or tampering) is skipped, and
`vaultline audit verify` is what reports it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from vaultline.audit.entries import AuditEntry, parse_entry
from vaultline.audit.settings import numbered_files
from vaultline.errors import AuditError


def iter_entries(
    segments: Path,
    *,
    action: str | None = None,
    since: datetime | None = None,
    run_id: str | None = None,
) -> Iterator[AuditEntry]:
    """Entries in log order; `action` matches exactly or as a dotted prefix ('key' matches 'key.derive')."""
    since_text = time_text(since) if since else None
    for _, path in numbered_files(segments, "jsonl"):
        try:
            with open(path, "rb") as handle:
                lines = handle.read().split(b"\n")
        except FileNotFoundError:  # pruned while we listed
            continue
        except OSError as exc:
            raise AuditError(
                f"audit segment {path.name} cannot be read ({exc.strerror or type(exc).__name__})",
                hint="run `vaultline audit verify` to see what happened to the log",
            ) from None
        for line in lines:
            if not line:
                continue
            try:
                entry = parse_entry(line)
            except ValueError:
                continue
            if action and entry.action != action and not entry.action.startswith(f"{action}."):
                continue
            if since_text and entry.time < since_text:
                continue
            if run_id and entry.run_id != run_id:
                continue
            yield entry


def time_text(moment: datetime) -> str:
    """`moment` in the entries' own format, so times compare as text (naive means UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
