"""The chain and its checkpoints: what an entry holds, how segments close, how checkpoints link."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from audit_support import PRINCIPAL

from vaultline.audit import AuditError, AuditLog, AuditUnavailableError
from vaultline.audit.checkpoints import Checkpoint
from vaultline.audit.entries import GENESIS, canonical_json
from vaultline.audit.key_material import AUDIT_KEY
from vaultline.audit.settings import numbered_files
from vaultline.audit.verify import load_public_keys
from vaultline.keys.local import LocalKeyring
from vaultline.state import State


def _lines(state: State) -> list[dict[str, object]]:
    lines = []
    for _, path in numbered_files(state.root / "audit" / "segments", "jsonl"):
        lines += [json.loads(line) for line in path.read_bytes().splitlines()]
    return lines


def _checkpoints(folder: Path) -> list[Checkpoint]:
    return [Checkpoint.parse(path.read_bytes()) for _, path in numbered_files(folder, "json")]


def test_entries_chain_segments_close_and_checkpoints_link(state: State) -> None:
    with AuditLog.open(state, segment_entries=10) as log:
        for number in range(25):
            log.record(
                "dataset.read",
                resource="features@2",
                run_id=f"run-{number % 3}",
                identifiers={"path": f"/data/in-{number}.csv"},
                details={"rows": number, "columns": 4},
            )
        final = log.checkpoint("run-end")
        report = log.verify()
    assert report.ok, report.findings
    lines = _lines(state)
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    previous = GENESIS
    for line in lines:
        stored = line.pop("hash")
        assert line["prev"] == previous
        assert hashlib.sha256(canonical_json(line)).hexdigest() == stored
        assert str(line["time"]).endswith("Z") and len(str(line["time"])) == 24
        previous = str(stored)
    segments = numbered_files(state.root / "audit" / "segments", "jsonl")
    assert len(segments) == (len(lines) + 9) // 10 >= 3  # 10 entries each, header included
    checkpoints = _checkpoints(state.root / "audit" / "checkpoints")
    closing = {digest.segment: digest for c in checkpoints for digest in c.segments}
    for number, path in segments[:-1]:  # closed: read-only, and its SHA-256 signed
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
        assert closing[number].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert stat.S_IMODE(segments[-1][1].stat().st_mode) == 0o600
    public = load_public_keys(
        p.read_bytes() for p in (state.root / "audit-copy" / "public-keys").glob("*.pem")
    )
    for earlier, later in pairwise(checkpoints):
        assert later.previous_signature == earlier.signature
        assert later.first_seq == earlier.last_seq + 1
    assert checkpoints[0].previous_signature == ""
    assert all(c.signature_valid(public[c.public_key]) for c in checkpoints)
    assert final == checkpoints[-1] and final.reason == "run-end" and final.last_seq == lines[-1]["seq"]
    copies = state.root / "audit-copy" / "checkpoints"
    for number, path in numbered_files(state.root / "audit" / "checkpoints", "json"):
        assert (copies / path.name).read_bytes() == path.read_bytes(), number


def test_a_checkpoint_is_written_when_nothing_happened(state: State) -> None:
    with AuditLog.open(state) as log:
        first = log.checkpoint("run-end")
        second = log.checkpoint("run-end")
    assert second.number == first.number + 1
    assert second.first_seq == second.last_seq + 1  # covers no entry, still signed and chained
    assert second.previous_signature == first.signature


def test_opening_records_the_logs_own_key_uses_once(state: State) -> None:
    with AuditLog.open(state) as log:
        own = [(e.action, e.details.get("context"), e.outcome) for e in log.entries(action="key")]
        assert own == [
            ("key.create", None, "allowed"),
            ("key.derive", "audit/identifiers", "allowed"),
            ("key.derive", "audit/signing", "allowed"),
        ]
    with AuditLog.open(state) as again:
        derived = list(again.entries(action="key.derive"))
    assert len(derived) == 4 and len(list(again.entries(action="key.create"))) == 1


def test_nothing_written_equals_a_raw_identifier(state: State) -> None:
    raw = ["/srv/raw/patients-2026.csv", "jane.doe@example.com", "customer_key", PRINCIPAL]
    with AuditLog.open(state, segment_entries=4) as log:
        for _ in range(3):
            log.record(
                "dataset.read",
                identifiers={"path": raw[0], "subject": raw[1], "key": raw[2], "principal": raw[3]},
            )
        log.checkpoint("run-end")
        log.export(str(state.root.parent / "export"))
    written = b"".join(path.read_bytes() for path in state.root.parent.rglob("*") if path.is_file())
    for value in raw:
        assert value.encode() not in written
    assert b"hmac-sha256:" in written


def test_search_finds_entries_by_subject_and_kind(state: State) -> None:
    with AuditLog.open(state) as log:
        log.record("dataset.read", identifiers={"subject": "patient-0042", "path": "/a.csv"})
        log.record("dataset.read", identifiers={"subject": "patient-0043"})
        log.record("export", identifiers={"path": "patient-0042"})  # same text, another kind
        # seq 1-4: the segment header and the log's own key uses
        assert [e.seq for e in log.search("patient-0042", kind="subject")] == [5]
        assert [e.seq for e in log.search("patient-0042")] == [5, 7, 8]  # any kind; 8 is the first search
        assert [e.action for e in log.search(PRINCIPAL, kind="principal")][:2] == [
            "audit.segment.open",
            "key.create",
        ]
        assert log.search("nobody") == []
        searches = list(log.entries(action="audit.search"))
    assert [s.details["matches"] for s in searches] == [1, 3, 9, 0]
    assert searches[0].identifiers["subject"] == log.hash_identifier("subject", "patient-0042")


def test_a_local_path_is_found_however_it_was_spelled(
    state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with AuditLog.open(state) as log:
        log.record("source.read", identifiers={"path": "raw/tx.csv"})
        log.record("source.read", identifiers={"path": "s3://bucket/raw/tx.csv"})
        for spelling in ("raw/tx.csv", "./raw/tx.csv", "raw//tx.csv", str(tmp_path / "raw" / "tx.csv")):
            found = log.search(spelling, kind="path")  # searches are recorded: each finds the ones before
            assert [e.action for e in found if e.action != "audit.search"] == ["source.read"], spelling
        reads = [e for e in log.search("s3://bucket/raw/tx.csv", kind="path") if e.action == "source.read"]
        assert len(reads) == 1
        assert log.search("s3://bucket/raw//tx.csv", kind="path") == []  # another object


def test_rotation_pins_each_segment_to_its_key_version_and_search_tries_every_version(
    state: State, state_keyring: LocalKeyring
) -> None:
    with AuditLog.open(state, segment_entries=12) as log:
        log.record("dataset.read", identifiers={"subject": "patient-7"})
        before = log.hash_identifier("subject", "patient-7")
    state_keyring.rotate(AUDIT_KEY)
    with AuditLog.open(state, segment_entries=12) as rotated:
        # The open segment was pinned to version 1: this entry is hashed under version 1 too.
        rotated.record("dataset.read", identifiers={"subject": "patient-7"})
        for _ in range(8):
            rotated.record("gc")
        rotated.record("dataset.read", identifiers={"subject": "patient-7"})  # segment 2: version 2
        after = rotated.hash_identifier("subject", "patient-7")
        found = rotated.search("patient-7", kind="subject")
        assert rotated.verify().ok
    assert before != after
    assert [e.identifiers["subject"] for e in found] == [before, before, after]
    headers = [e.details for e in rotated.entries(action="audit.segment.open")]
    assert [h["identifier_key_version"] for h in headers] == [1, 2]


def test_operation_writes_intent_then_outcome_with_details(state: State) -> None:
    with AuditLog.open(state) as log:
        with log.operation(
            "dataset.read", resource="features", run_id="r1", identifiers={"path": "/x"}
        ) as op:
            intent = list(log.entries(action="dataset.read"))
            assert [e.outcome for e in intent] == ["intent"]
            op.details["rows"] = 10
        with pytest.raises(ValueError, match="patient-0042"), log.operation("dataset.read") as failing:
            raise ValueError("bad value patient-0042")
        entries = list(log.entries(action="dataset.read"))
    assert [(e.outcome, e.details) for e in entries] == [
        ("intent", {}),
        ("succeeded", {"rows": 10}),
        ("intent", {}),
        ("failed", {"error": "ValueError"}),
    ]
    assert entries[0].operation == entries[1].operation == op.id != failing.id == entries[3].operation
    assert (
        entries[1].resource == "features" and entries[1].run_id == "r1" and "path" in entries[1].identifiers
    )


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"action": "Dataset Read"}, "not an audit action"),
        ({"action": "dataset.read", "resource": "/srv/raw/patients.csv"}, "not a plain name"),
        ({"action": "dataset.read", "resource": "jane doe"}, "not a plain name"),
        ({"action": "dataset.read", "details": {"row": {"ssn": "1"}}}, "not a short scalar"),
        ({"action": "dataset.read", "details": {"ratio": float("nan")}}, "not a short scalar"),
        ({"action": "dataset.read", "details": {"text": "x" * 300}}, "not a short scalar"),
        ({"action": "dataset.read", "identifiers": {"email": "a@b.c"}}, "not an identifier kind"),
        ({"action": "dataset.read", "outcome": "maybe"}, "not an audit outcome"),
    ],
)
def test_entries_that_could_carry_values_are_refused(
    state: State, arguments: dict[str, object], fragment: str
) -> None:
    with AuditLog.open(state) as log:
        count = len(list(log.entries()))
        with pytest.raises(AuditError, match=fragment) as caught:
            log.record(**arguments)  # type: ignore[arg-type]
        assert caught.value.hint
        assert len(list(log.entries())) == count
        with pytest.raises(AuditError, match="not a checkpoint reason"):
            log.checkpoint("Run End")


def test_an_unfinished_last_line_is_cut_and_recorded(state: State) -> None:
    with AuditLog.open(state) as log:
        log.record("gc")
        segment = state.root / "audit" / "segments" / "000001.jsonl"
        with segment.open("ab") as handle:
            handle.write(b'{"seq":99,"action":"dataset.re')  # a write that died mid-line
        log.record("vacuum")
        actions = [(e.action, e.details) for e in log.entries()][-2:]
        assert log.verify().ok
    assert actions == [("audit.recovered", {"unfinished_bytes_cut": 30}), ("vacuum", {})]


def test_a_signed_entry_that_lost_its_newline_is_never_cut(state: State) -> None:
    with AuditLog.open(state) as log:
        log.record("gc")
        log.checkpoint("run-end")
    segment = state.root / "audit" / "segments" / "000001.jsonl"
    damaged = segment.read_bytes()[:-1]  # only the final newline removed: restoring it repairs the log
    segment.write_bytes(damaged)
    with pytest.raises(AuditUnavailableError, match="ends before what checkpoint 1 covers"):
        AuditLog.open(state)
    assert segment.read_bytes() == damaged
    segment.write_bytes(damaged + b"\n")
    with AuditLog.open(state) as log:
        log.record("vacuum")
        assert log.verify().ok


def test_writing_stops_when_the_log_is_shorter_than_its_checkpoint(state: State) -> None:
    with AuditLog.open(state) as log:
        for _ in range(5):
            log.record("gc")
        log.checkpoint("run-end")
        segment = state.root / "audit" / "segments" / "000001.jsonl"
        lines = segment.read_bytes().splitlines(keepends=True)
        segment.write_bytes(b"".join(lines[:-2]))
        with pytest.raises(AuditUnavailableError, match="lost entries this process saw"):
            log.intent("dataset.read")
    with pytest.raises(AuditUnavailableError, match="ends before what checkpoint 1 covers") as caught:
        AuditLog.open(state)  # a fresh process knows only the checkpoint, and that is enough
    assert "vaultline audit verify" in (caught.value.hint or "")


def test_entries_filter_by_action_prefix_run_and_time(state: State) -> None:
    with AuditLog.open(state) as log:
        log.record("dataset.read", run_id="r1")
        log.record("dataset.write", run_id="r2")
        log.record("datasetx", run_id="r1")
        assert [e.action for e in log.entries(action="dataset")] == ["dataset.read", "dataset.write"]
        assert [e.action for e in log.entries(run_id="r1")] == ["dataset.read", "datasetx"]
        assert list(log.entries(since=datetime.now(UTC) + timedelta(minutes=1))) == []
        naive_past = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
        assert len(list(log.entries(since=naive_past))) == len(list(log.entries()))
