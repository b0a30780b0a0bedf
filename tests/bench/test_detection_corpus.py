"""The detection corpus (bench/detection): deterministic, fully labelled, valid where it claims to be."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import polars as pl
import pytest
from stdnum import ean, iban, imei, luhn, mac
from stdnum.gb import nhs
from stdnum.us import itin, rtn, ssn

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is not a package on the test path
    sys.path.insert(0, str(ROOT))

from bench.detection import corpus  # noqa: E402
from bench.detection.harness import evaluate, summary_line  # noqa: E402

from vaultline.classify.entities import BY_NAME  # noqa: E402

ROWS = 300
SAMPLES = 400


@pytest.fixture(scope="module")
def built() -> tuple[pl.DataFrame, dict[str, str | None]]:
    return corpus.build_corpus(rows=ROWS, seed=11)


def test_same_seed_same_corpus_other_seed_other_corpus(built) -> None:
    frame, labels = built
    again, again_labels = corpus.build_corpus(rows=ROWS, seed=11)
    assert frame.equals(again)
    assert list(labels.items()) == list(again_labels.items())
    other, other_labels = corpus.build_corpus(rows=ROWS, seed=12)
    assert other.width == frame.width
    assert list(other_labels) != list(labels) or not other.equals(frame)


def test_labels_cover_every_column_with_catalogue_entities(built) -> None:
    frame, labels = built
    assert list(labels) == frame.columns
    assert frame.height == ROWS
    assert {label for label in labels.values() if label is not None} <= set(BY_NAME)


def test_negative_controls_and_every_claimed_entity(built) -> None:
    _, labels = built
    assert sum(label is None for label in labels.values()) >= 12
    assert set(BY_NAME) >= corpus.ENTITIES_COVERED
    assert {label for label in labels.values() if label is not None} == corpus.ENTITIES_COVERED


def test_values_are_messy(built) -> None:
    frame, labels = built
    for name, label in labels.items():
        if label is not None:
            blank = frame[name].is_null().sum() + (frame[name].str.strip_chars() == "").sum()
            assert 0 < blank < 0.3 * ROWS, name


def _samples(make) -> list[str]:
    ctx = corpus.Ctx(5, "test", corpus.DEFAULT_LOCALES)
    return [make(ctx) for _ in range(SAMPLES)]


def _vin_ok(vin: str) -> bool:
    values = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ", "12345678123457923456789", strict=True))
    weights = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
    total = sum(int(values.get(c, c)) * w for c, w in zip(vin, weights, strict=True))
    return len(vin) == 17 and not set(vin) & set("IOQ") and "0123456789X"[total % 11] == vin[8]


def _dea_ok(dea: str) -> bool:
    d = [int(c) for c in dea[2:]]
    return (
        re.fullmatch(r"[A-Z][A-Z9]\d{7}", dea) is not None
        and (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]
    )


@pytest.mark.parametrize(
    ("make", "valid"),
    [
        (corpus.gen_card, luhn.is_valid),
        (
            lambda c: corpus.format_card(c, corpus.gen_card(c)),
            lambda v: luhn.is_valid(re.sub(r"[ -]", "", v)),
        ),
        (corpus.gen_ssn, ssn.is_valid),
        (lambda c: corpus.dashed_ssn(corpus.gen_ssn(c)), ssn.is_valid),
        (corpus.gen_itin, itin.is_valid),
        (corpus.gen_aba, rtn.is_valid),
        (corpus.iban, iban.is_valid),
        (corpus.gen_imei, imei.is_valid),
        (corpus.gen_ean13, ean.is_valid),
        (corpus.gen_nhs, nhs.is_valid),
        (corpus.nhs_number, nhs.is_valid),
        (corpus.gen_npi, lambda v: len(v) == 10 and v[0] in "12" and luhn.is_valid("80840" + v)),
        (corpus.gen_dea, _dea_ok),
        (corpus.gen_vin, _vin_ok),
        (corpus.gen_nhs_lookalike, lambda v: nhs.is_valid(v) and v[0] in "23456789" and v[3] in "23456789"),
        (corpus.gen_hicn, lambda v: ssn.is_valid(re.match(r"[\d-]+", v).group()) and v[-1].isalnum()),
    ],
)
def test_checksummed_generators_validate(make, valid) -> None:
    values = _samples(make)
    assert all(valid(v) for v in values), [v for v in values if not valid(v)][:3]


def test_mac_addresses_have_registered_or_local_ouis() -> None:
    # few values: stdnum looks each vendor OUI up in the IEEE registry, slowly
    ctx = corpus.Ctx(5, "test", corpus.DEFAULT_LOCALES)
    assert all(mac.is_valid(corpus.gen_mac(ctx)) for _ in range(40))
    for _ in range(40):
        value = corpus.mac(ctx)
        assert mac.is_valid(":".join(re.findall("..", re.sub("[^0-9a-fA-F]", "", value)))), value


def test_mbi_layout() -> None:
    alpha, alnum = "[AC-HJKMNP-RT-Y]", "[0-9AC-HJKMNP-RT-Y]"
    layout = re.compile(f"[1-9]{alpha}{alnum}[0-9]{alpha}{alnum}[0-9]{alpha}{alpha}[0-9][0-9]")
    assert all(layout.fullmatch(v) for v in _samples(corpus.gen_mbi))


@pytest.mark.parametrize(
    ("entity", "valid"),
    [
        ("CREDIT_CARD", lambda v: luhn.is_valid(re.sub(r"[ -]", "", v))),
        ("USA_ITIN", itin.is_valid),
        ("USA_ABA_ROUTING_NUMBER", rtn.is_valid),
        ("IBAN", iban.is_valid),
        ("USA_SSN", ssn.is_valid),
        ("UK_NHS_NUMBER", nhs.is_valid),
    ],
)
def test_corpus_columns_mostly_validate_but_not_all(built, entity, valid) -> None:
    frame, labels = built
    fractions = []
    for name in (n for n, label in labels.items() if label == entity):
        values = [v for v in frame[name].to_list() if v is not None and v.strip()]
        fractions.append(sum(bool(valid(v)) for v in values) / len(values))
    assert max(fractions) >= 0.85
    assert max(fractions) < 1.0  # junk and typos


def test_metrics_on_a_hand_made_example() -> None:
    pairs = [
        ("EMAIL", "EMAIL"),
        ("EMAIL", "EMAIL"),
        ("EMAIL", None),
        ("PHONE_NUMBER", "USA_SSN"),
        (None, "PHONE_NUMBER"),
        (None, None),
        (None, None),
        (None, None),
    ]
    metrics = evaluate(pairs)
    assert set(metrics.entities) == {"EMAIL", "PHONE_NUMBER", "USA_SSN"}
    email = metrics.entities["EMAIL"]
    assert (email.tp, email.fp, email.fn) == (2, 0, 1)
    assert email.precision == 1.0
    assert email.recall == pytest.approx(2 / 3)
    assert email.f1 == pytest.approx(0.8)
    assert email.f2 == pytest.approx(5 / 7)
    phone = metrics.entities["PHONE_NUMBER"]
    assert (phone.tp, phone.fp, phone.fn, phone.f1, phone.f2) == (0, 1, 1, 0.0, 0.0)
    ssn_score = metrics.entities["USA_SSN"]
    assert (ssn_score.tp, ssn_score.fp, ssn_score.fn, ssn_score.precision, ssn_score.recall) == (
        0,
        1,
        0,
        0,
        0,
    )
    assert metrics.macro_f1 == pytest.approx(0.8 / 3)
    assert metrics.macro_f2 == pytest.approx(5 / 21)
    assert (metrics.controls, metrics.control_fps, metrics.control_fp_rate) == (4, 1, 0.25)
    assert metrics.columns == 8
    assert summary_line(metrics) == "detection macro_f1=0.267 macro_f2=0.238 control_fp_rate=0.250 columns=8"
