"""Fail closed: when the audit log cannot be written, opening and recording raise, and callers stop."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vaultline.audit import AuditLog, AuditUnavailableError, audit_session
from vaultline.audit.settings import COPY_ENV
from vaultline.errors import RetryableError, VaultlineError
from vaultline.keys.aws_kms import AwsKmsProvider
from vaultline.keys.local import PASSPHRASE_ENV
from vaultline.keys.providers import PROVIDER_ENV
from vaultline.state import State


def test_opening_fails_closed_when_the_audit_directory_cannot_be_created(state: State) -> None:
    (state.root / "audit").write_text("a file where the audit directory belongs")
    with pytest.raises(AuditUnavailableError) as caught:
        AuditLog.open(state)
    error = caught.value
    assert isinstance(error, VaultlineError) and isinstance(error, RetryableError)
    assert "could not open its directory" in error.message and error.hint and error.where == "audit log"


def test_recording_fails_closed_when_the_directory_becomes_unwritable(state: State) -> None:
    with AuditLog.open(state) as log:
        log.record("gc")
        segments = state.root / "audit" / "segments"
        segments.rename(state.root / "audit" / "elsewhere")
        segments.write_text("not a directory")
        with pytest.raises(AuditUnavailableError):
            log.intent("dataset.read", resource="features")
        with pytest.raises(AuditUnavailableError):
            log.checkpoint("run-end")


def test_an_operation_never_starts_when_its_intent_cannot_be_written(state: State) -> None:
    started: list[bool] = []
    with AuditLog.open(state) as log:
        (state.root / "audit" / "segments").rename(state.root / "audit" / "elsewhere")
        (state.root / "audit" / "segments").write_text("not a directory")
        with pytest.raises(AuditUnavailableError), log.operation("dataset.read", resource="features"):
            started.append(True)
    assert not started


def test_a_full_disk_stops_intent_and_leaves_no_partial_line(state: State) -> None:
    """A real write error: RLIMIT_FSIZE makes the kernel refuse to grow the segment (EFBIG), in a child."""
    with AuditLog.open(state) as log:
        log.record("gc")
    segment = state.root / "audit" / "segments" / "000001.jsonl"
    size = segment.stat().st_size
    script = textwrap.dedent(
        f"""
        import json, resource, signal
        from vaultline.audit import AuditLog, AuditUnavailableError
        import os
        from vaultline.state import State
        log = AuditLog.open(State.resolve({str(state.root)!r}))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = os.stat({str(segment)!r}).st_size + 100  # room for part of a line, not a whole one
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        try:
            log.intent("dataset.read", resource="features", details={{"note": "x" * 200}})
        except AuditUnavailableError as exc:
            print(json.dumps({{"refused": True, "message": exc.message, "hint": exc.hint}}))
        else:
            print(json.dumps({{"refused": False}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["refused"] and "File too large" in outcome["message"] and outcome["hint"]
    data = segment.read_bytes()
    assert data.endswith(b"\n") and len(data) > size  # the open's own entries landed; no half line
    with AuditLog.open(state) as log:
        assert log.verify().ok
        assert not list(log.entries(action="dataset.read"))


def test_opening_fails_closed_when_the_key_provider_is_unreachable(
    state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):  # fmt: skip
        monkeypatch.setenv(name, value)  # configured as it should be: only the endpoint fails
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = AwsKmsProvider(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1, connect_timeout=1)
    with pytest.raises(AuditUnavailableError) as caught:
        AuditLog.open(state, provider=provider)
    assert "could not derive its keys" in caught.value.message
    assert "check the network and the endpoint" in (caught.value.hint or "")  # the cause's own fix
    assert caught.value.retryable  # the provider may come back


def test_a_wrong_passphrase_is_named_as_the_fix_not_the_provider(
    state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    with AuditLog.open(state) as log:  # the keyring exists, under the session's passphrase
        log.record("gc")
    monkeypatch.setenv(PASSPHRASE_ENV, "not the passphrase")
    with pytest.raises(AuditUnavailableError) as caught:
        AuditLog.open(state)
    assert "passphrase" in caught.value.message and PASSPHRASE_ENV in (caught.value.hint or "")
    assert "make the key provider reachable" not in (caught.value.hint or "")


def test_a_session_body_never_runs_when_the_provider_cannot_be_opened(
    state: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PROVIDER_ENV, "no-such-provider")
    ran: list[bool] = []
    with pytest.raises(AuditUnavailableError, match="could not open the key provider"), audit_session(state):
        ran.append(True)
    assert not ran


def test_a_checkpoint_that_cannot_be_copied_fails_closed(
    state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "second-disk"
    monkeypatch.setenv(COPY_ENV, str(copy))
    with AuditLog.open(state) as log:
        shutil.rmtree(copy / "checkpoints", ignore_errors=True)
        (copy / "checkpoints").write_text("the copy location is broken")
        with pytest.raises(AuditUnavailableError, match=r"could not write checkpoints/000001\.json"):
            log.checkpoint("run-end")


def test_a_copy_location_holding_another_logs_checkpoint_is_refused(
    state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared-copy"
    monkeypatch.setenv(COPY_ENV, str(shared))
    with AuditLog.open(state) as log:
        log.checkpoint("run-end")
    other = State(tmp_path / "other-state").ensure()
    with pytest.raises(AuditUnavailableError, match="holds audit checkpoint 1, but the log") as caught:
        AuditLog.open(other)  # nothing is written there, not even the other log's public key
    assert not caught.value.retryable  # another log's (or altered) files stay there
    assert len(list((shared / "public-keys").iterdir())) == 1


def test_a_copy_location_of_a_log_as_long_as_this_one_is_refused(
    state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = State(tmp_path / "other-state").ensure()
    for each in (state, other):
        with AuditLog.open(each) as log:
            log.checkpoint("run-end")
    monkeypatch.setenv(COPY_ENV, str(other.root / "audit-copy"))
    with pytest.raises(AuditUnavailableError, match=r"checkpoints/000001\.json already exists .* different"):
        AuditLog.open(state)
    assert len(list((other.root / "audit-copy" / "public-keys").iterdir())) == 1


def test_a_deleted_log_is_not_started_afresh_beside_its_signed_copy(state: State) -> None:
    with AuditLog.open(state) as log:
        log.record("gc")
        log.checkpoint("run-end")
    shutil.rmtree(state.root / "audit")
    with pytest.raises(AuditUnavailableError, match="the log was deleted or cut back") as caught:
        AuditLog.open(state)
    assert "restore the audit folder" in (caught.value.hint or "")
    assert not list((state.root / "audit" / "segments").iterdir())


def test_a_copy_location_that_cannot_be_written_stops_the_log_from_opening(
    state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "second-disk"
    copy.mkdir()
    (copy / "checkpoints").write_text("not a directory")  # what a read-only mount does to a root
    monkeypatch.setenv(COPY_ENV, str(copy))
    with pytest.raises(AuditUnavailableError, match="cannot add files under") as caught:
        AuditLog.open(state)
    assert caught.value.where == "audit copy" and "VAULTLINE_AUDIT_COPY" in (caught.value.hint or "")


def test_a_log_is_never_given_a_second_signing_key_by_another_provider(state: State, tmp_path: Path) -> None:
    from vaultline.keys.local import LocalKeyring

    with AuditLog.open(state) as log:
        log.record("gc")
    elsewhere = LocalKeyring(tmp_path / "another-region", warn=False)  # holds no vaultline-audit
    with pytest.raises(AuditUnavailableError, match="not the provider") as caught:
        AuditLog.open(state, provider=elsewhere)
    assert "VAULTLINE_KEY_PROVIDER" in (caught.value.hint or "") and not caught.value.retryable
    assert elsewhere.list() == [] and len(list((state.root / "audit-copy" / "public-keys").iterdir())) == 1
