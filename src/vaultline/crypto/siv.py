"""AES-SIV (RFC 5297) deterministic authenticated encryption, vectorized over many values.

`cryptography`'s `AESSIV` encrypts one value per call, which costs a Python round trip and a key
schedule per value. Here S2V (CMAC) and CTR run as batched AES-ECB calls on numpy arrays: values are
grouped by their number of 16-byte blocks, and each CMAC chaining step or CTR keystream of a group is
one `update()` over all of its rows. The output is byte-identical to
``AESSIV(key).encrypt(value, associated_data)``: the 16-byte synthetic IV followed by the ciphertext.

Values travel in a "ragged" form, a flat uint8 buffer plus int64 offsets (Arrow's layout), so a
dataframe column converts without a Python object per value. Associated data, when given, is the
same for every value (the token domain is already in the key, so Vaultline passes none).

Errors carry counts and sizes only, never a value or key bytes.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from vaultline.crypto.blocks import ecb
from vaultline.errors import TransformError

BLOCK = 16
U8 = NDArray[np.uint8]
I64 = NDArray[np.int64]
Ragged = tuple[U8, I64]
"""(data, offsets): value i is data[offsets[i]:offsets[i + 1]]; offsets has one more entry than values."""

_RB = 0x87


def _dbl(block: bytes) -> bytes:
    """RFC 5297 dbl(): multiply by x in GF(2^128) (shift left; xor 0x87 if a bit fell off)."""
    value = int.from_bytes(block, "big") << 1
    if value >> 128:
        value = (value & ((1 << 128) - 1)) ^ _RB
    return value.to_bytes(BLOCK, "big")


def _row(block: bytes) -> U8:
    return np.frombuffer(block, dtype=np.uint8)


class _Keys:
    """The two AES keys of SIV (K1 for S2V, K2 for CTR) and the constants S2V derives from K1."""

    def __init__(self, key: bytes, associated_data: Sequence[bytes]) -> None:
        if len(key) not in (32, 48, 64):
            raise ValueError(f"an AES-SIV key has 32, 48 or 64 bytes, not {len(key)}")
        half = len(key) // 2
        mac_key, ctr_key = key[:half], key[half:]
        # ECB is the raw AES block function that CMAC and CTR are built from here, not a mode of use.
        self.mac = Cipher(algorithms.AES(mac_key), modes.ECB()).encryptor()  # noqa: S305
        self.ctr = Cipher(algorithms.AES(ctr_key), modes.ECB()).encryptor()  # noqa: S305
        # CMAC subkeys (RFC 4493): L = AES(K1, 0^128), K1' = dbl(L), K2' = dbl(K1').
        sub_complete = _dbl(self.mac.update(bytes(BLOCK)))
        # S2V over the components that are the same for every value (RFC 5297 section 2.4).
        d = self._cmac(mac_key, bytes(BLOCK))
        for component in associated_data:
            d = bytes(a ^ b for a, b in zip(_dbl(d), self._cmac(mac_key, component), strict=True))
        self.one_block, self.last_two = _masks(d, sub_complete, _dbl(sub_complete))

    @staticmethod
    def _cmac(mac_key: bytes, message: bytes) -> bytes:
        mac = cmac.CMAC(algorithms.AES(mac_key))
        mac.update(message)
        return mac.finalize()


def _gather(padded: U8, starts: I64, lengths: I64, width: int) -> U8:
    """Rows of `width` bytes: value i left-aligned, zero-padded (a row copy per value, then a mask).

    `padded` is the data followed by at least `width` zero bytes, so every window is in bounds.
    """
    rows = sliding_window_view(padded, width)[starts]
    rows *= np.arange(width)[None, :] < lengths[:, None]
    return rows


def _assemble(lengths: I64, pieces: list[tuple[I64, U8]]) -> Ragged:
    """The ragged buffer whose value i is the first lengths[i] bytes of its row among `pieces`.

    Rows are placed into one zero-padded matrix and compressed with a mask, which costs two passes;
    when one long value would make that matrix much larger than the output, each group's bytes are
    scattered by index instead.
    """
    offsets = _offsets(lengths)
    if not pieces:
        return np.empty(0, dtype=np.uint8), offsets
    width = max(rows.shape[1] for _, rows in pieces)
    n = lengths.shape[0]
    if len(pieces) == 1 or n * width <= 4 * int(offsets[-1]) + (1 << 20):
        if len(pieces) == 1:
            matrix = pieces[0][1]
        else:
            matrix = np.zeros((n, width), dtype=np.uint8)
            for where, rows in pieces:
                matrix[where, : rows.shape[1]] = rows
        return matrix[np.arange(matrix.shape[1])[None, :] < lengths[:, None]], offsets
    out = np.empty(int(offsets[-1]), dtype=np.uint8)
    for where, rows in pieces:
        cols = np.arange(rows.shape[1], dtype=np.int64)
        inside = cols[None, :] < lengths[where][:, None]
        out[(offsets[where][:, None] + cols[None, :])[inside]] = rows[inside]
    return out, offsets


def _masks(d: bytes, sub_complete: bytes, sub_partial: bytes) -> tuple[U8, U8]:
    """What S2V and CMAC xor into T, as tables indexed by a value's length, built once per key.

    S2V's last step makes T from P and D, and CMAC then pads T's last block and xors a subkey into
    it. Past the value's end P is zero, so all of that is one xor with a mask that depends only on
    the length of P (RFC 5297 section 2.4, RFC 4493 section 2.4):

    - `one_block[n]` for P of n <= 16 bytes: T = dbl(D) xor pad(P) when n < 16 (pad = 0x80 at n),
      T = P xor D when n == 16; T is then one complete block, so CMAC xors K1'.
    - `last_two[o]` for P longer than 16 bytes, over its last two blocks, with o = n - 16*(blocks - 1)
      in 1..16: T = P xorend D (D over bytes o..o+15 of the window); CMAC xors K1' into the last
      block when it is complete (o == 16), else 0x80 at byte 16 + o and K2'.
    """
    row_d, row_dbl_d = _row(d), _row(_dbl(d))
    one_block = np.zeros((BLOCK + 1, BLOCK), dtype=np.uint8)
    for n in range(BLOCK):
        one_block[n] = row_dbl_d
        one_block[n, n] ^= 0x80
    one_block[BLOCK] = row_d
    one_block ^= _row(sub_complete)
    last_two = np.zeros((BLOCK + 1, 2 * BLOCK), dtype=np.uint8)
    for o in range(1, BLOCK + 1):
        last_two[o, o : o + BLOCK] = row_d
        if o == BLOCK:
            last_two[o, BLOCK:] ^= _row(sub_complete)
        else:
            last_two[o, BLOCK + o] ^= 0x80
            last_two[o, BLOCK:] ^= _row(sub_partial)
    return one_block, last_two


def _s2v(keys: _Keys, plain: U8, lengths: I64) -> U8:
    """V = S2V(K1, AD..., P) for rows of one block count; `plain` holds P zero-padded to that count.

    With the associated data folded into D (`_Keys`), this is CMAC(K1, T) for each row's T.
    """
    rows, width = plain.shape
    t = plain.copy()
    if width == BLOCK:
        t ^= keys.one_block[lengths]
    else:
        t[:, width - 2 * BLOCK :] ^= keys.last_two[lengths - (width - BLOCK)]
    chain = np.zeros((rows, BLOCK), dtype=np.uint8)
    for k in range(0, width, BLOCK):
        chain = ecb(keys.mac, chain ^ t[:, k : k + BLOCK])
    return chain


def _keystream(keys: _Keys, v: U8, n_blocks: int) -> U8:
    """AES-CTR keystream from Q = V with bits 63 and 31 cleared, n_blocks blocks per row."""
    q = v.copy()
    q[:, 8] &= 0x7F
    q[:, 12] &= 0x7F
    low = q[:, 8:].copy().view(">u8").astype(np.uint64)
    counters = np.empty((v.shape[0], n_blocks, BLOCK), dtype=np.uint8)
    counters[:, :, :8] = q[:, None, :8]
    # Clearing bit 63 means the low 64 bits cannot overflow for any realistic block count.
    steps = low + np.arange(n_blocks, dtype=np.uint64)[None, :]
    counters[:, :, 8:] = steps.astype(">u8")[:, :, None].view(np.uint8)
    return ecb(keys.ctr, counters.reshape(-1, BLOCK)).reshape(v.shape[0], n_blocks * BLOCK)


def _groups(lengths: I64) -> list[tuple[int, I64]]:
    """Rows by block count (an empty or short value counts as one block, as T does in S2V)."""
    n_blocks = np.maximum(-(-lengths // BLOCK), 1)
    return [(int(nb), np.flatnonzero(n_blocks == nb)) for nb in np.unique(n_blocks)]


def _pad(data: U8, width: int) -> U8:
    return np.concatenate([data, np.zeros(width, dtype=np.uint8)])


def _offsets(lengths: I64) -> I64:
    out = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def encrypt_ragged(key: bytes, values: Ragged, associated_data: Sequence[bytes] = ()) -> Ragged:
    """AES-SIV of every value of a ragged buffer: V || C per value, 16 bytes longer each."""
    data, offsets = values
    keys = _Keys(key, associated_data)
    lengths = np.diff(offsets).astype(np.int64)
    groups = _groups(lengths)
    padded = _pad(data, max((nb for nb, _ in groups), default=0) * BLOCK)
    pieces: list[tuple[I64, U8]] = []
    for nb, where in groups:
        plain = _gather(padded, offsets[where], lengths[where], nb * BLOCK)
        v = _s2v(keys, plain, lengths[where])
        plain ^= _keystream(keys, v, nb)
        pieces.append((where, np.concatenate([v, plain], axis=1)))
    return _assemble(lengths + BLOCK, pieces)


def decrypt_ragged(key: bytes, values: Ragged, associated_data: Sequence[bytes] = ()) -> Ragged:
    """The inverse of `encrypt_ragged`; raises TransformError if any value fails authentication."""
    data, offsets = values
    keys = _Keys(key, associated_data)
    lengths = np.diff(offsets).astype(np.int64) - BLOCK
    if (lengths < 0).any():
        raise TransformError(
            f"{int((lengths < 0).sum())} value(s) are shorter than an AES-SIV ciphertext (16 bytes)",
            hint="the column does not hold encrypt_deterministic output",
        )
    groups = _groups(lengths)
    padded = _pad(data, max((nb for nb, _ in groups), default=0) * BLOCK + BLOCK)
    pieces: list[tuple[I64, U8]] = []
    failed = 0
    for nb, where in groups:
        width = nb * BLOCK
        rows = _gather(padded, offsets[where], lengths[where] + BLOCK, BLOCK + width)
        v = np.ascontiguousarray(rows[:, :BLOCK])
        plain = rows[:, BLOCK:] ^ _keystream(keys, v, nb)
        # S2V pads with zeros past each value's end, as in encryption.
        plain *= np.arange(width)[None, :] < lengths[where][:, None]
        expected = _s2v(keys, plain, lengths[where])
        if not hmac.compare_digest(expected.tobytes(), v.tobytes()):
            failed += int((expected != v).any(axis=1).sum())
        pieces.append((where, plain))
    if failed:
        raise TransformError(
            f"{failed} value(s) failed AES-SIV authentication",
            hint="the key or token domain is not the one that encrypted them, or the ciphertext was altered",
        )
    return _assemble(lengths, pieces)


def to_ragged(values: Sequence[bytes]) -> Ragged:
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    return np.frombuffer(b"".join(values), dtype=np.uint8), _offsets(lengths)


def from_ragged(values: Ragged) -> list[bytes]:
    data, offsets = values
    flat = data.tobytes()
    bounds = offsets.tolist()
    return [flat[a:b] for a, b in pairwise(bounds)]


def encrypt_batch(key: bytes, values: Sequence[bytes], associated_data: Sequence[bytes] = ()) -> list[bytes]:
    """``[AESSIV(key).encrypt(v, associated_data or None) for v in values]``, computed in batches."""
    return from_ragged(encrypt_ragged(key, to_ragged(values), associated_data))


def decrypt_batch(key: bytes, values: Sequence[bytes], associated_data: Sequence[bytes] = ()) -> list[bytes]:
    """The plaintexts of `encrypt_batch` output; a TransformError (a count only) if any is not authentic."""
    return from_ragged(decrypt_ragged(key, to_ragged(values), associated_data))
