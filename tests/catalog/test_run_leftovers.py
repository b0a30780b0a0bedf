"""`vaultline gc` and what runs that ended without committing left outside dataset directories: their
landing copies (`<landing>/<run id>/`) and quarantine file (`<quarantine root>/<run id>.parquet`), on
real files: a real run killed mid-way (its process exits as SIGKILL would, after its quarantine file is
whole), a committed run, a failed run, a live run, and S3 objects on the moto server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from vaultline.catalog.run_leftovers import EndedRun, landing_run_directory, quarantine_locations, sweep
from vaultline.catalog.runs import RunCatalog
from vaultline.cli import datasets
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.state import State

app = typer.Typer()
app.command("gc")(datasets.gc)
app.command("vacuum")(datasets.vacuum)  # two commands: typer then takes the first argument as one's name
runner = CliRunner()

SPEC = """\
version: 1
name: leftovers
keys: {{c: customer_key}}
sources:
  tx: {{format: csv, path: "{raw}/transactions.csv", landing: "{landing}"}}
steps:
  - clean: {{cast: {{amount: float64}}, constraints: {{amount: {{min: 0}}}}}}
  - tokenize: {{columns: [customer_id, email, device_id], domain: c}}
  - drop: {{columns: [card_number, account_number, ip_address]}}
outputs:
  o: {{path: "{out}"}}
quarantine: {{max_fraction: {max_fraction}}}
"""

# The run of `sys.argv[1]` in state `sys.argv[2]`, whose process ends the moment its quarantine file is
# whole, before its outputs are committed: no `finally` runs, no report is written, nothing is cleaned.
KILLED_RUN = """\
import os, sys
from pathlib import Path
from vaultline.engines.polars import executor
from vaultline.run.runner import run
from vaultline.spec.loader import loads
from vaultline.state import State

write = executor._write_quarantine
def write_then_die(*args, **kwargs):
    write(*args, **kwargs)
    os._exit(137)
executor._write_quarantine = write_then_die
run(loads(Path(sys.argv[1]).read_text()), State(Path(sys.argv[2])))
"""

S3_RUN = "20261201T000000Z-5a5a5a"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from vaultline.demo.fraud import generate_fraud

    monkeypatch.setenv(PASSPHRASE_ENV, "leftovers-test-passphrase")
    monkeypatch.delenv("VAULTLINE_CATALOG_URL", raising=False)
    state = State(tmp_path / "state").ensure()
    LocalKeyring(state.root, warn=False).create("customer_key")
    raw = generate_fraud(900, tmp_path / "gen").data_path.parent
    landing = tmp_path / "landing"
    spec = SPEC.format(raw=raw, landing=landing, out=tmp_path / "out", max_fraction=0.5)
    return {"tmp": tmp_path, "state": state, "landing": landing, "spec": spec}


def _gc(state: State, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["gc", "--state", str(state.root), *args])
    return result.exit_code, result.stdout + result.stderr


def _files(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file()}


def _killed_run(workspace: dict[str, Any]) -> str:
    """A real run killed once its landing copies and quarantine file are written; its id."""
    spec_file = workspace["tmp"] / "pipeline.yaml"
    spec_file.write_text(workspace["spec"])
    ended = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(spec_file), str(workspace["state"].root)],
        check=False, cwd=workspace["tmp"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert ended.returncode == 137, ended.stderr[-2000:]
    with RunCatalog(workspace["state"].catalog_url) as catalog:
        (record,) = [r for r in catalog.list() if r.status == "running"]
    return record.run_id


def _gc_outcome(state: State) -> dict[str, Any]:
    from vaultline.audit import audit_session

    with audit_session(state) as log:
        details: dict[str, Any] = list(log.entries(action="gc"))[-1].details
    return details


def test_gc_removes_a_killed_and_a_failed_runs_landing_copies_and_quarantine_file_only(
    workspace: dict[str, Any],
) -> None:
    from vaultline.errors import TransformError
    from vaultline.run.runner import run
    from vaultline.spec.loader import loads

    state, landing = workspace["state"], workspace["landing"]
    quarantine = state.quarantine_dir / "leftovers"
    killed = _killed_run(workspace)
    with RunCatalog(state.catalog_url) as catalog:  # recorded at its start: the killed run has no report
        started = catalog.report(killed)
    assert started["landing_roots"] == [str(landing)] and started["quarantine_root"] == str(quarantine)
    (copy,) = _files(landing / killed)
    half_written = landing / killed / "tx" / f".{Path(copy).name}.k3x9q2ab.tmp"  # SIGKILL mid-copy
    half_written.write_bytes(b"half")
    assert (quarantine / f"{killed}.parquet").is_file()
    (quarantine / f".{killed}.parquet.tmp").write_bytes(b"half")

    committed = run(loads(workspace["spec"]), state)["run_id"]  # the rerun: commits
    with pytest.raises(TransformError, match="quarantined, more than the allowed"):
        run(loads(workspace["spec"].replace("max_fraction: 0.5", "max_fraction: 0.0")), state)
    with RunCatalog(state.catalog_url) as catalog:
        (failed,) = [r.run_id for r in catalog.list() if r.status == "failed"]
        live = "20261201T000000Z-11fe11"  # this process: alive, its files in use
        catalog.start(
            live, "leftovers", "0" * 64, landing_roots=[str(landing)], quarantine_root=str(quarantine)
        )
    (landing / live / "tx").mkdir(parents=True)
    (landing / live / "tx" / "0123456789ab-transactions.csv.enc").write_bytes(b"in use")
    (quarantine / f"{live}.parquet").write_bytes(b"in use")
    before = {"landing": _files(landing), "quarantine": _files(quarantine)}
    assert {f"{failed}/tx/{Path(copy).name}", f"{killed}/tx/{half_written.name}"} <= before["landing"]

    code, out = _gc(state, "--grace", "0", "--dry-run", "--json")
    dry = json.loads(out)
    assert code == 0 and (dry["landing_copies_deleted"], dry["quarantine_files_deleted"]) == (3, 2)
    assert sorted(dry["ended_runs_swept"]) == sorted([killed, failed]) and dry["dry_run"] is True
    assert {"landing": _files(landing), "quarantine": _files(quarantine)} == before
    code, out = _gc(state, "--grace", "24h")  # marks the killed run abandoned: it ended just now
    assert code == 0 and "deleted 0 landing copies and 0 quarantine file(s) of 0 run(s)" in out
    assert "(kept those of 2 that ended within 24h)" in out

    code, out = _gc(state, "--grace", "0", "--json")
    result = json.loads(out)
    assert code == 0 and (result["landing_copies_deleted"], result["quarantine_files_deleted"]) == (3, 2)
    assert result["landing_bytes_deleted"] > 0 and result["run_files_failed"] == 0
    assert not (landing / killed).exists() and not (landing / failed).exists()
    assert _files(landing) == {f for f in before["landing"] if f.split("/")[0] in (committed, live)}
    assert _files(quarantine) == {f"{committed}.parquet", f"{live}.parquet"}  # rows stored once
    outcome = _gc_outcome(state)
    assert (outcome["landing_copies_deleted"], outcome["quarantine_files_deleted"]) == (3, 2)
    code, out = _gc(state, "--grace", "0")  # nothing left to sweep, nothing else touched
    assert code == 0 and "deleted 0 landing copies and 0 quarantine file(s) of 0 run(s)" in out
    assert _files(quarantine) == {f"{committed}.parquet", f"{live}.parquet"}


def _start_as_an_ended_process(catalog: RunCatalog, run_id: str, **roots: Any) -> None:
    """Start `run_id` as the process of a pid that has ended (killed, say) would have."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(os, "getpid", lambda: int(ended.stdout))
        catalog.start(run_id, "p", "0" * 64, **roots)


@pytest.mark.s3
def test_gc_removes_a_killed_runs_landing_copies_and_quarantine_file_on_s3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_bucket: str
) -> None:
    from vaultline.storage.locations import filesystem

    monkeypatch.setenv(PASSPHRASE_ENV, "leftovers-test-passphrase")
    monkeypatch.delenv("VAULTLINE_CATALOG_URL", raising=False)
    state = State(tmp_path / "state").ensure()
    landing, quarantine = f"s3://{s3_bucket}/landing", f"s3://{s3_bucket}/quarantine/p"
    fs = filesystem(landing)
    doomed = [f"{landing}/{S3_RUN}/tx/0123456789ab-tx.csv.enc", f"{quarantine}/{S3_RUN}.parquet"]
    kept = [
        f"{landing}/{S3_RUN}/notes.txt",  # not named as a copy: never deleted
        f"{landing}/{S3_RUN}-old/tx/0123456789ab-tx.csv.enc",  # shares the run directory's prefix
        f"{landing}/20261201T000000Z-c0c0c0/tx/0123456789ab-tx.csv.enc",  # another run's
        f"{quarantine}/20261201T000000Z-c0c0c0.parquet",
    ]
    for location in doomed + kept:
        fs.pipe(location, b"sealed")
    with RunCatalog(state.catalog_url) as catalog:
        _start_as_an_ended_process(catalog, S3_RUN, landing_roots=[landing], quarantine_root=quarantine)

    code, out = _gc(state, "--grace", "0", "--dry-run", "--json")
    assert code == 0 and json.loads(out)["landing_copies_deleted"] == 1
    assert all(fs.exists(location) for location in doomed + kept)
    code, out = _gc(state, "--grace", "0", "--json")
    result = json.loads(out)
    assert code == 0 and result["runs_abandoned"] == [S3_RUN] and result["ended_runs_swept"] == [S3_RUN]
    assert (result["landing_copies_deleted"], result["quarantine_files_deleted"]) == (1, 1)
    assert result["landing_files_kept"] == 1
    assert not any(fs.exists(location) for location in doomed)
    assert all(fs.exists(location) for location in kept)


def _landing_file(root: Path, run_id: str, name: str = "0123456789ab-tx.csv.enc") -> Path:
    path = root / run_id / "tx" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"sealed")
    return path


def test_sweep_keeps_what_runs_do_not_name_and_never_climbs_above_a_run_directory(tmp_path: Path) -> None:
    run_id = "20261201T000000Z-0a0a0a"
    copy = _landing_file(tmp_path / "landing", run_id)
    stray = _landing_file(tmp_path / "landing", run_id, "input.csv")  # an input someone put there
    deep = _landing_file(tmp_path / "landing", run_id, "sub/0123456789ab-tx.csv.enc")
    other = _landing_file(tmp_path / "landing", "not-a-run-id")
    ended = [
        EndedRun(run_id, "2026-12-01T00:00:00.000+00:00", (str(tmp_path / "landing"),), None),
        EndedRun("..", "2026-12-01T00:00:00.000+00:00", (str(tmp_path / "landing" / "x"),), str(tmp_path)),
        EndedRun("not-a-run-id", "2026-12-01T00:00:00.000+00:00", (str(tmp_path / "landing"),), None),
    ]
    result = sweep(ended, grace_seconds=0, dry_run=False)
    assert (result.landing_copies_deleted, result.landing_files_kept) == (1, 2)
    assert not copy.exists() and stray.exists() and deep.exists() and other.exists()
    assert stray.parent.is_dir()  # the directory of a file gc kept stays


def test_sweep_waits_for_the_grace_period_from_the_runs_end(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    run_id = "20261201T000000Z-0b0b0b"
    copy = _landing_file(tmp_path / "landing", run_id)
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="milliseconds")
    ended = [EndedRun(run_id, hour_ago, (str(tmp_path / "landing"),), None)]
    assert sweep(ended, grace_seconds=2 * 3600, dry_run=False).ended_runs_young == 1 and copy.exists()
    assert sweep(ended, grace_seconds=3600, dry_run=False, live={run_id}).landing_copies_deleted == 0
    assert sweep(ended, grace_seconds=3600, dry_run=False).landing_copies_deleted == 1
    assert not (tmp_path / "landing" / run_id).exists() and (tmp_path / "landing").is_dir()
    unreadable = [EndedRun(run_id, "yesterday", (str(tmp_path / "landing"),), None)]
    assert sweep(unreadable, grace_seconds=0, dry_run=False).ended_runs_young == 1


def test_an_older_report_names_its_copies_and_quarantine_file_not_its_roots(tmp_path: Path) -> None:
    run_id = "20261201T000000Z-0c0c0c"
    root = str(tmp_path / "landing")
    report = {
        "landing": [{"copy": f"{landing_run_directory(root, run_id)}/tx/0123456789ab-tx.csv.enc"}],
        "quarantine": quarantine_locations(str(tmp_path / "q"), run_id)[0],
    }
    ended = EndedRun.from_report(run_id, None, report)
    assert (ended.landing_roots, ended.quarantine_root) == ((root,), str(tmp_path / "q"))
    relative = EndedRun.from_report(run_id, None, {"landing_roots": ["landing", "s3://", "s3:///x"]})
    assert relative.landing_roots == ()  # never resolved against gc's working directory
