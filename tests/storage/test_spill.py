"""Encrypted spills: round trip, projections, nothing in the clear, tampering detected, cleanup."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from vaultline.storage import spill as spill_module
from vaultline.storage.spill import Spill, SpillCorrupt, sweep

SECRET = "SPILLSECRET-4111111111111111"


def _batch(start: int, rows: int) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "id": pa.array(range(start, start + rows), pa.int64()),
            "card": pa.array(
                [f"{SECRET}-{i}" if i % 7 else None for i in range(start, start + rows)], pa.large_string()
            ),
            "amount": pa.array([i / 4 for i in range(start, start + rows)], pa.float64()),
        }
    )


def _written(directory: Path, batches: int = 3, rows: int = 100) -> Spill:
    spill = Spill.create(directory, _batch(0, 1).schema)
    for number in range(batches):
        spill.write(_batch(number * rows, rows))
    spill.finish()
    return spill


def test_batches_come_back_in_order_and_whole(tmp_path: Path) -> None:
    spill = _written(tmp_path)
    back = pa.Table.from_batches(list(spill.batches()))
    assert back.equals(pa.Table.from_batches([_batch(0, 100), _batch(100, 100), _batch(200, 100)]))
    assert spill.rows == 300


def test_a_projection_reads_only_its_columns(tmp_path: Path) -> None:
    spill = _written(tmp_path)
    batches = list(spill.batches(["amount", "id"]))
    assert [b.schema.names for b in batches] == [["amount", "id"]] * 3
    assert pa.Table.from_batches(batches)["id"].to_pylist() == list(range(300))


def test_the_file_holds_no_value_in_the_clear_and_only_its_owner_may_read_it(tmp_path: Path) -> None:
    spill = _written(tmp_path)
    data = spill.path.read_bytes()
    assert SECRET.encode() not in data
    assert b"card" not in data  # even column names are sealed
    assert stat.S_IMODE(os.stat(spill.path).st_mode) == 0o600


def test_the_spill_directory_is_private(tmp_path: Path) -> None:
    spill = Spill.create(tmp_path / "spill", _batch(0, 1).schema)
    assert stat.S_IMODE(os.stat(tmp_path / "spill").st_mode) == 0o700
    spill.delete()


def test_the_key_never_prints(tmp_path: Path) -> None:
    spill = _written(tmp_path)
    assert spill._key.reveal().hex() not in repr(spill)


def test_a_changed_byte_fails_the_read(tmp_path: Path) -> None:
    spill = _written(tmp_path)
    data = bytearray(spill.path.read_bytes())
    data[len(data) // 2] ^= 1
    spill.path.write_bytes(bytes(data))
    with pytest.raises(SpillCorrupt, match="failed authentication") as caught:
        list(spill.batches())
    assert SECRET not in str(caught.value)


def test_swapped_chunks_fail_the_read(tmp_path: Path) -> None:
    spill = _written(tmp_path, batches=2)
    first, second = spill._index[0]["card"], spill._index[1]["card"]
    spill._index[0]["card"], spill._index[1]["card"] = second, first
    with pytest.raises(SpillCorrupt):
        list(spill.batches(["card"]))


def test_another_spills_key_cannot_read_it(tmp_path: Path) -> None:
    one, other = _written(tmp_path / "a"), _written(tmp_path / "b")
    other.path.write_bytes(one.path.read_bytes())
    with pytest.raises(SpillCorrupt):
        list(other.batches())


def test_a_batch_of_another_schema_is_refused(tmp_path: Path) -> None:
    spill = Spill.create(tmp_path, _batch(0, 1).schema)
    with pytest.raises(Exception, match="schema"):
        spill.write(pa.record_batch({"id": pa.array([1])}))
    spill.delete()


def test_delete_removes_the_file(tmp_path: Path) -> None:
    spill = _written(tmp_path)
    spill.delete()
    assert not spill.path.exists()
    assert list(tmp_path.iterdir()) == []


def test_sweep_removes_spills_of_ended_processes_and_keeps_a_live_run_s_whatever_its_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = _written(tmp_path)
    os.utime(ours.path, (0, 0))  # a long run's spill: old, but its process is this one
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    orphan = tmp_path / f".vl-spill-{int(ended.stdout)}-0123456789abcdef"
    orphan.write_bytes(b"sealed")
    other = tmp_path / "not-a-spill"
    other.write_text("kept")
    os.utime(other, (0, 0))
    assert sweep(tmp_path, older_than=0) == 1
    assert ours.path.exists() and not orphan.exists() and other.exists()
    # the process id now belongs to a process started after the spill last changed: its owner is gone
    monkeypatch.setattr(spill_module, "process_start", lambda _pid: time.time() + 60)
    assert sweep(tmp_path, dry_run=True) == 1 and ours.path.exists()
    # no /proc to tell: a spill older than the grace period goes
    monkeypatch.setattr(spill_module, "process_start", lambda _pid: None)
    assert sweep(tmp_path) == 0 and ours.path.exists()
    assert sweep(tmp_path, older_than=0) == 1 and not ours.path.exists()


def test_creating_a_spill_sweeps_its_directory(tmp_path: Path) -> None:
    orphan = tmp_path / ".vl-spill-notapid-0123456789abcdef"
    orphan.write_bytes(b"sealed")
    Spill.create(tmp_path, _batch(0, 1).schema).delete()
    assert not orphan.exists()
