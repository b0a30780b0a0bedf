"""Health-care identifiers and codes (PHI when tied to a patient)."""

from __future__ import annotations

from vaultline.classify.recognizer import Recognizer

# Letters a CMS Medicare Beneficiary Identifier never uses (S, L, O, I, B, Z).
_MBI_ALPHA = "[AC-HJKMNP-RT-Y]"
_MBI_ALNUM = "[0-9AC-HJKMNP-RT-Y]"


class Npi(Recognizer):
    entity = "USA_NATIONAL_PROVIDER_IDENTIFIER"
    candidate = r"[12][0-9]{9}"
    keywords = ("npi", "provider", "prescriber", "physician", "practitioner", "doctor")
    validator = "stdnum.luhn over the 80840 prefix (CMS NPI check digit)"

    def validate(self, value: str) -> bool:
        from stdnum import luhn

        return bool(luhn.is_valid("80840" + value))


class Dea(Recognizer):
    entity = "USA_DEA_NUMBER"
    candidate = r"(?i)[ABCDEFGHJKLMPRSTUX][A-Z9][0-9]{7}"
    keywords = ("dea", "prescriber", "registration")
    validator = "DEA check digit"

    def validate(self, value: str) -> bool:
        # DEA rule: (d1 + d3 + d5) + 2 * (d2 + d4 + d6) ends in d7.
        d = [int(c) for c in value[2:]]
        return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


class Mbi(Recognizer):
    entity = "USA_MEDICARE_BENEFICIARY_IDENTIFIER"
    candidate = (
        rf"(?i)[1-9]{_MBI_ALPHA}{_MBI_ALNUM}[0-9]-?{_MBI_ALPHA}{_MBI_ALNUM}[0-9]-?"
        rf"{_MBI_ALPHA}{{2}}[0-9]{{2}}"
    )
    keywords = ("mbi", "medicare", "beneficiary")
    validator = "CMS MBI format (positions and excluded letters)"


class Hicn(Recognizer):
    entity = "USA_HEALTH_INSURANCE_CLAIM_NUMBER"
    candidate = r"(?i)[0-9]{3}-?[0-9]{2}-?[0-9]{4}[A-Z][0-9A-Z]?"
    keywords = ("hicn", "medicare", "claim", "beneficiary")
    validator = "9 digits (SSN rules, stdnum.us.ssn) + beneficiary code"

    def validate(self, value: str) -> bool:
        from stdnum.us import ssn

        digits = "".join(c for c in value if c.isdigit())[:9]
        return bool(ssn.is_valid(digits))


class Cpt(Recognizer):
    entity = "USA_CPT_CODE"
    candidate = r"[0-9]{4}[0-9FTU]"
    keywords = ("cpt", "procedure", "proc")
    needs_context = True
    validator = "CPT format, with a procedure keyword"


class Hcpcs(Recognizer):
    entity = "USA_HCPCS_CODE"
    candidate = r"(?i)[A-V][0-9]{4}"
    keywords = ("hcpcs", "procedure", "proc", "supply")
    needs_context = True
    validator = "HCPCS Level II format, with a procedure keyword"


class Ndc(Recognizer):
    entity = "USA_NATIONAL_DRUG_CODE"
    candidate = r"[0-9]{4}-[0-9]{4}-[0-9]{2}|[0-9]{5}-[0-9]{3}-[0-9]{2}|[0-9]{5}-[0-9]{4}-[0-9]{1,2}"
    keywords = ("ndc", "drug", "medication", "rx")
    validator = "FDA NDC segment layouts (4-4-2, 5-3-2, 5-4-1, 5-4-2)"


class NdcDigits(Ndc):
    candidate = r"[0-9]{10,11}"
    needs_context = True


class Icd10(Recognizer):
    entity = "ICD10_CODE"
    candidate = r"(?i)[A-TV-Z][0-9][0-9AB](\.?[0-9A-TV-Z]{1,4})?"
    keywords = ("icd", "icd10", "diagnosis", "dx", "condition")
    validator = "ICD-10-CM code layout"


class MedicalRecordNumber(Recognizer):
    entity = "MEDICAL_RECORD_NUMBER"
    candidate = r"(?i)[A-Z]{0,4}[-]?[0-9]{4,12}"
    keywords = ("mrn", "medicalrecord", "medicalrecordnumber", "medrec", "medrecno", "chart", "record")
    needs_context = True
    validator = "record-number layout, with an MRN keyword"


class HealthPlanId(Recognizer):
    entity = "HEALTH_PLAN_ID"
    candidate = r"(?i)[A-Z0-9][A-Z0-9-]{4,24}"
    keywords = ("member", "insurance", "subscriber", "policy", "plan", "beneficiary", "insured", "payer")
    needs_context = True
    validator = "member-id layout, with a health-plan keyword"

    def validate(self, value: str) -> bool:
        return any(c.isdigit() for c in value)


class NhsNumber(Recognizer):
    """Ten digits with a mod-11 check: one random 10-digit number in eleven passes, so a US phone
    number often does. Only a name that says NHS makes a column of them NHS numbers."""

    entity = "UK_NHS_NUMBER"
    candidate = r"[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}"
    keywords = ("nhs", "nhsnumber", "nhsno")
    needs_context = True
    validator = "stdnum.gb.nhs (mod-11 check digit), with an NHS keyword"

    def validate(self, value: str) -> bool:
        from stdnum.gb import nhs

        return bool(nhs.is_valid(value))
