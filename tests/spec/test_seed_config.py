"""The fraud design's configuration is expressed one to one by examples/fraud/pipeline.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaultline.spec.loader import load

SPEC = Path(__file__).parents[2] / "examples" / "fraud" / "pipeline.yaml"

PII_CONFIG = {
    "customer_id": {"method": "deterministic", "salt": "env_specific_salt"},
    "account_number": {"method": "format_preserving", "preserve_prefix": 4},
    "email": {"method": "hash", "algorithm": "sha256"},
}
BINNING_CONFIG = {
    "method": "percentile",
    "bins": [0, 10, 25, 50, 75, 90, 95, 99, 100],
    "labels": ["micro", "small", "low", "medium", "high", "large", "very_large", "extreme"],
}
MERCHANT_MAPPING = {
    "5411": {"category": "grocery", "risk_level": "low", "parent": "retail"},
    "5812": {"category": "restaurant", "risk_level": "medium", "parent": "dining"},
    "unknown": {"category": "other", "risk_level": "high", "parent": "uncategorized"},
}
ANOMALY_CONFIG = {
    "contamination": 0.01,
    "n_estimators": 100,
    "features": ["amount_bin", "merchant_risk", "time_delta", "velocity"],
}
JOB_PARAMETERS = ("source_bucket", "target_bucket", "pii_columns", "binning_config", "merchant_mapping",
                  "anomaly_threshold")  # fmt: skip


def _steps(name: str) -> list[Any]:
    return [params for step, params in load(SPEC).pipeline.all_steps() if step == name]


def test_job_parameters() -> None:
    assert set(JOB_PARAMETERS) <= set(load(SPEC).params)


def test_pii_config() -> None:
    pipeline = load(SPEC).pipeline
    (customer,) = [p for p in _steps("tokenize") if p.columns == ["customer_id"]]
    assert pipeline.keys[customer.domain] == PII_CONFIG["customer_id"]["salt"]
    (account,) = [p for p in _steps("format_preserving") if p.columns == ["account_number"]]
    assert account.preserve_prefix == PII_CONFIG["account_number"]["preserve_prefix"]
    (email,) = _steps("hash")
    assert email.columns == ["email"] and email.algorithm == PII_CONFIG["email"]["algorithm"]


def test_binning_config() -> None:
    (binning,) = _steps("bin")
    assert binning.method == BINNING_CONFIG["method"]
    assert binning.bins == BINNING_CONFIG["bins"] and binning.labels == BINNING_CONFIG["labels"]


def test_merchant_mapping() -> None:
    (encode,) = _steps("encode")
    assert encode.mapping == MERCHANT_MAPPING and encode.unknown_key == "unknown"


def test_anomaly_config() -> None:
    (anomaly,) = _steps("anomaly")
    assert anomaly.contamination == ANOMALY_CONFIG["contamination"]
    assert anomaly.n_estimators == ANOMALY_CONFIG["n_estimators"]
    assert anomaly.features == ANOMALY_CONFIG["features"]
