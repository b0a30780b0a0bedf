"""AES-SIV: the vectorized kernel is byte-identical to cryptography's AESSIV, and authenticates."""

from __future__ import annotations

import random

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

from vaultline.crypto import siv
from vaultline.errors import TransformError

# RFC 5297 appendix A.1 (deterministic authenticated encryption, one associated-data component).
RFC_KEY = bytes.fromhex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
RFC_AD = bytes.fromhex("101112131415161718191a1b1c1d1e1f2021222324252627")
RFC_PLAIN = bytes.fromhex("112233445566778899aabbccddee")
RFC_OUTPUT = bytes.fromhex("85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c")


def random_values(seed: int, count: int, max_length: int = 100) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, max_length + 1)) for _ in range(count)]


def key_of(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def test_rfc5297_a1() -> None:
    assert siv.encrypt_batch(RFC_KEY, [RFC_PLAIN], [RFC_AD]) == [RFC_OUTPUT]
    assert siv.decrypt_batch(RFC_KEY, [RFC_OUTPUT], [RFC_AD]) == [RFC_PLAIN]


@pytest.mark.parametrize("size", [32, 48, 64], ids=["aes128", "aes192", "aes256"])
def test_equals_cryptography_aessiv_on_random_values(size: int) -> None:
    key = key_of(size, size)
    values = random_values(size, 3000)
    reference = AESSIV(key)
    encrypted = siv.encrypt_batch(key, values)
    assert encrypted == [reference.encrypt(v, None) for v in values]
    assert siv.decrypt_batch(key, encrypted) == values


def test_every_length_from_0_to_100_and_shared_associated_data() -> None:
    key = key_of(64, 1)
    values = [bytes(range(n)) for n in range(101)]
    reference = AESSIV(key)
    assert siv.encrypt_batch(key, values) == [reference.encrypt(v, None) for v in values]
    ad = [b"first", key_of(40, 2), b""]
    encrypted = siv.encrypt_batch(key, values, ad)
    assert encrypted == [reference.encrypt(v, ad) for v in values]
    assert siv.decrypt_batch(key, encrypted, ad) == values


def test_a_long_outlier_takes_the_scatter_path_and_still_matches() -> None:
    key = key_of(64, 3)
    values = [*random_values(4, 100, 20), bytes(range(256)) * 40, *random_values(5, 100, 20)]
    reference = AESSIV(key)
    encrypted = siv.encrypt_batch(key, values)
    assert encrypted == [reference.encrypt(v, None) for v in values]
    assert siv.decrypt_batch(key, encrypted) == values


def test_ragged_form_and_empty_batch() -> None:
    key = key_of(64, 6)
    data, offsets = siv.encrypt_ragged(key, siv.to_ragged([b"a", b"", b"bc"]))
    assert offsets.tolist() == [0, 17, 33, 51] and data.dtype == np.uint8
    assert siv.encrypt_batch(key, []) == [] and siv.decrypt_batch(key, []) == []


def test_deterministic_and_key_dependent() -> None:
    values = [b"123-45-6789", b"123-45-6789", b"other"]
    first = siv.encrypt_batch(key_of(64, 7), values)
    assert first[0] == first[1] != first[2]
    assert siv.encrypt_batch(key_of(64, 7), values) == first
    assert siv.encrypt_batch(key_of(64, 8), values)[0] != first[0]


def test_tampering_anywhere_is_detected_without_showing_the_value() -> None:
    key = key_of(64, 9)
    secret = b"patient 0042 secret"
    (cipher,) = siv.encrypt_batch(key, [secret])
    for position in range(len(cipher)):
        altered = bytearray(cipher)
        altered[position] ^= 0x01
        with pytest.raises(TransformError, match="1 value\\(s\\) failed AES-SIV authentication") as caught:
            siv.decrypt_batch(key, [cipher, bytes(altered)])
        assert secret.decode() not in str(caught.value)
        assert cipher.hex() not in str(caught.value)


def test_wrong_key_truncation_and_wrong_associated_data_fail() -> None:
    key = key_of(64, 10)
    encrypted = siv.encrypt_batch(key, random_values(11, 50))
    with pytest.raises(TransformError, match="50 value\\(s\\) failed"):
        siv.decrypt_batch(key_of(64, 12), encrypted)
    with pytest.raises(TransformError, match="shorter than an AES-SIV ciphertext"):
        siv.decrypt_batch(key, [encrypted[0][:15]])
    with pytest.raises(TransformError, match="failed AES-SIV authentication"):
        siv.decrypt_batch(key, encrypted[:1], [b"not the domain"])


def test_bad_key_size() -> None:
    with pytest.raises(ValueError, match="32, 48 or 64 bytes"):
        siv.encrypt_batch(bytes(16), [b"x"])
