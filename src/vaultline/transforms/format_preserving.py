"""format_preserving: NIST SP 800-38G FF1 over the digits of a value, keeping its format.

`preserve_prefix`/`preserve_suffix` digits stay in the clear (e.g. a BIN or last four), the rest is
encrypted with FF1 (radix 10 over the digits 0-9, tweak = the domain name). Non-digit characters keep
their positions. Values with fewer than 6 encryptable digits cannot be protected safely and are
quarantined with `fpe_too_short:<column>`; values with more than 256 with `fpe_too_long:<column>`;
values holding a digit of another script (`１`, `٣`), which FF1 would leave in the clear, with
`fpe_other_digits:<column>`. FF3/FF3-1 are
deliberately not offered (NIST's 2025 draft withdrew FF3-1).

Example (the fraud design's `account_number: {method: format_preserving, preserve_prefix: 4}`)::

    keys: {account: account_fpe_key}
    steps:
      - format_preserving: {columns: [account_number], domain: account, preserve_prefix: 4}
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from vaultline.transforms.base import KeyedParams, Protection, TransformSpec

MIN_ENCRYPTED_DIGITS = 6
MAX_ENCRYPTED_DIGITS = 256
"""FF1's work grows with the square of a value's length (its numeral-string arithmetic): one cell of
20,000 digits took 47 s. Identifiers have tens of digits; longer values are quarantined, not stalled on."""


class Params(KeyedParams):
    protection: ClassVar[Protection] = Protection.FORMAT_PRESERVING
    preserve_prefix: int = Field(default=0, ge=0, le=12)
    preserve_suffix: int = Field(default=0, ge=0, le=12)


SPEC = TransformSpec("format_preserving", Params, "NIST FF1 format-preserving encryption", needs_key=True)
