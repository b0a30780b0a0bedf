"""Every recognizer, in priority order: when two flag a column with equal confidence, the first wins.

Specific layouts with checksums come before the broad ones they overlap (an NPI before a phone
number, an ITIN before an SSN, an ABA routing number before a bare account number).
"""

from __future__ import annotations

from vaultline.classify.recognizer import Recognizer
from vaultline.classify.recognizers import contact, dates, financial, health, identity, network, secrets

RECOGNIZERS: tuple[Recognizer, ...] = (
    secrets.KnownSecret(),
    contact.Email(),
    contact.Url(),
    network.IpAddress(),
    network.MacAddress(),
    financial.Iban(),
    financial.CreditCard(),
    health.Mbi(),
    health.Hicn(),
    health.Dea(),
    health.Npi(),
    health.Ndc(),
    identity.Itin(),
    identity.Ssn(),
    network.Vin(),
    financial.AbaRouting(),
    contact.ZipPlus4(),
    contact.FormattedPhone(),
    contact.PlusPhone(),
    dates.DateOfBirth(),
    dates.PersonalDate(),
    health.Icd10(),
    contact.StreetAddress(),
    contact.NumberedStreet(),
    health.NhsNumber(),
    identity.SsnDigits(),
    contact.DigitsPhone(),
    health.NdcDigits(),
    health.Cpt(),
    health.Hcpcs(),
    health.MedicalRecordNumber(),
    health.HealthPlanId(),
    identity.PersonId(),
    identity.Passport(),
    identity.DrivingLicense(),
    financial.BankAccount(),
    network.LicensePlate(),
    network.DeviceId(),
    contact.Zip5(),
    contact.Place(),
    contact.PersonName(),
    secrets.GenericSecret(),
)
