"""Job bookmarks: each input delivered exactly once, even when a run dies between write and commit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.catalog.bookmarks import Advance, BookmarkCatalog, BookmarkConflict, advance
from vaultline.catalog.datasets import DatasetCatalog, DatasetError
from vaultline.cli.main import app
from vaultline.errors import TerminalError
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.runner import run
from vaultline.spec.loader import load
from vaultline.state import State
from vaultline.storage.dataset_reader import read_dataset

SPEC = """\
version: 1
name: events
params: {raw: raw, out: out}
sources:
  events:
    format: csv
    path: ${params.raw}/events-*.csv
    incremental: {by: files}
    schema: {event_id: int64, amount: float64}
steps:
  - clean: {trim: true, case: {category: lower}}
outputs:
  events_out:
    path: ${params.out}
"""
PASSPHRASE = "incremental-tests"


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    (tmp_path / "raw").mkdir()
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(SPEC, "utf-8")
    params = {"raw": str(tmp_path / "raw"), "out": str(tmp_path / "out")}
    return {"root": tmp_path, "spec": spec, "params": params, "state": State(tmp_path / "state").ensure()}


def _batch(work: dict[str, Any], index: int, first: int, count: int) -> None:
    lines = ["event_id,amount,category"] + [f"{i},{i % 97}.5, Grocery " for i in range(first, first + count)]
    (work["root"] / "raw" / f"events-{index:03d}.csv").write_text("\n".join(lines) + "\n", "utf-8")


def _run(work: dict[str, Any], **options: Any) -> dict[str, Any]:
    return run(load(work["spec"], work["params"]), work["state"], **options)


def _event_ids(work: dict[str, Any]) -> list[int]:
    with DatasetCatalog(work["state"].catalog_url) as catalog:
        _, _, table = read_dataset(catalog, "events_out", LocalKeyring(work["state"].root, warn=False))
        return sorted(table.column("event_id").to_pylist())


def _killed_before_commit(work: dict[str, Any]) -> int:
    """Run the pipeline in a child process that dies (SIGKILL-like, no cleanup) right before the commit."""
    script = textwrap.dedent(
        f"""
        import os
        from vaultline.catalog.datasets import DatasetCatalog
        DatasetCatalog.commit_run = lambda *a, **k: os._exit(137)
        from vaultline.run.runner import run
        from vaultline.spec.loader import load
        from vaultline.state import State
        run(load({str(work["spec"])!r}, {work["params"]!r}), State.resolve({str(work["state"].root)!r}))
        """
    )
    env = {**os.environ, PASSPHRASE_ENV: PASSPHRASE}
    child = subprocess.run([sys.executable, "-c", script], env=env, check=False, capture_output=True)
    assert child.returncode == 137, child.stderr.decode()[-2000:]
    return child.returncode


def test_new_files_are_appended_and_a_replay_reads_nothing(work: dict[str, Any]) -> None:
    _batch(work, 1, 0, 300)
    first = _run(work)
    assert first["datasets"] == {"events_out": 1}
    assert first["incremental"]["events"] == {
        "by": "files", "already_delivered_files": 0, "new_files": 1, "new_input": True,
    }  # fmt: skip
    _batch(work, 2, 300, 200)
    second = _run(work)
    assert second["datasets"] == {"events_out": 2} and second["rows"]["input"] == 200
    assert _event_ids(work) == list(range(500))
    replay = _run(work)
    assert replay["status"] == "succeeded" and replay["datasets"] == {}
    assert replay["incremental"]["events"]["new_input"] is False
    assert DatasetCatalog(work["state"].catalog_url).latest("events_out").version == 2


def test_a_run_killed_between_write_and_commit_is_redone_exactly_once(work: dict[str, Any]) -> None:
    _batch(work, 1, 0, 400)
    _run(work)
    _batch(work, 2, 400, 250)
    for _ in range(3):  # the same failing run, replayed: each dies after writing its file
        assert _killed_before_commit(work) == 137
    written = list((work["root"] / "out").rglob("*.parquet"))
    assert len(written) == 4  # 1 committed + 3 written, never committed
    assert DatasetCatalog(work["state"].catalog_url).latest("events_out").version == 1
    assert _event_ids(work) == list(range(400))  # nothing of the killed runs is visible
    redone = _run(work)
    assert redone["rows"]["input"] == 250 and redone["datasets"] == {"events_out": 2}
    for _ in range(10):
        assert _run(work)["datasets"] == {}
    assert _event_ids(work) == list(range(650))  # no row skipped, none twice


def test_reset_bookmark_reprocesses_everything_into_a_fresh_version(work: dict[str, Any]) -> None:
    _batch(work, 1, 0, 100)
    _batch(work, 2, 100, 100)
    _run(work)
    again = _run(work, reset_bookmarks=True)
    assert again["bookmarks_reset"] == 1 and again["rows"]["input"] == 200
    assert _event_ids(work) == list(range(200))  # the reprocessed rows replace, not append


def test_bookmarks_cli_lists_and_resets(work: dict[str, Any]) -> None:
    _batch(work, 1, 0, 50)
    _run(work)
    runner = CliRunner()
    state = str(work["state"].root)
    listed = runner.invoke(app, ["bookmarks", "list", "--state", state])
    assert listed.exit_code == 0 and "events.events" in listed.output and "1 file(s)" in listed.output
    reset = runner.invoke(app, ["bookmarks", "reset", "events", "--state", state])
    assert reset.exit_code == 0 and "1 bookmark(s)" in reset.output
    [marked] = BookmarkCatalog(work["state"].catalog_url).list()
    assert marked.reset_pending and marked.files == 1  # nothing forgotten until a run redelivers
    assert (
        "reset: the next run reads it from the start"
        in runner.invoke(app, ["bookmarks", "list", "--state", state]).output
    )


def test_a_reset_then_a_run_replaces_instead_of_appending_twice(work: dict[str, Any]) -> None:
    _batch(work, 1, 0, 100)
    _run(work)
    _batch(work, 2, 100, 50)
    BookmarkCatalog(work["state"].catalog_url).reset("events")
    redelivered = _run(work)
    assert redelivered["rows"]["input"] == 150 and redelivered["bookmarks_reset"] == 1
    assert _event_ids(work) == list(range(150))
    [bookmark] = BookmarkCatalog(work["state"].catalog_url).list()
    assert not bookmark.reset_pending and bookmark.files == 2
    assert _run(work)["datasets"] == {}  # and the next run appends only what is new again


@pytest.mark.parametrize("reset", ["run flag", "command"])
def test_a_reset_whose_run_fails_keeps_the_bookmark_so_nothing_is_delivered_twice(
    work: dict[str, Any], monkeypatch: pytest.MonkeyPatch, reset: str
) -> None:
    _batch(work, 1, 0, 100)
    _run(work)
    _batch(work, 2, 100, 50)

    def commit_fails(*_: Any, **__: Any) -> None:
        raise RuntimeError("the catalog went away")

    with monkeypatch.context() as patched:
        patched.setattr(DatasetCatalog, "commit_run", commit_fails)
        if reset == "command":
            BookmarkCatalog(work["state"].catalog_url).reset("events")
        with pytest.raises(RuntimeError):
            _run(work, reset_bookmarks=reset == "run flag")
    [bookmark] = BookmarkCatalog(work["state"].catalog_url).list()
    assert bookmark.files == 1 and bookmark.reset_pending == (reset == "command")
    _run(work)
    assert _event_ids(work) == list(range(150))  # each row once, whichever way the reset came


def test_a_reset_of_some_sources_of_an_appending_pipeline_is_refused(work: dict[str, Any]) -> None:
    spec = SPEC.replace(
        "steps:",
        "  more:\n    format: csv\n    path: ${params.raw}/more-*.csv\n    incremental: {by: files}\n"
        "    schema: {event_id: int64, amount: float64}\nsteps:",
    )
    work["spec"].write_text(spec, "utf-8")
    _batch(work, 1, 0, 10)
    (work["root"] / "raw" / "more-001.csv").write_text("event_id,amount,category\n99,1.5,x\n", "utf-8")
    _run(work)
    BookmarkCatalog(work["state"].catalog_url).reset("events", "events")
    with pytest.raises(TerminalError, match=r"only some sources of pipeline events were reset \(not more\)"):
        _run(work)


def test_reset_bookmark_without_an_incremental_source_is_refused(work: dict[str, Any]) -> None:
    work["spec"].write_text(
        SPEC.replace("    incremental: {by: files}\n", "").replace(
            "    path: ${params.out}", "    path: ${params.out}\n    mode: append"
        ),
        "utf-8",
    )
    _batch(work, 1, 0, 10)
    _run(work)
    _run(work)
    with pytest.raises(TerminalError, match="no incremental source"):
        _run(work, reset_bookmarks=True)
    assert len(_event_ids(work)) == 20  # the appended versions are untouched


def test_a_bookmark_advanced_by_another_run_refuses_the_commit(work: dict[str, Any]) -> None:
    with BookmarkCatalog(work["state"].catalog_url) as catalog:
        move = Advance("events", "files", None, new_files=(("/in/a.csv", "0" * 64),))
        with catalog.engine.begin() as conn:
            advance(conn, "events", "run-1", [move])
        # built on the state before run-1
        with pytest.raises(BookmarkConflict), catalog.engine.begin() as conn:
            advance(conn, "events", "run-2", [move])
        assert [b.run_id for b in catalog.list()] == ["run-1"]


@pytest.mark.postgres
def test_a_table_is_read_above_its_watermark_exactly_once(
    work: dict[str, Any], postgres_url: str, pg_table: str
) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {pg_table} (event_id bigint PRIMARY KEY, amount double precision)"
        )
        conn.exec_driver_sql(f"INSERT INTO {pg_table} SELECT g, g * 1.5 FROM generate_series(0, 299) g")
    spec = f"""\
version: 1
name: tableevents
params: {{raw: raw, out: out}}
sources:
  events:
    format: postgres
    url: {postgres_url}
    table: {pg_table}
    incremental: {{by: column, column: event_id}}
outputs:
  events_out:
    path: ${{params.out}}
"""
    work["spec"].write_text(spec, "utf-8")
    assert _run(work)["rows"]["input"] == 300
    with engine.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO {pg_table} SELECT g, g * 1.5 FROM generate_series(300, 449) g")
    engine.dispose()
    assert _killed_before_commit(work) == 137
    assert _run(work)["rows"]["input"] == 150
    assert _run(work)["datasets"] == {}
    assert _event_ids(work) == list(range(450))
    summary = BookmarkCatalog(work["state"].catalog_url).list("tableevents")[0]
    assert (summary.kind, summary.column, summary.watermark_set) == ("column", "event_id", True)
    # event_id's watermark says nothing of amount's: reading above it would lose or repeat rows
    work["spec"].write_text(spec.replace("column: event_id", "column: amount"), "utf-8")
    with pytest.raises(
        TerminalError, match="watermark of column event_id, the spec now reads above column amount"
    ):
        _run(work)


def test_an_append_whose_column_types_changed_is_refused(work: dict[str, Any]) -> None:
    _batch(work, 1, 0, 100)
    _run(work)
    retyped = SPEC.replace("amount: float64}", "amount: string}\n    schema_drift: evolve")
    work["spec"].write_text(retyped, "utf-8")
    _batch(work, 2, 100, 50)
    with pytest.raises(DatasetError, match="cannot append to dataset events_out: the types of amount differ"):
        _run(work)
    assert _event_ids(work) == list(range(100))  # the readable latest version is untouched
