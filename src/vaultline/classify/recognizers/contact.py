"""People and how to reach them: names, e-mail, phone, street address, ZIP, URL."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from vaultline.classify.recognizer import Recognizer

# Regions tried when a number has no `+` country code: the US first, then the locales the product
# sees most. A number valid in any of them counts; the candidate pattern demands phone formatting
# (separators or a `+`), so bare digit runs (ids, amounts in cents) only count with a name.
_PHONE_REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "AU", "IN")  # US covers Canada (NANP)


_SSN_SHAPE = re.compile(r"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}")


def _valid_phone(value: str) -> bool:
    import phonenumbers

    regions = (None,) if value.startswith("+") else _PHONE_REGIONS
    for region in regions:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


class Email(Recognizer):
    entity = "EMAIL"
    candidate = r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}"
    keywords = ("email", "mail", "emailaddress", "courriel", "correo", "correoelectronico")
    validator = "email-validator (syntax; DNS off)"

    def validate(self, value: str) -> bool:
        from email_validator import EmailNotValidError, validate_email

        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            return False
        return True


class FormattedPhone(Recognizer):
    """A number written the way phones are: a `+`, an area code in parentheses, or digit groups.

    Decimal amounts (one `.`), dates (at most eight digits) and SSN-shaped values (3-2-4 digits) never
    reach phonenumbers, which would accept many of them in some region.
    """

    entity = "PHONE_NUMBER"
    candidate = (
        r"(\+[0-9][0-9 ().-]{6,20}[0-9]"
        r"|\(?[0-9]{1,5}\)?([ .-][0-9]{1,8}){2,5}"
        r"|\([0-9]{1,5}\)[ .-]?[0-9]{3,8}([ .-][0-9]{1,8})*"
        r"|[0-9]{2,5} [0-9]{4,8})"
        r"(\s*(x|ext\.?)\s*[0-9]{1,5})?"
    )
    keywords = (
        "phone", "tel", "telephone", "mobile", "cell", "fax", "contact", "msisdn",
        "telefon", "telefonnummer", "handy", "mobil", "téléphone", "portable", "teléfono", "telefono",
        "móvil", "movil", "celular", "telefoonnummer",
    )  # fmt: skip
    validator = "phonenumbers.is_valid_number"

    def validate(self, value: str) -> bool:
        digits = sum(c.isdigit() for c in value.split("x", maxsplit=1)[0].split("ext", maxsplit=1)[0])
        if not 9 <= digits <= 15 or _SSN_SHAPE.fullmatch(value):
            return False
        return _valid_phone(value)


class PlusPhone(FormattedPhone):
    candidate = r"\+[0-9]{7,15}"


class DigitsPhone(FormattedPhone):
    """Ten digits and nothing else is as often an id or an amount in cents: a name must say phone."""

    candidate = r"1?[0-9]{10}"
    needs_context = True


class PersonName(Recognizer):
    """Names only with a name that says *person* (`first_name`, `patient_name`), not any `*_name`.

    `merchant_name`, `condition_name` and `product_name` hold names of things; the keywords are the
    column name run together, so `FirstName`, `first_name` and `first-name` all read `firstname`.
    """

    entity = "PERSON_NAME"
    # \p{M}: the vowel signs of Indic scripts are marks, not letters
    candidate = r"\p{L}[\p{L}\p{M}'’.-]*(,? \p{L}[\p{L}\p{M}'’.-]*){0,3}"
    keywords = (
        "firstname", "lastname", "surname", "forename", "fullname", "givenname", "familyname",
        "middlename", "maidenname", "fname", "lname", "patientname", "customername", "cardholder",
        "cardholdername", "holdername", "accountholder", "nameoncard", "contactname", "membername",
        "subscribername", "insuredname", "guarantorname", "employeename", "personname", "clientname",
        "physicianname", "providername", "doctorname", "nextofkin", "emergencycontact", "spousename",
        # German, French, Spanish, Italian, Dutch given/family names
        "vorname", "nachname", "familienname", "prénom", "prenom", "nomdefamille", "apellido",
        "apellidos", "nombrecompleto", "cognome", "voornaam", "achternaam",
    )  # fmt: skip
    column_names = ("name", "names", "nombre", "nom", "cardholder", "holder")
    needs_context = True
    validator = "letters only, at most four words, with a person-name keyword"

    def validate(self, value: str) -> bool:
        # Names are written Capitalized, lower or UPPER case; mixed forms like "iPhone" are not. Scripts
        # without case (Han, Arabic, Devanagari...) have neither upper nor lower letters.
        cased = value.islower() or value.isupper() or any(word[:1].isupper() for word in value.split())
        return cased or not any(c.isupper() or c.islower() for c in value)


class StreetAddress(Recognizer):
    """A house number and a street type (`12 Elm Street`, `5 rue Victor Hugo`, `Hauptstraße 5`)."""

    entity = "ADDRESS"
    candidate = (
        r"(?i)(.*\d.*\b(street|st|avenue|ave|road|rd|lane|ln|drive|dr|court|ct|boulevard|blvd|way|"
        r"place|pl|terrace|ter|circle|cir|parkway|pkwy|highway|hwy|square|sq|trail|trl|suite|ste|apt|"
        r"unit|plaza|path|crossing|xing|ridge|run|loop|pike|alley|row|walk|heights|mews|close|gardens|"
        r"cove|port|ports|village|villages|stravenue|station|harbor|harbour|point|springs|manor|"
        r"rue|chemin|allée|calle|avenida|plaza|paseo|via|viale|piazza|corso|largo|straat|laan|plein|"
        r"gracht|weg|platz|allee|gasse|ring|damm|ufer|carrer|camino|ronda|travesía|cours|impasse|quai)\b.*)"
        r"|(.*\p{L}(straße|strasse|str\.|weg|platz|allee|gasse|straat|laan|plein|gracht)\s*\d+.*)"
    )
    keywords = (
        "address", "addr", "street", "residence", "line1", "address1", "addressline1", "streetaddress",
        "adresse", "anschrift", "straße", "strasse", "dirección", "direccion", "domicilio", "calle",
        "indirizzo", "adres", "straat",
    )  # fmt: skip
    validator = "house number + street type"

    def validate(self, value: str) -> bool:
        return 6 <= len(value) <= 200 and any(c.isdigit() for c in value)


class NumberedStreet(StreetAddress):
    """A house number and a few words, any street type: only under an address keyword."""

    candidate = (
        r"(?i)[0-9]{1,6}[a-z]?,? (\p{L}[\p{L}.'’-]*,? ?){1,8}(,? ?[#0-9a-z .-]{0,20})?"
        r"|(\p{L}[\p{L}.'’-]* ){1,5}[0-9]{1,5}[a-z]?(,.*)?"
    )
    needs_context = True
    validator = "house number + street words, with an address keyword"


class Place(Recognizer):
    entity = "LOCATION"
    candidate = r"\p{L}[\p{L}\p{M}'’.-]*([ -]\p{L}[\p{L}\p{M}'’.-]*){0,4}"
    keywords = ("city", "town", "county", "municipality", "locality", "village", "borough", "precinct",
                "district", "neighborhood", "neighbourhood", "suburb", "parish",
                "stadt", "wohnort", "ville", "commune", "ciudad", "municipio", "città", "citta", "comune",
                "woonplaats", "gemeente")  # fmt: skip
    needs_context = True
    validator = "place-name layout, with a city/county keyword"


class ZipPlus4(Recognizer):
    entity = "ZIP_CODE"
    candidate = r"[0-9]{5}-[0-9]{4}"
    keywords = (
        "zip", "zipcode", "postal", "postcode", "zip5", "zip3",
        "plz", "postleitzahl", "codepostal", "codigopostal", "códigopostal",
    )  # fmt: skip
    validator = "ZIP+4 format"


class Zip5(ZipPlus4):
    candidate = r"[0-9]{5}|[0-9]{3}"
    needs_context = True
    validator = "5-digit (or ZIP3) with a ZIP keyword"


class Url(Recognizer):
    entity = "URL"
    candidate = r"(?i)(https?|ftp)://\S+|www\.\S+\.\S+"
    keywords = ("url", "uri", "website", "homepage", "link", "web")
    validator = "urllib.parse (scheme and dotted host)"

    def validate(self, value: str) -> bool:
        parts = urlsplit(value if "://" in value else f"http://{value}")
        return bool(parts.scheme) and "." in (parts.hostname or "")
