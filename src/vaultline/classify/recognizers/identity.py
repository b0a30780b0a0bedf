"""Government identifiers of people: SSN, ITIN, passport, driving licence."""

from __future__ import annotations

from vaultline.classify.recognizer import Recognizer


class Ssn(Recognizer):
    """Dashed or spaced SSNs; python-stdnum rejects area 000/666/9xx, group 00 and serial 0000."""

    entity = "USA_SSN"
    candidate = r"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}"
    keywords = ("ssn", "social", "socialsecurity", "ssnumber")
    validator = "stdnum.us.ssn"

    def validate(self, value: str) -> bool:
        from stdnum.us import ssn

        return bool(ssn.is_valid(value.replace(" ", "-")))


class SsnDigits(Ssn):
    """Nine bare digits pass the SSN rules about 89% of the time whatever they are: a name must say SSN."""

    candidate = r"[0-9]{9}"
    needs_context = True


class Itin(Recognizer):
    entity = "USA_ITIN"
    candidate = r"9[0-9]{2}[- ]?[0-9]{2}[- ]?[0-9]{4}"
    keywords = ("itin", "taxpayer", "tin", "taxid")
    validator = "stdnum.us.itin"

    def validate(self, value: str) -> bool:
        from stdnum.us import itin

        return bool(itin.is_valid(value.replace(" ", "-")))


class Passport(Recognizer):
    entity = "USA_PASSPORT_NUMBER"
    candidate = r"[A-Za-z]?[0-9]{8,9}"
    keywords = ("passport", "passportno", "passportnumber")
    needs_context = True
    validator = "format (9 characters) with a passport keyword"


class DrivingLicense(Recognizer):
    entity = "USA_DRIVING_LICENSE"
    candidate = r"[A-Za-z0-9*-]{4,20}"
    keywords = ("driver", "drivers", "license", "licence", "dl", "dln", "driving")
    needs_context = True
    validator = "state formats (1-20 letters/digits) with a licence keyword"

    def validate(self, value: str) -> bool:
        return any(c.isdigit() for c in value)


class PersonId(Recognizer):
    """Safe Harbor's "any other unique identifying number": a patient, customer or employee id.

    Any value can be an id, so only the column name decides (`patient_id`, `CustomerNo`), and the
    value must look like one: letters, digits and separators, with at least one digit.
    """

    entity = "PERSON_ID"
    candidate = r"[A-Za-z0-9][A-Za-z0-9_.:-]{2,63}"
    keywords = (
        "patientid", "patientnumber", "patientno", "customerid", "customernumber", "customerno",
        "custid", "custno", "clientid", "clientnumber", "employeeid", "employeenumber", "employeeno",
        "empid", "empno",
        "personid", "userid", "accountholderid", "cardholderid", "residentid", "studentid",
        "citizenid", "nationalid", "personnummer", "guestid", "passengerid",
    )  # fmt: skip
    needs_context = True
    validator = "identifier layout, with a person-id keyword"

    def validate(self, value: str) -> bool:
        return any(c.isdigit() for c in value)
