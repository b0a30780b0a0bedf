"""Commands that only read refuse a missing state instead of creating one; `read`, `run --json`,
`keys roles` and `bookmarks reset` check what they were asked before they act (or audit)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.audit.reading import iter_entries
from vaultline.audit.settings import AuditPaths
from vaultline.cli.main import app
from vaultline.demo.fraud import generate_fraud
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.keys.principal import ROLES_ENV
from vaultline.run.runner import run
from vaultline.spec.loader import loads
from vaultline.state import CATALOG_ENV, STATE_ENV, State

PASSPHRASE = "state-and-reads"
SPEC = """\
version: 1
name: small
keys: {{c: customer_key}}
sources:
  tx: {{format: csv, path: "{raw}/transactions.csv", incremental: {{by: files}}}}
steps:
  - tokenize: {{columns: [customer_id, email, device_id], domain: c}}
  - drop: {{columns: [card_number, account_number, ip_address]}}
outputs:
  features: {{path: "{out}"}}
"""
runner = CliRunner()


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    for name in (STATE_ENV, CATALOG_ENV, ROLES_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[State]:
    """A state holding one committed version of dataset `features` (pii columns under vaultline-pii,
    a key only role `privacy` may use) and a bookmark of source `tx` of pipeline `small`."""
    tmp = tmp_path_factory.mktemp("committed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSPHRASE_ENV, PASSPHRASE)
        patch.delenv(ROLES_ENV, raising=False)
        state = State(tmp / "state").ensure()
        keyring = LocalKeyring(state.root, warn=False)
        keyring.create("customer_key")
        data = generate_fraud(200, tmp / "gen")
        report = run(loads(SPEC.format(raw=data.data_path.parent, out=tmp / "out")), state)
        assert report["status"] == "succeeded", report.get("error")
        keyring.set_roles("vaultline-pii", ("privacy",))
        yield state


def _invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def _audited_actions(state: State) -> list[str]:
    return [entry.action for entry in iter_entries(AuditPaths.of_state(state.root).segments)]


# -- a missing state is refused by commands that only read, and nothing is created ---------------------
READ_ONLY = [
    ["keys", "list"],
    ["keys", "info", "k"],
    ["keys", "roles", "k"],
    ["runs", "list", "--json"],
    ["runs", "show", "r1"],
    ["datasets", "list"],
    ["datasets", "show", "features"],
    ["catalog", "list"],
    ["bookmarks", "list"],
    ["bookmarks", "reset", "small"],
    ["metrics"],
    ["alarms", "list"],
    ["quality", "history", "small", "e"],
    ["gc", "--dry-run"],
    ["retention", "apply", "--dry-run"],
    ["audit", "search", "--me"],
    ["audit", "show"],
    ["read", "features"],
]


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_a_read_only_command_in_an_empty_directory_refuses_and_creates_nothing(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(PASSPHRASE_ENV)  # `keys list` used to create a dev keyring here
    result = _invoke(*args)
    assert result.exit_code == 1, result.output
    assert f"no Vaultline state at {tmp_path / '.vaultline'}" in result.output
    assert "point --state / VAULTLINE_HOME at it" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_mistyped_vaultline_home_is_refused_not_listed_as_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STATE_ENV, str(tmp_path / "typo"))
    result = _invoke("runs", "list", "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert f"no Vaultline state at {tmp_path / 'typo'}" in result.stderr
    assert not (tmp_path / "typo").exists()


def test_only_the_state_directory_is_required_when_the_catalog_is_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CATALOG_ENV, f"sqlite:///{tmp_path / 'shared' / 'catalog.db'}")
    (tmp_path / "shared").mkdir()
    state = ["--state", str(tmp_path / "state")]
    assert _invoke("runs", "list", *state).exit_code == 1
    (tmp_path / "state").mkdir()  # an empty state directory: no catalog.db in it, and none needed
    listed = _invoke("runs", "list", *state, "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []
    assert not (tmp_path / "state" / "catalog.db").exists()


def test_commands_that_create_state_by_design_still_create_it(tmp_path: Path) -> None:
    state = tmp_path / "new-state"
    created = _invoke("keys", "create", "k1", "--state", str(state))
    assert created.exit_code == 0, created.output
    assert (state / "keyring.json").is_file()
    listed = _invoke("keys", "list", "--state", str(state), "--json")
    assert "k1" in [key["name"] for key in json.loads(listed.stdout)]


def test_explain_outside_any_state_directory_creates_none(tmp_path: Path) -> None:
    data = generate_fraud(200, tmp_path / "gen")
    spec = tmp_path / "small.yaml"
    spec.write_text(SPEC.format(raw=data.data_path.parent, out=tmp_path / "out"))
    state = tmp_path / "nowhere"
    result = _invoke("explain", str(spec), "--state", str(state), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] and not state.exists()


# -- read: the same checks whatever the limit; usage checked before anything is read ------------------
def test_read_with_limit_0_keeps_the_columns_and_their_checks(committed: State) -> None:
    state = ["--state", str(committed.root)]
    empty = _invoke("read", "features", "--columns", "transaction_id,amount", "--limit", "0", "--format",
                    "csv", *state)  # fmt: skip
    assert empty.exit_code == 0, empty.output
    assert empty.stdout.strip() == "transaction_id,amount"  # the header: a 0-row table with its schema
    unknown = _invoke("read", "features", "--columns", "nope", "--limit", "0", *state)
    assert unknown.exit_code == 1 and "column 'nope' is not in the file" in unknown.output


def test_read_with_limit_0_refuses_a_column_whose_key_the_caller_may_not_use(
    committed: State, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROLES_ENV, "analyst")
    for limit in ([], ["--limit", "0"]):
        refused = _invoke("read", "features", "--columns", "email", *limit, "--state", str(committed.root))
        assert refused.exit_code == 1, (limit, refused.output)
        assert "'email' need key 'vaultline-pii'" in refused.output
        assert "`--columns a,b` on the CLI" in refused.output and "columns=[...]" not in refused.output


def test_read_dataset_checks_the_columns_before_a_limit_of_0(committed: State) -> None:
    from vaultline.catalog.datasets import DatasetCatalog
    from vaultline.keys.providers import open_provider
    from vaultline.storage.dataset_reader import read_dataset

    with DatasetCatalog(committed.catalog_url) as catalog:
        _, _, table = read_dataset(
            catalog, "features", open_provider(committed.root), columns=["transaction_id"], limit=0
        )
    assert table.num_rows == 0 and table.column_names == ["transaction_id"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "parquet"], "add --out FILE.parquet"),
        (["--columns", ","], "names no column"),
    ],
)
def test_read_usage_errors_exit_2_before_anything_is_read(
    committed: State, args: list[str], message: str
) -> None:
    before = _audited_actions(committed)
    result = _invoke("read", "features", *args, "--state", str(committed.root))
    assert result.exit_code == 2 and message in result.output
    assert _audited_actions(committed) == before  # no dataset.read: nothing was decrypted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name"], "'bad name' is not a dataset reference"),
        (["features@²"], "is not a dataset reference"),
        (["features@99999999999999999999"], "is not a dataset reference"),
        (["features", "--format", "csv", "--out", "{tmp}/new/"], "names a directory"),
        (["features", "--format", "csv", "--out", "{tmp}"], "names a directory"),
    ],
)
def test_read_refuses_a_bad_reference_or_output_before_reading(
    committed: State, tmp_path: Path, args: list[str], message: str
) -> None:
    before = _audited_actions(committed)
    arguments = [a.format(tmp=tmp_path) for a in args]
    result = _invoke("read", *arguments, "--state", str(committed.root))
    assert result.exit_code == 1 and message in " ".join(result.output.split())
    assert _audited_actions(committed) == before and not (tmp_path / "new").exists()
    result = _invoke("vacuum", "bad name", "--keep", "1", "--state", str(committed.root))
    assert result.exit_code == 1 and "'bad name' is not a valid dataset name" in result.output


def test_read_names_each_column_once(committed: State) -> None:
    result = _invoke(
        "read", "features", "--columns", "amount,amount", "--format", "csv", "--state", str(committed.root)
    )
    assert result.exit_code == 0 and result.output.splitlines()[0] == "amount"


# -- run --json: a failed run's report on stdout --------------------------------------------------------
def test_run_json_prints_the_failed_runs_report(committed: State, tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text(SPEC.format(raw=tmp_path / "nowhere", out=tmp_path / "out"))
    result = _invoke("run", str(spec), "--json", "--state", str(committed.root))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["status"] == "failed" and report["retryable"] is False
    assert "does not exist" in report["error"] and "does not exist" in result.stderr
    shown = json.loads(
        _invoke("runs", "show", report["run_id"], "--json", "--state", str(committed.root)).stdout
    )
    assert shown["run_id"] == report["run_id"] and shown["error"] == report["error"]


# -- keys roles and bookmarks reset refuse what names nothing --------------------------------------------
def test_keys_roles_refuses_a_versioned_reference(committed: State) -> None:
    result = _invoke("keys", "roles", "customer_key@1", "--state", str(committed.root))
    assert result.exit_code == 1
    assert "reference to version 1 of key 'customer_key', not a key name" in result.output
    assert "keys create" not in result.output


def test_bookmarks_reset_of_an_unknown_pipeline_or_source_is_refused_unaudited(committed: State) -> None:
    state = ["--state", str(committed.root)]
    before = _audited_actions(committed)
    unknown = _invoke("bookmarks", "reset", "nosuch", *state)
    assert unknown.exit_code == 1 and "pipeline nosuch has no bookmarks" in unknown.output
    assert "pipelines with bookmarks: small" in unknown.output
    no_source = _invoke("bookmarks", "reset", "small", "--source", "nope", *state)
    assert no_source.exit_code == 1 and "has no bookmark for source nope" in no_source.output
    assert "its sources with bookmarks: tx" in no_source.output
    assert _audited_actions(committed) == before


# -- a closed stdout pipe -------------------------------------------------------------------------------
def test_a_closed_stdout_exits_1_quietly_not_as_an_outage(tmp_path: Path) -> None:
    State(tmp_path / "state").ensure()
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write, as with `| true`
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from vaultline.cli.main import main; main()", "datasets", "list",
             "--state", str(tmp_path / "state")],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (1, "")


def test_a_broken_pipe_is_not_a_retryable_outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaultline.catalog.runs import RunCatalog

    def reader_gone(*_args: object, **_kwargs: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    State(tmp_path / "state").ensure()
    monkeypatch.setattr(RunCatalog, "list", reader_gone)
    result = _invoke("runs", "list", "--state", str(tmp_path / "state"))
    assert result.exit_code == 1 and result.output == ""


# -- unusual-access alarms: from any directory, shown once ----------------------------------------------
def test_read_evaluates_access_rules_from_any_directory_and_shows_an_alarm_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    (work / "in").mkdir(parents=True)
    (work / "in" / "d.csv").write_text("id,grp\n" + "".join(f"I{i},G{i % 3}\n" for i in range(20)))
    (work / "ua.yaml").write_text(
        "version: 1\nname: ua\nsources: {s: {format: csv, path: in/d.csv}}\n"
        "steps: [{drop: {columns: [id]}}]\noutputs: {o: {path: out}}\n"
        "alarms: [{name: reads, kind: unusual_access, window: 1h, baseline: 1d, min_reads: 3}]\n"
    )
    monkeypatch.chdir(work)
    assert _invoke("run", "ua.yaml").exit_code == 0  # a relative spec path, as users type it
    monkeypatch.chdir(tmp_path)
    state = str(work / ".vaultline")
    shown = [_invoke("read", "o", "--limit", "1", "--state", state).stderr for _ in range(4)]
    fired = [line for err in shown for line in err.splitlines() if "alarm" in line]
    assert len(fired) == 1 and fired[0].startswith("vaultline alarm [warning] reads (unusual_access)")


def test_list_commands_share_limit_and_say_when_nothing_is_there(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    result = _invoke("runs", "list", "--state", str(state))
    assert result.exit_code == 0 and "no runs yet" in result.output
    for args in (["alarms", "list"], ["metrics", "--format", "json"]):
        assert _invoke(*args, "--limit", "2", "--state", str(state)).exit_code == 0, args
