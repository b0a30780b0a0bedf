"""Demo generators: determinism, chunking, formats and check digits, dirty rows and anomaly labels.

The files are read back with the csv module (the standard reader: quoting, ragged lines) and every
dirty row is checked against what the example pipelines' `clean` step rejects.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vaultline.demo import _common
from vaultline.demo._common import BLOCK_ROWS, DIRTY_KINDS, GeneratedDataset
from vaultline.demo.fraud import generate_fraud
from vaultline.demo.healthplus import generate_healthplus

ROWS = 5000
EXAMPLES = Path(__file__).parents[2] / "examples"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")  # the examples' clean constraint
ICD10 = re.compile(r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
PATIENT_COLUMNS = [
    "patient_id", "first_name", "last_name", "date_of_birth", "gender", "email", "phone",
    "street_address", "city", "state", "zip", "country", "ssn", "mrn", "insurance_member_id",
    "condition_code", "condition_name", "admission_date", "discharge_date", "provider_npi", "billed_amount",
]  # fmt: skip
FRAUD_COLUMNS = [
    "transaction_id", "customer_id", "account_number", "card_number", "email", "ip_address", "device_id",
    "amount", "currency", "mcc", "merchant_name", "timestamp", "country",
]  # fmt: skip
RESTRICTED_ZIP3 = {
    "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878", "879",
    "884", "890", "893",
}  # fmt: skip


def luhn_valid(number: str) -> bool:
    """Reference Luhn check, one digit at a time."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def npi_valid(npi: str) -> bool:
    return len(npi) == 10 and npi.isdigit() and npi[0] in "12" and luhn_valid("80840" + npi)


def read(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def records(dataset: GeneratedDataset) -> tuple[list[str], list[list[str]]]:
    return read(dataset.data_path)


def labels(dataset: GeneratedDataset) -> list[dict[str, str]]:
    with open(dataset.labels_path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def parses(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def health(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    return generate_healthplus(ROWS, tmp_path_factory.mktemp("health"))


@pytest.fixture(scope="module")
def fraud(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDataset:
    return generate_fraud(ROWS, tmp_path_factory.mktemp("fraud"))


# ------------------------------------------------------------------------------ shared behaviour


@pytest.mark.parametrize("generate", [generate_healthplus, generate_fraud])
def test_same_rows_and_seed_give_identical_bytes(tmp_path: Path, generate: Any) -> None:
    first = generate(2000, tmp_path / "a", seed=5)
    second = generate(2000, tmp_path / "b", seed=5)
    other = generate(2000, tmp_path / "c", seed=6)
    assert first.data_path.read_bytes() == second.data_path.read_bytes()
    assert first.labels_path.read_bytes() == second.labels_path.read_bytes()
    assert first.dirty_rows == second.dirty_rows and first.anomaly_rows == second.anomaly_rows
    assert first.data_path.read_bytes() != other.data_path.read_bytes()


@pytest.mark.parametrize("generate", [generate_healthplus, generate_fraud])
def test_chunked_writing_does_not_change_the_files(tmp_path: Path, generate: Any) -> None:
    rows = BLOCK_ROWS + 3001  # two random blocks, and chunks that cut through both
    whole = generate(rows, tmp_path / "whole")
    chunked = generate(rows, tmp_path / "chunked", chunk_rows=7_777)
    assert chunked.data_path.read_bytes() == whole.data_path.read_bytes()
    assert chunked.labels_path.read_bytes() == whole.labels_path.read_bytes()
    header, data = records(chunked)
    assert len(data) == rows
    assert sum(1 for r in data if len(r) == len(header) + 1) == chunked.dirty_rows["ragged_line"] == 2


@pytest.mark.parametrize("generate", [generate_healthplus, generate_fraud])
def test_one_row_chunks(tmp_path: Path, generate: Any) -> None:
    whole = generate(400, tmp_path / "whole")
    single = generate(400, tmp_path / "single", chunk_rows=1)  # every ragged line is a chunk of its own
    assert single.data_path.read_bytes() == whole.data_path.read_bytes()
    assert single.labels_path.read_bytes() == whole.labels_path.read_bytes()


def test_paths_and_row_counts(health: GeneratedDataset, fraud: GeneratedDataset) -> None:
    assert health.data_path == health.data_path.parents[1] / "raw" / "patients.csv"
    assert health.labels_path == health.data_path.parents[1] / "labels" / "patients_labels.csv"
    assert fraud.data_path.name == "transactions.csv"
    assert fraud.labels_path == fraud.data_path.parents[1] / "labels" / "transactions_labels.csv"
    for dataset, columns in ((health, PATIENT_COLUMNS), (fraud, FRAUD_COLUMNS)):
        header, data = records(dataset)
        assert header == columns
        assert dataset.rows == len(data) == ROWS  # dirty rows included; duplicates replace rows
        assert set(dataset.sensitive_columns) <= set(header)
        raw = dataset.data_path.read_bytes()
        assert raw.endswith(b"\n") and b"\r" not in raw


@pytest.mark.parametrize("rows", [1, 2, 99])
@pytest.mark.parametrize("generate", [generate_healthplus, generate_fraud])
def test_tiny_datasets_are_clean(tmp_path: Path, generate: Any, rows: int) -> None:
    dataset = generate(rows, tmp_path)
    header, data = records(dataset)
    assert len(data) == rows and all(len(r) == len(header) for r in data)
    assert dataset.dirty_rows == dict.fromkeys(DIRTY_KINDS, 0)


@pytest.mark.parametrize("generate", [generate_healthplus, generate_fraud])
def test_invalid_arguments(tmp_path: Path, generate: Any) -> None:
    with pytest.raises(ValueError, match="rows"):
        generate(0, tmp_path)
    with pytest.raises(ValueError, match="seed"):
        generate(10, tmp_path, seed=-1)
    with pytest.raises(ValueError, match="chunk_rows"):
        generate(10, tmp_path, chunk_rows=0)


def test_check_digit_helpers() -> None:
    payload = np.array([[int(c) for c in "411111111111111"], [int(c) for c in "555555555555444"]])
    assert _common.luhn_check_digits(payload).tolist() == [1, 4]  # 4111111111111111, 5555555555554444
    assert _common.luhn_check_digits(np.array([[int(c) for c in "123456789"]]), offset=24).tolist() == [3]
    npis = _common.npi_numbers(np.random.default_rng(0), 2000)
    assert all(npi_valid(str(n)) for n in npis.tolist())
    assert not npi_valid("1234567890") and npi_valid("1234567893")  # CMS's worked example


# ------------------------------------------------------------------------------------ dirty rows


def _dirty_rows_are_what_the_labels_say(
    dataset: GeneratedDataset, key: list[str], amount: str, date_formats: dict[str, str]
) -> set[int]:
    header, data = records(dataset)
    dirty = [row for row in labels(dataset) if row["dirty_reason"]]
    assert Counter(row["dirty_reason"] for row in dirty) == {k: v for k, v in dataset.dirty_rows.items() if v}
    assert set(dataset.dirty_rows) == set(DIRTY_KINDS)
    for kind in DIRTY_KINDS:
        assert dataset.dirty_rows[kind] >= 1
    assert dataset.dirty_rows["ragged_line"] == 2
    where = {int(row["row"]): row for row in dirty}
    for index, label in where.items():
        record = dict(zip(header, data[index], strict=False))
        reason, column = label["dirty_reason"], label["dirty_column"]
        if reason == "bad_date":
            assert not parses(record[column], date_formats[column])
        elif reason == "negative_amount":
            assert column == amount and float(record[amount]) < 0
        elif reason == "malformed_email":
            assert column == "email" and not EMAIL.match(record["email"].strip().lower())
        elif reason == "duplicate":
            assert data[index] == data[index - 1] and index - 1 not in where
        else:
            assert reason == "ragged_line" and len(data[index]) == len(header) + 1
    # every other row is clean: it passes the example's rules, and its dedupe key is unique
    seen: set[tuple[str, ...]] = set()
    for index, values in enumerate(data):
        if index in where:
            continue
        record = dict(zip(header, values, strict=True))
        assert EMAIL.match(record["email"].strip().lower()), index
        assert float(record[amount]) >= 0
        assert all(parses(record[c], f) for c, f in date_formats.items())
        identity = tuple(record[k] for k in key)
        assert identity not in seen
        seen.add(identity)
    return set(where)


def test_healthplus_dirty_rows(health: GeneratedDataset) -> None:
    formats = dict.fromkeys(("date_of_birth", "admission_date", "discharge_date"), "%Y-%m-%d")
    _dirty_rows_are_what_the_labels_say(health, ["patient_id", "admission_date"], "billed_amount", formats)
    assert {row["patient_id"] for row in labels(health)} <= {r[0] for r in records(health)[1]}


def test_fraud_dirty_rows(fraud: GeneratedDataset) -> None:
    formats = {"timestamp": "%Y-%m-%d %H:%M:%S"}
    dirty = _dirty_rows_are_what_the_labels_say(fraud, ["transaction_id"], "amount", formats)
    assert not any(row["is_anomaly"] == "true" for row in labels(fraud) if int(row["row"]) in dirty)


# -------------------------------------------------------------------------------------- patients


def test_healthplus_formats(health: GeneratedDataset) -> None:
    header, data = records(health)
    rows = [dict(zip(header, r, strict=False)) for r in data if len(r) == len(header)]
    assert all(re.fullmatch(r"P\d{9}", r["patient_id"]) for r in rows)
    assert all(re.fullmatch(r"MRN-\d{8}", r["mrn"]) for r in rows)
    assert all(re.fullmatch(r"[A-Z]{3}\d{9}", r["insurance_member_id"]) for r in rows)
    assert all(re.fullmatch(r"\d{3}-555-01\d{2}", r["phone"]) for r in rows)
    assert all(r["country"] == "US" and re.fullmatch(r"[A-Z]{2}", r["state"]) for r in rows)
    genders = Counter(r["gender"] for r in rows)
    assert {g.upper() for g in genders} == {"F", "M", "X"} and genders["f"] + genders["m"] > 0
    for r in rows:
        area, group, serial = r["ssn"].split("-")
        assert len(area) == 3 and len(group) == 2 and len(serial) == 4
        assert area not in ("000", "666") and int(area) < 900 and group != "00" and serial != "0000"
    assert all(re.fullmatch(r"-?\d+\.\d{2}", r["billed_amount"]) for r in rows)
    assert all(npi_valid(r["provider_npi"]) for r in rows)
    assert len({r["patient_id"] for r in rows}) == len({r["mrn"] for r in rows})


def test_healthplus_zip_codes(health: GeneratedDataset) -> None:
    header, data = records(health)
    zips = [r[header.index("zip")] for r in data]
    assert all(re.fullmatch(r"\d{5}(-\d{4})?", z) for z in zips)
    assert any(z.startswith("0") for z in zips)  # leading zeros kept as text
    assert 0.04 < sum("-" in z for z in zips) / len(zips) < 0.15  # ZIP+4
    assert sum(z[:3] in RESTRICTED_ZIP3 for z in zips) >= 0.015 * len(zips)


def test_healthplus_dates_and_ages(health: GeneratedDataset) -> None:
    header, data = records(health)
    ages = []
    for r in data:
        record = dict(zip(header, r, strict=False))
        try:
            birth, admitted, discharged = (
                date.fromisoformat(record[c]) for c in ("date_of_birth", "admission_date", "discharge_date")
            )
        except ValueError:
            continue  # a bad_date row
        assert date(2019, 1, 1) <= admitted <= date(2024, 12, 31)
        assert admitted < discharged and birth <= admitted
        ages.append((admitted - birth).days / 365.25)
    assert len(ages) > 0.99 * ROWS
    assert 0.01 < sum(a >= 90 for a in ages) / len(ages) < 0.08  # top-coding has work to do


def test_healthplus_condition_codes(health: GeneratedDataset) -> None:
    header, data = records(health)
    codes = Counter(r[header.index("condition_code")] for r in data)
    assert all(ICD10.match(code) for code in codes)
    names = {r[header.index("condition_code")]: r[header.index("condition_name")] for r in data}
    assert names["E11.9"] == "Type 2 diabetes mellitus without complications"
    assert names["J45.909"] == "Unspecified asthma, uncomplicated"  # a comma: written quoted
    _, mapping = read(EXAMPLES / "healthplus" / "conditions.csv")
    mapped = {row[0] for row in mapping} - {"unknown"}
    assert mapped <= set(codes)  # every mapped code occurs...
    assert set(codes) - mapped  # ...and some are not in the mapping


# ----------------------------------------------------------------------------------- transactions


def test_fraud_formats(fraud: GeneratedDataset) -> None:
    header, data = records(fraud)
    rows = [dict(zip(header, r, strict=False)) for r in data if len(r) == len(header)]
    assert all(re.fullmatch(r"T\d{12}", r["transaction_id"]) for r in rows)
    assert all(re.fullmatch(r"\d{10}", r["customer_id"]) and r["customer_id"][0] == "0" for r in rows)
    assert all(re.fullmatch(r"\d{16}", r["account_number"]) for r in rows)
    assert 0.1 < sum(r["account_number"][0] == "0" for r in rows) / len(rows) < 0.4
    assert all(
        re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", r["device_id"])
        for r in rows
    )
    for r in rows:
        octets = [int(o) for o in r["ip_address"].split(".")]
        assert len(octets) == 4 and all(0 <= o <= 255 for o in octets)
        assert octets[0] not in (10, 127, 172, 192) and octets[0] < 224
    assert all(re.fullmatch(r"-?\d+\.\d{2}", r["amount"]) for r in rows)
    assert {r["currency"].upper() for r in rows} <= {"USD", "CAD", "GBP", "MXN", "EUR", "JPY"}
    assert all(re.fullmatch(r"\d{4}", r["mcc"]) for r in rows)
    mccs = Counter(r["mcc"] for r in rows)
    assert mccs.most_common(1)[0][0] == "5411" and "5812" in mccs
    assert len(set(mccs) - {"5411", "5812"}) >= 10  # most categories are not in the example's mapping
    assert any("," in r["merchant_name"] for r in rows)  # quoted fields read back whole


def test_fraud_card_numbers(fraud: GeneratedDataset) -> None:
    header, data = records(fraud)
    cards = {r[header.index("card_number")] for r in data}
    assert all(len(c) == 16 and c.isdigit() and luhn_valid(c) for c in cards)
    assert all(c[0] == "4" or "51" <= c[:2] <= "55" for c in cards)
    assert any(c[0] == "4" for c in cards) and any(c[0] == "5" for c in cards)


def test_fraud_customers_and_time(fraud: GeneratedDataset) -> None:
    header, data = records(fraud)
    index = {name: header.index(name) for name in header}
    stamps = []
    per_customer: Counter[str] = Counter()
    cards: dict[str, set[str]] = {}
    for r in data:
        per_customer[r[index["customer_id"]]] += 1
        cards.setdefault(r[index["customer_id"]], set()).add(r[index["card_number"]])
        if parses(r[index["timestamp"]], "%Y-%m-%d %H:%M:%S"):
            stamps.append(r[index["timestamp"]])
    assert stamps == sorted(stamps)  # time order (ISO text sorts like time)
    assert stamps[0] >= "2024-01-01" and stamps[-1] < "2024-07-02"
    assert len(per_customer) < ROWS / 10 and max(per_customer.values()) > 3 * ROWS / len(per_customer)
    assert all(len(c) == 1 for c in cards.values())  # one card per customer


def test_fraud_anomalies_are_only_in_the_labels(fraud: GeneratedDataset) -> None:
    header, data = records(fraud)
    assert not {h for h in header if re.search("anomal|fraud|label|flag|kind", h)}
    truth = labels(fraud)
    assert [int(row["row"]) for row in truth] == list(range(ROWS))
    assert [row["transaction_id"] for row in truth] == [r[0] for r in data]
    assert {row["is_anomaly"] for row in truth} == {"true", "false"}
    kinds = Counter(row["anomaly_kind"] for row in truth if row["is_anomaly"] == "true")
    assert kinds == {k: v for k, v in fraud.anomaly_rows.items() if v}
    assert set(kinds) == {"amount_spike", "unusual_mcc", "velocity_burst", "card_testing"}
    assert all(row["anomaly_kind"] == "" for row in truth if row["is_anomaly"] == "false")
    assert 0.005 <= sum(kinds.values()) / ROWS <= 0.015
    # a burst: one customer, many transactions within minutes
    index = {name: header.index(name) for name in header}
    for kind in ("velocity_burst", "card_testing"):
        rows = [data[int(t["row"])] for t in truth if t["anomaly_kind"] == kind]
        by_customer: dict[str, list[datetime]] = {}
        for r in rows:
            stamp = datetime.strptime(r[index["timestamp"]], "%Y-%m-%d %H:%M:%S")
            by_customer.setdefault(r[index["customer_id"]], []).append(stamp)
        for stamps in by_customer.values():
            assert len(stamps) >= 6
            assert (max(stamps) - min(stamps)).total_seconds() < 3600
    spikes = [
        float(data[int(t["row"])][index["amount"]]) for t in truth if t["anomaly_kind"] == "amount_spike"
    ]
    normal = sorted(
        float(r[index["amount"]])
        for r, t in zip(data, truth, strict=True)
        if t["is_anomaly"] == "false" and not t["dirty_reason"]
    )
    assert np.median(spikes) > normal[int(0.99 * len(normal))]
