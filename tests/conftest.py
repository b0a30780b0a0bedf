"""Fixtures shared by every test: an isolated keyring and a run context over it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.context import RunContext

# moto S3 server and PostgreSQL fixtures, shared by every test folder (tests/ is on sys.path)
pytest_plugins = ["fixtures_services"]


@pytest.fixture(autouse=True, scope="session")
def no_state_in_the_working_directory() -> Iterator[None]:
    """Tests keep their state in temporary directories: a `.vaultline/` left where pytest runs would be
    shared by every later test, in an order-dependent way (its dev keyring refuses their passphrase)."""
    stray = Path.cwd() / ".vaultline"
    there_before = stray.exists()
    yield
    assert there_before or not stray.exists(), (
        "a test created .vaultline/ in the working directory: give its command --state or VAULTLINE_HOME"
    )


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
