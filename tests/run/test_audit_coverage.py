"""Measured: every operation of a full demo has its audit entry, and the log holds no raw value.

The operations are counted independently of the audit log: key uses by a key hook of the test's own,
runs, source reads and dataset versions from the catalog, and each CLI command the test runs. Each must
be found in the log (intent and outcome for operations, `key.<action>` for key uses) — coverage 100%.
Then the log (segments, checkpoints, the copy) is searched for every raw value of every sensitive
input column, the principal's name, key names and input paths.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.audit.reading import iter_entries
from vaultline.catalog.datasets import DatasetCatalog
from vaultline.catalog.runs import RunCatalog
from vaultline.cli.main import app
from vaultline.keys import hooks
from vaultline.keys.hooks import KeyUse
from vaultline.keys.local import PASSPHRASE_ENV
from vaultline.keys.principal import PRINCIPAL_ENV, ROLES_ENV

PRINCIPAL = "dana.auditor@example.org"
runner = CliRunner()


def _cli(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("audited") / "demo"
    mp = pytest.MonkeyPatch()
    mp.setenv(PASSPHRASE_ENV, "audit-coverage-passphrase")
    mp.setenv(PRINCIPAL_ENV, PRINCIPAL)
    mp.delenv(ROLES_ENV, raising=False)
    mp.delenv("VAULTLINE_AUDIT_COPY", raising=False)
    uses: list[KeyUse] = []
    hooks.register(uses.append)
    state = out / ".vaultline"
    commands: list[tuple[str, str | None]] = []  # (audit action, resource) of each command run
    try:
        _cli("demo", "--rows", "1500", "--out", str(out))
        s = ("--state", str(state))
        _cli("read", "features", "--limit", "5", *s)
        commands.append(("dataset.read", "features"))
        _cli("read", "admissions@1", "--columns", "age,gender", "--format", "csv", *s)
        commands.append(("dataset.read", "admissions"))
        _cli("keys", "create", "analyst-key", *s)
        commands.append(("keys.create", None))
        _cli("keys", "rotate", "analyst-key", *s)
        commands.append(("keys.rotate", None))
        _cli("keys", "roles", "analyst-key", "--set", "analyst", *s)
        commands.append(("keys.set_roles", None))
        run_id = json.loads(_cli("runs", "list", "--json", *s).stdout)[0]["run_id"]
        _cli("runs", "export", run_id, "--out", str(out / "export.vlx"), *s)
        commands.append(("run.export", run_id))
        _cli("crawl", str(out / "raw" / "transactions.csv"), "--name", "raw_transactions", *s)
        commands.append(("catalog.crawl", "raw_transactions"))
        _cli("classify", str(out / "raw" / "patients.csv"), "--state", str(state))
        commands.append(("source.classify", None))
        _cli("gc", "--grace", "0s", *s)
        commands.append(("gc", None))
        _cli("vacuum", "features", "--keep", "1", *s)
        commands.append(("vacuum", "features"))
        _cli("audit", "export", "--out", str(out / "audit-export"), *s)
        commands.append(("audit.export", None))
    finally:
        hooks.unregister(uses.append)
    yield {"out": out, "state": state, "uses": uses, "commands": commands}
    mp.undo()


def _entries(state: Path) -> list[Any]:
    return list(iter_entries(state / "audit" / "segments"))


def _key_hash(state: Path, name: str) -> str:
    from vaultline.audit.log import AuditLog
    from vaultline.state import State

    with AuditLog.open(State.resolve(state)) as log:
        return log.hash_identifier("key", name)


def test_every_operation_of_a_full_demo_has_its_audit_entry(demo: dict[str, Any]) -> None:
    state: Path = demo["state"]
    entries = _entries(state)
    expected: list[tuple[str, str]] = []  # (what, how it is found)
    found: list[bool] = []

    def expect(what: str, ok: bool) -> None:
        expected.append((what, "found" if ok else "MISSING"))
        found.append(ok)

    with RunCatalog(f"sqlite:///{state / 'catalog.db'}") as catalog:
        runs = catalog.list(limit=100)
    assert len(runs) == 2
    for record in runs:
        mine = [e for e in entries if e.run_id == record.run_id]
        expect(f"run.start {record.pipeline}", any(e.action == "run.start" for e in mine))
        expect(f"run.end {record.pipeline}", any(e.action == "run.end" for e in mine))
        derives = [e for e in mine if e.action == "key.derive"]
        expect(f"key derivations attributed to run {record.pipeline}", len(derives) >= 2)
        # the encrypted output's keys are wrapped from pyarrow's own threads
        wraps = [e for e in mine if e.action == "key.wrap_key"]
        expect(f"Parquet key wraps attributed to run {record.pipeline}", len(wraps) >= 1)
        reads = {e.outcome for e in mine if e.action == "source.read"}
        expect(f"source.read intent+outcome {record.pipeline}", reads == {"intent", "succeeded"})
    with DatasetCatalog(f"sqlite:///{state / 'catalog.db'}") as datasets:
        versions = [(s.name, v.version) for s in datasets.list() for v in datasets.history(s.name)]
    for name, number in versions:
        expect(
            f"dataset.commit {name}@{number}",
            any(
                e.action == "dataset.commit" and e.resource == name and e.details.get("version") == number
                for e in entries
            ),
        )
    for action, resource in demo["commands"]:
        matching = [e for e in entries if e.action == action and (resource is None or e.resource == resource)]
        outcomes = {e.outcome for e in matching}
        expect(f"{action} {resource or ''}", {"intent", "succeeded"} <= outcomes)
    # Key uses, counted by the test's own hook, against `key.<action>` entries by key hash.
    recorded = Counter((e.action, e.identifiers.get("key")) for e in entries if e.action.startswith("key."))
    wanted = Counter((f"key.{u.action}", _key_hash(state, u.key)) for u in demo["uses"])
    assert len(demo["uses"]) > 20
    for (action, key), count in wanted.items():
        expect(f"{action} x{count}", recorded[(action, key)] >= count)
    coverage = sum(found) / len(found)
    print(f"\naudit coverage: {sum(found)}/{len(found)} operations = {coverage:.1%}")
    missing = [what for what, how in expected if how == "MISSING"]
    assert coverage == 1.0, missing


def _sensitive_values(raw: Path) -> set[str]:
    columns = {
        "patients.csv": ("first_name", "last_name", "ssn", "mrn", "email", "phone", "street_address",
                         "date_of_birth", "insurance_member_id"),
        "transactions.csv": ("customer_id", "email", "account_number", "card_number", "ip_address",
                             "device_id"),
    }  # fmt: skip
    values: set[str] = set()
    for name, wanted in columns.items():
        with open(raw / name, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                values.update(v.strip() for c in wanted if len(v := (row.get(c) or "")) >= 4)
    return values


def test_the_audit_log_holds_no_raw_value_name_or_path(demo: dict[str, Any]) -> None:
    state: Path = demo["state"]
    texts = [
        p.read_text("utf-8", errors="replace")
        for folder in (state / "audit", state / "audit-copy", demo["out"] / "audit-export")
        for p in folder.rglob("*")
        if p.is_file() and p.suffix in (".jsonl", ".json")
    ]
    assert texts
    text = "\n".join(texts)
    sensitive = _sensitive_values(demo["out"] / "raw")
    assert len(sensitive) > 1000
    needles = sensitive | {PRINCIPAL, "env_specific_salt", "analyst-key", str(demo["out"] / "raw")}
    leaked = [n for n in needles if n in text and re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", text)]
    assert not leaked, f"{len(leaked)} raw value(s) or identifier(s) found in the audit log"


def test_the_demo_log_verifies(demo: dict[str, Any]) -> None:
    result = runner.invoke(app, ["audit", "verify", "--state", str(demo["state"])])
    assert result.exit_code == 0, result.output
