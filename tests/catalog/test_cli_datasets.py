"""`vaultline datasets list|show|history`, `gc` and `vacuum`, invoked through a Typer assembled here
the way cli/main.py registers them; the catalog is SQLite or PostgreSQL (VAULTLINE_CATALOG_URL)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import typer
from dataset_helpers import age, commit, write_file
from typer.testing import CliRunner

from vaultline.catalog.datasets import DatasetCatalog
from vaultline.cli import datasets

SECRET = "2031-07-04T12:00:00 alice.secret@example.com"  # a watermark value: never printed

app = typer.Typer()
app.add_typer(datasets.app, name="datasets")
app.command("gc")(datasets.gc)
app.command("vacuum")(datasets.vacuum)
runner = CliRunner()


def _file(n: int) -> str:
    """A version's file, named as a run's writer names it (gc collects only such names)."""
    return f"sales-20261201T00000{n}Z-00000{n}.parquet"


@pytest.fixture
def populated(catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    monkeypatch.setenv("VAULTLINE_CATALOG_URL", catalog_url)
    catalog = DatasetCatalog(catalog_url)
    out = tmp_path / "out" / "sales"
    for n in (1, 2, 3):
        entry = write_file(out / _file(n), f"version {n}".encode(), rows=10 * n)
        commit(catalog, "sales", [entry], run_id=f"r{n}", watermark={"updated_at": SECRET})
    commit(
        catalog,
        "refunds",
        [write_file(tmp_path / "out" / "refunds" / "refunds-20261201T000009Z-000009.parquet", b"refunds")],
        run_id="r9",
    )
    catalog.close()
    (tmp_path / "state").mkdir()  # the catalog may live elsewhere (PostgreSQL); the state directory may not
    return {"state": tmp_path / "state", "out": out}


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    assert SECRET not in result.stdout and SECRET not in result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_list(populated: dict[str, Path]) -> None:
    state = str(populated["state"])
    code, out, _ = _run("datasets", "list", "--state", state)
    assert code == 0
    assert "sales" in out and "refunds" in out and "3 of 3" in out
    code, out, _ = _run("datasets", "list", "--state", state, "--json")
    listed = json.loads(out)
    assert [(d["name"], d["latest_version"], d["row_count"]) for d in listed] == [
        ("refunds", 1, 1),
        ("sales", 3, 30),
    ]


def test_show_latest_and_a_version(populated: dict[str, Path]) -> None:
    state = str(populated["state"])
    code, out, _ = _run("datasets", "show", "sales", "--state", state)
    assert code == 0
    assert (
        out.startswith("sales@3 (committed): committed")
        and "by run r3" in out
        and "30 rows in 1 file(s)" in out
    )
    assert _file(3) in out
    for text in ("schema:", "customer_id: String", "classifications:", "CUSTOMER_ID", "protections:",
                 "tokenize", "encryption:", "customer_key", "watermark: set (value not shown)"):  # fmt: skip
        assert text in out

    code, out, _ = _run("datasets", "show", "sales@1", "--state", state, "--json")
    shown = json.loads(out)
    assert (shown["version"], shown["run_id"], shown["has_watermark"]) == (1, "r1", True)
    assert "watermark" not in shown
    (entry,) = shown["files"]
    assert entry["location"].endswith(_file(1)) and entry["rows"] == 10 and len(entry["sha256"]) == 64


def test_history_and_vacuum_and_a_vacuumed_show(populated: dict[str, Path]) -> None:
    state = str(populated["state"])
    code, out, _ = _run("vacuum", "sales", "--keep", "2", "--state", state, "--dry-run", "--json")
    assert code == 0 and json.loads(out)["vacuumed"] == [1] and json.loads(out)["dry_run"] is True
    assert (populated["out"] / _file(1)).exists()

    code, out, _ = _run("vacuum", "sales", "--keep", "2", "--state", state)
    assert code == 0
    assert "vacuumed version(s) 1; 1 file(s), 9 bytes; retained 2, 3" in out
    assert not (populated["out"] / _file(1)).exists()

    code, out, _ = _run("datasets", "history", "sales", "--state", state, "--json")
    assert [(v["version"], v["status"]) for v in json.loads(out)] == [
        (3, "committed"),
        (2, "committed"),
        (1, "vacuumed"),
    ]
    code, out, _ = _run("datasets", "history", "sales", "--state", state)
    assert code == 0 and "vacuumed" in out and "r1" in out

    code, _, err = _run("datasets", "show", "sales@1", "--state", state)
    assert code == 1
    assert (
        err.startswith("error: version 1 of dataset sales was vacuumed") and "retained version (2-3)" in err
    )


def test_unknown_and_malformed_references(populated: dict[str, Path]) -> None:
    state = str(populated["state"])
    code, _, err = _run("datasets", "show", "salez", "--state", state)
    assert code == 1 and "no dataset named salez" in err and "known datasets: refunds, sales" in err
    code, _, err = _run("datasets", "show", "sales@9", "--state", state)
    assert code == 1 and "has no version 9" in err and "its versions: 1-3" in err
    code, _, err = _run("datasets", "show", "sales@x", "--state", state)
    assert code == 1 and "is not a dataset reference" in err
    code, _, err = _run("vacuum", "sales", "--keep", "0", "--state", state)
    assert code == 2  # typer refuses --keep 0 before the command runs


def test_gc(populated: dict[str, Path]) -> None:
    state = str(populated["state"])
    leftover = populated["out"] / "sales-20261201T000000Z-c0ffee.parquet"  # named as a run names it
    leftover.write_bytes(b"uncommitted")
    age(leftover, 3 * 3600)

    code, out, _ = _run("gc", "--state", state, "--json")  # default grace 24h: too young
    assert code == 0 and json.loads(out)["files_young"] == 1 and leftover.exists()
    code, out, _ = _run("gc", "--grace", "2h", "--dry-run", "--state", state)
    assert code == 0 and "would delete 1 (11 bytes)" in out and leftover.exists()
    code, out, _ = _run("gc", "--grace", "2h", "--state", state, "--json")
    result = json.loads(out)
    assert (result["files_deleted"], result["bytes_deleted"], result["files_referenced"]) == (1, 11, 4)
    assert len(result["roots"]) == 2 and not leftover.exists()
    assert all((populated["out"] / _file(n)).exists() for n in (1, 2, 3))

    code, _, err = _run("gc", "--grace", "soon", "--state", state)
    assert code == 2 and "not a duration" in err


def test_gc_finds_what_a_killed_first_run_of_an_output_left(
    populated: dict[str, Path], catalog_url: str, tmp_path: Path
) -> None:
    # no version was ever committed under claims/: only the run catalog knows the directory
    from vaultline.catalog.runs import RunCatalog

    claims = tmp_path / "out" / "claims"
    with RunCatalog(catalog_url) as runs:
        runs.start("20261201T000000Z-dead01", "claims", "0" * 64, output_roots=[str(claims)])
        runs.finish("20261201T000000Z-dead01", {"status": "abandoned", "output_roots": [str(claims)]})
    leftovers = [
        write_file(claims / name, b"killed mid-write").location
        for name in (".claims-20261201T000000Z-dead01.parquet.tmp", "claims-20261201T000000Z-dead01.parquet")
    ]
    for leftover in leftovers:
        age(Path(leftover), 3 * 3600)
    code, out, _ = _run("gc", "--grace", "2h", "--state", str(populated["state"]), "--json")
    result = json.loads(out)
    assert code == 0 and result["files_deleted"] == 2 and str(claims) in result["roots"]
    assert not any(Path(leftover).exists() for leftover in leftovers)


def test_gc_removes_the_spills_of_ended_runs(populated: dict[str, Path]) -> None:
    spills = populated["state"] / "spill"
    spills.mkdir(parents=True)
    ended = spills / ".vl-spill-notapid-0123456789abcdef"  # no live process owns it
    ended.write_bytes(b"sealed")
    running = spills / f".vl-spill-{os.getpid()}-0123456789abcdef"
    running.write_bytes(b"sealed")
    code, out, _ = _run("gc", "--dry-run", "--state", str(populated["state"]))
    assert code == 0 and "would delete 1 spill(s)" in out and ended.exists()
    code, out, _ = _run("gc", "--state", str(populated["state"]), "--json")
    assert code == 0 and json.loads(out)["spills_deleted"] == 1
    assert not ended.exists() and running.exists()


@pytest.mark.parametrize(
    ("text", "seconds"), [("24h", 86400), ("90m", 5400), ("7d", 604800), ("30", 30), ("0s", 0)]
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert datasets.parse_duration(text) == seconds


def test_empty_catalog(catalog_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VAULTLINE_CATALOG_URL", catalog_url)
    (tmp_path / "state").mkdir()
    code, out, _ = _run("datasets", "list", "--state", str(tmp_path / "state"))
    assert code == 0 and "no datasets yet" in out
    code, out, _ = _run("gc", "--state", str(tmp_path / "state"), "--json")
    assert code == 0 and json.loads(out)["roots"] == []
