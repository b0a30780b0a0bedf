"""Dates tied to a person: birth dates, and admission, discharge, death and visit dates."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import ClassVar

import polars as pl

from vaultline.classify.recognizer import Recognizer

_DATE_FORMATS = (
    "%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", "%m-%d-%Y", "%Y%m%d",
    # month names, as clinical and mainframe exports write them (`02-JUL-1926`, `Jul 2, 1926`)
    "%d-%b-%Y", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y",
)  # fmt: skip


def parse_date(value: str) -> date | None:
    text = value.strip()
    # a timestamp's date part: `2024-07-18T10:00:00`, `07/18/2024 10:00`
    for candidate in dict.fromkeys((text, re.split("[T ]", text, maxsplit=1)[0])):
        for layout in _DATE_FORMATS:
            try:
                return datetime.strptime(candidate, layout).date()
            except ValueError:
                continue
    return None


class DateOfBirth(Recognizer):
    entity = "DATE_OF_BIRTH"
    candidate = (
        r"[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}([T ].*)?|[0-9]{8}"
        r"|[0-9]{1,2}[- ]\p{L}{3,9}[- ][0-9]{4}|\p{L}{3,9} [0-9]{1,2}, [0-9]{4}"
    )
    keywords: ClassVar[tuple[str, ...]] = (
        "dob", "birth", "birthdate", "birthday", "born", "dateofbirth",
        "geburtsdatum", "geburtstag", "naissance", "nacimiento", "nascita", "geboortedatum",
    )  # fmt: skip
    needs_context = True
    validator = "calendar date between 1900 and today, with a birth keyword"

    def validate(self, value: str) -> bool:
        parsed = parse_date(value)
        return parsed is not None and date(1900, 1, 1) <= parsed <= date.today()


class PersonalDate(DateOfBirth):
    """Any date is identifying under Safe Harbor when it relates to a person: admission, death..."""

    entity = "DATE"
    keywords = (
        "admission", "admit", "admitted", "discharge", "discharged", "death", "deceased", "visit",
        "service", "appointment", "encounter", "procedure", "surgery", "diagnosis", "enrollment",
    )  # fmt: skip
    validator = "calendar date, with a personal-event keyword"

    def validate(self, value: str) -> bool:
        return parse_date(value) is not None


_TIME_LAYOUTS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%m/%d/%Y %H:%M:%S", "%Y-%m-%d %H:%M")


def date_layout(values: pl.Series, *, agreement: float = 0.9) -> tuple[str, str] | None:
    """The strftime layout (and `date` or `datetime`) that parses at least `agreement` of a column's
    distinct values, for a `clean.parse` entry; None when no single layout does."""
    text = values.cast(pl.String).str.strip_chars().drop_nulls().unique().head(500).to_list()
    text = [v for v in text if v]
    if not text:
        return None
    for layout, kind in [*((f, "date") for f in _DATE_FORMATS), *((f, "datetime") for f in _TIME_LAYOUTS)]:
        parsed = 0
        for value in text:
            try:
                datetime.strptime(value, layout)
            except ValueError:
                continue
            parsed += 1
        if parsed >= agreement * len(text):
            return layout, kind
    return None
