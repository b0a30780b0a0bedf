"""Pure-Python reference of Vaultline's deterministic tokens (the fallback and the test oracle).

The token of a text value under a 32-byte domain key ``K`` (``ctx.domain_key(domain, "tokenize")``)::

    hmac_key = lowercase_hex(K).encode("ascii")            # 64 ASCII bytes, not the 32 raw bytes
    digest   = HMAC-SHA256(hmac_key, value.encode("utf-8")).hexdigest()   # 64 lowercase hex chars
    token    = prefix + digest[:length]

The HMAC key is the hex *text* of the domain key because the vectorized Polars implementation
(polars-hash) only accepts a text key; every engine must reproduce exactly this construction.
The hex text is 64 bytes, exactly one SHA-256 block, so HMAC uses it without hashing or padding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import NoReturn

DIGEST_HEX_CHARS = 64


class TokenKey:
    """HMAC-SHA256 state with the ipad/opad blocks absorbed once, copied for every value.

    Precomputing the two padded-key states halves the compression calls per short value, which
    is what makes this usable as a row-by-row fallback.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, domain_key: bytes) -> None:
        if len(domain_key) != 32:
            raise ValueError(f"a token domain key has 32 bytes, not {len(domain_key)}")
        # 64 bytes is exactly the SHA-256 block size, so RFC 2104 needs neither hashing nor zero padding.
        hmac_key = domain_key.hex().encode("ascii")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in hmac_key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in hmac_key))

    def digest_hex(self, value: str) -> str:
        inner = self._inner.copy()
        inner.update(value.encode("utf-8"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def token(self, value: str, length: int = DIGEST_HEX_CHARS, prefix: str = "") -> str:
        _check_length(length)
        return prefix + self.digest_hex(value)[:length]

    def tokens(
        self, values: Iterable[str | None], length: int = DIGEST_HEX_CHARS, prefix: str = ""
    ) -> list[str | None]:
        """Tokens of many values; None stays None, as nulls do in every engine."""
        _check_length(length)
        return [None if v is None else prefix + self.digest_hex(v)[:length] for v in values]

    def __repr__(self) -> str:
        return "TokenKey(<hidden>)"

    def __reduce__(self) -> NoReturn:
        raise TypeError("TokenKey cannot be pickled: key material must not leave the process")


def _check_length(length: int) -> None:
    if not 1 <= length <= DIGEST_HEX_CHARS:
        raise ValueError(f"token length must be between 1 and {DIGEST_HEX_CHARS}, not {length}")


def token(key: bytes, value: str, length: int = DIGEST_HEX_CHARS, prefix: str = "") -> str:
    """The token of `value` under the 32-byte domain `key` (see the module docstring)."""
    return TokenKey(key).token(value, length, prefix)
