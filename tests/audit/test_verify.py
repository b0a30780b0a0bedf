"""Verification reports each kind of tampering by name and place, and passes what is legitimate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from vaultline.audit import AuditError, AuditLog, VerifyReport, verify_log
from vaultline.audit.folders import LocalFolder
from vaultline.audit.key_material import public_key_pem
from vaultline.audit.settings import numbered_files
from vaultline.audit.verify import load_public_keys
from vaultline.state import State


@pytest.fixture
def log_state(state: State) -> State:
    """38 entries in 4 segments of 10 (header first), a run-end checkpoint at 35, three entries after it."""
    with AuditLog.open(state, segment_entries=10) as log:
        for number in range(28):
            log.record("dataset.read", resource="features", details={"rows": number})
        log.checkpoint("run-end")
        for _ in range(3):
            log.record("gc")
    return state


def _verify(state: State, **kwargs: object) -> VerifyReport:
    return verify_log(state.root / "audit", copy=LocalFolder(state.root / "audit-copy"), **kwargs)  # type: ignore[arg-type]


def _codes(report: VerifyReport) -> set[str]:
    return {finding.code for finding in report.findings}


def _segment(state: State, number: int) -> Path:
    return state.root / "audit" / "segments" / f"{number:06d}.jsonl"


def _rewrite(path: Path, lines: list[bytes]) -> None:
    path.chmod(0o600)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    path.chmod(0o444)


def test_an_untouched_log_verifies(log_state: State) -> None:
    report = _verify(log_state)
    assert report.ok and report.entries == 38 and report.segments == 4
    assert report.last_seq == 38 and report.checkpointed_seq == 35


def test_a_modified_entry_is_reported_with_its_seq(log_state: State) -> None:
    path = _segment(log_state, 2)
    lines = path.read_bytes().splitlines()
    lines[3] = lines[3].replace(b'"rows":', b'"rows":9')
    _rewrite(path, lines)
    report = _verify(log_state)
    assert ("entry-modified", 14) in {(f.code, f.seq) for f in report.findings}
    assert "checkpoint-mismatch" in _codes(report)  # segment 2's signed SHA-256 no longer matches


def test_a_rehashed_modification_breaks_the_link_and_the_checkpoint(log_state: State) -> None:
    """An attacker who recomputes the entry's hash still breaks the next entry's `prev` and the segment's
    signed SHA-256."""
    import json

    from vaultline.audit.entries import seal

    path = _segment(log_state, 2)
    lines = path.read_bytes().splitlines()
    document = json.loads(lines[3])
    document.pop("hash")
    document["details"]["rows"] = 12345
    lines[3] = seal(document)[0].rstrip(b"\n")
    _rewrite(path, lines)
    codes = {(f.code, f.seq) for f in _verify(log_state).findings}
    assert ("chain-broken", 15) in codes and ("checkpoint-mismatch", None) in codes


def test_deleted_and_reordered_entries_are_told_apart(log_state: State) -> None:
    path = _segment(log_state, 3)
    lines = path.read_bytes().splitlines()
    del lines[4]  # entry 25
    lines[1], lines[2] = lines[2], lines[1]  # entries 22 and 23
    _rewrite(path, lines)
    findings = _verify(log_state).findings
    missing = [(f.seq, f.last_seq) for f in findings if f.code == "entries-missing"]
    reordered = [f.seq for f in findings if f.code == "entries-reordered"]
    assert missing == [(25, 25)] and reordered == [22]


def test_a_replayed_entry_is_reported_as_a_duplicate(log_state: State) -> None:
    path = _segment(log_state, 2)
    lines = path.read_bytes().splitlines()
    _rewrite(path, [*lines[:6], lines[2], *lines[6:]])  # entry 13 again after 16
    findings = {(f.code, f.seq) for f in _verify(log_state).findings}
    assert ("entry-duplicate", 13) in findings and "entries-missing" not in {code for code, _ in findings}


def test_a_deleted_segment_is_reported(log_state: State) -> None:
    _segment(log_state, 2).unlink()
    findings = _verify(log_state).findings
    assert ("segment-missing", 2) in {(f.code, f.segment) for f in findings}
    assert ("entries-missing", 11, 20) in {(f.code, f.seq, f.last_seq) for f in findings}


def test_a_segment_or_checkpoint_replaced_by_a_directory_is_a_finding(log_state: State) -> None:
    from vaultline.audit.reading import iter_entries

    _segment(log_state, 2).unlink()
    _segment(log_state, 2).mkdir()
    checkpoint = log_state.root / "audit" / "checkpoints" / "000001.json"
    checkpoint.unlink()
    checkpoint.mkdir()
    findings = {(f.code, f.segment or f.checkpoint) for f in _verify(log_state).findings}
    assert {("segment-unreadable", 2), ("segment-missing", 2), ("checkpoint-differs", 1)} <= findings
    with pytest.raises(AuditError, match=r"audit segment 000002.jsonl cannot be read \(Is a directory\)"):
        list(iter_entries(log_state.root / "audit" / "segments"))


def test_tail_truncation_is_caught_up_to_the_last_copied_checkpoint(log_state: State) -> None:
    path = _segment(log_state, 4)
    lines = path.read_bytes().splitlines()
    _rewrite(path, lines[:3])  # the log now ends at 33; checkpoint 4 covers up to 35
    for number, checkpoint in numbered_files(log_state.root / "audit" / "checkpoints", "json"):
        if number >= 4:
            checkpoint.unlink()  # the attacker hides local checkpoints; the copies remain
    findings = _verify(log_state).findings
    truncated = [(f.seq, f.last_seq) for f in findings if f.code == "truncated-tail"]
    assert truncated == [(34, 35)]
    assert "checkpoint-missing" in {f.code for f in findings}


def test_cutting_only_entries_after_the_last_checkpoint_is_not_detectable(log_state: State) -> None:
    """The documented limit: entries no copied checkpoint covers yet can be cut without a trace."""
    path = _segment(log_state, 4)
    lines = path.read_bytes().splitlines()
    _rewrite(path, lines[:5])  # keeps 31..35, drops 36..38
    report = _verify(log_state)
    assert report.ok and report.last_seq == report.checkpointed_seq == 35


def test_swapped_or_removed_checkpoints_break_the_chain(log_state: State) -> None:
    folder = log_state.root / "audit" / "checkpoints"
    first, second = folder / "000001.json", folder / "000002.json"
    one, two = first.read_bytes(), second.read_bytes()
    for path, data in ((first, two), (second, one)):
        path.chmod(0o600)
        path.write_bytes(data)
    assert {"checkpoint-differs"} <= _codes(_verify(log_state))
    # The attacker reaches the copy location too: the swap still shows, by name and by chain.
    copies = log_state.root / "audit-copy" / "checkpoints"
    for name in ("000001.json", "000002.json"):
        (copies / name).chmod(0o600)
        shutil.copyfile(folder / name, copies / name)
    assert {"checkpoint-misnamed", "checkpoint-missing"} <= _codes(_verify(log_state))


def test_a_checkpoint_removed_everywhere_breaks_the_chain(log_state: State) -> None:
    for folder in ("audit/checkpoints", "audit-copy/checkpoints"):
        (log_state.root / folder / "000002.json").unlink()
    codes = {(f.code, f.checkpoint) for f in _verify(log_state).findings}
    assert ("checkpoint-missing", 2) in codes


def test_a_forged_checkpoint_fails_its_signature(log_state: State) -> None:
    from vaultline.audit.checkpoints import Checkpoint

    path = log_state.root / "audit-copy" / "checkpoints" / "000003.json"
    forged = Checkpoint.parse(path.read_bytes()).model_copy(update={"last_seq": 10**6})
    path.chmod(0o600)
    path.write_bytes(forged.to_bytes())
    codes = {(f.code, f.checkpoint) for f in _verify(log_state).findings}
    assert ("checkpoint-signature", 3) in codes and ("checkpoint-differs", 3) in codes


def test_only_the_given_or_copied_public_keys_are_trusted(log_state: State, tmp_path: Path) -> None:
    stranger = load_public_keys([public_key_pem(Ed25519PrivateKey.generate().public_key())])
    report = _verify(log_state, public_keys=stranger)
    assert {f.code for f in report.errors} == {"checkpoint-untrusted-key"}
    # A key planted next to the log is not trusted: only the copy location's are.
    shutil.rmtree(log_state.root / "audit-copy" / "public-keys")
    with pytest.raises(AuditError, match="no trusted public key"):
        _verify(log_state)


def test_a_closed_segment_left_writable_is_a_warning(log_state: State) -> None:
    _segment(log_state, 1).chmod(0o644)
    report = _verify(log_state)
    assert [(f.code, f.severity, f.segment) for f in report.findings] == [("segment-writable", "warning", 1)]
    assert not report.ok and not report.errors


def test_verify_needs_a_log(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="no audit log"):
        verify_log(tmp_path, copy=None)
