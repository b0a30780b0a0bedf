"""What protection each detected column should get, and why: the policy assistant's rule table.

A proposal depends on three things:
- the **profile**: `hipaa-safe-harbor` (remove or generalize the 18 identifiers; keyed tokens are an
  allowed re-identification code because the key is held apart), `pci` (PCI DSS: render the PAN
  unreadable, at most the first six and last four digits shown), `gdpr-pseudonymization` (GDPR
  Art. 4(5): data no longer attributable without additional information kept separately — the keys);
- the entity's **family** (a government id, contact data, a date...), from `FAMILY`;
- the column's **use**: a `join_key` links records, so it needs a deterministic token; `display` needs
  a recognisable fragment, so a mask; `analytics` on dates and places needs a coarser value, so a
  generalization; `free_text` gets its spans masked; `none` means nobody needs it: drop it.

`CHOICES[(profile, family, use)]` decides, falling back to `("*", family, use)`, then
`(profile, family, "*")` and `("*", family, "*")`: a declared use wins over a profile's default.
Every choice carries its reason, the risk it addresses and the alternative, which `vaultline init`
writes as YAML comments and `vaultline explain` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from vaultline.transforms.format_preserving import MIN_ENCRYPTED_DIGITS

PROFILES = ("hipaa-safe-harbor", "pci", "gdpr-pseudonymization")


class Use(StrEnum):
    JOIN_KEY = "join_key"
    DISPLAY = "display"
    ANALYTICS = "analytics"
    FREE_TEXT = "free_text"
    NONE = "none"


FAMILY: dict[str, str] = {
    **dict.fromkeys(("PERSON_ID", "MEDICAL_RECORD_NUMBER", "HEALTH_PLAN_ID", "UK_NHS_NUMBER"), "record_id"),
    "USA_MEDICARE_BENEFICIARY_IDENTIFIER": "record_id",
    "USA_HEALTH_INSURANCE_CLAIM_NUMBER": "record_id",
    **dict.fromkeys(("USA_SSN", "USA_ITIN", "USA_PASSPORT_NUMBER", "USA_DRIVING_LICENSE"), "government_id"),
    "EMAIL": "email",
    "PHONE_NUMBER": "phone",
    "PERSON_NAME": "name",
    **dict.fromkeys(("ADDRESS", "LOCATION"), "place"),
    "ZIP_CODE": "zip",
    "DATE": "date",
    "DATE_OF_BIRTH": "birth_date",
    "CREDIT_CARD": "card",
    **dict.fromkeys(("BANK_ACCOUNT", "IBAN"), "account"),
    **dict.fromkeys(("DEVICE_ID", "VEHICLE_ID", "MAC_ADDRESS"), "device"),
    "IP_ADDRESS": "ip",
    "URL": "url",
    "CREDENTIAL": "credential",
}  # fmt: skip

RISK: dict[str, str] = {
    "record_id": "links every row to one person in the source system and across datasets",
    "government_id": "identity theft, and linkage across every system keyed by the same number",
    "email": "reaches the person directly (phishing, harassment) and links datasets",
    "phone": "reaches the person directly (phishing, harassment) and links datasets",
    "name": "re-identifies the person on sight",
    "place": "a street or city narrows the population to a few people",
    "zip": "a 5-digit ZIP with birth date and sex identifies most US residents",
    "date": "exact event dates link the record to a person and to other sources",
    "birth_date": "a birth date is a quasi-identifier and reveals exact age (over 89 singles people out)",
    "card": "card fraud, and PCI DSS scope for every system that stores the PAN",
    "account": "account takeover and payment fraud",
    "device": "tracks a person through their device or vehicle",
    "ip": "locates a person and links sessions",
    "url": "personal pages and query strings reveal identity",
    "credential": "a live secret grants access to systems",
}


@dataclass(frozen=True)
class Choice:
    action: str
    """A transform name: tokenize, format_preserving, encrypt_deterministic, mask, generalize, drop."""
    params: dict[str, Any]
    reason: str
    alternative: str


@dataclass(frozen=True)
class Proposal:
    column: str
    entity: str
    family: str
    use: Use
    choice: Choice
    risk: str
    domain: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def step(self) -> dict[str, Any]:
        """The pipeline step `{transform: params}` that applies the proposal."""
        params = dict(self.choice.params)
        if self.choice.action == "generalize":
            return {"generalize": {"rules": {self.column: params}}}
        params = {"columns": [self.column], **params}
        if self.domain:
            params["domain"] = self.domain
        return {self.choice.action: params}


_TOKEN = Choice(
    "tokenize", {},
    "keyed HMAC-SHA256 token: equal values still join across datasets and runs; irreversible without the key",
    "encrypt_deterministic if an authorized team must read the value back; drop if no one joins on it",
)  # fmt: skip
_DROP = Choice(
    "drop", {}, "no one needs it downstream: not keeping it is the strongest protection",
    "tokenize if it must link records; mask if people must recognise it",
)  # fmt: skip
_DROP_FOR_SAFE_HARBOR = Choice(
    "drop", {}, "Safe Harbor allows no part of a phone number or e-mail address in de-identified data",
    "mask (keep_last 4, or style email) only for an output that is not released as de-identified",
)  # fmt: skip
_YEAR = Choice(
    "generalize", {"rule": "year"},
    "analytics need the year; Safe Harbor removes every other element of a date",
    "drop the column; or keep the exact date only under an expert-determination review",
)  # fmt: skip
_AGE = Choice(
    "generalize", {"rule": "age_from_date", "as_of": "today", "output": "age"},
    "age in years is what analyses use; ages over 89 are top-coded to 90+ as Safe Harbor requires",
    "age bands after this step (not the birth year: a year shows an age over 89, which Safe Harbor forbids)",
)  # fmt: skip
_ZIP3 = Choice(
    "generalize", {"rule": "zip3"},
    "the first three digits keep regional analysis; the 17 sparsely populated ZIP3 areas become 000",
    "drop the column",
)  # fmt: skip
_MASK_LAST4 = Choice(
    "mask", {"style": "keep_last", "keep": 4}, "display needs only the last four characters to recognise it",
    "tokenize if it must also link records; drop if no one reads it",
)  # fmt: skip
_MASK_EMAIL = Choice(
    "mask", {"style": "email"}, "display needs the first letter and the domain only",
    "tokenize if it must link records (a keyed token, never an unkeyed hash); drop if no one reads it",
)  # fmt: skip
_MASK_IP = Choice(
    "mask", {"style": "custom", "pattern": "[0-9A-Fa-f]+$"},  # an IPv6 group ends in a hex letter too
    "the last octet (IPv6: group) is what singles out a host; the network part stays for geography "
    "and abuse analysis",
    "tokenize to link sessions without revealing the address; drop if unused",
)  # fmt: skip
_CARD_FPE = Choice(
    "format_preserving", {"preserve_prefix": 6, "preserve_suffix": 4},
    "FF1 keeps a card-shaped, Luhn-checkable value with the BIN and last four (PCI DSS 3.4.1 allows them)",
    "tokenize (no BIN analytics), or mask keep_last 4 for display-only outputs",
)  # fmt: skip
_ACCOUNT_FPE = Choice(
    "format_preserving", {"preserve_prefix": 4},
    "FF1 keeps the length and the bank prefix, so validation and per-bank analytics keep working",
    "tokenize when the format does not matter",
)  # fmt: skip
_SPANS = Choice(
    "mask", {"style": "custom"},
    "free text keeps its narrative; only the identifiers found inside it are masked",
    "drop the column if the text is not needed; a reviewed redaction for release outside the company",
)  # fmt: skip

CHOICES: dict[tuple[str, str, str], Choice] = {
    ("*", "record_id", "*"): _TOKEN,
    ("*", "government_id", "join_key"): _TOKEN,
    ("*", "government_id", "*"): _DROP,
    **{("hipaa-safe-harbor", f, "*"): _DROP for f in ("email", "phone")},
    **{("hipaa-safe-harbor", f, "display"): _DROP_FOR_SAFE_HARBOR for f in ("email", "phone")},
    **{("*", f, "join_key"): _TOKEN for f in ("email", "phone")},
    **{("gdpr-pseudonymization", f, "*"): _TOKEN for f in ("email", "phone")},
    ("*", "phone", "display"): _MASK_LAST4,
    ("*", "email", "display"): _MASK_EMAIL,
    **{("*", f, "*"): _DROP for f in ("email", "phone")},
    ("*", "name", "*"): _DROP,
    ("*", "place", "*"): _DROP,
    ("*", "zip", "*"): _ZIP3,
    ("*", "date", "*"): _YEAR,
    ("*", "birth_date", "*"): _AGE,
    ("hipaa-safe-harbor", "card", "*"): _TOKEN,
    ("*", "card", "*"): _CARD_FPE,
    ("hipaa-safe-harbor", "account", "*"): _TOKEN,
    ("*", "account", "*"): _ACCOUNT_FPE,
    ("*", "device", "*"): _TOKEN,
    ("hipaa-safe-harbor", "ip", "*"): _DROP,
    ("*", "ip", "*"): _MASK_IP,
    ("*", "url", "*"): _DROP,
    ("*", "credential", "*"): _DROP,
}

# Token domains: values of one family share a domain (they join), families never do.
DOMAIN: dict[str, str] = {
    "record_id": "person", "government_id": "person", "email": "contact", "phone": "contact", "card": "card",
    "account": "account", "device": "device", "ip": "network",
}  # fmt: skip
_DEFAULT_USE: dict[str, Use] = {
    "record_id": Use.JOIN_KEY, "device": Use.JOIN_KEY, "card": Use.JOIN_KEY, "account": Use.JOIN_KEY,
    "date": Use.ANALYTICS, "birth_date": Use.ANALYTICS, "zip": Use.ANALYTICS, "ip": Use.ANALYTICS,
    "email": Use.NONE, "phone": Use.NONE, "name": Use.NONE, "place": Use.NONE, "government_id": Use.NONE,
    "url": Use.NONE, "credential": Use.NONE,
}  # fmt: skip


def choose(profile: str, family: str, use: Use) -> Choice:
    for key in ((profile, family, use), ("*", family, use), (profile, family, "*"), ("*", family, "*")):
        if key in CHOICES:
            return CHOICES[key]
    return _DROP


def propose(
    column: str, entity: str, profile: str, *, use: Use | None = None, free_text: bool = False
) -> Proposal:
    """The protection for one detected column under a profile (its use inferred unless given)."""
    family = FAMILY.get(entity, "record_id")
    if use is Use.NONE:  # said so (`--use COL=none`): nobody needs it downstream, whatever the profile
        return Proposal(column, entity, family, use, _DROP, RISK.get(family, ""))
    chosen_use = use or (Use.FREE_TEXT if free_text else _DEFAULT_USE.get(family, Use.NONE))
    if chosen_use is Use.FREE_TEXT:
        return Proposal(column, entity, family, chosen_use, _SPANS, RISK.get(family, ""))
    choice = choose(profile, family, chosen_use)
    keyed = choice.action in ("tokenize", "format_preserving", "encrypt_deterministic")
    domain = DOMAIN.get(family, "person") if keyed else None
    return Proposal(column, entity, family, chosen_use, choice, RISK.get(family, ""), domain)


def dropped(proposal: Proposal, reason: str) -> Proposal:
    """The proposal turned into a drop, when its protection cannot apply (`reason` says why)."""
    choice = Choice("drop", {}, reason, proposal.choice.reason)
    return Proposal(proposal.column, proposal.entity, proposal.family, Use.NONE, choice, proposal.risk)


def fitted_to_digits(proposal: Proposal, shortest: int) -> Proposal:
    """A format-preserving proposal whose clear prefix and suffix leave the column's shortest values
    (`shortest` digits) the digits FF1 needs: with BIN and last four kept, a 15-digit Amex number has
    5 left and every such row would be quarantined. The prefix gives way first (PCI DSS 3.4.1 allows
    *at most* the BIN and last four); a column too short for FF1 at all is tokenized instead."""
    prefix = proposal.choice.params.get("preserve_prefix", 0)
    suffix = proposal.choice.params.get("preserve_suffix", 0)
    spare = shortest - MIN_ENCRYPTED_DIGITS
    if prefix + suffix <= spare:
        return proposal
    if spare < 0:
        reason = (
            f"its shortest values ({shortest} digits) are too short for FF1 ({MIN_ENCRYPTED_DIGITS} at least)"
        )
        return replace(proposal, choice=replace(_TOKEN, reason=f"{_TOKEN.reason}; {reason}"))
    kept_suffix = min(suffix, spare)
    kept_prefix = min(prefix, spare - kept_suffix)
    params = {**proposal.choice.params, "preserve_prefix": kept_prefix, "preserve_suffix": kept_suffix}
    reason = (
        f"FF1 keeps a value of the same format with only its first {kept_prefix} and last {kept_suffix} "
        f"digits in the clear: the column's shortest values ({shortest} digits) must leave FF1 the "
        f"{MIN_ENCRYPTED_DIGITS} digits it needs to encrypt"
    )
    return replace(proposal, choice=replace(proposal.choice, params=params, reason=reason))


def renamed_output(proposal: Proposal, taken: set[str]) -> Proposal:
    """A proposal whose new column (`age` from a birth date) does not overwrite a column in `taken`."""
    wanted = proposal.choice.params.get("output")
    if wanted is None or wanted not in taken:
        return proposal
    output, number = f"{proposal.column}_{wanted}", 2
    while output in taken:
        output, number = f"{proposal.column}_{wanted}_{number}", number + 1
    params = {**proposal.choice.params, "output": output}
    return replace(proposal, choice=replace(proposal.choice, params=params))
