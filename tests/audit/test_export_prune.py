"""Export, then retention: only whole, closed, exported segments go, and verify still passes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vaultline.audit import AuditLog, verify_log
from vaultline.audit.entries import seal
from vaultline.audit.folders import LocalFolder
from vaultline.audit.settings import numbered_files
from vaultline.audit.verify import load_public_keys
from vaultline.state import State

LATER = datetime.now(UTC) + timedelta(days=1)


def _fill(log: AuditLog, count: int) -> None:
    for number in range(count):
        log.record("dataset.read", resource="features", details={"rows": number})


def _segment_numbers(state: State) -> list[int]:
    return [number for number, _ in numbered_files(state.root / "audit" / "segments", "jsonl")]


def test_export_copies_a_verifiable_log_and_records_itself(state: State, tmp_path: Path) -> None:
    out = tmp_path / "exported"
    with AuditLog.open(state, segment_entries=10) as log:
        _fill(
            log, 22
        )  # with the log's own 4 entries, 2 more headers and the export's intent: 29, segment 3 open
        result = log.export(str(out))
        again = log.export(str(out))
        exports = [e for e in log.entries(action="audit.export") if e.outcome == "succeeded"]
        assert log.verify().ok
    assert result.segments == 3 and result.through_seq == 29  # the open segment was closed for the export
    assert (result.checkpoints, result.public_keys, result.written) == (3, 1, 7)
    assert again.written == again.segments - result.segments + again.checkpoints - result.checkpoints
    manifest = json.loads((state.root / "audit" / "exports.json").read_text())
    assert manifest["exported_through_checkpoint"] == again.through_checkpoint
    assert all(entry["destination"].startswith("hmac-sha256:") for entry in manifest["exports"])
    assert [e.details["through_checkpoint"] for e in exports] == [3, 4]
    assert exports[0].identifiers["path"] == log.hash_identifier("path", str(out))
    keys = load_public_keys(path.read_bytes() for path in (out / "public-keys").glob("*.pem"))
    exported = verify_log(out, copy=None, public_keys=keys)
    assert exported.ok and exported.last_seq == again.through_seq


def test_prune_removes_only_exported_closed_old_segments_and_verify_passes(
    state: State, tmp_path: Path
) -> None:
    with AuditLog.open(state, segment_entries=10) as log:
        _fill(log, 45)
        nothing = log.prune(LATER)
        assert (nothing.segments, nothing.stop_reason, nothing.stopped_at) == ((), "not-exported", 1)
        exported = log.export(str(tmp_path / "export"))  # closes the open segment: N segments exported
        last = exported.segments
        _fill(log, 12)  # segment N+1 closes (not exported), N+2 stays open
        dry = log.prune(LATER, dry_run=True)
        assert dry.segments == tuple(range(1, last + 1)) and (dry.stop_reason, dry.stopped_at) == (
            "not-exported",
            last + 1,
        )
        assert _segment_numbers(state) == list(range(1, last + 3))
        young = log.prune(datetime.now(UTC) - timedelta(hours=1))
        assert young.segments == () and young.stop_reason == "too-recent"
        pruned = log.prune(LATER)
        assert (
            pruned.segments == dry.segments and pruned.entries == pruned.through_seq == exported.through_seq
        )
        assert _segment_numbers(state) == [last + 1, last + 2]
        intent, entry = log.entries(action="audit.prune")  # the intent precedes the removal
        assert (intent.outcome, entry.outcome) == ("intent", "succeeded") and intent.seq < entry.seq
        assert (entry.details["through_segment"], entry.details["through_seq"]) == (
            last,
            exported.through_seq,
        )
        report = log.verify()
        assert report.ok, report.findings
        assert report.pruned_through_segment == last
        _fill(log, 15)
        log.checkpoint("run-end")
        assert log.verify().ok
        final = log.prune(LATER)
        assert final.segments == () and final.stop_reason == "not-exported"


def test_prune_never_removes_the_newest_segment(state: State, tmp_path: Path) -> None:
    with AuditLog.open(state, segment_entries=10) as log:
        _fill(log, 5)
        log.export(str(tmp_path / "export"))  # its intent closes segment 1; segment 2: header, export
        _fill(log, 8)  # segment 2 closes too: now the newest file, and closed
        result = log.prune(LATER)
    assert result.segments == (1,) and (result.stop_reason, result.stopped_at) == ("newest", 2)


def test_a_missing_segment_after_a_prune_is_still_reported(state: State, tmp_path: Path) -> None:
    with AuditLog.open(state, segment_entries=10) as log:
        _fill(log, 40)
        log.export(str(tmp_path / "export"))
        log.prune(LATER)
        _fill(log, 20)
        log.checkpoint("run-end")
        remaining = _segment_numbers(state)
        (state.root / "audit" / "segments" / f"{remaining[1]:06d}.jsonl").unlink()
        findings = {(f.code, f.segment) for f in log.verify().findings}
    assert ("segment-missing", remaining[1]) in findings


def test_a_forged_prune_entry_in_the_unsigned_tail_excuses_nothing(state: State) -> None:
    """An attacker deletes the oldest segment and appends a well-chained `audit.prune` entry claiming it:
    no checkpoint covers that entry, so verification still reports the segment missing."""
    with AuditLog.open(state, segment_entries=10) as log:
        _fill(log, 30)
        log.checkpoint("run-end")
        tail = list(log.entries())[-1]
        first_segment = state.root / "audit" / "segments" / "000001.jsonl"
        last_of_first = json.loads(first_segment.read_bytes().splitlines()[-1])
        first_segment.unlink()
        forged = {**tail.model_dump(exclude={"hash"}), "seq": tail.seq + 1, "prev": tail.hash}
        forged |= {"action": "audit.prune", "outcome": "succeeded", "operation": None}
        forged["details"] = {
            "through_segment": 1,
            "through_seq": last_of_first["seq"],
            "through_hash": last_of_first["hash"],
        }
        newest = state.root / "audit" / "segments" / f"{_segment_numbers(state)[-1]:06d}.jsonl"
        with newest.open("ab") as handle:
            handle.write(seal(forged)[0])
        report = verify_log(state.root / "audit", copy=LocalFolder(state.root / "audit-copy"))
    assert ("segment-missing", 1) in {(f.code, f.segment) for f in report.findings}
    assert report.pruned_through_segment == 0


@pytest.mark.parametrize("cutoff", [datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)])
def test_prune_accepts_naive_times_as_utc(state: State, tmp_path: Path, cutoff: datetime) -> None:
    with AuditLog.open(state, segment_entries=10) as log:
        _fill(log, 25)
        exported = log.export(str(tmp_path / "export"))
        _fill(log, 3)
        assert log.prune(cutoff).segments == tuple(range(1, exported.segments + 1))


def test_a_prune_that_fails_half_way_leaves_its_intent_and_failure_in_the_log(
    state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultline.audit import prune

    def disk_gone(writer: object, chosen: list[object]) -> None:
        raise OSError("the disk went away")

    with AuditLog.open(state, segment_entries=10) as log:
        _fill(log, 25)
        log.export(str(tmp_path / "export"))
        _fill(log, 12)
        monkeypatch.setattr(prune, "_remove", disk_gone)
        with pytest.raises(OSError):
            log.prune(LATER)
        outcomes = [(e.outcome, e.details.get("error")) for e in log.entries(action="audit.prune")]
    assert outcomes == [("intent", None), ("failed", "OSError")]
