"""The runner: failed runs leave no output, fitted edges are reused, S3 in and out, catalog on PostgreSQL."""

from __future__ import annotations

import gc
import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from parquet_files import read_parquet
from vaultline.demo.fraud import generate_fraud
from vaultline.errors import KeyringError, TransformError
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.run.runner import run
from vaultline.spec.loader import loads
from vaultline.state import State

SPEC = """\
version: 1
name: small
params: {source: raw, target: out, max_fraction: 0.2}
keys: {customer: customer_key}
sources:
  tx: {format: csv, path: "${params.source}/transactions.csv"}
steps:
  - clean:
      cast: {amount: float64}
      constraints: {amount: {min: 0}}
  - tokenize: {columns: [customer_id], domain: customer}
  - bin: {column: amount, method: quantile, bins: 4}
  - drop: {columns: [email, card_number, account_number, ip_address, device_id]}
outputs:
  o: {path: "${params.target}/small"}
quarantine: {max_fraction: "${params.max_fraction}"}
"""


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(PASSPHRASE_ENV, "runner-test-passphrase")
    state = State(tmp_path / "state").ensure()
    LocalKeyring(state.root).create("customer_key")
    data = generate_fraud(2000, tmp_path / "a")
    return {"tmp": tmp_path, "state": state, "raw": data.data_path.parent}


def _run(workspace: dict[str, Any], text: str = SPEC, **params: Any) -> dict[str, Any]:
    overrides = {"source": str(workspace["raw"]), "target": str(workspace["tmp"] / "out"), **params}
    return run(loads(text, overrides=overrides), workspace["state"])


def test_failed_run_leaves_no_output_and_is_recorded(workspace: dict[str, Any]) -> None:
    with pytest.raises(TransformError, match="quarantined, more than the allowed") as caught:
        _run(workspace, max_fraction=0.0)
    # a failed run's report has no step counts: the error names the main reasons
    assert re.search(r"; main reasons: .*\d+ at step 0 \(clean\): [a-z]+:amount", caught.value.message)
    out = workspace["tmp"] / "out" / "small"
    assert not any(out.iterdir()) if out.exists() else True
    from vaultline.catalog.runs import RunCatalog

    (record,) = RunCatalog(workspace["state"].catalog_url).list()
    assert record.status == "failed" and "quarantined" in (record.error or "")
    assert _run(workspace)["status"] == "succeeded"  # a rerun completes


@pytest.mark.parametrize("failure", ["lost after the commit", "lost before it", "audit intent refused"])
def test_a_commit_that_raises_removes_the_files_only_when_no_version_holds_them(
    workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """A connection lost during COMMIT: the catalog may hold the version all the same."""
    from vaultline.audit.log import AuditLog
    from vaultline.catalog.datasets import DatasetCatalog
    from vaultline.catalog.schema import CatalogUnavailable
    from vaultline.errors import AuditUnavailableError

    real_commit, real_intent = DatasetCatalog.commit_run, AuditLog.intent

    def lost_during_commit(self: DatasetCatalog, *args: Any, **kwargs: Any) -> dict[str, int]:
        if failure == "lost after the commit":
            real_commit(self, *args, **kwargs)
        raise CatalogUnavailable("the catalog's server could not be reached while committing")

    def intent_refused(self: AuditLog, action: str, **kwargs: Any) -> Any:
        if action == "dataset.commit":
            raise AuditUnavailableError("the audit log could not write (OSError)")
        return real_intent(self, action, **kwargs)

    if failure == "audit intent refused":
        monkeypatch.setattr(AuditLog, "intent", intent_refused)
    else:
        monkeypatch.setattr(DatasetCatalog, "commit_run", lost_during_commit)
    with pytest.raises((CatalogUnavailable, AuditUnavailableError)) as caught:
        _run(workspace)
    committed = failure == "lost after the commit"
    # a rerun unchanged could append the committed versions again: that failure is final
    assert caught.value.retryable is not committed
    assert ("may have landed" in (caught.value.hint or "")) is committed
    written = list((workspace["tmp"] / "out" / "small").glob("*.parquet"))
    assert len(written) == int(committed)
    quarantined = list((workspace["state"].quarantine_dir / "small").glob("*.parquet"))
    assert len(quarantined) == int(committed)  # the failed run's quarantine goes with its outputs
    with DatasetCatalog(workspace["state"].catalog_url) as catalog:
        assert {Path(location) for location in catalog.referenced_locations()} == set(written)


def test_a_step_missing_a_column_names_its_line_in_the_spec(workspace: dict[str, Any]) -> None:
    text = SPEC.replace("bin: {column: amount,", "bin: {column: amont,")
    with pytest.raises(TransformError) as caught:
        _run(workspace, text)
    rendered = caught.value.render()
    assert rendered.startswith(
        "<string>, line 12: step 2 (bin): needs column(s) amont which the flow does not have"
    )
    assert "available columns: transaction_id, customer_id" in rendered


def test_quarantined_rows_are_encrypted_with_a_key_a_column_and_decrypt(workspace: dict[str, Any]) -> None:
    import polars as pl

    from vaultline.engines.polars.executor import quarantine_cipher, quarantine_key
    from vaultline.run.context import RunContext
    from vaultline.run.runner import QUARANTINE_KEY

    report = _run(workspace)
    stored = pl.read_parquet(report["quarantine"])
    assert stored.height == report["rows"]["quarantined"] > 0
    ctx = RunContext(LocalKeyring(workspace["state"].root), {"quarantine": QUARANTINE_KEY})
    # the same text in two columns: two ciphertexts (a key a column)
    same = pl.lit("4111111111111111")
    a, b = (
        quarantine_cipher(same, quarantine_key(ctx, "quarantine", c), decrypting=False) for c in ("x", "y")
    )
    assert pl.select(a).item() != pl.select(b).item()
    decrypted = stored.select(
        quarantine_cipher(pl.col(c), quarantine_key(ctx, "quarantine", c), decrypting=True)
        for c in ("transaction_id", "amount")
    )
    raw = pl.read_csv(workspace["raw"] / "transactions.csv", infer_schema=False, truncate_ragged_lines=True)
    ids = decrypted["transaction_id"].drop_nulls().to_list()
    assert ids and set(ids) <= set(raw["transaction_id"].to_list())


def test_quarantined_rows_keep_lists_structs_bytes_and_durations_as_text(
    workspace: dict[str, Any], tmp_path: Path
) -> None:
    """Polars casts none of them to text: a run whose quarantined rows held one failed as a whole."""
    from datetime import timedelta

    import polars as pl

    from vaultline.engines.polars.executor import quarantine_cipher, quarantine_key
    from vaultline.run.context import RunContext
    from vaultline.run.runner import QUARANTINE_KEY

    pl.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3"],
            "amount": ["1.5", "not a number", "2"],
            "tags": [["a", "b"], ["x", 'q"uote'], None],
            "place": [{"city": "Oslo", "zip": 1}, {"city": "Lima", "zip": None}, None],
            "blob": [b"ok", b"\xff\x00", None],
            "wait": [timedelta(seconds=1), timedelta(minutes=2, seconds=5), None],
        }
    ).write_parquet(tmp_path / "nested.parquet")
    text = (
        SPEC.replace(
            '{format: csv, path: "${params.source}/transactions.csv"}',
            f'{{format: parquet, path: "{tmp_path}/nested.parquet"}}',
        )
        .replace("  - bin: {column: amount, method: quantile, bins: 4}\n", "")
        .replace("email, card_number, account_number, ip_address, device_id", "blob")
    )
    report = _run(workspace, text, max_fraction=0.5)
    assert report["status"] == "succeeded" and report["rows"]["quarantined"] == 1
    ctx = RunContext(LocalKeyring(workspace["state"].root), {"quarantine": QUARANTINE_KEY})
    stored = pl.read_parquet(report["quarantine"])
    row = stored.select(
        quarantine_cipher(pl.col(c), quarantine_key(ctx, "quarantine", c), decrypting=True)
        for c in ("tags", "place", "blob", "wait")
    ).row(0)
    assert row == ('["x","q\\"uote"]', '{"city":"Lima","zip":null}', "ff00", "PT2M5S")


def test_two_first_runs_racing_to_create_a_managed_key_both_go_on(
    workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultline.run.runner import ensure_key

    keyring = LocalKeyring(workspace["state"].root)
    keyring.create("vaultline-quarantine")  # by the other run, between this run's look and its create
    looks = iter([[], keyring.list()])
    monkeypatch.setattr(keyring, "list", lambda: next(looks))
    ensure_key(keyring, "vaultline-quarantine", purpose="quarantine")  # no "already exists"
    monkeypatch.setattr(keyring, "list", lambda: [])  # a creation failing for another reason still fails
    monkeypatch.setattr(keyring, "create", lambda *_a, **_k: (_ for _ in ()).throw(KeyringError("disk")))
    with pytest.raises(KeyringError, match="disk"):
        ensure_key(keyring, "vaultline-other", purpose="quarantine")


def test_a_run_closes_every_catalog_connection_it_opened(
    workspace: dict[str, Any], catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closed by the run, not left to the collector: psycopg warns for each connection it has to
    close itself, and a long-lived process (a workflow running pipelines) would hold them meanwhile."""
    monkeypatch.setenv("VAULTLINE_CATALOG_URL", catalog_url)
    gc.collect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        _run(workspace)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_bin_edges_are_reused_from_an_earlier_run(workspace: dict[str, Any]) -> None:
    first = _run(workspace)
    edges = next(s for s in first["steps"] if s["name"] == "bin")["facts"]["edges"]
    other = generate_fraud(1500, workspace["tmp"] / "b", seed=99)
    reuse = SPEC.replace("bins: 4}", f"bins: 4, reuse_run: {first['run_id']}}}")
    second = _run(workspace, reuse, source=str(other.data_path.parent))
    facts = next(s for s in second["steps"] if s["name"] == "bin")["facts"]
    assert facts["edges"] == edges
    fitted = _run(workspace, source=str(other.data_path.parent))
    assert next(s for s in fitted["steps"] if s["name"] == "bin")["facts"]["edges"] != edges


def test_report_on_disk_equals_catalog(workspace: dict[str, Any]) -> None:
    report = _run(workspace)
    on_disk = json.loads((workspace["state"].run_dir(report["run_id"]) / "report.json").read_text())
    from vaultline.catalog.runs import RunCatalog

    assert RunCatalog(workspace["state"].catalog_url).report(report["run_id"]) == on_disk
    assert on_disk["key_versions"] == {"tokenize/customer": 1, "siv/quarantine": 1}


@pytest.mark.s3
def test_pipeline_from_s3_to_s3(workspace: dict[str, Any], s3_client: Any, s3_bucket: str) -> None:
    s3_client.upload_file(str(workspace["raw"] / "transactions.csv"), s3_bucket, "raw/transactions.csv")
    report = _run(workspace, source=f"s3://{s3_bucket}/raw", target=f"s3://{s3_bucket}/processed")
    (output,) = report["outputs"]
    assert output["location"].startswith(f"s3://{s3_bucket}/processed/small/")
    key = output["location"].removeprefix(f"s3://{s3_bucket}/")
    body = s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    import hashlib

    assert hashlib.sha256(body).hexdigest() == output["sha256"]
    local = workspace["tmp"] / "copy.parquet"
    local.write_bytes(body)
    assert read_parquet(local, workspace["state"].root).num_rows == report["rows"]["output"]


@pytest.mark.s3
def test_merchant_mapping_file_on_s3(workspace: dict[str, Any], s3_client: Any, s3_bucket: str) -> None:
    mapping = {
        "5411": {"category": "grocery", "risk_level": "low", "parent": "retail"},
        "unknown": {"category": "other", "risk_level": "high", "parent": "uncategorized"},
    }
    s3_client.put_object(Bucket=s3_bucket, Key="ref/mcc.json", Body=json.dumps(mapping).encode())
    spec = SPEC.replace(
        "  - drop:", f"  - encode: {{column: mcc, mapping_file: 's3://{s3_bucket}/ref/mcc.json'}}\n  - drop:"
    )
    report = _run(workspace, spec)
    table = read_parquet(report["outputs"][0]["location"], workspace["state"].root)
    categories = set(table.column("mcc_category").to_pylist())
    assert categories == {"grocery", "other"}
    encode = next(s for s in report["steps"] if s["name"] == "encode")
    unknown = sum(v for v in encode["metrics"].values())
    assert unknown == table.num_rows - table.column("mcc").to_pylist().count("5411")


def test_steps_before_fitting_steps_run_once(
    workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """bin and anomaly fit on the data; the flow is materialized before each, not re-read for them.

    The second run reads the input exactly once: the guardrail's classification comes from its cache."""
    from vaultline.engines.polars.sources import csv_reader

    read: list[int] = []
    batches = csv_reader.CsvScan.batches

    def counting(self: Any, *args: Any) -> Any:
        for batch in batches(self, *args):
            read.append(batch.height)
            yield batch

    monkeypatch.setattr(csv_reader.CsvScan, "batches", counting)
    spec = SPEC.replace(
        "  - drop:",
        "  - anomaly: {features: [amount_bin], contamination: 0.05, random_state: 1}\n  - drop:",
    )
    _run(workspace, spec)  # the first run also classifies the source (a head sample), then caches that
    read.clear()
    report = _run(workspace, spec)
    assert sum(read) == report["rows"]["input"] == 2000
    assert report["rows"]["quarantine_by_reason"]["range:amount"] > 0  # the clean step's rejects survive


def test_sources_with_the_same_columns_in_another_order_concatenate_by_name(
    workspace: dict[str, Any], tmp_path: Path
) -> None:
    from vaultline.errors import SourceError

    (tmp_path / "a.csv").write_text("id,v\n1,a\n")
    (tmp_path / "b.csv").write_text("v,id\nb,2\n")
    (tmp_path / "c.csv").write_text("id,w\n3,c\n")
    spec = f"""version: 1
name: two
sources:
  a: {{format: csv, path: "{tmp_path}/a.csv"}}
  b: {{format: csv, path: "{tmp_path}/OTHER"}}
outputs: {{o: {{path: "{tmp_path}/out"}}}}
"""
    report = run(loads(spec.replace("OTHER", "b.csv")), workspace["state"])
    assert report["status"] == "succeeded" and report["rows"]["output"] == 2
    table = read_parquet(report["outputs"][0]["location"], workspace["state"].root)
    assert sorted(zip(table["id"].to_pylist(), table["v"].to_pylist(), strict=True)) == [
        ("1", "a"),
        ("2", "b"),
    ]
    with pytest.raises(
        SourceError, match="source b does not have the columns of source a: it lacks v and adds w"
    ):
        other = spec.replace("OTHER", "c.csv").replace("name: two", "name: three").replace("{o:", "{o3:")
        run(loads(other), workspace["state"])


def test_a_store_out_of_reach_on_a_path_no_check_mapped_fails_as_retryable(
    workspace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vaultline.catalog.runs import RunCatalog
    from vaultline.run import runner

    def unreachable(*_args: object) -> None:
        raise ConnectionRefusedError("connect to 10.0.0.9:9000 refused")

    monkeypatch.setattr(runner, "_check_output_buckets", unreachable)
    with pytest.raises(ConnectionRefusedError):
        _run(workspace)
    (record,) = RunCatalog(workspace["state"].catalog_url).list()
    report = RunCatalog(workspace["state"].catalog_url).report(record.run_id)
    assert (report["error"], report["retryable"]) == (
        "a service could not be reached (ConnectionRefusedError)",
        True,
    )
