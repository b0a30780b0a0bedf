"""hash: unkeyed SHA-256 / SHA-512 digest (hex).

Allowed because existing designs use it, but `vaultline validate` warns: an unkeyed hash of a
low-entropy value (emails, phone numbers, ids) is reversed by enumerating candidates. Prefer
`tokenize`, which is keyed.

Example (the fraud design's `email: {method: hash, algorithm: sha256}`)::

    - hash: {columns: [email], algorithm: sha256}
"""

from __future__ import annotations

from typing import ClassVar, Literal

from vaultline.transforms.base import Protection, ProtectParams, TransformSpec


class Params(ProtectParams):
    protection: ClassVar[Protection] = Protection.HASH
    algorithm: Literal["sha256", "sha512"] = "sha256"


SPEC = TransformSpec("hash", Params, "unkeyed SHA-2 digest (validate warns)")
