"""Each recognizer on values it must accept and values it must refuse (candidate pattern + validator)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from vaultline.classify.catalogue import catalogue_markdown
from vaultline.classify.entities import BY_NAME
from vaultline.classify.recognizer import Recognizer
from vaultline.classify.recognizers import contact, dates, financial, health, identity, network, secrets
from vaultline.classify.registry import RECOGNIZERS


def accepts(recognizer: Recognizer, value: str) -> bool:
    """The classifier's own path: the candidate pattern in Polars (Rust regex), then the validator."""
    candidate = pl.Series([value]).str.contains(f"^(?:{recognizer.candidate})$").item()
    return bool(candidate) and recognizer.validate(value)


CASES: list[tuple[Recognizer, list[str], list[str]]] = [
    (contact.Email(), ["ana.lopez@example.org", "j+tag@mail.example.co.uk"], ["ana@", "a@b", "x@@y.com"]),
    (
        contact.FormattedPhone(),
        ["(415) 555-2671", "415-555-2671", "415.555.2671", "+44 20 7946 0958", "+1 415 555 2671"],
        ["2021-04-21", "13391.70", "1,234.56", "12-34", "105.9.173.200", "1.2.3"],
    ),
    (contact.PlusPhone(), ["+14155552671", "+442079460958"], ["+123"]),
    (contact.DigitsPhone(), ["4155552671"], ["12345"]),
    (
        contact.PersonName(),
        ["Ana", "José García", "O'Brien", "van der Berg", "山田 太郎", "محمد علي", "अनिल कुमार"],
        ["3M", "R2D2", "", "iPhone"],
    ),
    (contact.StreetAddress(), ["3316 Cordova Cove", "12 Elm Street Apt 4", "Hauptstraße 5"], ["Elm Street"]),
    (contact.NumberedStreet(), ["6940 Foley Stravenue", "221B Baker"], ["Baker"]),
    (contact.ZipPlus4(), ["02139-4307"], ["02139", "2139-4307"]),
    (contact.Url(), ["https://example.org/a?b=1", "www.example.com/x"], ["http://localhost", "example"]),
    (identity.Ssn(), ["580-20-3920", "580 20 3920"], ["000-12-3456", "666-12-3456", "912-34-5678"]),
    (identity.Itin(), ["912-70-1234", "900-88-1234"], ["912-12-1234", "580-20-3920"]),
    (identity.PersonId(), ["P040097891", "0067147097", "cust-0001"], ["NONE", "ab"]),
    (
        dates.DateOfBirth(),
        [
            "1980-02-29",
            "02/29/1980",
            "29.02.1980",
            "02-JUL-1926",
            "2 Jul 1926",
            "Jul 2, 1926",
            "July 2, 1926",
        ],
        ["1980-02-30", "2999-01-01", "1899-12-31", "31-FEB-1980", "02-JUL-2999", "Jul 2, 26"],
    ),
    (dates.PersonalDate(), ["2024-07-18", "2024-07-18T10:00:00"], ["2024-13-01", "yesterday"]),
    (
        financial.CreditCard(),
        [
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "378282246310005",
            "6759649826438453",  # Maestro
            "501834567890120",  # Maestro, 15 digits
            "2200123456789019",  # Mir
            "6080012345678903",  # RuPay
        ],
        [
            "4111 1111 1111 1112",
            "1234 5678 9012 3456",
            "9111111111111111",
        ],
    ),
    (
        financial.Iban(),
        ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"],
        ["DE89 3704 0044 0532 0130 01"],
    ),
    (financial.AbaRouting(), ["011000015", "021000021"], ["123456789", "991000015"]),
    (health.Npi(), ["1245319599", "1003000126"], ["1245319598", "3245319599"]),
    (health.Dea(), ["AB1234563", "FS9876547"], ["AB1234564", "IB1234563"]),
    (health.Mbi(), ["1EG4-TE5-MK73", "1EG4TE5MK73"], ["1SG4-TE5-MK73", "0EG4-TE5-MK73"]),
    (health.Hicn(), ["580203920A", "580-20-3920B1"], ["000203920A"]),
    (health.Ndc(), ["0002-3227-30", "50090-0347-0", "12345-678-90"], ["1234-567-8"]),
    (health.Icd10(), ["E11.9", "I10", "S72.001A"], ["U07", "E1", "11.9"]),
    (health.NhsNumber(), ["943 476 5919", "9434765919"], ["9434765918"]),
    (network.IpAddress(), ["105.9.173.200", "2001:db8::1", "::1"], ["256.1.1.1", "1.2.3", "a:b"]),
    (network.MacAddress(), ["00:1A:2B:3C:4D:5E", "00-1a-2b-3c-4d-5e", "001a.2b3c.4d5e"], ["00:1A:2B:3C:4D"]),
    (network.Vin(), ["1M8GDM9AXKP042788", "1HGCM82633A004352"], ["1M8GDM9AYKP042788"]),
    (network.LicensePlate(), ["7ABC123", "AB12 CDE", "KA01 1234"], ["ABCDEFG", "1234567", "A"]),
    (secrets.KnownSecret(), ["AKIA" + "IOSFODNN7EXAMPLE", "ghp_" + "a1B2" * 9], ["AKIA123", "ghp_short"]),
    (secrets.GenericSecret(), ["x9$Kq2!vLp7@Zr4#", "T0k3n-9fJ2kQ8zXw"], ["aaaaaaaaaaaaaaaa", "password1234"]),
]


@pytest.mark.parametrize(("recognizer", "good", "bad"), CASES, ids=[type(case[0]).__name__ for case in CASES])
def test_recognizer_accepts_and_refuses(recognizer: Recognizer, good: list[str], bad: list[str]) -> None:
    assert [v for v in good if not accepts(recognizer, v)] == []
    assert [v for v in bad if accepts(recognizer, v)] == []


def test_every_recognizer_names_a_catalogued_entity_and_is_listed_once() -> None:
    assert all(r.entity in BY_NAME for r in RECOGNIZERS)
    assert len({type(r) for r in RECOGNIZERS}) == len(RECOGNIZERS)


def test_context_free_recognizers_do_not_rely_on_trivially_true_validation() -> None:
    # A recognizer that flags a column on its values alone must check more than a pattern, or be specific.
    loose = [type(r).__name__ for r in RECOGNIZERS if not r.needs_context and r.candidate in (r"\S+", r".*")]
    assert loose == []


def test_keywords_are_single_words_as_name_words_yields_them() -> None:
    # name_words() splits on separators, so a keyword holding one could never match
    assert [k for r in RECOGNIZERS for k in r.keywords if not k.isalnum()] == []


def test_the_catalogue_in_the_docs_is_up_to_date() -> None:
    document = (Path(__file__).parents[2] / "docs" / "classify.md").read_text()
    assert catalogue_markdown() in document, "run: python -m vaultline.classify.catalogue docs/classify.md"
