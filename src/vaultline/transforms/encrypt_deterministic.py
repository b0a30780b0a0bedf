"""encrypt_deterministic: AES-SIV (RFC 5297), reversible by holders of the domain key.

Equal plaintexts give equal ciphertexts (joins still work) and nothing else is revealed beyond length.
Output is URL-safe base64 text. Nulls stay null.

Example::

    keys: {patient: phi_key}
    steps:
      - encrypt_deterministic: {columns: [ssn, mrn], domain: patient}
"""

from __future__ import annotations

from typing import ClassVar

from vaultline.transforms.base import KeyedParams, Protection, TransformSpec


class Params(KeyedParams):
    protection: ClassVar[Protection] = Protection.DETERMINISTIC_ENCRYPTION


SPEC = TransformSpec(
    "encrypt_deterministic", Params, "AES-SIV deterministic, reversible encryption", needs_key=True
)
