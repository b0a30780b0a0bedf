"""The fraud example from s3://raw to s3://processed on a moto server: keys in (moto) AWS KMS, buckets
with default SSE-KMS, output encrypted with Parquet Modular Encryption and committed as a version."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.catalog.datasets import DatasetCatalog
from vaultline.cli.main import app
from vaultline.demo.fraud import generate_fraud
from vaultline.keys.providers import PROVIDER_ENV, open_provider
from vaultline.run.runner import run
from vaultline.spec.loader import load
from vaultline.state import State
from vaultline.storage.dataset_reader import read_dataset

EXAMPLE = Path(__file__).parents[2] / "examples" / "fraud" / "pipeline.yaml"


def _bucket(s3_client: Any, kms_key: str, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    s3_client.create_bucket(Bucket=name)
    s3_client.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key}}
            ]
        },
    )
    return name


@pytest.mark.s3
def test_fraud_pipeline_s3_to_s3_with_kms(
    moto_server: str, s3_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    monkeypatch.setenv(PROVIDER_ENV, "aws-kms")
    kms = boto3.client("kms", endpoint_url=moto_server, region_name="us-east-1")
    bucket_key = kms.create_key(Description="bucket default encryption")["KeyMetadata"]["Arn"]
    raw, processed = _bucket(s3_client, bucket_key, "raw"), _bucket(s3_client, bucket_key, "processed")
    data = generate_fraud(3000, tmp_path / "gen")
    s3_client.upload_file(str(data.data_path), raw, "transactions.csv")

    state = State(tmp_path / "state").ensure()
    loaded = load(EXAMPLE, {"source_bucket": f"s3://{raw}", "target_bucket": f"s3://{processed}"})
    provider = open_provider(state.root)
    for ref in loaded.pipeline.keys.values():
        provider.create(ref.split("@")[0])
    report = run(loaded, state)

    assert report["status"] == "succeeded" and report["datasets"] == {"features": 1}
    (output,) = report["outputs"]
    assert output["location"].startswith(f"s3://{processed}/fraud_features/")
    key = output["location"].removeprefix(f"s3://{processed}/")
    head = s3_client.head_object(Bucket=processed, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"  # the bucket's default, under the PME layer
    body = s3_client.get_object(Bucket=processed, Key=key)["Body"].read()
    assert body[-4:] == b"PARE"  # Parquet with an encrypted footer
    assert output["encryption"]["column_keys"]["vaultline-pci"] == ["account_number", "card_number"]

    _, version, table = read_dataset(DatasetCatalog(state.catalog_url), "features", provider)
    assert version == 1 and table.num_rows == report["rows"]["output"]
    result = CliRunner().invoke(
        app, ["read", "features@1", "--columns", "transaction_id,amount", "--limit", "2", "--format", "json",
              "--state", str(state.root)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("transaction_id") == 2
