"""`vaultline audit export`: copy the log to a directory or `s3://` prefix for safekeeping.

The export first closes the open segment with a checkpoint (reason `export`), so everything it copies is
closed and immutable: segments, every checkpoint up to that one, and the public keys. Files already at the
destination with the same bytes are skipped, so exporting to the same place again copies only what is
new. The manifest `audit/exports.json` records how far each export reached: retention may prune only
segments whose checkpoint was exported. An `audit.export` entry names the destination as a keyed hash.
"""

from __future__ import annotations

import json
from contextlib import suppress
from typing import Any

from pydantic import BaseModel, ConfigDict

from vaultline.audit.entries import now_text
from vaultline.audit.folders import open_folder
from vaultline.audit.key_material import keyed_hash
from vaultline.audit.segments import disk_failure
from vaultline.audit.settings import AuditPaths, checkpoint_name, numbered_files, segment_name
from vaultline.audit.writer import ChainWriter, Draft
from vaultline.state import write_private


class ExportResult(BaseModel):
    """What an export copied."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    through_checkpoint: int
    through_seq: int
    segments: int
    checkpoints: int
    public_keys: int
    written: int
    """Files newly written at the destination (the rest were there already)."""

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


def exported_through(paths: AuditPaths) -> int:
    """The highest checkpoint number any export has reached (0: never exported)."""
    if not paths.exports.is_file():
        return 0
    try:
        manifest = json.loads(paths.exports.read_text(encoding="utf-8"))
        return int(manifest.get("exported_through_checkpoint", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def export_log(writer: ChainWriter, destination: str, *, principal: str) -> ExportResult:
    """Close the open segment, copy everything it and earlier checkpoints cover, record the export."""
    # Fail closed like every export: the intent is durable before anything is copied.
    writer.append([Draft("audit.export", "intent", principal, identifiers={"path": destination})], principal)
    folder = open_folder(destination)
    checkpoint = writer.checkpoint("export", close_segment=True)
    paths = writer.paths
    # Closed segments and checkpoints up to this one never change: copied without holding the lock, so
    # other writers are not held up by a slow destination.
    written = copied_segments = copied_checkpoints = copied_keys = 0
    for number, path in numbered_files(paths.segments, "jsonl"):
        if number <= checkpoint.closed_segments_through:
            written += folder.put(f"segments/{segment_name(number)}", path.read_bytes())
            copied_segments += 1
    for number, path in numbered_files(paths.checkpoints, "json"):
        if number <= checkpoint.number:
            written += folder.put(f"checkpoints/{checkpoint_name(number)}", path.read_bytes())
            copied_checkpoints += 1
    for path in sorted(paths.public_keys.glob("*.pem")):
        written += folder.put(f"public-keys/{path.name}", path.read_bytes())
        copied_keys += 1
    result = ExportResult(
        through_checkpoint=checkpoint.number,
        through_seq=checkpoint.last_seq,
        segments=copied_segments,
        checkpoints=copied_checkpoints,
        public_keys=copied_keys,
        written=written,
    )
    with writer.lock, writer.store.locked():
        key, _ = writer.keys.identifier_key(writer.keys.current_version)
        _remember(paths, result, keyed_hash(key, "path", destination))
    writer.append(
        [
            Draft(
                "audit.export",
                "succeeded",
                principal,
                identifiers={"path": destination},
                details={
                    "through_checkpoint": result.through_checkpoint,
                    "through_seq": result.through_seq,
                    "segments": result.segments,
                    "checkpoints": result.checkpoints,
                    "written": result.written,
                },
            )
        ],
        principal,
    )
    return result


def _remember(paths: AuditPaths, result: ExportResult, destination_hash: str) -> None:
    manifest: dict[str, Any] = {"exports": [], "exported_through_checkpoint": 0}
    if paths.exports.is_file():
        # An unreadable manifest is rewritten from what is known now; audit.export entries hold the history.
        with suppress(OSError, ValueError):
            manifest = json.loads(paths.exports.read_text(encoding="utf-8"))
    manifest.setdefault("exports", []).append(
        {"time": now_text(), "destination": destination_hash, **result.as_dict()}
    )
    manifest["exported_through_checkpoint"] = max(
        int(manifest.get("exported_through_checkpoint", 0)), result.through_checkpoint
    )
    try:
        write_private(paths.exports, json.dumps(manifest, indent=2, sort_keys=True))
    except OSError as exc:
        raise disk_failure(exc, "write the export manifest") from None
