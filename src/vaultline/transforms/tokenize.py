"""tokenize: HMAC-SHA256 keyed deterministic tokens.

The key for a token domain is derived with HKDF from the keyring key that the spec's `keys:`
section assigns to the domain, so the same value in the same domain always gives the same token,
across datasets and runs, while two domains are unlinkable. A key's versions are unlinkable too: after
`vaultline keys rotate` a value gets another token, so a run appending to a dataset written with an
older version is refused (pin `NAME@VERSION` under `keys:` to keep it; see docs/keys.md). Tokens are
lowercase hex, optionally truncated and prefixed. Nulls stay null.

Example (the fraud design's `customer_id: {method: deterministic, salt: env_specific_salt}`)::

    keys: {customer: env_specific_salt}
    steps:
      - tokenize: {columns: [customer_id], domain: customer}
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from vaultline.transforms.base import KeyedParams, Protection, TransformSpec


class Params(KeyedParams):
    protection: ClassVar[Protection] = Protection.TOKEN
    length: int = Field(default=64, ge=16, le=64)
    """Hex characters kept from the 64-character HMAC (16 = 64 bits, the minimum)."""
    prefix: str = Field(default="", max_length=16, pattern=r"^[A-Za-z0-9_:-]*$")
    """Text put before every token, e.g. `cus_`."""


SPEC = TransformSpec("tokenize", Params, "HMAC-SHA256 deterministic tokens per domain", needs_key=True)
