"""NIST SP 800-38G (rev. 1) FF1 format-preserving encryption, built on `cryptography`'s AES.

Two implementations of the same function, kept side by side on purpose:

- `encrypt` / `decrypt`: a scalar reference that follows the text of Algorithms 7 and 8 step by step
  with Python integers, for any radix 2..36 (numerals ``0-9a-z``). It is the oracle for the tests.
- `encrypt_digits_batch` / `decrypt_digits_batch`: a radix-10 kernel vectorized across rows for the
  hot path. Per Feistel round it builds every row's Q block with numpy, runs one AES-ECB call over
  all of them (the CBC-MAC PRF with the constant P block, and any constant tweak blocks, chained once
  for the whole batch), and does the modular addition on numpy uint64 limbs of 9 decimal digits, so
  it is exact for any length without a Python loop per value. Rows are grouped by length, since
  the round structure (u, v, b, d) depends on it.

Only the AES block function comes from `cryptography`; everything else is the FF1 construction.
Error messages carry sizes and counts, never a numeral string or key bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from numpy.typing import NDArray

from vaultline.crypto.blocks import ecb

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
ROUNDS = 10
MIN_DOMAIN_SIZE = 1_000_000
"""SP 800-38G rev. 1: radix**minlen must be at least one million."""
MAX_LENGTH = 2**32 - 1
BLOCK = 16

U8 = NDArray[np.uint8]
U64 = NDArray[np.uint64]

_LIMB_DIGITS = 9
_LIMB_BASE = 10**_LIMB_DIGITS
_WORD_MASK = 0xFFFFFFFF
_POW10 = np.array([10**k for k in range(_LIMB_DIGITS - 1, -1, -1)], dtype=np.uint64)
"""10**8 .. 10**0: the place values of the digits of one limb, most significant first."""


# --- shared parameter checks and derived sizes ---------------------------------------------------


def _cipher(key: bytes) -> CipherContext:
    if len(key) not in (16, 24, 32):
        raise ValueError(f"an FF1 key has 16, 24 or 32 bytes (AES-128/192/256), not {len(key)}")
    # ECB here is the raw AES block function FF1 is defined over, one block per call, never a mode.
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305


def _check(radix: int, n: int, tweak: bytes) -> None:
    if not 2 <= radix <= len(ALPHABET):
        raise ValueError(f"FF1 radix must be between 2 and {len(ALPHABET)}, not {radix}")
    if n < 2 or n > MAX_LENGTH or radix**n < MIN_DOMAIN_SIZE:
        raise ValueError(
            f"FF1 input of {n} numerals is outside the domain for radix {radix} "
            f"(SP 800-38G needs at least 2 numerals and radix**length >= {MIN_DOMAIN_SIZE})"
        )
    if len(tweak) > MAX_LENGTH:
        raise ValueError("FF1 tweak is longer than 2**32 - 1 bytes")


def _sizes(radix: int, n: int) -> tuple[int, int, int, int]:
    """Steps 1, 3 and 4: u, v, b = ceil(ceil(v*log2(radix))/8), d = 4*ceil(b/4) + 4.

    ceil(v*log2(radix)) is the bit length of radix**v - 1, computed exactly with integers.
    """
    u = n // 2
    v = n - u
    b = ((radix**v - 1).bit_length() + 7) // 8
    d = 4 * ((b + 3) // 4) + 4
    return u, v, b, d


def _p_block(radix: int, u: int, n: int, t: int) -> bytes:
    """Step 5: P = [1]^1 || [2]^1 || [1]^1 || [radix]^3 || [10]^1 || [u mod 256]^1 || [n]^4 || [t]^4."""
    fixed = bytes([1, 2, 1]) + radix.to_bytes(3, "big") + bytes([10, u % 256])
    return fixed + n.to_bytes(4, "big") + t.to_bytes(4, "big")


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(BLOCK, "big")


# --- scalar reference (Algorithms 6, 7, 8) --------------------------------------------------------


def _prf(aes: CipherContext, x: bytes) -> bytes:
    """Algorithm 6: CBC-MAC with a zero IV over the whole blocks of X; the last chaining value."""
    y = bytes(BLOCK)
    for j in range(0, len(x), BLOCK):
        y = aes.update(_xor(y, x[j : j + BLOCK]))
    return y


def _num(numerals: list[int], radix: int) -> int:
    value = 0
    for numeral in numerals:
        value = value * radix + numeral
    return value


def _str(value: int, radix: int, m: int) -> list[int]:
    out = [0] * m
    for i in range(m - 1, -1, -1):
        value, out[i] = divmod(value, radix)
    return out


def _numerals(text: str, radix: int) -> list[int]:
    values = [ALPHABET.find(c) for c in text]
    if any(not 0 <= x < radix for x in values):
        raise ValueError(f"FF1 input holds a character that is not a radix-{radix} numeral (0-9a-z)")
    return values


def _round_s(aes: CipherContext, p: bytes, q: bytes, d: int) -> int:
    """Steps 6.ii-6.iv: R = PRF(P || Q); S = first d bytes of R || CIPH(R xor [1]^16) || ...; y = NUM(S)."""
    r = _prf(aes, p + q)
    s = r + b"".join(aes.update(_xor(r, j.to_bytes(BLOCK, "big"))) for j in range(1, -(-d // BLOCK)))
    return int.from_bytes(s[:d], "big")


def encrypt(key: bytes, tweak: bytes, digits: str, radix: int = 10) -> str:
    """FF1.Encrypt(K, T, X) (Algorithm 7) of the numeral string `digits` (characters 0-9a-z)."""
    x = _numerals(digits, radix)
    n, t = len(x), len(tweak)
    _check(radix, n, tweak)
    aes = _cipher(key)
    u, v, b, d = _sizes(radix, n)
    a, bb = x[:u], x[u:]  # step 2
    p = _p_block(radix, u, n, t)
    for i in range(ROUNDS):  # step 6
        q = tweak + bytes((-t - b - 1) % BLOCK) + bytes([i]) + _num(bb, radix).to_bytes(b, "big")
        y = _round_s(aes, p, q, d)
        m = u if i % 2 == 0 else v
        c = (_num(a, radix) + y) % radix**m
        a, bb = bb, _str(c, radix, m)
    return "".join(ALPHABET[k] for k in a + bb)  # step 7


def decrypt(key: bytes, tweak: bytes, digits: str, radix: int = 10) -> str:
    """FF1.Decrypt(K, T, Y) (Algorithm 8), the inverse of `encrypt`."""
    x = _numerals(digits, radix)
    n, t = len(x), len(tweak)
    _check(radix, n, tweak)
    aes = _cipher(key)
    u, v, b, d = _sizes(radix, n)
    a, bb = x[:u], x[u:]
    p = _p_block(radix, u, n, t)
    for i in range(ROUNDS - 1, -1, -1):
        q = tweak + bytes((-t - b - 1) % BLOCK) + bytes([i]) + _num(a, radix).to_bytes(b, "big")
        y = _round_s(aes, p, q, d)
        m = u if i % 2 == 0 else v
        c = (_num(bb, radix) - y) % radix**m
        a, bb = _str(c, radix, m), a
    return "".join(ALPHABET[k] for k in a + bb)


# --- vectorized radix-10 kernel --------------------------------------------------------------------
#
# A number of m decimal digits is a list of uint64 arrays ("limbs"), least significant first, each
# holding 9 digits (the last one the remaining m - 9*(L-1)). Binary values (NUM(B) as bytes, y) are
# lists of uint64 arrays holding 32-bit words, least significant first. Every intermediate product
# stays below 2**63, so uint64 arithmetic is exact.


def _limb_spans(m: int) -> list[tuple[int, int]]:
    """Column ranges (lo, hi) of each limb in an m-digit row, least significant limb first."""
    return [(max(0, hi - _LIMB_DIGITS), hi) for hi in range(m, 0, -_LIMB_DIGITS)]


def _to_limbs(digits: U8) -> list[U64]:
    return [
        digits[:, lo:hi].astype(np.uint64) @ _POW10[_LIMB_DIGITS - (hi - lo) :]
        for lo, hi in _limb_spans(digits.shape[1])
    ]


def _from_limbs(limbs: list[U64], m: int) -> U8:
    out = np.empty((limbs[0].shape[0], m), dtype=np.uint8)
    for limb, (lo, hi) in zip(limbs, _limb_spans(m), strict=True):
        out[:, lo:hi] = (limb[:, None] // _POW10[_LIMB_DIGITS - (hi - lo) :]) % 10
    return out


def _top_base(m: int) -> int:
    return int(10 ** (m - _LIMB_DIGITS * ((m - 1) // _LIMB_DIGITS)))


def _limbs_to_bytes(limbs: list[U64], b: int) -> U8:
    """[NUM(X)]^b for every row: Horner over the limbs into 32-bit words, then big-endian bytes."""
    n_words = (b + 3) // 4
    words = [limbs[-1].copy()] + [np.zeros_like(limbs[-1]) for _ in range(n_words - 1)]
    for limb in reversed(limbs[:-1]):
        carry = limb
        for w in range(n_words):
            acc = words[w] * np.uint64(_LIMB_BASE) + carry
            words[w] = acc & np.uint64(_WORD_MASK)
            carry = acc >> np.uint64(32)
    big_endian = np.stack(words[::-1], axis=1).astype(">u4")
    return big_endian.view(np.uint8)[:, 4 * n_words - b :]


def _bytes_to_words(s: U8) -> list[U64]:
    """NUM(S) of d-byte rows (d is a multiple of 4) as 32-bit words, least significant first."""
    words = np.ascontiguousarray(s).view(">u4").astype(np.uint64)
    return [words[:, k] for k in range(words.shape[1] - 1, -1, -1)]


def _mod_limbs(words: list[U64], m: int) -> list[U64]:
    """y mod 10**m as m-digit limbs: repeated long division of the words by 10**9."""
    words = [w.copy() for w in words]
    base = np.uint64(_LIMB_BASE)
    limbs: list[U64] = []
    for _ in range(len(_limb_spans(m))):
        rem = np.zeros_like(words[0])
        for k in range(len(words) - 1, -1, -1):
            acc = (rem << np.uint64(32)) | words[k]
            words[k] = acc // base
            rem = acc - words[k] * base
        limbs.append(rem)
    limbs[-1] %= np.uint64(_top_base(m))
    return limbs


def _add_mod(x: list[U64], y: list[U64], m: int) -> list[U64]:
    """(x + y) mod 10**m, limb by limb with carries; the carry out of the top limb is the modulus."""
    out: list[U64] = []
    carry = np.zeros_like(x[0])
    for k, (xk, yk) in enumerate(zip(x, y, strict=True)):
        base = np.uint64(_LIMB_BASE if k < len(x) - 1 else _top_base(m))
        acc = xk + yk + carry
        carry = (acc >= base).astype(np.uint64)
        out.append(acc - carry * base)
    return out


def _sub_mod(x: list[U64], y: list[U64], m: int) -> list[U64]:
    """(x - y) mod 10**m; adding `base` before subtracting keeps every uint64 non-negative."""
    out: list[U64] = []
    borrow = np.zeros_like(x[0])
    for k, (xk, yk) in enumerate(zip(x, y, strict=True)):
        base = np.uint64(_LIMB_BASE if k < len(x) - 1 else _top_base(m))
        acc = xk + (base - borrow) - yk
        keep = (acc >= base).astype(np.uint64)
        borrow = np.uint64(1) - keep
        out.append(acc - keep * base)
    return out


class _Rounds:
    """The per-length constants of FF1 radix 10 and the batched round function y = NUM(S)."""

    def __init__(self, aes: CipherContext, tweak: bytes, n: int) -> None:
        self.aes = aes
        self.u, self.v, self.b, self.d = _sizes(10, n)
        t = len(tweak)
        p = _p_block(10, self.u, n, t)
        # Q = T || [0]^pad || [i]^1 || [NUM(B)]^b. Only the last b bytes differ between rows, so the
        # CBC-MAC over P and every block before them is the same for the whole batch.
        prefix_len = t + (-t - self.b - 1) % BLOCK + 1
        self.const_blocks = prefix_len // BLOCK
        self.tail = prefix_len % BLOCK
        self.prefixes = [tweak + bytes((-t - self.b - 1) % BLOCK) + bytes([i]) for i in range(ROUNDS)]
        self.y_p = aes.update(p)

    def _chain(self, i: int) -> bytes:
        """The CBC-MAC state of round i after P and the blocks of Q that every row shares."""
        prefix = self.prefixes[i]
        chain = self.y_p
        for j in range(self.const_blocks):
            chain = self.aes.update(_xor(chain, prefix[j * BLOCK : (j + 1) * BLOCK]))
        return chain

    def constant_block(self, i: int) -> U8:
        """With one limb per half (tail + b = 16): the state XOR the round's constant bytes; each
        row's block is this with its last b bytes XOR [NUM(B)]^b."""
        tail = self.prefixes[i][len(self.prefixes[i]) - self.tail :] + bytes(self.b)
        return np.frombuffer(_xor(self._chain(i), tail), dtype=np.uint8)

    def _s(self, i: int, num_b: U8) -> U8:
        """S of round i for every row (its first d bytes), from [NUM(B)]^b (B, or A when decrypting)."""
        prefix = self.prefixes[i]
        chain = self._chain(i)
        rows = num_b.shape[0]
        variable = np.empty((rows, self.tail + self.b), dtype=np.uint8)
        variable[:, : self.tail] = np.frombuffer(prefix[len(prefix) - self.tail :], dtype=np.uint8)
        variable[:, self.tail :] = num_b
        r = np.broadcast_to(np.frombuffer(chain, dtype=np.uint8), (rows, BLOCK))
        for k in range(0, variable.shape[1], BLOCK):
            r = ecb(self.aes, r ^ variable[:, k : k + BLOCK])
        extra = [
            ecb(self.aes, r ^ np.frombuffer(j.to_bytes(BLOCK, "big"), dtype=np.uint8))
            for j in range(1, -(-self.d // BLOCK))
        ]
        return np.concatenate([r, *extra], axis=1) if extra else r

    def y(self, i: int, source: list[U64]) -> list[U64]:
        """y of round i for every row, from the limbs of the half that feeds Q (B, or A when decrypting)."""
        return _bytes_to_words(self._s(i, _limbs_to_bytes(source, self.b))[:, : self.d])


def _matrix(key: bytes, tweak: bytes, digits: U8, *, decrypting: bool) -> U8:
    """FF1 radix 10 of every row of a (rows, n) matrix of digit values 0..9."""
    if digits.ndim != 2:
        raise ValueError("FF1 batch input must be a 2-D matrix of digits")
    rows, n = digits.shape
    _check(10, n, tweak)
    aes = _cipher(key)
    if rows == 0:
        return np.empty((0, n), dtype=np.uint8)
    if int(digits.max()) > 9:
        raise ValueError("FF1 batch input holds a value that is not a decimal digit")
    rounds = _Rounds(aes, tweak, n)
    u, v = rounds.u, rounds.v
    a, bb = _to_limbs(digits[:, :u]), _to_limbs(digits[:, u:])
    if n <= 2 * _LIMB_DIGITS:  # one limb per half: compiled loops on plain uint64 (see _ff1_short)
        return _one_limb_halves(rounds, a[0], bb[0], decrypting=decrypting)
    if decrypting:
        for i in range(ROUNDS - 1, -1, -1):
            m = u if i % 2 == 0 else v
            a, bb = _sub_mod(bb, _mod_limbs(rounds.y(i, a), m), m), a
    else:
        for i in range(ROUNDS):
            m = u if i % 2 == 0 else v
            a, bb = bb, _add_mod(a, _mod_limbs(rounds.y(i, bb), m), m)
    return np.concatenate([_from_limbs(a, u), _from_limbs(bb, v)], axis=1)


def _one_limb_halves(rounds: _Rounds, a: U64, bb: U64, *, decrypting: bool) -> U8:
    """`_matrix` when A and B are below 10**9 (n <= 18): then b <= 4, d = 8 and Q has one block that
    differs between rows, so a round is a compiled pass, one AES call and another compiled pass."""
    from vaultline.crypto import _ff1_short as short

    u, v = rounds.u, rounds.v
    blocks = np.empty((a.shape[0], 2), dtype=np.uint64)
    for i in range(ROUNDS - 1, -1, -1) if decrypting else range(ROUNDS):
        modulus = np.uint64(10 ** (u if i % 2 == 0 else v))
        source, half = (a, bb) if decrypting else (bb, a)
        first, second = rounds.constant_block(i).view(np.uint64)
        short.fill_blocks(first, second, source, blocks)
        result = np.empty_like(half)
        short.mix(ecb(rounds.aes, blocks.view(np.uint8)).view(np.uint64), half, modulus, result, decrypting)
        a, bb = (result, a) if decrypting else (bb, result)
    out = np.empty((a.shape[0], u + v), dtype=np.uint8)
    short.digits(a, u, out, 0)
    short.digits(bb, v, out, u)
    return out


def _strings(
    key: bytes, tweak: bytes, values: NDArray[Any] | Sequence[str], *, decrypting: bool
) -> NDArray[Any]:
    """Rows of decimal digit strings of any lengths: grouped by length, each group one matrix."""
    texts = np.asarray(values)
    if texts.ndim != 1:
        raise ValueError("FF1 batch input must be a 1-D array of digit strings or a 2-D digit matrix")
    if texts.dtype.kind not in "US":
        texts = texts.astype(np.str_)
    as_bytes = texts if texts.dtype.kind == "S" else texts.astype(np.bytes_)
    lengths = np.strings.str_len(as_bytes)
    out = np.empty(texts.shape[0], dtype=as_bytes.dtype)
    for length in np.unique(lengths):
        where = np.flatnonzero(lengths == length)
        group = as_bytes[where].astype(f"S{length}")
        digits = np.frombuffer(group.tobytes(), dtype=np.uint8).reshape(-1, int(length)) - np.uint8(48)
        result = _matrix(key, tweak, digits, decrypting=decrypting) + np.uint8(48)
        out[where] = np.frombuffer(result.tobytes(), dtype=f"S{length}")
    return out if texts.dtype.kind == "S" else out.astype(texts.dtype)


def _batch(
    key: bytes, tweak: bytes, values: U8 | NDArray[Any] | Sequence[str], *, decrypting: bool
) -> NDArray[Any]:
    if isinstance(values, np.ndarray) and values.ndim == 2:
        return _matrix(key, tweak, values.astype(np.uint8, copy=False), decrypting=decrypting)
    try:
        return _strings(key, tweak, values, decrypting=decrypting)
    except UnicodeEncodeError:
        raise ValueError("FF1 batch input holds a character that is not a decimal digit") from None


def encrypt_digits_batch(key: bytes, tweak: bytes, values: U8 | NDArray[Any] | Sequence[str]) -> NDArray[Any]:
    """FF1 radix-10 encryption of many values at once, equal to `encrypt` on each.

    `values` is a (rows, n) uint8 matrix of digit values 0..9 (returned as such), or a 1-D array or
    sequence of decimal digit strings, of equal or mixed lengths (returned as a 1-D string array).
    """
    return _batch(key, tweak, values, decrypting=False)


def decrypt_digits_batch(key: bytes, tweak: bytes, values: U8 | NDArray[Any] | Sequence[str]) -> NDArray[Any]:
    """The inverse of `encrypt_digits_batch`, with the same input and output forms."""
    return _batch(key, tweak, values, decrypting=True)
