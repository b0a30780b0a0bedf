"""A labelled, seeded corpus of messy columns for judging the column classifier.

    frame, labels = build_corpus(rows=5000, seed=0)

`frame` holds one column per `Spec` below (about 75), in a per-seed order, all strings except a few
numeric controls; `labels` maps every column name to the entity name it holds (a name from
`vaultline.classify.entities`) or None. Everything is drawn from `random.Random` and Faker instances
seeded from (seed, column key), so a seed always gives the same frame; the values were written from
what the identifiers look like in the wild, not from what the recognizers accept.

Realism: names, addresses and international phones mix Faker locales within a column; formats vary
within a column (phones "(415) 862-0193", "415.862.0193", "+1 415 862 0193", national formats of
GB/DE/FR/ES; dates in several layouts; card numbers with spaces or dashes); each string column gets
5-20% nulls or blank cells on positives (0-10% on controls) and 1-5% junk ("N/A", "unknown", "?",
typos made by mangling a real value), so no match fraction is 100%. Column names are picked per seed
from several plausible spellings (and restyled: snake_case, camelCase, "Title Case", UPPER).

Labelling rules
---------------
1. A column is labelled with the entity its values are, whatever its name (rules 3, 4 and 6 say when
   a kind of value is personal only by what it describes). Self-evident types
   (e-mails, Luhn-valid card numbers, IPv4/IPv6, IBANs, MAC addresses, URLs, dashed SSNs) also
   appear under names that give no hint ("field_7", "col_b"); those are still positives.
2. Entities a person could only recognise from the name (bank accounts, passports, driving licences,
   MRNs, health plan ids, device ids, ZIP codes, dates of birth, CPT/HCPCS codes, NPIs, ...) always get
   a name that says what they are, as a real schema would.
3. Dates: a date of birth is DATE_OF_BIRTH; a date of an event in a person's care or life
   (admission, visit, discharge, service) is DATE; a timestamp or date of a system event
   (created_at, report_date, batch dates, epoch seconds) is not personal and is labelled None.
4. People's identifiers in one system (customer, employee, user ids) are PERSON_ID; ids of orders,
   invoices, transactions, requests, shipments are not about a person and are None. A city or town is
   LOCATION (a Safe Harbor subdivision smaller than a state); a country code is None.
5. Free text: labelled with the embedded entity found in the most rows when at least 25% of the
   rows hold one (the corpus writes 30-45% for the dominant one and under 10% for any other); free
   text with no embedded identifier at all (clinical notes with vitals and doses, product reviews)
   is None. Free text with an identifier in 1-25% of rows is never generated, so labels are not a
   coin toss. Person names inside text do not count (no span entity).
6. Negative controls (None): numbers and codes that look like identifiers but are not personal —
   amounts, cents, currency codes, UUIDs, hashes, order ids, 9-digit invoice numbers (may pass SSN
   rules), 10-digit transaction ids (may pass phone rules), timestamps, epochs, SKUs, quantities,
   statuses, country codes, flags, percentages, versions, EAN-13 barcodes (a check digit, may pass
   Luhn), MCC codes, 5-digit `units_sold`, tracking numbers, clinical notes and reviews without PII,
   and `reference_number`: 10-digit numbers laid out like US phone numbers that pass the UK NHS
   mod-11 check — a reference number is neither an NHS number nor a phone number (valid NHS numbers
   in an `nhs_number` column are UK_NHS_NUMBER). Some controls get a no-hint name too, so "no hint"
   does not mean "sensitive".
7. Columns holding a wrong entity's values are not generated: each column has one intended entity.

`ENTITIES_COVERED` lists the entities the corpus holds (every entity of the catalogue at the time of
writing). Identifiers carry valid check digits where the real ones have them (cards, NPI, DEA, ABA,
VIN, IMEI, IBAN, NHS, EAN) and follow the issuers' layouts (SSN/ITIN ranges, MBI, HICN, NDC); ITINs
use groups 70-88, 90-92, 94-99 only (python-stdnum, the tests' reference, rejects 50-65).
"""

from __future__ import annotations

import hashlib
import random
import re
import string
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import phonenumbers
import polars as pl
from faker import Faker

DEFAULT_LOCALES: tuple[str, ...] = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES")
_REGION = {"en_US": "US", "en_GB": "GB", "de_DE": "DE", "fr_FR": "FR", "es_ES": "ES"}


def _split(text: str) -> list[str]:
    """Code lists are written as one string of space-separated codes (denser than list literals)."""
    return text.split()


# ----------------------------------------------------------------------------------------- context


_FAKERS: dict[str, Faker] = {}


def _faker(locale: str) -> Faker:
    """One Faker per locale per process (construction is slow); every use reseeds it first."""
    if locale not in _FAKERS:
        _FAKERS[locale] = Faker(locale)
    return _FAKERS[locale]


class Ctx:
    """Randomness for one column: a `random.Random` and per-locale Fakers, seeded from (seed, key)."""

    def __init__(self, seed: int, key: str, locales: Sequence[str]) -> None:
        self.rng = random.Random(f"{seed}/{key}")
        self.locales = tuple(locales)
        self._seed = f"{seed}/{key}"
        self._seeded: set[str] = set()
        # the first locale (en_US by default) is twice as common as each other one
        self._weights = [2.0] + [1.0] * (len(self.locales) - 1)

    def faker(self, locale: str) -> Faker:
        fake = _faker(locale)
        if locale not in self._seeded:
            fake.seed_instance(random.Random(f"{self._seed}/{locale}").getrandbits(64))
            self._seeded.add(locale)
        return fake

    def locale(self) -> str:
        return self.rng.choices(self.locales, self._weights)[0]

    def fake(self) -> Faker:
        return self.faker(self.locale())

    def us(self) -> Faker:
        return self.faker("en_US")

    def pick(self, options: Sequence[Any], weights: Sequence[float] | None = None) -> Any:
        return self.rng.choices(options, weights)[0] if weights else self.rng.choice(options)

    def digits(self, n: int) -> str:
        return "".join(self.rng.choice(string.digits) for _ in range(n))


Gen = Callable[[Ctx, int, str], list[Any]]


def _each(one: Callable[[Ctx], Any]) -> Gen:
    return lambda ctx, n, _name: [one(ctx) for _ in range(n)]


# ---------------------------------------------------------------------------------- check digits


def luhn_digit(payload: str) -> str:
    """The Luhn check digit to append to `payload`."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def dea_digit(six: str) -> str:
    d = [int(c) for c in six]
    return str((d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10)


def aba_digit(eight: str) -> str:
    d = [int(c) for c in eight]
    partial = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5])
    return str((-partial) % 10)


_VIN_VALUE = {str(i): i for i in range(10)} | dict(
    zip(
        "ABCDEFGHJKLMNPRSTUVWXYZ",
        [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9],
        strict=True,
    )
)
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def vin_digit(vin: str) -> str:
    """ISO 3779 / FMVSS 115 check character (position 9) of a 17-character VIN."""
    r = sum(_VIN_VALUE[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True)) % 11
    return "X" if r == 10 else str(r)


def ean13_digit(twelve: str) -> str:
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(twelve))
    return str((10 - total % 10) % 10)


def nhs_digit(nine: str) -> str | None:
    """UK NHS number mod-11 check digit, None when the payload has none (remainder 10)."""
    check = 11 - sum(int(c) * (10 - i) for i, c in enumerate(nine)) % 11
    return None if check == 10 else str(check % 11)


# ------------------------------------------------------------------------- identifier generators


def gen_ssn(ctx: Ctx) -> str:
    """Nine digits, area 001-899 but not 666, group 01-99, serial 0001-9999 (no published specials)."""
    while True:
        area = ctx.rng.randint(1, 899)
        if area == 666:
            continue
        ssn = f"{area:03d}{ctx.rng.randint(1, 99):02d}{ctx.rng.randint(1, 9999):04d}"
        if ssn not in {"078051120", "219099999", "457555462"}:
            return ssn


def dashed_ssn(digits: str) -> str:
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"


# IRS ITIN groups 70-88, 90-92, 94-99 (the 50-65 groups issued since 2011 are left out: python-stdnum,
# the reference the tests check against, does not accept them yet)
_ITIN_GROUPS = [*range(70, 89), *range(90, 93), *range(94, 100)]


def gen_itin(ctx: Ctx) -> str:
    return f"9{ctx.digits(2)}{ctx.pick(_ITIN_GROUPS):02d}{ctx.digits(4)}"


_ABA_PREFIXES = [*range(1, 13), *range(21, 33), *range(61, 73), 80]


def gen_aba(ctx: Ctx) -> str:
    eight = f"{ctx.pick(_ABA_PREFIXES):02d}{ctx.digits(6)}"
    return eight + aba_digit(eight)


def gen_npi(ctx: Ctx) -> str:
    nine = ctx.pick("12") + ctx.digits(8)
    return nine + luhn_digit("80840" + nine)


def gen_dea(ctx: Ctx) -> str:
    first = ctx.pick("ABFGMPR", [30, 40, 20, 3, 5, 1, 1])
    second = "9" if ctx.rng.random() < 0.04 else ctx.pick(string.ascii_uppercase)
    six = ctx.digits(6)
    return first + second + six + dea_digit(six)


_MBI_ALPHA = "ACDEFGHJKMNPQRTUVWXY"


def gen_mbi(ctx: Ctx) -> str:
    """CMS layout: C A AN N A AN N A A N N (C = 1-9, A = letters without S L O I B Z)."""
    rng = ctx.rng
    alnum = string.digits + _MBI_ALPHA
    parts = [
        rng.choice("123456789"),
        rng.choice(_MBI_ALPHA),
        rng.choice(alnum),
        rng.choice(string.digits),
        rng.choice(_MBI_ALPHA),
        rng.choice(alnum),
        rng.choice(string.digits),
        rng.choice(_MBI_ALPHA),
        rng.choice(_MBI_ALPHA),
        rng.choice(string.digits),
        rng.choice(string.digits),
    ]
    return "".join(parts)


_HICN_SUFFIXES = _split("A A A B B B1 B2 C1 C2 D D1 E F J K M T W")


def gen_hicn(ctx: Ctx) -> str:
    ssn = gen_ssn(ctx)
    suffix = ctx.pick(_HICN_SUFFIXES)
    return ssn + suffix if ctx.rng.random() < 0.85 else dashed_ssn(ssn) + suffix


_VIN_ALNUM = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
_WMIS = _split(
    "1HG 1FA 1FT 1G1 1GC 2T1 3VW 4T1 5YJ JHM JN1 KMH WBA WVW WDD SAL YV1 5NP 1C4 2HG 3FA JTD VF1 ZFA VSS"
)
_VIN_YEARS = "ABCDEFGHJKLMNPRSTVWXY123456789"


def gen_vin(ctx: Ctx) -> str:
    rng = ctx.rng
    vds = "".join(rng.choice(_VIN_ALNUM) for _ in range(5))
    body = f"{rng.choice(_WMIS)}{vds}0{rng.choice(_VIN_YEARS)}{rng.choice(_VIN_ALNUM)}{ctx.digits(6)}"
    return body[:8] + vin_digit(body) + body[9:]


def _card_prefix_and_length(ctx: Ctx) -> tuple[str, int]:
    brand = ctx.pick(["visa", "mc", "amex", "discover", "jcb", "diners"], [45, 30, 12, 8, 3, 2])
    rng = ctx.rng
    if brand == "visa":
        return "4", 16
    if brand == "mc":
        return (str(rng.randint(51, 55)) if rng.random() < 0.7 else str(rng.randint(2221, 2720))), 16
    if brand == "amex":
        return rng.choice(["34", "37"]), 15
    if brand == "discover":
        return rng.choice(["6011", "65", str(rng.randint(644, 649))]), 16
    if brand == "jcb":
        return str(rng.randint(3528, 3589)), 16
    return rng.choice(["36", "300", "301", "305", "38"]), 14


def gen_card(ctx: Ctx) -> str:
    """A Luhn-valid PAN with a real IIN prefix and length, digits only."""
    prefix, length = _card_prefix_and_length(ctx)
    payload = prefix + ctx.digits(length - len(prefix) - 1)
    return payload + luhn_digit(payload)


def format_card(ctx: Ctx, pan: str) -> str:
    style = ctx.pick(["plain", "space", "dash"], [70, 20, 10])
    if style == "plain":
        return pan
    sep = " " if style == "space" else "-"
    groups = (4, 6, 5) if len(pan) == 15 else (4, 6, 4) if len(pan) == 14 else (4, 4, 4, 4)
    out, i = [], 0
    for g in groups:
        out.append(pan[i : i + g])
        i += g
    return sep.join(out)


def gen_imei(ctx: Ctx) -> str:
    tac = ctx.pick(["35", "01", "86", "99", "35", "35"]) + ctx.digits(6)
    payload = tac + ctx.digits(6)
    return payload + luhn_digit(payload)


def gen_ean13(ctx: Ctx) -> str:
    prefix = f"{ctx.pick([*range(0, 14), 30, 34, 37, 40, 42, 44, 50, 84, 87, 76, 80]):02d}"
    twelve = prefix + ctx.digits(10)
    return twelve + ean13_digit(twelve)


def gen_nhs_lookalike(ctx: Ctx) -> str:
    """Ten digits shaped like a NANP number (NXX NXX XXXX) that pass the NHS mod-11 check."""
    rng = ctx.rng
    while True:
        nine = f"{rng.randint(2, 9)}{ctx.digits(2)}{rng.randint(2, 9)}{ctx.digits(5)}"
        check = nhs_digit(nine)
        if check is not None:
            return nine + check


# ------------------------------------------------------------------------------------------ phones

_US_AREAS = [
    int(a)
    for a in _split(
        "201 202 203 205 206 207 208 210 212 213 214 215 216 217 301 302 303 304 305 310 312 313 314 315 "
        "317 318 319 401 402 404 405 406 407 408 410 412 414 415 417 419 502 503 504 505 507 508 509 510 "
        "512 513 515 516 517 518 520 530 540 541 559 561 562 571 573 585 586 602 603 608 609 610 612 614 "
        "615 616 617 619 626 630 631 646 650 651 662 678 702 703 704 706 707 708 713 714 716 717 718 719 "
        "720 724 727 732 734 740 757 760 763 770 773 781 786 801 802 803 804 805 808 810 813 816 817 818 "
        "832 843 847 850 856 857 858 860 862 864 901 904 907 908 909 910 913 914 916 917 918 919 925 949 "
        "952 954 971 972 973 978"
    )
]


def gen_us_phone(ctx: Ctx) -> str:
    rng = ctx.rng
    a = rng.choice(_US_AREAS)
    while True:
        e = rng.randint(200, 999)
        if e % 100 != 11 and e != 555:
            break
    s = ctx.digits(4)
    style = ctx.pick(range(9), [25, 15, 12, 15, 8, 8, 6, 6, 5])
    out = [
        f"({a}) {e}-{s}",
        f"{a}.{e}.{s}",
        f"+1 {a} {e} {s}",
        f"{a}-{e}-{s}",
        f"1-{a}-{e}-{s}",
        f"{a}{e}{s}",
        f"+1{a}{e}{s}",
        f"({a}){e}-{s}",
        f"{a}-{e}-{s} x{rng.randint(1, 9999)}",
    ][style]
    return out


_PHONE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
_PHONE_FORMATS = (
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.E164,
)


def gen_intl_phone(ctx: Ctx, region: str) -> str:
    """A valid number of `region` (example number with its tail randomised), in a common layout."""
    rng = ctx.rng
    example = phonenumbers.example_number_for_type(region, rng.choice(_PHONE_TYPES))
    nsn = phonenumbers.national_significant_number(example)
    keep = max(2, len(nsn) - 6)
    number = example
    for _ in range(30):
        candidate = phonenumbers.parse(
            "+" + str(example.country_code) + nsn[:keep] + ctx.digits(len(nsn) - keep)
        )
        if phonenumbers.is_valid_number(candidate):
            number = candidate
            break
    layout = rng.choices(_PHONE_FORMATS, [50, 35, 15])[0]
    text = phonenumbers.format_number(number, layout)
    if layout == phonenumbers.PhoneNumberFormat.INTERNATIONAL and rng.random() < 0.2:
        text = text.replace(" ", "-", 1) if rng.random() < 0.5 else "00" + text[1:]
    return text


def gen_any_phone(ctx: Ctx) -> str:
    locale = ctx.locale()
    r = ctx.rng.random()
    if r < 0.15:
        return ctx.faker(locale).phone_number()
    if locale == "en_US" and r < 0.6:
        return gen_us_phone(ctx)
    return gen_intl_phone(ctx, _REGION.get(locale, "US"))


# ------------------------------------------------------------------------------------------- dates

_MONTHS = _split("January February March April May June July August September October November December")


def format_date(ctx: Ctx, d: date, dominant: int) -> str:
    style = dominant if ctx.rng.random() < 0.6 else ctx.rng.randrange(9)
    month = _MONTHS[d.month - 1]
    return [
        f"{d:%Y-%m-%d}",
        f"{d:%m/%d/%Y}",
        f"{d:%d/%m/%Y}",
        f"{d:%d.%m.%Y}",
        f"{month} {d.day}, {d.year}",
        f"{d.day} {month[:3]} {d.year}",
        f"{d:%Y%m%d}",
        f"{d.month}/{d.day}/{d:%y}",
        f"{d:%Y/%m/%d}",
    ][style]


def _dates(first: date, last: date, with_time: float = 0.0) -> Gen:
    def make(ctx: Ctx, n: int, _name: str) -> list[str]:
        dominant = ctx.rng.choice([0, 1, 1, 2, 3, 4])
        span = (last - first).days
        out = []
        for _ in range(n):
            d = first + timedelta(days=ctx.rng.randrange(span))
            text = format_date(ctx, d, dominant)
            if ctx.rng.random() < with_time:
                text += f" {ctx.rng.randint(0, 23):02d}:{ctx.rng.randint(0, 59):02d}"
            out.append(text)
        return out

    return make


# -------------------------------------------------------------------------------- positive columns


def person_full(ctx: Ctx) -> str:
    f = ctx.fake()
    r = ctx.rng.random()
    if r < 0.7:
        return f.name()
    if r < 0.85:
        return f"{f.last_name()}, {f.first_name()}"
    if r < 0.95:
        return f.name().upper()
    return f"{f.first_name()} {f.first_name()[0]}. {f.last_name()}"


def email(ctx: Ctx) -> str:
    f = ctx.fake()
    r = ctx.rng.random()
    if r < 0.45:
        value = f.email()
    elif r < 0.7:
        value = f.free_email()
    elif r < 0.85:
        value = f.company_email()
    else:
        user, _, host = f.email().partition("@")
        value = f"{user}+{ctx.pick(['news', 'shop', 'work', 'x'])}@{host}"
    if ctx.rng.random() < 0.07:
        value = value.upper() if ctx.rng.random() < 0.5 else value.capitalize()
    if ctx.rng.random() < 0.03:
        value = f"{f.name()} <{value}>"
    return value


def address(ctx: Ctx) -> str:
    f = ctx.fake()
    value = f.street_address() if ctx.rng.random() < 0.75 else f.address()
    return re.sub(r"\s*\n\s*", ", ", value)


def location(ctx: Ctx) -> str:
    locale = ctx.locale()
    f = ctx.faker(locale)
    if locale == "en_US" and ctx.rng.random() < 0.3:
        return f"{f.city()}, {f.state_abbr()}"
    return f.city()


def person_ids(ctx: Ctx, n: int, name: str) -> list[str]:
    """One system's ids for its people: the style follows the name (customer, employee, user)."""
    lowered = name.lower()
    rng = ctx.rng
    if "emp" in lowered:
        layout = rng.choice(["E{:06d}", "EMP-{:05d}", "{}"])
    elif "user" in lowered:
        layout = rng.choice(["{}", "usr_", "U{:07d}"])
    else:
        layout = rng.choice(["CUST-{:07d}", "{}", "C{:08d}"])
    current = rng.randint(1000, 400000)
    ids = []
    for _ in range(n):
        current += rng.randint(1, 3)
        ids.append(
            "usr_" + _token(ctx, string.ascii_lowercase + string.digits, 10)
            if layout == "usr_"
            else layout.format(current)
        )
    rng.shuffle(ids)
    return ids


def gen_nhs(ctx: Ctx) -> str:
    """A valid NHS number (England ranges 400-499 and 600-799 million), digits only."""
    while True:
        nine = f"{ctx.pick([4, 4, 6, 7])}{ctx.digits(8)}"
        check = nhs_digit(nine)
        if check is not None:
            return nine + check


def nhs_number(ctx: Ctx) -> str:
    digits = gen_nhs(ctx)
    style = ctx.pick(range(3), [70, 25, 5])
    return [f"{digits[:3]} {digits[3:6]} {digits[6:]}", digits, f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"][
        style
    ]


def zip_code(ctx: Ctx) -> str:
    f = ctx.us()
    r = ctx.rng.random()
    if r < 0.82:
        return f.zipcode()
    if r < 0.97:
        return f.zipcode_plus4()
    return str(int(f.zipcode()))  # leading zero lost in a spreadsheet


def passport(ctx: Ctx) -> str:
    if ctx.rng.random() < 0.55:
        return f"{ctx.rng.randint(1, 5)}{ctx.digits(8)}"
    return ctx.pick("AEFGHJKLMN", [50, 10, 8, 6, 6, 5, 5, 4, 3, 3]) + ctx.digits(8)


def driving_license(ctx: Ctx) -> str:
    rng, up = ctx.rng, string.ascii_uppercase
    style = ctx.pick(range(10), [20, 15, 12, 12, 8, 8, 7, 6, 6, 6])
    if style == 0:  # CA
        return rng.choice(up) + ctx.digits(7)
    if style == 1:  # NY
        d = ctx.digits(9)
        return d if rng.random() < 0.7 else f"{d[:3]} {d[3:6]} {d[6:]}"
    if style == 2:  # FL
        d = ctx.digits(12)
        return f"{rng.choice(up)}{d[:3]}-{d[3:6]}-{d[6:8]}-{d[8:11]}-{d[11]}"
    if style == 3:  # TX
        return ctx.digits(8)
    if style == 4:  # IL
        d = ctx.digits(11)
        return f"{rng.choice(up)}{d[:3]}-{d[3:7]}-{d[7:]}"
    if style == 5:  # PA
        d = ctx.digits(8)
        return f"{d[:2]} {d[2:5]} {d[5:]}"
    if style == 6:  # WA (new)
        return "WDL" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(9))
    if style == 7:  # NJ
        return rng.choice(up) + ctx.digits(14)
    if style == 8:  # MI
        return rng.choice(up) + ctx.digits(12)
    return "".join(rng.choice(up) for _ in range(2)) + ctx.digits(6)  # OH


def ip_v4(ctx: Ctx) -> str:
    f = ctx.us()
    return f.ipv4_public() if ctx.rng.random() < 0.7 else f.ipv4_private()


def ip_mixed(ctx: Ctx) -> str:
    f = ctx.us()
    r = ctx.rng.random()
    if r < 0.55:
        return f.ipv4_public()
    if r < 0.62:
        return f"{f.ipv4()}:{ctx.pick([80, 443, 8080, 22, 51234])}"
    return f.ipv6()


# OUIs registered to Apple, Samsung and Cisco in the IEEE registry
_OUIS = _split(
    "000393 000A27 001124 0017F2 3C22FB A483E7 F01898 28CFE9 8C8590 ACBC32 D0817A F0D1A9 7CD1C3 60FACD "
    "88665A 9C207B A4D18C C82A14 DC2B2A E0B9BA 0000F0 001247 002339 08D42B 1432D1 34145F 8425DB 9C0298 "
    "BC20A4 CC07AB E4121D F008F1 5CF6DC A02195 00000C 001B54 00E014 5C5015 70CA9B 881DFC B8BEBF F8C288"
)


def gen_mac(ctx: Ctx) -> str:
    """Lowercase colon form: a vendor OUI, or (a quarter) a randomised, locally administered address."""
    if ctx.rng.random() < 0.25:
        first = (ctx.rng.randrange(256) & 0xFC) | 0x02
        octets = [first] + [ctx.rng.randrange(256) for _ in range(5)]
    else:
        oui = ctx.pick(_OUIS)
        octets = [int(oui[i : i + 2], 16) for i in (0, 2, 4)] + [ctx.rng.randrange(256) for _ in range(3)]
    return ":".join(f"{o:02x}" for o in octets)


def mac(ctx: Ctx) -> str:
    raw = gen_mac(ctx)
    style = ctx.pick(range(5), [45, 25, 15, 10, 5])
    hexes = raw.split(":")
    if style == 0:
        return raw
    if style == 1:
        return raw.upper()
    if style == 2:
        return "-".join(hexes).upper()
    if style == 3:
        flat = "".join(hexes)
        return f"{flat[:4]}.{flat[4:8]}.{flat[8:]}"
    return "".join(hexes).upper()


def url(ctx: Ctx) -> str:
    f = ctx.fake()
    r = ctx.rng.random()
    if r < 0.35:
        return f.url()
    if r < 0.75:
        return f.uri()
    value = f.uri()
    return value + f"?utm_source={ctx.pick(['newsletter', 'google', 'twitter'])}&id={ctx.digits(6)}"


def device_id(ctx: Ctx, n: int, name: str) -> list[str]:
    lowered = name.lower()
    if "imei" in lowered:
        weights = [1, 0, 0, 0]
    elif "serial" in lowered:
        weights = [0, 0, 1, 0]
    else:
        weights = [30, 25, 20, 25]
    out = []
    for _ in range(n):
        kind = ctx.pick(range(4), weights)
        if kind == 0:
            out.append(gen_imei(ctx))
        elif kind == 1:
            out.append(f"{ctx.rng.getrandbits(64):016x}")
        elif kind == 2:
            chars = string.ascii_uppercase.replace("O", "").replace("I", "") + string.digits
            out.append("".join(ctx.rng.choice(chars) for _ in range(ctx.pick([10, 12, 12]))))
        else:
            out.append(str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4)).upper())
    return out


def bank_account(ctx: Ctx) -> str:
    r = ctx.rng.random()
    if r < 0.6:
        return str(ctx.rng.randint(1, 9)) + ctx.digits(ctx.rng.randint(7, 11))
    if r < 0.75:
        return str(ctx.rng.randint(1, 9)) + ctx.digits(ctx.rng.randint(12, 16))
    if r < 0.88:
        return ctx.digits(8)  # UK
    return "000" + ctx.digits(9)


def iban(ctx: Ctx) -> str:
    value = ctx.fake().iban()
    if ctx.rng.random() < 0.35:
        value = " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def mrn(ctx: Ctx, n: int, _name: str) -> list[str]:
    styles = [
        lambda: ctx.digits(7),
        lambda: f"{ctx.rng.randint(0, 2)}{ctx.digits(7)}",
        lambda: "MRN" + ctx.digits(7),
        lambda: "E" + ctx.digits(7),
        lambda: "-".join(ctx.digits(2) for _ in range(4)),
        lambda: f"{ctx.rng.randint(10, 99)}{ctx.digits(6)}",
    ]
    dominant = ctx.rng.randrange(len(styles))
    return [
        styles[dominant if ctx.rng.random() < 0.85 else ctx.rng.randrange(len(styles))]() for _ in range(n)
    ]


def health_plan_id(ctx: Ctx) -> str:
    rng, up = ctx.rng, string.ascii_uppercase
    style = ctx.pick(range(5), [35, 20, 20, 15, 10])
    if style == 0:  # Blue plans: 3-letter prefix + 9 digits
        return "".join(rng.choice(up) for _ in range(3)) + ctx.digits(9)
    if style == 1:  # Aetna
        return "W" + ctx.digits(9)
    if style == 2:  # UHC member id + dependant suffix
        return f"{ctx.digits(9)}{'-' if rng.random() < 0.5 else ' '}{rng.choice(['00', '01', '02', '03'])}"
    if style == 3:  # Cigna
        return "U" + ctx.digits(8) + rng.choice(["01", "02"])
    return "".join(rng.choice(up) for _ in range(2)) + ctx.digits(7)


_CPT = _split(
    "99213 99214 99203 99204 99215 99212 99211 99202 99205 36415 85025 80053 80061 93000 71046 97110 "
    "97140 97530 90834 90837 90791 99283 99284 99285 20610 45378 81002 83036 84443 87880 96372 90471 "
    "90686 99395 99396 11042 29881 43239 66984 27447 70450 72148 74177 76700 77067 88305 93306 99232 "
    "99233 99222 99223 99238 00840 01402 10060 12001 17000 64483 59400 59510"
)
_CPT_EXTRA = ["3074F", "3078F", "1036F", "4004F", "2022F", "0042T", "0191T", "0232T"]


def cpt(ctx: Ctx) -> str:
    r = ctx.rng.random()
    code = ctx.pick(_CPT_EXTRA) if r < 0.08 else ctx.pick(_CPT)
    if ctx.rng.random() < 0.05:
        code += ctx.pick(["-25", "-59", "-26", " RT", "-LT"])
    return code


_HCPCS = _split(
    "A0428 A0429 A4253 A4259 E0114 E0601 E0143 G0008 G0009 G0103 G0121 G0202 G0439 G0438 J0696 J1030 "
    "J1100 J1885 J2001 J3301 J7030 J9045 J0129 K0001 L3908 L1832 Q4101 Q0091 S9083 T1015 V2020 V2100 "
    "J1745 J2550 A9270 G2211 J3490 Q2035"
)


def hcpcs(ctx: Ctx) -> str:
    if ctx.rng.random() < 0.3:
        return ctx.pick("ABCEGHJKLMPQRSTV") + ctx.digits(4)
    return ctx.pick(_HCPCS)


_NDC_LABELERS_4 = _split(
    "0002 0003 0006 0009 0024 0025 0045 0049 0054 0069 0071 0074 0078 0093 0143 0172 0185 0378 0406 "
    "0591 0603 0781"
)
_NDC_LABELERS_5 = _split(
    "50090 55111 59762 68180 00904 16714 31722 33342 42806 43547 49884 57664 60505 62332 63304 65862 "
    "67877 68382 69097 70518"
)


def ndc(ctx: Ctx) -> str:
    layout = ctx.pick(["442", "532", "541"], [35, 45, 20])
    if layout == "442":
        labeler, product, package = ctx.pick(_NDC_LABELERS_4), ctx.digits(4), ctx.digits(2)
        eleven = "0" + labeler + product + package
    elif layout == "532":
        labeler, product, package = ctx.pick(_NDC_LABELERS_5), ctx.digits(3), ctx.digits(2)
        eleven = labeler + "0" + product + package
    else:
        labeler, product, package = ctx.pick(_NDC_LABELERS_5), ctx.digits(4), ctx.digits(1)
        eleven = labeler + product + "0" + package
    return eleven if ctx.rng.random() < 0.15 else f"{labeler}-{product}-{package}"


_ICD10 = _split(
    "E11.9 I10 J45.909 M54.5 M54.50 Z00.00 Z00.01 R51.9 F32.9 F32.A K21.9 E78.5 N39.0 J06.9 S72.001A "
    "Z23 M25.561 R10.9 E66.9 F41.1 G43.909 I25.10 J44.9 N18.3 N18.30 O80 Z79.4 T78.40XA S06.0X0A "
    "W19.XXXA C50.911 D64.9 E03.9 H52.4 R05.9 U07.1 Z20.822 J18.9 I48.91 E55.9 M17.11 R73.03 K57.30 "
    "L40.0 G47.33 F90.0 Z12.31 R07.9 S93.401A E87.1 I50.9 Z51.11 B34.9 H10.9 M79.7 R42 K58.9 Z30.011"
)


def icd10(ctx: Ctx) -> str:
    code = ctx.pick(_ICD10)
    return code.replace(".", "") if ctx.rng.random() < 0.2 else code


def _token(ctx: Ctx, alphabet: str, n: int) -> str:
    return "".join(ctx.rng.choice(alphabet) for _ in range(n))


def credential_token(ctx: Ctx) -> str:
    an = string.ascii_letters + string.digits
    kind = ctx.pick(range(7), [20, 15, 15, 10, 15, 15, 10])
    if kind == 0:
        return "sk_live_" + _token(ctx, an, 24)
    if kind == 1:
        return "AKIA" + _token(ctx, string.ascii_uppercase + "234567", 16)
    if kind == 2:
        return "ghp_" + _token(ctx, an, 36)
    if kind == 3:
        return f"xoxb-{ctx.digits(12)}-{ctx.digits(13)}-{_token(ctx, an, 24)}"
    if kind == 4:
        b64 = string.ascii_letters + string.digits + "-_"
        return f"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{_token(ctx, b64, 60)}.{_token(ctx, b64, 43)}"
    if kind == 5:
        return f"{ctx.rng.getrandbits(128):032x}"
    return "AIza" + _token(ctx, an + "-_", 35)


_WORDS = _split(
    "summer dragon monkey sunshine princess football welcome shadow master qwerty letmein baseball "
    "tigger charlie jordan hunter freedom pepper"
)


def password(ctx: Ctx) -> str:
    r = ctx.rng.random()
    if r < 0.55:
        return ctx.us().password(length=ctx.rng.randint(8, 16))
    word = ctx.pick(_WORDS)
    word = word.capitalize() if ctx.rng.random() < 0.6 else word
    return f"{word}{ctx.rng.randint(1, 2025)}{ctx.pick(['', '!', '#', '$', '?'])}"


# ------------------------------------------------------------------------------------- free text

_CLINICAL = [
    "Patient presents with mild fever and sore throat for 3 days.",
    "BP 132/85, HR 76, Temp 37.9 C, SpO2 97% on room air.",
    "Prescribed amoxicillin 500 mg TID x 10 days.",
    "Follow-up in 2 weeks or sooner if symptoms worsen.",
    "A1c 7.2%, up from 6.8% at last visit; counselled on diet.",
    "X-ray of left wrist shows no acute fracture.",
    "Denies chest pain, shortness of breath or palpitations.",
    "Continue lisinopril 10 mg daily; recheck BMP in 6 weeks.",
    "Wound healing well, sutures removed, no signs of infection.",
    "Patient reports lower back pain radiating to the right leg, 6/10.",
    "Flu vaccine administered, lot 4421B, left deltoid.",
    "Referred to physical therapy, 2x weekly for 6 weeks.",
    "Labs ordered: CBC, CMP, lipid panel, TSH.",
    "Allergies reviewed: penicillin (rash).",
    "Weight 82.4 kg, BMI 27.1.",
    "Discussed smoking cessation; patient is contemplative.",
    "No known drug allergies.",
    "Discharged home in stable condition with written instructions.",
]
_CALL = [
    "Called back about the prescription refill.",
    "Left voicemail, will try again tomorrow.",
    "Requested a copy of the invoice.",
    "Asked to reschedule the appointment to next week.",
    "Question about the bill from March.",
    "Wants to update insurance details.",
    "Confirmed delivery window 9-12.",
]
_REVIEWS = [
    "Great product, arrived in 3 days. 5/5 would buy again.",
    "Battery life is about 10 hours, which is fine for the price.",
    "The size runs small; ordered a 42 and it fits like a 40.",
    "Stopped working after 2 weeks. Returned it.",
    "Exactly as described, good value for $29.99.",
    "Packaging was damaged but the item was fine.",
    "Colour is a bit darker than in the photos.",
    "Works with version 2.3 of the app, setup took 5 minutes.",
    "Customer service was helpful and quick.",
    "Too loud at 70 dB, not suitable for a bedroom.",
]


def _sentences(ctx: Ctx, pool: Sequence[str], lo: int, hi: int) -> str:
    return " ".join(ctx.rng.sample(list(pool), ctx.rng.randint(lo, hi)))


def notes_with_phone(ctx: Ctx) -> str:
    r = ctx.rng.random()
    base = _sentences(ctx, _CALL + _CLINICAL, 1, 2)
    if r < 0.42:
        phone = gen_us_phone(ctx) if ctx.rng.random() < 0.7 else gen_any_phone(ctx)
        lead = ctx.pick(
            ["Pt called from", "Callback number:", "Reach patient at", "Daughter's cell", "Phone"]
        )
        return f"{base} {lead} {phone}." if ctx.rng.random() < 0.5 else f"{lead} {phone} - {base}"
    if r < 0.48:
        return f"{base} Prefers email: {email(ctx)}"
    return base


def comments_with_email(ctx: Ctx) -> str:
    r = ctx.rng.random()
    base = _sentences(ctx, _CALL + _REVIEWS, 1, 2)
    if r < 0.4:
        lead = ctx.pick(["Send invoice to", "Customer asked to use", "New contact:", "cc", "Reply to"])
        return f"{lead} {email(ctx)}. {base}" if ctx.rng.random() < 0.5 else f"{base} {lead} {email(ctx)}"
    if r < 0.46:
        return f"{base} Call {gen_us_phone(ctx)}"
    return base


def notes_with_ssn(ctx: Ctx) -> str:
    r = ctx.rng.random()
    base = _sentences(ctx, _CALL + _CLINICAL, 1, 2)
    if r < 0.32:
        lead = ctx.pick(["Verified identity with SSN", "SSN on file:", "member SSN", "SS#"])
        return f"{base} {lead} {dashed_ssn(gen_ssn(ctx))}."
    if r < 0.37:
        return f"{base} Call {gen_us_phone(ctx)}"
    return base


def clinical_notes(ctx: Ctx) -> str:
    return _sentences(ctx, _CLINICAL, 1, 3)


def reviews(ctx: Ctx) -> str:
    if ctx.rng.random() < 0.35:
        return ctx.us().sentence(nb_words=ctx.rng.randint(6, 14))
    return _sentences(ctx, _REVIEWS, 1, 2)


# --------------------------------------------------------------------------------------- controls


def amount(ctx: Ctx) -> str:
    value = ctx.rng.lognormvariate(4.0, 1.5)
    r = ctx.rng.random()
    if r < 0.05:
        return f"{value:,.2f}"
    if r < 0.1:
        return f"${value:.2f}"
    return f"{value:.2f}"


def amount_cents(ctx: Ctx) -> int:
    return int(ctx.rng.lognormvariate(8.0, 1.6))


_CURRENCIES = ["USD", "EUR", "GBP", "CAD", "JPY", "CHF", "AUD", "SEK", "MXN"]
_COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "CA", "MX", "BR", "IN", "JP", "AU", "SE", "PL", "IE"]
_MCC = _split(
    "5411 5812 5814 5541 5542 5912 5311 5999 4111 4121 7011 4511 5732 5651 5691 5942 7832 8062 8011 "
    "8021 4900 4814 5967 6011 6012 7995"
)


def uuid4(ctx: Ctx) -> str:
    return str(uuid.UUID(int=ctx.rng.getrandbits(128), version=4))


def sha256_hex(ctx: Ctx) -> str:
    return hashlib.sha256(ctx.rng.randbytes(16)).hexdigest()


def md5_hex(ctx: Ctx) -> str:
    return hashlib.md5(ctx.rng.randbytes(16), usedforsecurity=False).hexdigest()


def order_ids(ctx: Ctx, n: int, _name: str) -> list[str]:
    start = ctx.rng.randint(100, 90000)
    ids, current = [], start
    for _ in range(n):
        current += ctx.rng.randint(1, 4)
        ids.append(f"ORD-{current:06d}")
    ctx.rng.shuffle(ids)
    return ids


def _timestamps(ctx: Ctx, n: int, _name: str) -> list[str]:
    base = datetime(2022, 1, 1, tzinfo=UTC)
    style = ctx.rng.randrange(3)
    out = []
    for _ in range(n):
        t = base + timedelta(
            seconds=ctx.rng.randrange(3 * 365 * 86400), microseconds=ctx.rng.randrange(10**6)
        )
        out.append(
            [
                t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                t.strftime("%Y-%m-%d %H:%M:%S.%f"),
                t.isoformat(timespec="milliseconds"),
            ][style]
        )
    return out


def _epochs(ctx: Ctx, n: int, _name: str) -> list[int]:
    scale = 1000 if ctx.rng.random() < 0.4 else 1
    return [ctx.rng.randint(1_600_000_000, 1_750_000_000) * scale for _ in range(n)]


def _report_dates(ctx: Ctx, n: int, _name: str) -> list[str]:
    style = ctx.rng.choice(["%Y-%m-%d", "%m/%d/%Y", "%Y%m%d"])
    days = [date(2020, 1, 31) + timedelta(days=ctx.rng.randrange(1800)) for _ in range(n)]
    return [d.strftime(style) for d in days]


def sku(ctx: Ctx) -> str:
    rng, up = ctx.rng, string.ascii_uppercase
    style = ctx.pick(range(3))
    if style == 0:
        return f"SKU-{ctx.digits(5)}-{rng.choice(['BL', 'RD', 'GR', 'BK', 'WH'])}"
    if style == 1:
        return f"{rng.choice(up)}{rng.choice(up)}-{ctx.digits(4)}-{rng.choice(['S', 'M', 'L', 'XL'])}"
    return f"{rng.choice(up)}{ctx.digits(7)}"


def status(ctx: Ctx) -> str:
    return ctx.pick(["pending", "shipped", "delivered", "cancelled", "returned"], [15, 30, 45, 6, 4])


def _flags(ctx: Ctx, n: int, _name: str) -> list[str]:
    yes, no = ctx.rng.choice([("true", "false"), ("Y", "N"), ("1", "0"), ("True", "False")])
    p = ctx.rng.uniform(0.1, 0.9)
    return [yes if ctx.rng.random() < p else no for _ in range(n)]


def _percents(ctx: Ctx, n: int, _name: str) -> list[str]:
    as_percent = ctx.rng.random() < 0.5
    out = []
    for _ in range(n):
        v = (
            ctx.rng.choice([0, 5, 10, 12.5, 15, 20, 25, 30, 50])
            if ctx.rng.random() < 0.6
            else ctx.rng.uniform(0, 100)
        )
        out.append(f"{v:.1f}%" if as_percent else f"{v / 100:.4f}")
    return out


def version(ctx: Ctx) -> str:
    rng = ctx.rng
    v = f"{rng.randint(0, 5)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}"
    r = rng.random()
    return f"v{v}" if r < 0.2 else f"{v}-beta.{rng.randint(1, 5)}" if r < 0.3 else v


def tracking(ctx: Ctx) -> str:
    an = string.ascii_uppercase + string.digits
    return "1Z" + _token(ctx, an, 6) + ctx.digits(10)


def units_sold(ctx: Ctx) -> int:
    return ctx.rng.randint(10000, 99999)


# ------------------------------------------------------------------------------------------ specs


@dataclass(frozen=True)
class Spec:
    key: str
    label: str | None
    names: tuple[str, ...]
    make: Gen
    generic: float = 0.0
    """Probability the column gets a no-hint name ("field_7") instead of one of `names`."""
    numeric: bool = False


def _fmt_ssn(ctx: Ctx) -> str:
    digits = gen_ssn(ctx)
    style = ctx.pick(range(3), [82, 13, 5])
    return [dashed_ssn(digits), digits, f"{digits[:3]} {digits[3:5]} {digits[5:]}"][style]


def _fmt_itin(ctx: Ctx) -> str:
    digits = gen_itin(ctx)
    return dashed_ssn(digits) if ctx.rng.random() < 0.85 else digits


def _fmt_mbi(ctx: Ctx) -> str:
    mbi = gen_mbi(ctx)
    r = ctx.rng.random()
    return f"{mbi[:4]}-{mbi[4:7]}-{mbi[7:]}" if r < 0.1 else mbi.lower() if r < 0.14 else mbi


SPECS: tuple[Spec, ...] = (
    # ---- people and contact
    Spec(
        "full_name",
        "PERSON_NAME",
        ("full_name", "customer_name", "PatientName", "name", "contact_name"),
        _each(person_full),
    ),
    Spec(
        "first_name",
        "PERSON_NAME",
        ("first_name", "FirstName", "given_name", "fname"),
        _each(lambda c: c.fake().first_name()),
    ),
    Spec(
        "last_name",
        "PERSON_NAME",
        ("last_name", "Surname", "family_name", "lname"),
        _each(lambda c: c.fake().last_name()),
    ),
    Spec("email", "EMAIL", ("email", "EmailAddress", "contact_email", "e_mail", "user_email"), _each(email)),
    Spec("email_nohint", "EMAIL", (), _each(email), generic=1.0),
    Spec(
        "phone_us",
        "PHONE_NUMBER",
        ("phone", "PhoneNumber", "mobile", "tel", "contact_phone", "cell_phone"),
        _each(gen_us_phone),
    ),
    Spec(
        "phone_intl",
        "PHONE_NUMBER",
        ("home_phone", "telephone", "alt_phone", "MobileNumber", "fax_number"),
        _each(gen_any_phone),
    ),
    Spec(
        "address",
        "ADDRESS",
        ("address", "street_address", "StreetAddress", "addr_line1", "home_address"),
        _each(address),
    ),
    Spec("city", "LOCATION", ("city", "town", "home_city", "City", "residence_city"), _each(location)),
    Spec(
        "person_id",
        "PERSON_ID",
        ("customer_id", "employee_id", "user_id", "CustomerNumber", "emp_no"),
        person_ids,
    ),
    Spec("zip", "ZIP_CODE", ("zip", "zip_code", "ZipCode", "postal_code", "zip5"), _each(zip_code)),
    Spec(
        "dob",
        "DATE_OF_BIRTH",
        ("dob", "date_of_birth", "BirthDate", "birth_dt", "patient_dob"),
        _dates(date(1930, 1, 1), date(2006, 12, 31)),
    ),
    Spec(
        "visit_date",
        "DATE",
        ("admission_date", "visit_date", "discharge_date", "AdmitDate", "date_of_service"),
        _dates(date(2016, 1, 1), date(2025, 6, 30), with_time=0.1),
    ),
    # ---- government ids
    Spec(
        "ssn",
        "USA_SSN",
        ("ssn", "SSN", "social_security_number", "ss_no", "SocialSecurityNo"),
        _each(_fmt_ssn),
    ),
    Spec("ssn_nohint", "USA_SSN", (), _each(lambda c: dashed_ssn(gen_ssn(c))), generic=1.0),
    Spec("itin", "USA_ITIN", ("itin", "taxpayer_itin", "ITIN_number", "itin_no"), _each(_fmt_itin)),
    Spec(
        "passport",
        "USA_PASSPORT_NUMBER",
        ("passport_number", "PassportNo", "passport", "passport_num"),
        _each(passport),
    ),
    Spec(
        "driving_license",
        "USA_DRIVING_LICENSE",
        ("drivers_license", "DriverLicenseNumber", "dl_number", "driver_license_no", "DriversLicense"),
        _each(driving_license),
    ),
    # ---- network and devices
    Spec("ip_nohint", "IP_ADDRESS", (), _each(ip_v4), generic=1.0),
    Spec(
        "ip", "IP_ADDRESS", ("client_ip", "ip_address", "remote_addr", "src_ip", "IPAddress"), _each(ip_mixed)
    ),
    Spec("mac_nohint", "MAC_ADDRESS", (), _each(mac), generic=1.0),
    Spec("mac", "MAC_ADDRESS", ("mac_address", "MAC", "wifi_mac", "device_mac"), _each(mac)),
    Spec("url_nohint", "URL", (), _each(url), generic=1.0),
    Spec("url", "URL", ("website", "profile_url", "homepage", "landing_page_url"), _each(url)),
    Spec(
        "device",
        "DEVICE_ID",
        ("device_id", "DeviceID", "device_serial", "imei", "hw_serial", "DeviceIdentifier"),
        device_id,
    ),
    Spec("vin", "VEHICLE_ID", ("vin", "vehicle_vin", "VIN", "VehicleIdentificationNumber"), _each(gen_vin)),
    # ---- financial
    Spec("card_nohint", "CREDIT_CARD", (), _each(lambda c: format_card(c, gen_card(c))), generic=1.0),
    Spec(
        "card",
        "CREDIT_CARD",
        ("card_number", "cc_num", "PAN", "CardNo", "credit_card"),
        _each(lambda c: format_card(c, gen_card(c))),
    ),
    Spec(
        "bank_account",
        "BANK_ACCOUNT",
        ("account_number", "bank_account", "acct_no", "BankAccountNumber"),
        _each(bank_account),
    ),
    Spec("iban_nohint", "IBAN", (), _each(iban), generic=1.0),
    Spec("iban", "IBAN", ("iban", "IBAN", "payee_iban", "iban_number"), _each(iban)),
    Spec(
        "aba",
        "USA_ABA_ROUTING_NUMBER",
        ("routing_number", "aba", "RoutingNo", "aba_routing", "bank_routing"),
        _each(gen_aba),
    ),
    # ---- health
    Spec(
        "nhs", "UK_NHS_NUMBER", ("nhs_number", "NHSNumber", "nhs_no", "patient_nhs_number"), _each(nhs_number)
    ),
    Spec(
        "mrn",
        "MEDICAL_RECORD_NUMBER",
        ("mrn", "medical_record_number", "MRN", "patient_mrn", "MedRecNo"),
        mrn,
    ),
    Spec(
        "health_plan",
        "HEALTH_PLAN_ID",
        ("member_id", "health_plan_id", "insurance_member_id", "subscriber_id", "HealthPlanBeneficiaryNo"),
        _each(health_plan_id),
    ),
    Spec(
        "npi",
        "USA_NATIONAL_PROVIDER_IDENTIFIER",
        ("npi", "provider_npi", "NPI", "rendering_npi", "prescriber_npi"),
        _each(gen_npi),
    ),
    Spec("dea", "USA_DEA_NUMBER", ("dea_number", "prescriber_dea", "DEA", "dea_no"), _each(gen_dea)),
    Spec(
        "mbi",
        "USA_MEDICARE_BENEFICIARY_IDENTIFIER",
        ("mbi", "medicare_id", "MBI", "medicare_beneficiary_id"),
        _each(_fmt_mbi),
    ),
    Spec(
        "hicn",
        "USA_HEALTH_INSURANCE_CLAIM_NUMBER",
        ("hicn", "medicare_claim_number", "HICN", "hic_number"),
        _each(gen_hicn),
    ),
    Spec("cpt", "USA_CPT_CODE", ("cpt", "cpt_code", "procedure_code", "CPTCode"), _each(cpt)),
    Spec("hcpcs", "USA_HCPCS_CODE", ("hcpcs", "hcpcs_code", "HCPCS", "hcpcs_cd"), _each(hcpcs)),
    Spec("ndc", "USA_NATIONAL_DRUG_CODE", ("ndc", "ndc_code", "NDC", "drug_ndc"), _each(ndc)),
    Spec(
        "icd10", "ICD10_CODE", ("icd10", "diagnosis_code", "dx_code", "ICD10Code", "primary_dx"), _each(icd10)
    ),
    # ---- credentials
    Spec(
        "api_key",
        "CREDENTIAL",
        ("api_key", "access_token", "auth_token", "ApiSecret", "secret_key"),
        _each(credential_token),
    ),
    Spec("password", "CREDENTIAL", ("password", "user_password", "pwd", "Passwd"), _each(password)),
    # ---- free text with identifiers inside
    Spec(
        "notes_phone",
        "PHONE_NUMBER",
        ("call_notes", "notes", "CallNotes", "agent_notes"),
        _each(notes_with_phone),
    ),
    Spec(
        "comments_email",
        "EMAIL",
        ("comments", "customer_comments", "remarks", "support_comment"),
        _each(comments_with_email),
    ),
    Spec(
        "notes_ssn",
        "USA_SSN",
        ("intake_notes", "case_notes", "verification_notes", "IntakeNote"),
        _each(notes_with_ssn),
    ),
    # ---- negative controls
    Spec(
        "amount",
        None,
        ("amount", "total_amount", "price", "order_total", "Amount"),
        _each(amount),
        generic=0.3,
    ),
    Spec(
        "amount_cents",
        None,
        ("amount_cents", "total_cents", "price_cents"),
        _each(amount_cents),
        numeric=True,
    ),
    Spec("currency", None, ("currency", "currency_code", "ccy"), _each(lambda c: c.pick(_CURRENCIES))),
    Spec(
        "uuid", None, ("request_id", "event_uuid", "correlation_id", "record_guid"), _each(uuid4), generic=0.3
    ),
    Spec(
        "sha256", None, ("sha256", "content_hash", "checksum", "file_digest"), _each(sha256_hex), generic=0.3
    ),
    Spec("md5", None, ("md5", "etag", "md5_checksum"), _each(md5_hex)),
    Spec("order_id", None, ("order_id", "order_ref", "OrderNumber"), order_ids),
    Spec(
        "invoice_no",
        None,
        ("invoice_no", "invoice_number", "InvoiceNum", "inv_no"),
        _each(lambda c: str(c.rng.randint(100_000_000, 999_999_999))),
    ),
    Spec(
        "transaction_id",
        None,
        ("transaction_id", "txn_id", "TransactionID", "payment_id"),
        _each(lambda c: str(c.rng.randint(1_000_000_000, 9_999_999_999))),
    ),
    Spec("created_at", None, ("created_at", "updated_at", "event_time", "LastModified"), _timestamps),
    Spec("epoch", None, ("event_ts", "epoch_seconds", "ts_unix"), _epochs, numeric=True),
    Spec("report_date", None, ("report_date", "as_of_date", "batch_date", "snapshot_date"), _report_dates),
    Spec("sku", None, ("sku", "product_code", "item_sku", "ProductSKU"), _each(sku), generic=0.3),
    Spec(
        "quantity",
        None,
        ("quantity", "qty", "item_count"),
        _each(lambda c: c.rng.randint(1, 12)),
        numeric=True,
    ),
    Spec("status", None, ("status", "order_status", "fulfillment_status"), _each(status)),
    Spec("country", None, ("country", "country_code", "ship_country"), _each(lambda c: c.pick(_COUNTRIES))),
    Spec("flag", None, ("is_active", "opted_in", "marketing_consent", "IsDeleted"), _flags),
    Spec("percent", None, ("discount_pct", "tax_rate", "completion_pct"), _percents),
    Spec("version", None, ("app_version", "client_version", "sdk_version"), _each(version)),
    Spec(
        "reference_number",
        None,
        ("reference_number", "ref_no", "ReferenceNumber", "case_reference"),
        _each(gen_nhs_lookalike),
    ),
    Spec("mcc", None, ("mcc", "merchant_category_code", "MerchantCategory"), _each(lambda c: c.pick(_MCC))),
    Spec("units_sold", None, ("units_sold", "UnitsSold", "units_shipped"), _each(units_sold), numeric=True),
    Spec("barcode", None, ("barcode", "ean", "gtin", "product_ean"), _each(gen_ean13)),
    Spec("tracking", None, ("tracking_number", "shipment_tracking", "TrackingNo"), _each(tracking)),
    Spec(
        "clinical_notes",
        None,
        ("clinical_notes", "progress_note", "assessment", "ClinicalSummary"),
        _each(clinical_notes),
    ),
    Spec("reviews", None, ("review_text", "feedback", "product_review", "ReviewBody"), _each(reviews)),
)

ENTITIES_COVERED: frozenset[str] = frozenset(s.label for s in SPECS if s.label is not None)


# --------------------------------------------------------------------------------- mess and names

JUNK = (
    "N/A",
    "n/a",
    "unknown",
    "UNKNOWN",
    "-",
    "none",
    "NULL",
    "?",
    "TBD",
    "not provided",
    "refused",
    "see notes",
    "0",
    "xxx",
    "test",
)


def typo(rng: random.Random, value: str) -> str:
    if len(value) < 3:
        return value + "x"
    i = rng.randrange(len(value) - 1)
    op = rng.randrange(4)
    if op == 0:
        return value[:i] + value[i + 1 :]
    if op == 1:
        return value[:i] + value[i + 1] + value[i] + value[i + 2 :]
    if op == 2:
        return value[:i] + rng.choice(string.ascii_lowercase + string.digits) + value[i:]
    return value[:i] + {"0": "O", "1": "l", "5": "S"}.get(value[i], value[i] * 2) + value[i + 1 :]


def mess(rng: random.Random, values: list[Any], *, null_rate: float, junk_rate: float) -> list[Any]:
    """Blank out `null_rate` of the cells (mostly nulls, some empty strings) and spoil `junk_rate`."""
    numeric = bool(values) and not isinstance(values[0], str)
    out: list[Any] = []
    for v in values:
        r = rng.random()
        if r < null_rate:
            out.append(None if numeric or rng.random() < 0.8 else rng.choice(["", " "]))
        elif r < null_rate + junk_rate and not numeric:
            out.append(typo(rng, v) if rng.random() < 0.5 else rng.choice(JUNK))
        else:
            out.append(v)
    return out


_GENERIC = (
    "field_{}",
    "col_{}",
    "attr_{}",
    "custom_{}",
    "udf_{}",
    "column{}",
    "f{}",
    "extra_{}",
    "x{}",
    "var_{}",
)


def _generic_pool(rng: random.Random) -> list[str]:
    pool = [p.format(i) for p in _GENERIC for i in range(1, 40)]
    pool += [f"col_{c}" for c in string.ascii_lowercase] + [f"Column{c}" for c in string.ascii_uppercase]
    rng.shuffle(pool)
    return pool


def _words(name: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Z]+\d*(?![a-z])|[A-Z]?[a-z]+\d*|\d+", name)]


def restyle(rng: random.Random, name: str) -> str:
    """Usually the name as written; sometimes snake_case, camelCase, PascalCase, "Title Case" or UPPER."""
    r = rng.random()
    words = _words(name)
    if r < 0.7 or not words:
        return name
    if r < 0.78:
        return "_".join(words)
    if r < 0.85:
        return words[0] + "".join(w.capitalize() for w in words[1:])
    if r < 0.9:
        return "".join(w.capitalize() for w in words)
    if r < 0.95:
        return " ".join(w.capitalize() for w in words)
    return "_".join(words).upper()


def _column_name(spec: Spec, rng: random.Random, pool: list[str], used: set[str]) -> str:
    if not spec.names or rng.random() < spec.generic:
        while (name := pool.pop()) in used:
            pass
        return name
    for name in rng.sample(spec.names, len(spec.names)):
        styled = restyle(rng, name)
        for candidate in (styled, name):
            if candidate not in used and candidate.lower() not in {u.lower() for u in used}:
                return candidate
    return f"{spec.names[0]}_{len(used)}"


def build_corpus(
    rows: int = 5000, seed: int = 0, locales: tuple[str, ...] = DEFAULT_LOCALES
) -> tuple[pl.DataFrame, dict[str, str | None]]:
    """The seeded corpus frame (one column per spec, shuffled) and its labels (column → entity or None)."""
    master = random.Random(seed)
    pool = _generic_pool(master)
    used: set[str] = set()
    series: list[pl.Series] = []
    labels: dict[str, str | None] = {}
    for spec in SPECS:
        ctx = Ctx(seed, spec.key, locales)
        name = _column_name(spec, ctx.rng, pool, used)
        used.add(name)
        values = spec.make(ctx, rows, name)
        positive = spec.label is not None
        null_rate = ctx.rng.uniform(0.05, 0.20) if positive else ctx.rng.uniform(0.0, 0.10)
        junk_rate = ctx.rng.uniform(0.01, 0.05)
        values = mess(ctx.rng, values, null_rate=null_rate, junk_rate=junk_rate)
        series.append(pl.Series(name, values, dtype=pl.Int64 if spec.numeric else pl.String))
        labels[name] = spec.label
    master.shuffle(series)
    frame = pl.DataFrame(series)
    return frame, {s.name: labels[s.name] for s in series}
