"""The fraud job as it is usually first written: pandas, one Python call per value for every protection.

The same steps as examples/fraud/pipeline.yaml (clean, HMAC tokens, FF1, SHA-256, IP mask, time
delta, velocity, percentile bins, merchant mapping, Isolation Forest, Parquet), each done the
obvious way. It is the baseline `bench_pipeline.py` measures Vaultline against.

    python bench/naive_fraud.py INPUT.csv OUTPUT.parquet
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sys

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from vaultline.crypto import ff1

KEY = bytes(range(32))
MAPPING = {
    "5411": ("grocery", "low", "retail"),
    "5812": ("restaurant", "medium", "dining"),
    "unknown": ("other", "high", "uncategorized"),
}
RISK = {"low": 0, "medium": 1, "high": 2}
LABELS = ["micro", "small", "low", "medium", "high", "large", "very_large", "extreme"]


def token(value: str) -> str:
    return hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()


def fpe(value: str, keep_prefix: int, keep_suffix: int) -> str:
    end = len(value) - keep_suffix
    middle = ff1.encrypt(KEY, b"", value[keep_prefix:end])
    return value[:keep_prefix] + middle + value[end:]


def main(source: str, target: str) -> None:
    df = pd.read_csv(source, dtype=str, keep_default_na=False, on_bad_lines="skip")
    for column in df.columns:
        df[column] = df[column].str.strip()
    df["email"] = df["email"].str.lower()
    df["amount"] = pd.to_numeric(df["amount"], errors="coerce")
    df["timestamp"] = pd.to_datetime(df["timestamp"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    valid = df["amount"].notna() & (df["amount"] >= 0) & df["timestamp"].notna()
    valid &= df["email"].apply(lambda e: re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", e) is not None)
    df = df[valid].drop_duplicates("transaction_id").copy()

    df["customer_id"] = df["customer_id"].apply(token)
    df["device_id"] = df["device_id"].apply(lambda v: token(v)[:32])
    df["account_number"] = df["account_number"].apply(lambda v: fpe(v, 4, 0))
    df["card_number"] = df["card_number"].apply(lambda v: fpe(v, 6, 4))
    df["email"] = df["email"].apply(lambda v: hashlib.sha256(v.encode()).hexdigest())
    df["ip_address"] = df["ip_address"].apply(lambda v: re.sub(r"[0-9]+$", "*", v))

    df = df.sort_values(["customer_id", "timestamp"])
    df["time_delta"] = df.groupby("customer_id")["timestamp"].diff().dt.total_seconds().fillna(-1)
    df["one"] = 1
    df["velocity"] = df.set_index("timestamp").groupby("customer_id")["one"].rolling("1h").sum().to_numpy()
    edges = np.percentile(df["amount"], [0, 10, 25, 50, 75, 90, 95, 99, 100])
    df["amount_bin"] = pd.cut(df["amount"], edges, labels=LABELS, include_lowest=True, duplicates="drop")
    mapped = df["mcc"].map(lambda c: MAPPING.get(c, MAPPING["unknown"]))
    df["merchant_category"] = mapped.str[0]
    df["merchant_risk"] = mapped.str[1]
    df["merchant_parent"] = mapped.str[2]

    features = np.column_stack(
        [df["amount_bin"].cat.codes, df["merchant_risk"].map(RISK), df["time_delta"], df["velocity"]]
    )
    forest = IsolationForest(n_estimators=100, contamination=0.01, random_state=42).fit(features)
    df["anomaly_score"] = -forest.score_samples(features)
    df["is_anomaly"] = forest.predict(features) == -1
    df.drop(columns=["merchant_name", "one"]).to_parquet(target)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
