"""encrypt_deterministic: AES-SIV (RFC 5297), reversible by holders of the domain key.

Equal plaintexts give equal ciphertexts (joins still work) and nothing else is revealed beyond length,
at one version of the key: decrypt with the version the run report's `key_versions` names (`siv/<domain>`),
and see `tokenize` for appends across a rotation. Output is URL-safe base64 text. Nulls stay null.

Example::

    keys: {patient: phi_key}
    steps:
      - encrypt_deterministic: {columns: [ssn, mrn], domain: patient, readers: [privacy_office]}
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints

from vaultline.transforms.base import KeyedParams, Protection, TransformSpec

Role = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Params(KeyedParams):
    protection: ClassVar[Protection] = Protection.DETERMINISTIC_ENCRYPTION
    readers: list[Role] = Field(default_factory=list)
    """Roles that need to read the values back (the reason to encrypt rather than tokenize). Recorded for
    reviewers; `vaultline explain` flags reversible encryption that lists no reader."""


SPEC = TransformSpec(
    "encrypt_deterministic", Params, "AES-SIV deterministic, reversible encryption", needs_key=True
)
