"""Outputs and quarantine on S3 (a moto server): a run that fails, after writing every row or
mid-stream, leaves no object in the bucket (final, temporary or key material) and no multipart upload;
a missing output or quarantine bucket is an OutputError naming the output (or the quarantine), its
location and a fix, before any input is read; a failure while writing the quarantine or moving outputs
into place removes every file of the run, local temporaries and outputs already moved included; an
output that cannot be reached is a retryable error (exit code 75) naming it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from vaultline.catalog.datasets import DatasetCatalog
from vaultline.engines.polars import outputs
from vaultline.errors import OutputError, OutputUnavailableError, TransformError
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.runner import run
from vaultline.spec.loader import loads
from vaultline.state import State
from vaultline.storage.dataset_reader import read_dataset

pytestmark = pytest.mark.s3

SPEC = """
version: 1
name: remote
sources:
  a: {{format: csv, path: "{csv}", schema: {{amount: float64}}}}
outputs:
  main:
    path: "{out}"
    encryption: {encryption}
{extra}quarantine: {{path: "{quarantine}", max_fraction: {fraction}}}
"""
ENCRYPTIONS = {
    "internal": "{enabled: true}",
    "external": "{enabled: true, key_material: external}",
    "plain": "{enabled: false}",
}
SECRET = "SECRETVALUE"


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> State:
    monkeypatch.setenv(PASSPHRASE_ENV, "remote-outputs-test")
    return State(tmp_path / "state").ensure()


def _csv(tmp_path: Path, rows: int = 40, bad: int = 1) -> Path:
    path = tmp_path / "in.csv"
    lines = ["name,amount"] + [f"n{i},{i}.5" for i in range(rows - bad)] + [f"n,{SECRET}"] * bad
    path.write_text("\n".join(lines) + "\n")
    return path


def _spec(tmp_path: Path, out: str, *, quarantine: str, encryption: str = "internal", fraction: float = 0.5,
          rows: int = 40, bad: int = 1) -> Any:  # fmt: skip
    text = SPEC.format(
        csv=_csv(tmp_path, rows, bad), out=out, quarantine=quarantine, encryption=ENCRYPTIONS[encryption],
        fraction=fraction, extra="",
    )  # fmt: skip
    return loads(text)


def _keys(s3_client: Any, bucket: str) -> list[str]:
    return [item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _uploads(s3_client: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


@pytest.mark.parametrize("encryption", list(ENCRYPTIONS))
def test_a_run_that_fails_after_writing_leaves_no_object(
    tmp_path: Path, state: State, s3_client: Any, s3_bucket: str, encryption: str
) -> None:
    # Every row is written before the quarantine fraction is judged: the output was complete.
    loaded = _spec(tmp_path, f"s3://{s3_bucket}/out", quarantine=f"s3://{s3_bucket}/q",
                   encryption=encryption, fraction=0.0)  # fmt: skip
    with pytest.raises(TransformError, match="quarantined"):
        run(loaded, state)
    assert _keys(s3_client, s3_bucket) == []
    assert _uploads(s3_client, s3_bucket) == []


@pytest.mark.parametrize("encryption", ["internal", "external"])
def test_a_run_that_fails_mid_stream_aborts_its_upload(
    tmp_path: Path, state: State, s3_client: Any, s3_bucket: str, encryption: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import s3fs

    # Row groups of 1000 rows of 4 KB of random text, uploaded in parts of 5 MB (S3's smallest): the
    # first part is sent, and the connection fails while sending the second.
    monkeypatch.setattr(outputs, "BATCH_ROWS", 1_000)
    opener, uploader = s3fs.S3FileSystem._open, s3fs.core.S3File._upload_chunk

    def small_parts(self: Any, path: str, mode: str = "rb", block_size: Any = None, **kw: Any) -> Any:
        return opener(self, path, mode, block_size=5 * 2**20, **kw)

    uploading: list[list[str]] = []

    def failing(self: Any, final: bool = False) -> Any:
        if self.parts:
            uploading.append(_uploads(s3_client, s3_bucket))
            raise ConnectionError("the network went away")
        return uploader(self, final)

    monkeypatch.setattr(s3fs.S3FileSystem, "_open", small_parts)
    monkeypatch.setattr(s3fs.core.S3File, "_upload_chunk", failing)
    # The writer aborts its own upload: the sweep of uploads left at the key needs a permission
    # (s3:ListBucketMultipartUploads) writers often lack.
    monkeypatch.setattr(outputs, "_abort_uploads", lambda location: None)
    path = tmp_path / "in.csv"
    with path.open("w") as handle:
        handle.write("name,amount\n")
        for i in range(5_000):
            handle.write(f"{os.urandom(2_000).hex()},{i}\n")
    text = SPEC.format(csv=path, out=f"s3://{s3_bucket}/out", quarantine=f"s3://{s3_bucket}/q",
                       encryption=ENCRYPTIONS[encryption], fraction=0.5, extra="")  # fmt: skip
    with pytest.raises(OutputUnavailableError) as caught:  # a lost connection: rerun unchanged
        run(loads(text), state)
    assert f"s3://{s3_bucket}/out: output main cannot be written" in caught.value.render()
    assert "ConnectionError" in caught.value.render()
    (under_way,) = uploading
    assert len(under_way) == 1 and under_way[0].startswith("out/.remote-")  # the upload had begun
    assert _keys(s3_client, s3_bucket) == []
    assert _uploads(s3_client, s3_bucket) == []


@pytest.mark.parametrize("encryption", list(ENCRYPTIONS))
def test_a_run_that_succeeds_leaves_only_its_final_objects(
    tmp_path: Path, state: State, s3_client: Any, s3_bucket: str, encryption: str
) -> None:
    loaded = _spec(tmp_path, f"s3://{s3_bucket}/out", quarantine=f"s3://{s3_bucket}/q", encryption=encryption)
    report = run(loaded, state)
    assert report["status"] == "succeeded"
    (output,) = report["outputs"]
    name = output["location"].removeprefix(f"s3://{s3_bucket}/")
    expected = {name, f"q/{report['run_id']}.parquet"}
    if encryption == "external":
        expected.add(f"out/_KEY_MATERIAL_FOR_{name.removeprefix('out/')}.json")
    assert set(_keys(s3_client, s3_bucket)) == expected
    assert _uploads(s3_client, s3_bucket) == []
    provider = LocalKeyring(state.root, warn=False)
    _, version, table = read_dataset(DatasetCatalog(state.catalog_url), "main", provider)
    assert version == 1 and table.num_rows == 39 == output["rows"]
    assert sorted(table.column("amount").to_pylist()) == [i + 0.5 for i in range(39)]


def test_a_missing_output_bucket_is_named_before_any_source_is_read(
    tmp_path: Path, state: State, s3_bucket: str
) -> None:
    missing = f"vl-missing-{uuid.uuid4().hex[:8]}"
    phases: list[str] = []
    loaded = _spec(tmp_path, f"s3://{missing}/out", quarantine=f"s3://{s3_bucket}/q")
    with pytest.raises(OutputError) as caught:
        run(loaded, state, on_phase=phases.append)
    text = caught.value.render()
    assert "output main" in text and f"s3://{missing}/out" in text and "does not exist" in text
    assert "create the bucket" in text and "vaultline doctor" in text
    assert SECRET not in text
    assert not [phase for phase in phases if phase.startswith("reading source")]


def test_a_missing_quarantine_bucket_is_named_and_leaves_no_local_output(
    tmp_path: Path, state: State, moto_server: str
) -> None:
    missing = f"vl-missing-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out"
    phases: list[str] = []
    loaded = _spec(tmp_path, str(out), quarantine=f"s3://{missing}/q")
    with pytest.raises(OutputError) as caught:
        run(loaded, state, on_phase=phases.append)
    text = caught.value.render()
    assert "quarantine" in text and f"s3://{missing}/q" in text and "does not exist" in text
    assert "create the bucket" in text and "vaultline doctor" in text
    assert SECRET not in text
    assert not [phase for phase in phases if phase.startswith("reading source")]
    assert not out.exists()


def test_a_quarantine_write_that_fails_leaves_no_local_output(
    tmp_path: Path, state: State, s3_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bucket exists when the run starts and is gone when the quarantine is written.
    from vaultline.engines.polars import executor

    original = executor._write_quarantine

    def vanished(*args: Any, **kwargs: Any) -> str:
        s3_client.delete_bucket(Bucket=gone)
        return original(*args, **kwargs)

    gone = f"vl-gone-{uuid.uuid4().hex[:8]}"
    s3_client.create_bucket(Bucket=gone)
    monkeypatch.setattr(executor, "_write_quarantine", vanished)
    out = tmp_path / "out"
    loaded = _spec(tmp_path, str(out), quarantine=f"s3://{gone}/q")
    with pytest.raises(OutputError) as caught:
        run(loaded, state)
    text = caught.value.render()
    assert text.startswith(f"s3://{gone}/q: the quarantine cannot be written: the bucket or directory does")
    assert "vaultline doctor" in text
    assert SECRET not in text
    assert list(out.iterdir()) == []


def test_a_failure_while_moving_outputs_into_place_removes_those_already_moved(
    tmp_path: Path, state: State, s3_client: Any, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two outputs and a quarantine written: the second output's copy to its final name fails.
    second = f'  second: {{path: "s3://{s3_bucket}/second", encryption: {ENCRYPTIONS["plain"]}}}\n'
    text = SPEC.format(csv=_csv(tmp_path), out=f"s3://{s3_bucket}/out", quarantine=f"s3://{s3_bucket}/q",
                       encryption=ENCRYPTIONS["external"], fraction=0.5, extra=second)  # fmt: skip
    original = outputs._copy_into_place
    moved: list[str] = []

    def copy(temporary: str, final: str) -> None:
        if "/second/" in final:
            raise PermissionError("Access Denied")
        original(temporary, final)
        moved.append(final)

    monkeypatch.setattr(outputs, "_copy_into_place", copy)
    with pytest.raises(OutputError) as caught:
        run(loads(text), state)
    message = caught.value.render()
    assert message.startswith(f"s3://{s3_bucket}/second: output second cannot be written: access was refused")
    assert "vaultline doctor" in message
    assert len(moved) == 2  # main's key material and file were in place
    assert _keys(s3_client, s3_bucket) == []  # and are gone, with the quarantine file and temporaries
    assert _uploads(s3_client, s3_bucket) == []


def test_an_unreachable_output_fails_before_any_input_is_read_and_exits_retryable(
    tmp_path: Path, state: State, unreachable_s3: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from vaultline.catalog.runs import RunCatalog
    from vaultline.cli.main import app
    from vaultline.engines.polars import sources

    def not_read(*_: Any, **__: Any) -> None:
        raise AssertionError("the source was read although the output cannot be reached")

    monkeypatch.setattr(sources, "read_source", not_read)
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(
        SPEC.format(
            csv=_csv(tmp_path),
            out="s3://reachable-never/out",
            quarantine=tmp_path / "q",
            encryption=ENCRYPTIONS["plain"],
            fraction=0.5,
            extra="",
        ),
        "utf-8",
    )
    result = CliRunner().invoke(app, ["run", str(spec), "--state", str(state.root)])
    assert result.exit_code == 75, result.output  # EX_TEMPFAIL: rerun unchanged
    assert "output main cannot be written: its location could not be reached" in result.output
    with RunCatalog(state.catalog_url) as catalog:
        (record,) = catalog.list()
        assert (record.status, catalog.report(record.run_id)["retryable"]) == ("failed", True)


@pytest.mark.parametrize("encryption", ["internal", "plain"])
def test_an_output_lost_while_writing_is_a_retryable_error_naming_it(
    tmp_path: Path, state: State, unreachable_s3: None, monkeypatch: pytest.MonkeyPatch, encryption: str
) -> None:
    """The bucket answered before the run, then went away: both writers (pyarrow's through s3fs, and
    Polars' own sink, which raises object-store errors as they are) fail as the output's error."""
    monkeypatch.setattr(outputs, "check_buckets", lambda pipeline: None)
    loaded = _spec(tmp_path, "s3://gone-away/out", quarantine=str(tmp_path / "q"), encryption=encryption)
    with pytest.raises(OutputUnavailableError, match="output main cannot be written") as caught:
        run(loaded, state)
    assert caught.value.where == "s3://gone-away/out" and caught.value.retryable


def test_a_plain_output_failure_names_the_output_whose_path_it_is(tmp_path: Path) -> None:
    """Polars' sink names only the object it was writing; `out/` is part of `archive/out/`."""
    pending = [
        outputs.PendingOutput(name, f"{path}/.p-r.parquet.tmp", f"{path}/p-r.parquet", ["a"], {}, None, None)
        for name, path in (("main", "out"), ("archive", "archive/out"))
    ]
    failure = outputs.sink_failure(
        pending, ConnectionResetError("error writing archive/out/.p-r.parquet.tmp")
    )
    assert failure is not None and "output archive" in failure.render() and failure.retryable
    assert outputs.sink_failure(pending, OSError("reading s3://raw/in.parquet failed")) is None
