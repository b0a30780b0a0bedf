"""Fixtures for the audit log tests: a passphrase keyring, a named principal, a clean audit environment."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audit_support import PRINCIPAL

from vaultline.audit.settings import COPY_ENV, RETAIN_DAYS_ENV, SEGMENT_ENTRIES_ENV, URL_ENV
from vaultline.keys import hooks
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.keys.principal import PRINCIPAL_ENV, ROLES_ENV
from vaultline.keys.providers import PROVIDER_ENV
from vaultline.state import State


@pytest.fixture(autouse=True)
def audit_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(PASSPHRASE_ENV, "test-passphrase-not-secret")
    monkeypatch.setenv(PRINCIPAL_ENV, PRINCIPAL)
    for name in (ROLES_ENV, COPY_ENV, URL_ENV, RETAIN_DAYS_ENV, SEGMENT_ENTRIES_ENV, PROVIDER_ENV):
        monkeypatch.delenv(name, raising=False)
    before = hooks.registered()
    yield
    assert hooks.registered() == before, "a test left a key-use hook registered"


@pytest.fixture
def state(tmp_path: Path) -> State:
    return State(tmp_path / "state").ensure()


@pytest.fixture
def state_keyring(state: State) -> LocalKeyring:
    """The state's own keyring (the one the audit log derives its keys from)."""
    return LocalKeyring(state.root, warn=False)


@pytest.fixture
def lock_bucket(s3_client: Any) -> str:
    """A bucket with Object Lock enabled. Locked objects cannot be deleted, so it is left to the
    in-memory moto server, which ends with the session."""
    name = f"vl-audit-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name
