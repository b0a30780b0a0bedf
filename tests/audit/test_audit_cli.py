"""`vaultline audit verify|show|export|search`: exit codes, JSON, and no values in the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_support import PRINCIPAL
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from vaultline.audit import AuditLog
from vaultline.audit.key_material import public_key_pem
from vaultline.cli.main import app
from vaultline.state import State

runner = CliRunner()
SUBJECT = "jane.doe@example.com"


@pytest.fixture
def populated(state: State) -> State:
    with AuditLog.open(state, segment_entries=8) as log:
        for number in range(20):
            log.record(
                "dataset.read",
                resource="features",
                run_id=f"run-{number % 2}",
                identifiers={"subject": SUBJECT if number % 5 == 0 else f"other-{number}"},
                details={"rows": number},
            )
        log.record("gc", run_id="run-1")
        log.checkpoint("run-end")
    return state


def _run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


def test_verify_exits_0_on_a_good_log_and_1_on_any_finding(populated: State) -> None:
    code, out = _run("audit", "verify", "--state", str(populated.root))
    assert code == 0 and "audit log verified" in out
    segment = populated.root / "audit" / "segments" / "000001.jsonl"
    segment.chmod(0o600)
    lines = segment.read_bytes().splitlines(keepends=True)
    segment.write_bytes(b"".join(lines[:3] + lines[4:]))
    segment.chmod(0o444)
    code, out = _run("audit", "verify", "--state", str(populated.root), "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert {"entries-missing", "checkpoint-mismatch"} <= {f["code"] for f in report["findings"]}
    assert any(f["seq"] == 4 for f in report["findings"] if f["code"] == "entries-missing")


def test_verify_says_plainly_that_a_truncated_log_ends_before_its_checkpoint(populated: State) -> None:
    last = sorted((populated.root / "audit" / "segments").glob("*.jsonl"))[-1]
    last.chmod(0o600)
    last.write_bytes(last.read_bytes().splitlines(keepends=True)[0])
    code, out = _run("audit", "verify", "--state", str(populated.root))
    assert code == 1 and "truncated-tail" in out
    assert "but the log ends at entry" in out and "are covered" not in out


def test_verify_trusts_only_the_given_public_key(populated: State, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    code, out = _run("audit", "verify", "--state", str(populated.root), "--public-key", str(stranger))
    assert code == 1 and "checkpoint-untrusted-key" in out
    real = next((populated.root / "audit-copy" / "public-keys").glob("*.pem"))
    code, _ = _run("audit", "verify", "--state", str(populated.root), "--public-key", str(real))
    assert code == 0
    code, out = _run(
        "audit", "verify", "--state", str(populated.root), "--public-key", str(tmp_path / "none.pem")
    )
    assert code != 0


def test_verify_without_a_trusted_key_says_how_to_fix_it(populated: State, tmp_path: Path) -> None:
    code, out = _run("audit", "verify", "--state", str(populated.root), "--copy", str(tmp_path / "empty"))
    assert code == 1 and "no trusted public key" in out and "--public-key" in out
    assert f"the copy location {tmp_path / 'empty'} holds none" in " ".join(out.split())
    export = tmp_path / "export"
    assert _run("audit", "export", "--state", str(populated.root), "--out", str(export))[0] == 0
    code, out = _run("audit", "verify", "--from", str(export))  # no copy location is consulted
    assert code == 1 and "pass --copy LOCATION" in " ".join(out.split())


def test_show_filters_and_prints_no_values(populated: State) -> None:
    code, out = _run(
        "audit", "show", "--state", str(populated.root), "--limit", "3", "--action", "dataset.read", "--json"
    )
    entries = json.loads(out)
    assert code == 0 and [e["details"]["rows"] for e in entries] == [17, 18, 19]
    code, out = _run("audit", "show", "--state", str(populated.root), "--run", "run-1", "--limit", "100")
    assert code == 0 and out.count("run=run-1") == 11 and "gc" in out
    code, out = _run("audit", "show", "--state", str(populated.root), "--action", "nothing.here")
    assert code == 0 and "no audit entries match" in out
    everything = _run("audit", "show", "--state", str(populated.root), "--limit", "1000", "--json")[1]
    assert SUBJECT not in everything and PRINCIPAL not in everything


def test_search_finds_by_subject_and_never_echoes_it(populated: State) -> None:
    code, out = _run("audit", "search", "--state", str(populated.root), "--subject", SUBJECT, "--json")
    found = json.loads(out)
    assert code == 0 and [e["details"]["rows"] for e in found] == [0, 5, 10, 15]
    assert SUBJECT not in out
    code, out = _run(
        "audit",
        "search",
        "--state",
        str(populated.root),
        "--subject",
        "-",
        "--kind",
        "subject",
        stdin=f"{SUBJECT}\n",
    )
    assert (
        code == 0 and out.count("dataset.read") == 4 and out.count("audit.search") == 1 and SUBJECT not in out
    )
    code, out = _run(
        "audit", "search", "--state", str(populated.root), "--subject", SUBJECT, "--kind", "email"
    )
    assert code == 1 and "not an identifier kind" in out and "hint:" in out


def test_search_for_me_finds_my_entries_and_an_empty_subject_is_refused(populated: State) -> None:
    code, out = _run("audit", "search", "--state", str(populated.root), "--me", "--json")
    mine = json.loads(out)
    actions = [e["action"] for e in mine]
    assert code == 0 and actions.count("dataset.read") == 20 and "gc" in actions
    assert PRINCIPAL not in out
    code, out = _run("audit", "search", "--state", str(populated.root), "--subject", "  ")
    assert code == 1 and "the subject to search for is empty" in out and "--me" in out
    code, out = _run("audit", "search", "--state", str(populated.root))
    assert code == 2 and "--subject" in out
    code, out = _run("audit", "search", "--state", str(populated.root), "--me", "--subject", SUBJECT)
    assert code == 2 and "not both" in out


def test_export_then_verify_the_export(populated: State, tmp_path: Path) -> None:
    out_dir = tmp_path / "audit-export"
    code, out = _run("audit", "export", "--state", str(populated.root), "--out", str(out_dir), "--json")
    result = json.loads(out)
    assert code == 0 and result["segments"] == 4 and result["written"] > 0
    key = next((out_dir / "public-keys").glob("*.pem"))
    code, out = _run("audit", "verify", "--from", str(out_dir), "--public-key", str(key))
    assert code == 0, out
    with AuditLog.open(populated) as log:  # the live log moves on: newer checkpoints in the copy location
        log.checkpoint("run-end")
    code, out = _run("audit", "verify", "--from", str(out_dir), "--copy", str(populated.root / "audit-copy"))
    assert code == 0, out  # the export is checked against the copies of the checkpoints it holds
    (out_dir / "segments" / "000002.jsonl").unlink()
    code, out = _run("audit", "verify", "--from", str(out_dir), "--public-key", str(key), "--json")
    assert code == 1 and "segment-missing" in {f["code"] for f in json.loads(out)["findings"]}


def test_verify_of_a_state_without_a_log_fails_with_a_hint(tmp_path: Path) -> None:
    code, out = _run("audit", "verify", "--state", str(tmp_path / "empty-state"))
    assert code == 1 and "no audit log" in out and "hint:" in out
