"""Column classification: thresholds, name context, the known traps, free text, and value-free output."""

from __future__ import annotations

import json
import random
import uuid
from hashlib import sha256

import phonenumbers
import polars as pl
import pytest
from stdnum import luhn
from stdnum.gb import nhs
from stdnum.us import ssn

from vaultline.classify.classifier import classify_column, classify_frame, name_words

ROWS = 1_000


def rng(seed: int = 7) -> random.Random:
    return random.Random(seed)


def us_phones_passing_nhs(n: int) -> list[str]:
    """Valid US numbers whose ten digits also carry a correct NHS mod-11 check digit."""
    r, found = rng(), []
    while len(found) < n:
        digits = f"{r.randint(201, 989)}{r.randint(200, 999)}{r.randint(0, 9999):04d}"
        if nhs.is_valid(digits) and phonenumbers.is_valid_number(phonenumbers.parse(digits, "US")):
            found.append(digits)
    return found


def cards(n: int) -> list[str]:
    r = rng()
    out = []
    for _ in range(n):
        body = "4" + "".join(str(r.randint(0, 9)) for _ in range(14))
        out.append(body + luhn.calc_check_digit(body))
    return out


def nine_digit_ids(n: int) -> list[str]:
    r = rng()
    return [f"{r.randint(100_000_000, 999_999_999)}" for _ in range(n)]


def finding(column: pl.Series, **kwargs: float) -> tuple[str | None, float]:
    result = classify_column(column, **kwargs)
    return result.entity, result.match_fraction


def test_name_words_split_snake_camel_and_run_together() -> None:
    assert name_words("DateOfBirth") == {"date", "of", "birth", "dateofbirth"}
    assert name_words("CPTCode") == {"cpt", "code", "cptcode"}
    assert name_words("patient-first_name") >= {"patient", "first", "name", "patientfirstname"}


def test_values_alone_flag_a_column_at_the_threshold() -> None:
    emails = [f"user{i}@example.org" for i in range(ROWS)]
    assert finding(pl.Series("field_7", emails)) == ("EMAIL", 1.0)
    # 40% emails, 60% free-form: under the 0.5 threshold without a name, flagged with one
    mixed = [e if i % 5 < 2 else f"ref {i}" for i, e in enumerate(emails)]
    assert finding(pl.Series("field_7", mixed))[0] is None
    assert finding(pl.Series("field_7", mixed), threshold=0.3) == ("EMAIL", 0.4)
    assert finding(pl.Series("contact_email", mixed)) == ("EMAIL", 0.4)


def test_name_context_is_required_for_ambiguous_layouts() -> None:
    digits = nine_digit_ids(ROWS)
    assert finding(pl.Series("invoice_no", digits))[0] is None  # 9 digits that are not SSNs
    valid = [d for d in digits if ssn.is_valid(d)]
    assert finding(pl.Series("ssn", valid))[0] == "USA_SSN"
    assert finding(pl.Series("units_sold", [f"{i % 90000 + 10000}" for i in range(ROWS)]))[0] is None
    assert finding(pl.Series("zip", [f"{i % 90000 + 10000}" for i in range(ROWS)]))[0] == "ZIP_CODE"


def test_us_phone_numbers_passing_the_nhs_checksum_are_phones_not_nhs_numbers() -> None:
    numbers = us_phones_passing_nhs(200)
    formatted = [f"({d[:3]}) {d[3:6]}-{d[6:]}" for d in numbers]
    assert finding(pl.Series("phone", numbers))[0] == "PHONE_NUMBER"
    assert finding(pl.Series("contact", formatted))[0] == "PHONE_NUMBER"
    assert finding(pl.Series("reference_number", numbers))[0] is None
    assert finding(pl.Series("nhs_number", numbers))[0] == "UK_NHS_NUMBER"


def test_decimal_amounts_dates_and_timestamps_are_not_phone_numbers() -> None:
    r = rng()
    amounts = [f"{r.lognormvariate(6, 2):.2f}" for _ in range(ROWS)]
    big = [f"{r.randint(1_000_000, 99_999_999)}.{r.randint(0, 99):02d}" for _ in range(ROWS)]
    days = [f"20{r.randint(10, 25)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}" for _ in range(ROWS)]
    stamps = [f"{d} {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:00" for d in days]
    for name, values in (("billed_amount", amounts), ("total", big), ("created", days), ("ts", stamps)):
        assert finding(pl.Series(name, values))[0] is None, name


def test_ids_uuids_and_hashes_are_not_secrets_but_keys_under_a_secret_name_are() -> None:
    r = rng()
    uuids = [str(uuid.UUID(int=r.getrandbits(128), version=4)) for _ in range(ROWS)]
    hashes = [sha256(str(i).encode()).hexdigest() for i in range(ROWS)]
    orders = [f"ORD-{i:07d}" for i in range(ROWS)]
    for name, values in (("request_id", uuids), ("checksum", hashes), ("order_id", orders), ("id", uuids)):
        assert finding(pl.Series(name, values))[0] is None, name
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
    keys = ["".join(r.choice(alphabet) for _ in range(32)) for _ in range(ROWS)]
    assert finding(pl.Series("api_key", keys))[0] == "CREDENTIAL"
    aws = [
        "AKIA" + "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)) for _ in range(ROWS)
    ]
    assert finding(pl.Series("col_b", aws))[0] == "CREDENTIAL"


def test_checksums_decide_cards_and_a_fraction_of_invalid_values_lowers_the_match() -> None:
    good = cards(ROWS)
    assert finding(pl.Series("col_x", good)) == ("CREDIT_CARD", 1.0)
    broken = [c[:-1] + str((int(c[-1]) + 1) % 10) if i % 4 == 0 else c for i, c in enumerate(good)]
    entity, fraction = finding(pl.Series("col_x", broken))
    assert entity == "CREDIT_CARD"
    assert fraction == pytest.approx(0.75, abs=0.01)


def test_nulls_and_blanks_do_not_count_against_a_column() -> None:
    emails = [f"user{i}@example.org" if i % 2 else None for i in range(ROWS)]
    blanks = [e if e else "  " for e in emails]
    assert finding(pl.Series("email", emails)) == ("EMAIL", 1.0)
    assert finding(pl.Series("email", blanks)) == ("EMAIL", 1.0)


def test_names_of_things_are_not_person_names() -> None:
    things = ["Gilbert Apparel", "Huber Supply", "Pneumonia", "Acute bronchitis"] * (ROWS // 4)
    for name in ("merchant_name", "condition_name", "product_name", "name_of_drug"):
        assert finding(pl.Series(name, things))[0] is None, name
    people = ["Ana García", "John O'Brien", "Li Wei", "Marie Curie"] * (ROWS // 4)
    for name in ("first_name", "PatientName", "cardholder"):
        assert finding(pl.Series(name, people))[0] == "PERSON_NAME", name


def test_free_text_is_searched_for_entities_and_flagged_with_the_most_frequent() -> None:
    r = rng()
    notes = []
    for i in range(ROWS):
        text = "Patient reports mild pain after the procedure, follow up in two weeks"
        if i % 3 == 0:
            text += f"; call back on (415) 555-{r.randint(1000, 9999)} before noon"
        if i % 10 == 0:
            text += f" or write to pt{i}@example.org."
        notes.append(text)
    result = classify_column(pl.Series("clinical_notes", notes))
    assert result.entity == "PHONE_NUMBER"
    assert result.evidence["free_text"] is True
    assert result.evidence["entities_in_text"] == {"PHONE_NUMBER": pytest.approx(0.334, abs=0.001),
                                                   "EMAIL": 0.1}  # fmt: skip
    clean = ["The product arrived on time and works as described, five stars"] * ROWS
    assert classify_column(pl.Series("review", clean)).entity is None


def test_output_holds_no_value_and_withholds_extremes_of_sensitive_columns() -> None:
    r = rng()
    frame = pl.DataFrame(
        {
            "ssn": [
                f"{r.randint(100, 599)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}" for _ in range(ROWS)
            ],
            "date_of_birth": [
                f"19{r.randint(30, 99)}-0{r.randint(1, 9)}-1{r.randint(0, 9)}" for _ in range(ROWS)
            ],
            "amount": [round(r.uniform(1, 500), 2) for _ in range(ROWS)],
            "quantity": [r.randint(1, 5) for _ in range(ROWS)],
        }
    )
    findings = {f.name: f for f in classify_frame(frame)}
    text = json.dumps([f.as_json() for f in findings.values()])
    for column in ("ssn", "date_of_birth"):
        assert not any(value in text for value in frame[column].to_list())
    assert findings["amount"].entity is None  # not sensitive, and still no extreme: one record's value
    assert set(findings["amount"].profile) == {
        "rows_sampled", "null_pct", "distinct_pct", "uniqueness", "free_text_score", "avg_length",
    }  # fmt: skip
    assert str(frame["amount"].max()) not in text and str(frame["amount"].min()) not in text
    assert set(findings["ssn"].as_json()) == {
        "name", "entity", "sensitivity", "confidence", "match_fraction", "evidence", "profile",
    }  # fmt: skip


def test_the_name_settles_overlapping_layouts() -> None:
    hcpcs = ["J1100", "E0114", "A4253", "G0008", "L3000"] * (ROWS // 5)
    assert finding(pl.Series("hcpcs_cd", hcpcs))[0] == "USA_HCPCS_CODE"  # also an ICD-10 layout
    assert classify_column(pl.Series("hcpcs_cd", hcpcs)).evidence["also_flagged"] == {"ICD10_CODE": 1.0}
    assert finding(pl.Series("dx_code", hcpcs))[0] == "ICD10_CODE"
    people = ["Ana García", "John O'Brien", "Li Wei", "Marie Curie"] * (ROWS // 4)
    assert finding(pl.Series("Name", people))[0] == "PERSON_NAME"
    assert finding(pl.Series("name_of_drug", people))[0] is None


def test_ssns_inside_free_text_are_not_read_as_phone_numbers() -> None:
    r = rng()
    ssn = [f"{r.randint(100, 599)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}" for _ in range(ROWS)]
    notes = [
        f"Intake completed, patient SSN {ssn[i]} on file"
        if i % 3 == 0 else "Intake completed, insurance card scanned and verified by the front desk"
        for i in range(ROWS)
    ]  # fmt: skip
    result = classify_column(pl.Series("intake_notes", notes))
    assert result.entity == "USA_SSN"
    assert set(result.evidence["entities_in_text"]) == {"USA_SSN"}


def test_column_names_in_other_languages_give_context() -> None:
    r = rng()
    births = [f"19{r.randint(30, 99)}-0{r.randint(1, 9)}-1{r.randint(0, 9)}" for _ in range(ROWS)]
    names = ["Jürgen", "Amélie", "José", "Giulia"] * (ROWS // 4)
    postal = [f"{r.randint(10000, 99999)}" for _ in range(ROWS)]
    cases = {"Geburtsdatum": (births, "DATE_OF_BIRTH"), "fecha_nacimiento": (births, "DATE_OF_BIRTH"),
             "prénom": (names, "PERSON_NAME"), "Vorname": (names, "PERSON_NAME"), "PLZ": (postal, "ZIP_CODE"),
             "code_postal": (postal, "ZIP_CODE")}  # fmt: skip
    for column, (values, entity) in cases.items():
        assert finding(pl.Series(column, values))[0] == entity, column


def test_any_column_type_is_classified_without_error_or_value() -> None:
    from datetime import date, timedelta
    from decimal import Decimal

    frame = pl.DataFrame(
        {
            "addr": [
                {"city": "ZZSECRET_C1", "email": "ann@example.org"},
                {"city": "ZZSECRET_C2", "email": None},
            ],
            "tags": [["a", "b"], []],
            "price": pl.Series([Decimal("1234.56"), Decimal("7890.12")], dtype=pl.Decimal(10, 2)),
            "n": ["ann@example.org", "bob@example.org"],  # a name value_counts once used for its counts
            "when": [date(1, 1, 1), date(2024, 1, 1)],
            "wait": [timedelta(seconds=5), None],  # Polars casts no duration to text
            "blob": [b"\xffZZSECRET", None],  # not UTF-8: bytes, which Polars does not cast to text
            "mail": [b"ann@example.org", b"bob@example.com"],
        }
    )
    findings = {f.name: f for f in classify_frame(frame)}
    assert set(findings) == {"addr", "tags", "price", "n", "when", "wait", "blob", "mail"}
    assert findings["mail"].entity == findings["n"].entity == "EMAIL" and findings["blob"].entity is None
    assert findings["n"].profile["distinct_pct"] == 100.0
    assert findings["tags"].profile["null_pct"] == 50.0  # an empty list holds nothing
    text = json.dumps([f.as_json() for f in findings.values()])
    assert "ZZSECRET" not in text and "1234" not in text and "0001" not in text


def test_values_inside_lists_structs_and_tagged_text_are_found() -> None:
    r = rng()
    ssns = [f"{r.randint(100, 599)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}" for _ in range(ROWS)]
    patient = pl.Series("patient", [{"ssn": s, "plan": "gold"} for s in ssns])  # nested JSONL, say
    emails = pl.Series("contacts", [[f"a{i}@example.org", f"b{i}@example.com"] for i in range(ROWS)])
    tagged = pl.Series("notes", [f"Caller verified identity, SSN#{s} on file and confirmed" for s in ssns])
    keyed = pl.Series("notes", [f"Caller verified identity, ssn={s} on file and confirmed" for s in ssns])
    for series, entity in ((patient, "USA_SSN"), (emails, "EMAIL"), (tagged, "USA_SSN"), (keyed, "USA_SSN")):
        result = classify_column(series)
        assert result.entity == entity, series.name
        assert not any(s in json.dumps(result.as_json()) for s in ssns[:50])
