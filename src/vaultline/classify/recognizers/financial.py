"""Payment cards and bank identifiers (PCI)."""

from __future__ import annotations

import re

from vaultline.classify.recognizer import Recognizer

_SEPARATORS = re.compile(r"[ -]")
# Federal Reserve routing symbols: 00-12 banks, 21-32 thrifts, 61-72 electronic, 80 traveller's cheques.
_ROUTING_PREFIX = re.compile(r"0[0-9]|1[0-2]|2[1-9]|3[0-2]|6[1-9]|7[0-2]|80")
# Issuer prefixes of the card schemes (ISO/IEC 7812 IIN ranges) and their lengths.
_SCHEMES = (
    (re.compile(r"4"), (13, 16, 19)),  # Visa
    (re.compile(r"5[1-5]|2(2[2-9][1-9]|2[3-9]|[3-6]|7[01]|720)"), (16,)),  # Mastercard
    (re.compile(r"3[47]"), (15,)),  # American Express
    (re.compile(r"6(011|5|4[4-9])"), (16, 19)),  # Discover
    (re.compile(r"35(2[89]|[3-8])"), (16, 17, 18, 19)),  # JCB
    (re.compile(r"3(0[0-5]|[689])"), (14, 16, 19)),  # Diners Club
    (re.compile(r"62"), (16, 17, 18, 19)),  # UnionPay
    (re.compile(r"5(018|020|038|893)|6(304|759|76[1-3])"), tuple(range(12, 20))),  # Maestro
    (re.compile(r"220[0-4]"), (16, 17, 18, 19)),  # Mir
    (re.compile(r"60|8[12]|508"), (16,)),  # RuPay
)


class CreditCard(Recognizer):
    entity = "CREDIT_CARD"
    candidate = r"[0-9]{4}([ -]?[0-9]{2,6}){2,4}"
    keywords = ("card", "pan", "cc", "creditcard", "cardnumber", "ccnumber")
    validator = "stdnum.luhn + card-scheme IIN and length"

    def validate(self, value: str) -> bool:
        from stdnum import luhn

        digits = _SEPARATORS.sub("", value)
        scheme = any(prefix.match(digits) and len(digits) in lengths for prefix, lengths in _SCHEMES)
        return scheme and bool(luhn.is_valid(digits))


class BankAccount(Recognizer):
    entity = "BANK_ACCOUNT"
    candidate = r"[0-9]{6,17}|[0-9]{2,6}-[0-9]{2,10}(-[0-9]{1,6})?"
    keywords = ("account", "acct", "accountnumber", "bankaccount", "acc", "iban", "bban")
    needs_context = True
    validator = "6-17 digits, with an account keyword"


class Iban(Recognizer):
    entity = "IBAN"
    candidate = r"(?i)[A-Z]{2}[0-9]{2}( ?[A-Z0-9]{1,4}){3,9}"
    keywords = ("iban", "account", "bank")
    validator = "stdnum.iban (country length + mod-97)"

    def validate(self, value: str) -> bool:
        from stdnum import iban

        return bool(iban.is_valid(value))


class AbaRouting(Recognizer):
    entity = "USA_ABA_ROUTING_NUMBER"
    candidate = r"[0-9]{4}-?[0-9]{4}-?[0-9]"
    keywords = ("routing", "aba", "rtn", "transit")
    validator = "stdnum.us.rtn (ABA checksum)"

    def validate(self, value: str) -> bool:
        from stdnum.us import rtn

        digits = value.replace("-", "")
        return _ROUTING_PREFIX.match(digits) is not None and bool(rtn.is_valid(digits))
