"""Fixtures shared by every test: an isolated keyring and a run context over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.context import RunContext

# moto S3 server and PostgreSQL fixtures, shared by every test folder (tests/ is on sys.path)
pytest_plugins = ["fixtures_services"]


@pytest.fixture
def keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalKeyring:
    monkeypatch.setenv(PASSPHRASE_ENV, "test-passphrase-not-secret")
    ring = LocalKeyring(tmp_path / "state", warn=False)
    for name in ("customer_key", "account_key", "patient_key", "other_key"):
        ring.create(name)
    return ring


@pytest.fixture
def ctx(keyring: LocalKeyring) -> RunContext:
    """Domains customer, account, patient, other (one key each) and customer2 (customer's key)."""
    return RunContext(
        provider=keyring,
        domains={
            "customer": "customer_key",
            "account": "account_key",
            "patient": "patient_key",
            "other": "other_key",
            "customer2": "customer_key",
        },
    )
