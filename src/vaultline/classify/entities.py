"""The entity catalogue: what Vaultline can detect, and how sensitive each kind is.

Names follow AWS Glue's Detect-PII entity types where Glue has one (`glue=True`), so a finding can
be mapped between the two; the others cover the rest of HIPAA Safe Harbor's eighteen identifiers and
common PCI/credential data. `docs/classify.md` is generated from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Sensitivity(StrEnum):
    PII = "pii"
    PHI = "phi"
    PCI = "pci"
    CREDENTIAL = "credential"
    NONE = "none"


@dataclass(frozen=True)
class Entity:
    name: str
    sensitivity: Sensitivity
    description: str
    glue: bool = False
    """AWS Glue Detect-PII has an entity type of this name."""
    safe_harbor: bool = False
    """One of HIPAA Safe Harbor's identifiers (45 CFR 164.514(b)(2))."""
    identifies: bool = True
    """The value points at a person (or their account, device, record): an output must not hold it in
    the clear. Clinical codes and provider numbers are sensitive in context but identify no one."""


_PII, _PHI, _PCI = Sensitivity.PII, Sensitivity.PHI, Sensitivity.PCI

ENTITIES: tuple[Entity, ...] = (
    Entity("PERSON_NAME", _PII, "a person's first, last or full name", glue=True, safe_harbor=True),
    Entity("EMAIL", _PII, "an e-mail address", glue=True, safe_harbor=True),
    Entity("PHONE_NUMBER", _PII, "a telephone or fax number", glue=True, safe_harbor=True),
    Entity("ADDRESS", _PII, "a street address", glue=True, safe_harbor=True),
    Entity(
        "LOCATION",
        _PII,
        "a city, county or other place smaller than a state (a Safe Harbor geographic subdivision)",
        safe_harbor=True,
    ),
    Entity("ZIP_CODE", _PII, "a US ZIP or ZIP+4 code", safe_harbor=True),
    Entity("DATE", _PII, "a date (identifying when it relates to a person)", glue=True, safe_harbor=True),
    Entity("DATE_OF_BIRTH", _PII, "a date of birth", safe_harbor=True),
    Entity("USA_SSN", _PII, "a US Social Security number", glue=True, safe_harbor=True),
    Entity("USA_ITIN", _PII, "a US Individual Taxpayer Identification Number", glue=True, safe_harbor=True),
    Entity("USA_PASSPORT_NUMBER", _PII, "a US passport number", glue=True, safe_harbor=True),
    Entity(
        "PERSON_ID",
        _PII,
        "an identifier of a person in one system: patient, customer, employee or user id",
        safe_harbor=True,
    ),
    Entity("USA_DRIVING_LICENSE", _PII, "a US driver's licence number", glue=True, safe_harbor=True),
    Entity("IP_ADDRESS", _PII, "an IPv4 or IPv6 address", glue=True, safe_harbor=True),
    Entity("MAC_ADDRESS", _PII, "a network hardware (MAC) address", glue=True, safe_harbor=True),
    Entity("URL", _PII, "a web address", safe_harbor=True),
    Entity("DEVICE_ID", _PII, "a device identifier or serial number", safe_harbor=True),
    Entity("VEHICLE_ID", _PII, "a vehicle identification number (VIN) or licence plate", safe_harbor=True),
    Entity("CREDIT_CARD", _PCI, "a payment card number (PAN)", glue=True, safe_harbor=True),
    Entity("BANK_ACCOUNT", _PCI, "a bank account number", glue=True, safe_harbor=True),
    Entity("IBAN", _PCI, "an International Bank Account Number", safe_harbor=True),
    Entity("USA_ABA_ROUTING_NUMBER", _PCI, "a US ABA bank routing number"),
    Entity("MEDICAL_RECORD_NUMBER", _PHI, "a medical record number", safe_harbor=True),
    Entity("HEALTH_PLAN_ID", _PHI, "a health plan beneficiary or member number", safe_harbor=True),
    Entity("UK_NHS_NUMBER", _PHI, "a UK National Health Service number", safe_harbor=True),
    Entity(
        "USA_NATIONAL_PROVIDER_IDENTIFIER",
        _PHI,
        "a US National Provider Identifier (NPI)",
        glue=True,
        identifies=False,
    ),
    Entity("USA_DEA_NUMBER", _PHI, "a US DEA (prescriber) registration number", glue=True, identifies=False),
    Entity(
        "USA_MEDICARE_BENEFICIARY_IDENTIFIER",
        _PHI,
        "a US Medicare Beneficiary Identifier (MBI)",
        glue=True,
        safe_harbor=True,
    ),
    Entity(
        "USA_HEALTH_INSURANCE_CLAIM_NUMBER",
        _PHI,
        "a US Medicare Health Insurance Claim Number (HICN)",
        glue=True,
        safe_harbor=True,
    ),
    Entity("USA_CPT_CODE", _PHI, "a CPT procedure code", glue=True, identifies=False),
    Entity("USA_HCPCS_CODE", _PHI, "a HCPCS Level II code", glue=True, identifies=False),
    Entity("USA_NATIONAL_DRUG_CODE", _PHI, "a US National Drug Code (NDC)", glue=True, identifies=False),
    Entity("ICD10_CODE", _PHI, "an ICD-10 diagnosis code", identifies=False),
    Entity("CREDENTIAL", Sensitivity.CREDENTIAL, "a password, API key, token or private key"),
)

BY_NAME: dict[str, Entity] = {entity.name: entity for entity in ENTITIES}
