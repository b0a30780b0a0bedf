"""tokenize: HMAC-SHA256 tokens equal the pure-Python reference, per domain, with the documented format."""

from __future__ import annotations

import datetime as dt
import decimal
import random
import string
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stubs import FIXED_KEY, StubContext
from vaultline.crypto.tokens import TokenKey, token
from vaultline.engines.polars import tokenize
from vaultline.engines.polars.base import StepResult
from vaultline.errors import TransformError
from vaultline.keys.local import LocalKeyring
from vaultline.run.context import RunContext
from vaultline.transforms.tokenize import Params


def run(frame: pl.DataFrame, ctx: Any, **params: Any) -> StepResult:
    return tokenize.apply(frame.lazy(), Params(**params), ctx)


def tokens_of(
    values: list[str | None], ctx: Any, domain: str = "customer", **params: Any
) -> list[str | None]:
    result = run(
        pl.DataFrame({"v": values}, schema={"v": pl.String}), ctx, columns=["v"], domain=domain, **params
    )
    return result.frame.collect()["v"].to_list()


def test_golden_tokens_for_a_fixed_key() -> None:
    ctx = StubContext()
    frame = pl.DataFrame({"id": ["alice", "bob", "", "zoë 😀", None], "n": [42, -7, None, 42, 0]})
    result = run(frame, ctx, columns=["id", "n"], domain="customer")
    expected = pl.DataFrame(
        {
            "id": [
                "029fd753cc22b555e9b5929546ce568e9c7a3b98bea67d4ea1cfec518090236f",
                "2548750fa18fa81e1ee511f17b22209d46a03526a04bd8bf2c417e2f25676d4a",
                "a859f0192d6c039c1c206d41900e12e5e485186503d78d2bd9908698ffc0a475",
                "a5cdf3f2f22b9c231bdeea267f096d3fac376e28a97f2a408708d07d56e5213e",
                None,
            ],
            "n": [
                "244678d73a50cdfc1e4f2e57795f553c16b09cdb8dc7bde8a3f5407fcffe2ebd",
                "c16787ad8279724ff601faa0a8715893b6dd7386fc51df2a6a3a6b9ac55bc3b1",
                None,
                "244678d73a50cdfc1e4f2e57795f553c16b09cdb8dc7bde8a3f5407fcffe2ebd",
                token(FIXED_KEY, "0"),
            ],
        }
    )
    assert_frame_equal(result.frame.collect(), expected)
    assert ctx.asked == [("customer", "tokenize")]


def test_golden_truncation_and_prefix() -> None:
    out = tokens_of(["alice", None, ""], StubContext(), length=16, prefix="cus_")
    assert out == ["cus_029fd753cc22b555", None, "cus_a859f0192d6c039c"]


def test_reference_matches_the_documented_construction() -> None:
    import hashlib
    import hmac

    expected = hmac.new(FIXED_KEY.hex().encode("ascii"), "zoë".encode(), hashlib.sha256).hexdigest()
    assert token(FIXED_KEY, "zoë") == expected
    assert token(FIXED_KEY, "zoë", length=20, prefix="p_") == "p_" + expected[:20]
    assert TokenKey(FIXED_KEY).tokens(["zoë", None]) == [expected, None]
    with pytest.raises(ValueError, match="32 bytes"):
        token(b"short", "x")
    with pytest.raises(ValueError, match="length"):
        token(FIXED_KEY, "x", length=65)
    assert "00010203" not in repr(TokenKey(FIXED_KEY))


def test_tokens_equal_the_reference_on_random_values(ctx: RunContext) -> None:
    rng = random.Random(20240601)
    alphabet = string.printable + "éßøü中文😀\u200b"
    values = ["".join(rng.choices(alphabet, k=rng.randint(0, 80))) for _ in range(300)]
    key = ctx.domain_key("customer", "tokenize").reveal()
    for length, prefix in [(64, ""), (16, "c_"), (33, "tok:")]:
        reference = TokenKey(key).tokens(values, length=length, prefix=prefix)
        assert tokens_of(values, ctx, length=length, prefix=prefix) == reference


def test_same_value_same_domain_is_stable_across_contexts(keyring: LocalKeyring) -> None:
    values = ["alice", "bob", "alice"]

    def fresh() -> RunContext:
        # A second load of the keyring from disk, as a later run would do.
        return RunContext(
            provider=LocalKeyring(keyring.state_dir, warn=False), domains={"customer": "customer_key"}
        )

    first, second = tokens_of(values, fresh()), tokens_of(values, fresh())
    assert first == second
    assert first[0] == first[2] != first[1]


def test_domains_are_unlinkable(ctx: RunContext) -> None:
    values = ["alice", "bob"]
    customer = tokens_of(values, ctx, domain="customer")
    assert tokens_of(values, ctx, domain="other") != customer
    # customer2 uses the very same keyring key: only the HKDF context (which names the domain) differs.
    customer2 = tokens_of(values, ctx, domain="customer2")
    assert all(a != b for a, b in zip(customer, customer2, strict=True))


def test_facts_name_columns_domain_and_key_version_only(ctx: RunContext) -> None:
    frame = pl.DataFrame({"id": ["alice"], "other": [1]})
    result = run(frame, ctx, columns=["id"], domain="customer", length=32)
    assert result.facts == {
        "columns": ["id"],
        "algorithm": "HMAC-SHA256",
        "domain": "customer",
        "length": 32,
        "key_version": 1,
    }
    text = repr(result.facts)
    assert "alice" not in text
    assert ctx.domain_key("customer", "tokenize").reveal().hex() not in text
    assert result.frame.collect()["other"].to_list() == [1]


def test_canonical_text_of_non_string_columns() -> None:
    frame = pl.DataFrame(
        {
            "i": pl.Series([-5, 0, 123], dtype=pl.Int16),
            "u": pl.Series([7, 0, 1], dtype=pl.UInt64),
            "b": [True, False, None],
            "d": [dt.date(2024, 1, 2), dt.date(1999, 12, 31), None],
            "dec": pl.Series(
                [decimal.Decimal("1.50"), decimal.Decimal("-2.00"), None], dtype=pl.Decimal(10, 2)
            ),
            "c": pl.Series(["x", "y", None], dtype=pl.Categorical),
            "e": pl.Series(["lo", "hi", "lo"], dtype=pl.Enum(["lo", "hi"])),
            "z": [None, None, None],
        }
    )
    texts = {
        "i": ["-5", "0", "123"],
        "u": ["7", "0", "1"],
        "b": ["true", "false", None],
        "d": ["2024-01-02", "1999-12-31", None],
        "dec": ["1.50", "-2.00", None],
        "c": ["x", "y", None],
        "e": ["lo", "hi", "lo"],
        "z": [None, None, None],
    }
    out = run(frame, StubContext(), columns=list(texts), domain="customer").frame.collect()
    reference = TokenKey(FIXED_KEY)
    expected = pl.DataFrame(
        {c: reference.tokens(v) for c, v in texts.items()}, schema=dict.fromkeys(texts, pl.String)
    )
    assert_frame_equal(out, expected)


@pytest.mark.parametrize(
    "series",
    [
        pl.Series("v", [1.5]),
        pl.Series("v", [dt.datetime(2024, 1, 2, 3, 4)]),
        pl.Series("v", [b"\x00"]),
        pl.Series("v", [[1, 2]]),
    ],
)
def test_types_without_canonical_text_are_refused(series: pl.Series) -> None:
    with pytest.raises(TransformError, match=r"(?s)step 0 \(tokenize\).*'v'.*clean") as info:
        run(series.to_frame(), StubContext(), columns=["v"], domain="customer")
    assert "1.5" not in str(info.value)


def test_missing_column_lists_available_ones() -> None:
    frame = pl.DataFrame({"id": ["alice"], "email": ["a@b.c"]})
    with pytest.raises(TransformError, match=r"'nope'.*\n.*available columns: id, email") as info:
        run(frame, StubContext(), columns=["nope"], domain="customer")
    assert "alice" not in str(info.value)


def test_empty_frame() -> None:
    empty = pl.DataFrame({"v": []}, schema={"v": pl.String})
    out = run(empty, StubContext(), columns=["v"], domain="customer").frame.collect()
    assert_frame_equal(out, empty)
