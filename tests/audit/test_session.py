"""audit_session: every key use recorded through the hook, nesting shares one log, checkpoints on exit."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import pytest

from vaultline.audit import AuditLog, audit_session
from vaultline.errors import AuditUnavailableError
from vaultline.keys import hooks
from vaultline.keys.local import LocalKeyring
from vaultline.keys.principal import ROLES_ENV
from vaultline.keys.provider import KeyAccessDenied, KeyRef
from vaultline.state import State


def _key_entries(log: AuditLog) -> Sequence[tuple[str, str, Mapping[str, object]]]:
    return [(e.action, e.outcome, e.details) for e in log.entries(action="key")][3:]  # after the log's own


def test_the_hook_records_create_derive_unwrap_rotate_and_denied_uses(
    state: State, state_keyring: LocalKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    with audit_session(state) as log:
        state_keyring.create("customer_key", purpose="tokenize")
        state_keyring.create("phi_key", roles=["privacy_office"])
        state_keyring.derive(KeyRef("customer_key"), context="tokenize/customer")
        _, wrapped = state_keyring.generate_data_key(KeyRef("phi_key"))
        monkeypatch.setenv(ROLES_ENV, "analyst")
        with pytest.raises(KeyAccessDenied):
            state_keyring.unwrap_data_key("phi_key", wrapped)
        monkeypatch.setenv(ROLES_ENV, "privacy_office")
        state_keyring.unwrap_data_key("phi_key", wrapped)
        state_keyring.rotate("customer_key")
        recorded = _key_entries(log)
        customer = log.hash_identifier("key", "customer_key")
        entries = list(log.entries(action="key"))[3:]
    local = {"provider": "local"}
    assert recorded == [
        ("key.create", "allowed", {**local, "version": 1, "context": None}),
        ("key.create", "allowed", {**local, "version": 1, "context": None}),
        ("key.derive", "allowed", {**local, "version": 1, "context": "tokenize/customer"}),
        ("key.generate_data_key", "allowed", {**local, "version": 1, "context": None}),
        ("key.unwrap_data_key", "denied", {**local, "version": 1, "context": None}),
        ("key.unwrap_data_key", "allowed", {**local, "version": 1, "context": None}),
        ("key.rotate", "allowed", {**local, "version": 2, "context": None}),
    ]
    assert entries[0].identifiers == {"key": customer} and entries[1].identifiers["key"] != customer
    assert not hooks.registered()  # unregistered when the session ended


def test_key_uses_outside_a_session_are_not_recorded(state: State, state_keyring: LocalKeyring) -> None:
    with audit_session(state) as log:
        pass
    state_keyring.create("later_key")
    assert not [e for e in log.entries(action="key.create") if e.identifiers["key"] != _audit_key(log)]


def _audit_key(log: AuditLog) -> str:
    return log.hash_identifier("key", "vaultline-audit")


def test_nested_sessions_share_one_log_and_one_hook(state: State, state_keyring: LocalKeyring) -> None:
    with audit_session(state) as outer:
        with audit_session(state, checkpoint_reason="run-end") as inner:
            assert inner is outer
            assert hooks.registered().count(outer.record_key_use) == 1 and len(hooks.registered()) == 1
            state_keyring.create("nested_key")
        assert hooks.registered() == (outer.record_key_use,)  # still recording for the outer session
        state_keyring.derive(KeyRef("nested_key"), context="tokenize/x")
        checkpoints = sorted((state.root / "audit" / "checkpoints").glob("*.json"))
    created = [
        e
        for e in outer.entries(action="key")
        if e.identifiers["key"] == outer.hash_identifier("key", "nested_key")
    ]
    assert [e.action for e in created] == ["key.create", "key.derive"]  # once each: one hook
    assert len(checkpoints) == 1  # the inner session's run-end
    assert not hooks.registered()


def test_a_session_checkpoints_on_exit_even_after_a_failure_or_doing_nothing(state: State) -> None:
    with audit_session(state, checkpoint_reason="run-end"):
        pass  # a run that read nothing still ends with a signed checkpoint
    with pytest.raises(RuntimeError, match="boom"), audit_session(state, checkpoint_reason="run-end") as log:
        log.record("run", outcome="failed")
        raise RuntimeError("boom")
    with AuditLog.open(state) as reopened:
        report = reopened.verify()
    assert report.ok and report.checkpoints == 2
    # entries 1-4: the first open; 5-6: the second open's key derivations; 7: the failed run
    assert report.checkpointed_seq == 7 and report.last_seq == 9


def test_threads_starting_sessions_together_share_the_log(state: State, state_keyring: LocalKeyring) -> None:
    state_keyring.create("thread_key")
    logs: list[AuditLog] = []
    barrier = threading.Barrier(4)
    failures: list[BaseException] = []

    def worker(number: int) -> None:
        try:
            barrier.wait()
            with audit_session(state) as log:
                logs.append(log)
                for _ in range(10):
                    state_keyring.derive(KeyRef("thread_key"), context=f"tokenize/t{number}")
                    log.record("dataset.read", details={"thread": number})
                barrier.wait()  # every thread inside its session at once
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures and len({id(log) for log in logs}) == 1
    with AuditLog.open(state) as log:
        assert log.verify().ok
        assert len(list(log.entries(action="dataset.read"))) == 40
        assert (
            len(
                [
                    e
                    for e in log.entries(action="key.derive")
                    if str(e.details["context"]).startswith("tokenize/t")
                ]
            )
            == 40
        )


def test_a_hook_that_cannot_record_refuses_the_key_use(state: State, state_keyring: LocalKeyring) -> None:
    state_keyring.create("guarded_key")
    with audit_session(state) as log:
        segments = state.root / "audit" / "segments"
        segments.rename(state.root / "audit" / "moved")
        segments.write_text("not a directory")  # the audit directory can no longer be written
        with pytest.raises(AuditUnavailableError) as caught:  # passed through the hooks: no derive happens
            state_keyring.derive(KeyRef("guarded_key"), context="tokenize/customer")
        assert caught.value.hint and "audit" in caught.value.render()
        with pytest.raises(AuditUnavailableError):
            log.intent("dataset.read")
