"""FF1: NIST's published samples, and the vectorized radix-10 kernel equal to the scalar reference."""

from __future__ import annotations

import numpy as np
import pytest

from vaultline.crypto import ff1

KEY_128 = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")
KEY_192 = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F")
KEY_256 = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94")
TWEAK_10 = bytes.fromhex("39383736353433323130")
TWEAK_11 = bytes.fromhex("3737373770717273373737")

# NIST SP 800-38G FF1 examples (FF1samples.pdf), samples 1 to 9.
NIST_SAMPLES = [
    (KEY_128, b"", 10, "0123456789", "2433477484"),
    (KEY_128, TWEAK_10, 10, "0123456789", "6124200773"),
    (KEY_128, TWEAK_11, 36, "0123456789abcdefghi", "a9tv40mll9kdu509eum"),
    (KEY_192, b"", 10, "0123456789", "2830668132"),
    (KEY_192, TWEAK_10, 10, "0123456789", "2496655549"),
    (KEY_192, TWEAK_11, 36, "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"),
    (KEY_256, b"", 10, "0123456789", "6657667009"),
    (KEY_256, TWEAK_10, 10, "0123456789", "1001623463"),
    (KEY_256, TWEAK_11, 36, "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"),
]
SAMPLE_IDS = [f"sample-{i}" for i in range(1, 10)]
RADIX_10_SAMPLES = [s for s in NIST_SAMPLES if s[2] == 10]
RADIX_10_IDS = [i for s, i in zip(NIST_SAMPLES, SAMPLE_IDS, strict=True) if s[2] == 10]

TEST_KEY = bytes(range(32))
# Tweaks that exercise the three shapes of Q: no tweak, a short one, and one spanning whole
# constant blocks before the varying NUM(B) bytes.
TWEAKS = [b"", b"account", bytes(range(40))]
# Lengths across the kernel's shapes: one-limb halves, b = 8 (d = 12), two limbs, b > 12 (d > 16)
# and b > 16 (NUM(B) over two blocks of Q).
LENGTHS = [6, 7, 10, 16, 19, 28, 37, 40, 64]


def random_digits(rng: np.random.Generator, count: int, length: int) -> list[str]:
    matrix = rng.integers(0, 10, size=(count, length), dtype=np.uint8) + np.uint8(48)
    return [row.tobytes().decode("ascii") for row in matrix]


@pytest.mark.parametrize(("key", "tweak", "radix", "plain", "cipher"), NIST_SAMPLES, ids=SAMPLE_IDS)
def test_scalar_matches_nist_samples(key: bytes, tweak: bytes, radix: int, plain: str, cipher: str) -> None:
    assert ff1.encrypt(key, tweak, plain, radix) == cipher
    assert ff1.decrypt(key, tweak, cipher, radix) == plain


@pytest.mark.parametrize(("key", "tweak", "radix", "plain", "cipher"), RADIX_10_SAMPLES, ids=RADIX_10_IDS)
def test_batch_matches_nist_samples(key: bytes, tweak: bytes, radix: int, plain: str, cipher: str) -> None:
    assert list(ff1.encrypt_digits_batch(key, tweak, [plain, plain])) == [cipher, cipher]
    assert list(ff1.decrypt_digits_batch(key, tweak, np.array([cipher]))) == [plain]
    matrix = np.frombuffer(plain.encode(), dtype=np.uint8).reshape(1, -1) - np.uint8(48)
    expected = np.frombuffer(cipher.encode(), dtype=np.uint8).reshape(1, -1) - np.uint8(48)
    np.testing.assert_array_equal(ff1.encrypt_digits_batch(key, tweak, matrix), expected)


@pytest.mark.parametrize("tweak", TWEAKS, ids=["no-tweak", "short-tweak", "long-tweak"])
def test_batch_equals_scalar_on_random_values(tweak: bytes) -> None:
    rng = np.random.default_rng(20260101)
    for length in LENGTHS:
        values = random_digits(rng, 120, length)
        encrypted = ff1.encrypt_digits_batch(TEST_KEY, tweak, values)
        assert list(encrypted) == [ff1.encrypt(TEST_KEY, tweak, v) for v in values], length
        assert list(ff1.decrypt_digits_batch(TEST_KEY, tweak, encrypted)) == values, length


def test_batch_equals_scalar_for_every_key_size() -> None:
    rng = np.random.default_rng(7)
    values = random_digits(rng, 300, 16)
    for key in (KEY_128, KEY_192, KEY_256):
        assert list(ff1.encrypt_digits_batch(key, b"t", values)) == [
            ff1.encrypt(key, b"t", v) for v in values
        ]


def test_batch_handles_mixed_lengths_in_order() -> None:
    rng = np.random.default_rng(11)
    values = [v for length in (6, 19, 9, 30) for v in random_digits(rng, 50, length)]
    order = rng.permutation(len(values))
    mixed = [values[i] for i in order]
    encrypted = ff1.encrypt_digits_batch(TEST_KEY, b"mixed", mixed)
    assert [len(v) for v in encrypted] == [len(v) for v in mixed]
    assert list(encrypted) == [ff1.encrypt(TEST_KEY, b"mixed", v) for v in mixed]
    assert list(ff1.decrypt_digits_batch(TEST_KEY, b"mixed", encrypted)) == mixed


def test_matrix_in_matrix_out_and_bytes_in_bytes_out() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.integers(0, 10, size=(64, 12), dtype=np.uint8)
    encrypted = ff1.encrypt_digits_batch(TEST_KEY, b"", matrix)
    assert encrypted.shape == matrix.shape and encrypted.dtype == np.uint8 and int(encrypted.max()) <= 9
    np.testing.assert_array_equal(ff1.decrypt_digits_batch(TEST_KEY, b"", encrypted), matrix)
    as_bytes = np.array([b"000000", b"999999"])
    out = ff1.encrypt_digits_batch(TEST_KEY, b"", as_bytes)
    assert out.dtype.kind == "S"
    assert [v.decode() for v in out] == [
        ff1.encrypt(TEST_KEY, b"", "000000"),
        ff1.encrypt(TEST_KEY, b"", "999999"),
    ]


def test_empty_batch() -> None:
    assert ff1.encrypt_digits_batch(TEST_KEY, b"", np.empty((0, 8), dtype=np.uint8)).shape == (0, 8)
    assert len(ff1.encrypt_digits_batch(TEST_KEY, b"", np.array([], dtype="U8"))) == 0


def test_leading_zeros_and_determinism() -> None:
    first = ff1.encrypt(TEST_KEY, b"x", "0000001234")
    assert len(first) == 10 and first.isdigit()
    assert ff1.encrypt(TEST_KEY, b"x", "0000001234") == first
    assert ff1.encrypt(TEST_KEY, b"y", "0000001234") != first
    assert ff1.decrypt(TEST_KEY, b"x", first) == "0000001234"


@pytest.mark.parametrize("radix", [2, 8, 16, 26, 36])
def test_scalar_round_trips_other_radixes(radix: int) -> None:
    rng = np.random.default_rng(radix)
    length = 24 if radix == 2 else 12
    for _ in range(20):
        plain = "".join(ff1.ALPHABET[int(k)] for k in rng.integers(0, radix, size=length))
        cipher = ff1.encrypt(KEY_256, TWEAK_11, plain, radix)
        assert len(cipher) == length and all(ff1.ALPHABET.index(c) < radix for c in cipher)
        assert ff1.decrypt(KEY_256, TWEAK_11, cipher, radix) == plain


def test_refuses_inputs_outside_the_domain_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="outside the domain") as short:
        ff1.encrypt(TEST_KEY, b"", "98765")
    assert "98765" not in str(short.value)
    with pytest.raises(ValueError, match="outside the domain"):
        ff1.encrypt_digits_batch(TEST_KEY, b"", ["98765"])
    with pytest.raises(ValueError, match="not a radix-10 numeral") as letter:
        ff1.encrypt(TEST_KEY, b"", "12345a789")
    assert "12345a789" not in str(letter.value)
    with pytest.raises(ValueError, match="not a decimal digit") as batch:
        ff1.encrypt_digits_batch(TEST_KEY, b"", ["1234-56789"])
    assert "1234-56789" not in str(batch.value)
    with pytest.raises(ValueError, match="not a decimal digit"):
        ff1.encrypt_digits_batch(TEST_KEY, b"", ["12345678٣"])
    with pytest.raises(ValueError, match="16, 24 or 32 bytes"):
        ff1.encrypt(bytes(20), b"", "123456")
    with pytest.raises(ValueError, match="radix"):
        ff1.encrypt(TEST_KEY, b"", "123456", radix=37)


@pytest.mark.parametrize("m", [3, 4, 6, 9])
def test_short_kernel_reduces_every_64_bit_y_exactly(m: int) -> None:
    """`mix` reduces y without a 64-bit division (see _ff1_short): check it at the edges of 64 bits
    and next to multiples of the modulus, where a floating-point quotient is most often off."""
    from vaultline.crypto import _ff1_short

    modulus = 10**m
    top = (2**64 - 1) // modulus * modulus
    rng = np.random.default_rng(m)
    ys = [0, 1, modulus - 1, modulus, modulus + 1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 2, 2**64 - 1]
    ys += [top - 1, top, top + 1, top - modulus, top - modulus + 1]
    ys += [int(y) for y in rng.integers(0, 2**64 - 1, size=2000, dtype=np.uint64, endpoint=True)]
    encrypted = np.zeros((len(ys), 2), dtype=np.uint64)
    encrypted[:, 0] = [int.from_bytes(y.to_bytes(8, "big"), "little") for y in ys]  # R's first 8 bytes
    half = rng.integers(0, modulus, size=len(ys)).astype(np.uint64)
    for subtract in (False, True):
        out = np.empty_like(half)
        _ff1_short.mix(encrypted, half, np.uint64(modulus), out, subtract)
        sign = -1 if subtract else 1
        expected = [(int(h) + sign * (y % modulus)) % modulus for h, y in zip(half, ys, strict=True)]
        assert [int(v) for v in out] == expected
