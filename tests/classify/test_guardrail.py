"""The guardrail inside `vaultline run`: no detected identifier reaches an output unprotected."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from vaultline.classify import classifier
from vaultline.classify.guardrail import UnprotectedSensitiveError
from vaultline.demo.fraud import generate_fraud
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.runner import run
from vaultline.spec.loader import loads
from vaultline.state import State

# customer_id, card_number, email, device_id, ip_address and account_number are protected;
# {extra} goes into the steps; merchant_name and mcc are not sensitive.
SPEC = """\
version: 1
name: guarded
params: {{source: raw, target: out}}
keys: {{customer: customer_key}}
sources:
  tx: {{format: csv, path: "${{params.source}}/transactions.csv"}}
steps:
  - tokenize: {{columns: [customer_id, device_id], domain: customer}}
  - drop: {{columns: [card_number, account_number, ip_address]}}
{extra}
outputs:
  o: {{path: "${{params.target}}/guarded"{columns}}}
{policy}
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(PASSPHRASE_ENV, "guardrail-test-passphrase")
    state = State(tmp_path / "state").ensure()
    LocalKeyring(state.root).create("customer_key")
    data = generate_fraud(1500, tmp_path / "a")
    return {"tmp": tmp_path, "state": state, "raw": data.data_path.parent, "data": data.data_path}


def _run(workspace: dict[str, Any], extra: str = "", policy: str = "", columns: str = "") -> dict[str, Any]:
    text = SPEC.format(extra=extra, policy=policy, columns=columns)
    overrides = {"source": str(workspace["raw"]), "target": str(workspace["tmp"] / "out")}
    return run(loads(text, overrides=overrides), workspace["state"])


def _emails(path: Path) -> set[str]:
    with path.open(newline="") as handle:
        return {row["email"] for row in csv.DictReader(handle) if row["email"]}


def test_an_unprotected_email_stops_the_run_before_any_output(workspace: dict[str, Any]) -> None:
    with pytest.raises(UnprotectedSensitiveError) as caught:
        _run(workspace)
    message = caught.value.render()
    assert "column 'email'" in message and "EMAIL" in message and "output 'o'" in message
    assert "fix: add the step" in message and "accept_unprotected" in message
    assert not any(e in message for e in _emails(workspace["data"]))
    assert not (workspace["tmp"] / "out" / "guarded").exists()


@pytest.mark.parametrize(
    "extra",
    [
        "  - mask: {columns: [email], style: email}",
        "  - hash: {columns: [email]}",
        "  - drop: {columns: [email]}",
    ],
)
def test_any_protection_step_satisfies_the_guardrail(workspace: dict[str, Any], extra: str) -> None:
    report = _run(workspace, extra=extra)
    assert report["status"] == "succeeded"
    assert report["guardrail"]["violations"] == []
    assert report["guardrail"]["detected"]["email"] == "EMAIL"


def test_a_custom_mask_counts_only_when_it_leaves_no_identifier(workspace: dict[str, Any]) -> None:
    # the demo's e-mails end in .com/.net/.org/...: a pattern for .com addresses misses the others
    with pytest.raises(UnprotectedSensitiveError) as caught:
        _run(workspace, extra=r"  - mask: {columns: [email], style: custom, pattern: '^[^@]+@[^@]+\.com$'}")
    message = caught.value.render()
    assert "column 'email'" in message and "custom `mask` pattern leaves" in message
    assert "recognisable as EMAIL" in message
    assert not any(e in message for e in _emails(workspace["data"]))
    assert not (workspace["tmp"] / "out" / "guarded").exists()
    report = _run(workspace, extra="  - mask: {columns: [email], style: custom, pattern: '^[^@]+'}")
    assert report["status"] == "succeeded" and report["guardrail"]["violations"] == []


def test_an_output_that_leaves_the_column_out_passes(workspace: dict[str, Any]) -> None:
    report = _run(workspace, columns=", columns: [customer_id, amount, mcc]")
    assert report["status"] == "succeeded"


def test_warn_records_the_violation_and_accept_records_the_reason(workspace: dict[str, Any]) -> None:
    warned = _run(workspace, policy="policy: {on_unprotected_sensitive: warn}")
    assert warned["status"] == "succeeded"
    assert [v.split(":")[0] for v in warned["guardrail"]["violations"]] == [
        "output 'o' would hold column 'email' in the clear"
    ]
    reason = "contact list for the fraud team, access-controlled bucket"
    accepted = _run(workspace, policy=f"policy: {{accept_unprotected: {{email: '{reason}'}}}}")
    assert accepted["guardrail"]["violations"] == []
    assert accepted["guardrail"]["accepted"] == {"email": reason}


def test_classification_is_cached_per_input_fingerprint(
    workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = classifier.classify_frame

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(classifier, "classify_frame", counting)
    extra = "  - drop: {columns: [email]}"
    _run(workspace, extra=extra)
    _run(workspace, extra=extra)
    assert len(calls) == 1
    with workspace["data"].open("a") as handle:  # new content, new fingerprint: classified again
        handle.write("\n")
    _run(workspace, extra=extra)
    assert len(calls) == 2


def test_a_postgres_source_is_classified_every_run(
    workspace: dict[str, Any], postgres_url: str, pg_table: str
) -> None:
    """Its fingerprint names the query and counts rows, so it cannot tell changed values apart."""
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{pg_table}" (id bigint, note text)')
        conn.execute(f"INSERT INTO \"{pg_table}\" SELECT g, 'ok' FROM generate_series(1, 200) g")
    spec = f"""\
version: 1
name: guarded_pg
sources:
  notes: {{format: postgres, url: "{postgres_url}", table: {pg_table}}}
outputs:
  o: {{path: "{workspace["tmp"] / "pg-out"}"}}
"""
    assert run(loads(spec), workspace["state"])["status"] == "succeeded"
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # same rows, now holding addresses
        conn.execute(f"UPDATE \"{pg_table}\" SET note = 'patient' || id || '@example.org'")
    with pytest.raises(UnprotectedSensitiveError, match="column 'note'"):
        run(loads(spec), workspace["state"])
