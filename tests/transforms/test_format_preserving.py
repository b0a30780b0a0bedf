"""format_preserving: FF1 over the digits of each value, format kept, short values quarantined."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stubs import FIXED_KEY, StubContext
from vaultline.crypto import ff1
from vaultline.engines.polars import format_preserving
from vaultline.engines.polars.base import REASON, StepResult
from vaultline.errors import TransformError
from vaultline.keys.secret import SecretBytes
from vaultline.run.context import RunContext
from vaultline.transforms.format_preserving import MAX_ENCRYPTED_DIGITS, MIN_ENCRYPTED_DIGITS, Params

DIGITS = set("0123456789")


def run(frame: pl.DataFrame, ctx: Any, **params: Any) -> StepResult:
    return format_preserving.apply(frame.lazy(), Params(**params), ctx)


def protect(values: list[str | None], ctx: Any, domain: str = "account", **params: Any) -> list[str | None]:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    return run(frame, ctx, columns=["v"], domain=domain, **params).frame.collect()["v"].to_list()


def reference(value: str, key: bytes, tweak: bytes, prefix: int = 0, suffix: int = 0) -> str:
    """The documented construction, one value at a time, on the scalar FF1 reference."""
    positions = [i for i, c in enumerate(value) if c in DIGITS]
    middle = positions[prefix : len(positions) - suffix]
    encrypted = ff1.encrypt(key, tweak, "".join(value[i] for i in middle))
    chars = list(value)
    for i, c in zip(middle, encrypted, strict=True):
        chars[i] = c
    return "".join(chars)


def test_golden_output_for_a_fixed_key() -> None:
    ctx = StubContext()
    frame = pl.DataFrame(
        {
            "card": ["4111-1111-1111-1111", "5500 0000 0000 0004", None, "4111111111111111"],
            "account": ["123456", "ab-000000-cd", "98765432101234567890", None],
            "n": [1234567, None, -42424242, 900000000000000001],
        }
    )
    result = run(frame, ctx, columns=["account", "n"], domain="account")
    expected = pl.DataFrame(
        {
            "card": ["4111-1111-1111-1111", "5500 0000 0000 0004", None, "4111111111111111"],
            "account": ["668949", "ab-872482-cd", "07500234723959461769", None],
            "n": ["2635763", None, "-61929334", "164322549009182584"],
        }
    )
    assert_frame_equal(result.frame.collect(), expected)
    assert_frame_equal(result.frame.collect(engine="streaming"), expected)
    assert ctx.asked == [("account", "fpe")]

    cards = run(frame, ctx, columns=["card"], domain="account", preserve_prefix=4, preserve_suffix=4)
    assert cards.frame.collect()["card"].to_list() == [
        "4111-0887-1727-1111",
        "5500 0295 9029 0004",
        None,
        "4111088717271111",
    ]


def test_equals_the_scalar_reference_on_random_values() -> None:
    rng = np.random.default_rng(5)
    values = []
    for _ in range(400):
        digits = "".join(str(d) for d in rng.integers(0, 10, size=int(rng.integers(10, 25))))
        cut = sorted(int(x) for x in rng.integers(0, len(digits), size=2))
        values.append(f"{digits[: cut[0]]}-{digits[cut[0] : cut[1]]} é{digits[cut[1] :]}")
    tweak = b"account"
    out = protect(values, StubContext(), preserve_prefix=2, preserve_suffix=1)
    assert out == [reference(v, FIXED_KEY, tweak, 2, 1) for v in values]


def test_format_is_preserved(ctx: RunContext) -> None:
    values = ["4111-1111-1111-1111", "(555) 010-9999 ext. 12", "AB12 3456 7890 12 CD", "🙂 123456789012 🙂"]
    out = protect(values, ctx, preserve_prefix=4, preserve_suffix=2)
    for before, after in zip(values, out, strict=True):
        assert after is not None and len(after) == len(before) and after != before
        assert [c for c in after if c not in DIGITS] == [c for c in before if c not in DIGITS]
        assert [i for i, c in enumerate(after) if c in DIGITS] == [
            i for i, c in enumerate(before) if c in DIGITS
        ]
        clear_before = [c for c in before if c in DIGITS]
        clear_after = [c for c in after if c in DIGITS]
        assert clear_after[:4] == clear_before[:4] and clear_after[-2:] == clear_before[-2:]


def test_domains_are_unlinkable_and_a_domain_is_deterministic(ctx: RunContext) -> None:
    values = ["123456789012", "123456789012", "987654321098"]
    account = protect(values, ctx, domain="account")
    assert account[0] == account[1] != account[2]
    assert protect(values, ctx, domain="account") == account
    assert protect(values, ctx, domain="customer")[0] != account[0]
    # customer2 shares customer's keyring key: its own derived key and tweak still separate it.
    assert protect(values, ctx, domain="customer2")[0] != protect(values, ctx, domain="customer")[0]


def test_too_short_values_are_quarantined_with_the_reason(ctx: RunContext) -> None:
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "acct": ["12-34-56-7", "12345", "no digits", None, "1234567890"],
            "phone": ["5550100", "5550101", "5550102", "5550103", "555"],
        }
    )
    result = run(frame, ctx, columns=["acct", "phone"], domain="account", preserve_prefix=1)
    kept = result.frame.collect()
    assert result.quarantine is not None
    rejected = result.quarantine.collect().sort("id")
    assert kept["id"].to_list() == [1, 4]
    assert rejected["id"].to_list() == [2, 3, 5]
    assert rejected[REASON].to_list() == ["fpe_too_short:acct", "fpe_too_short:acct", "fpe_too_short:phone"]
    assert rejected.columns == [*frame.columns, REASON]
    # Quarantined rows keep their input values and types for review; kept rows are protected.
    assert rejected["acct"].to_list() == ["12345", "no digits", "1234567890"]
    assert kept["acct"].to_list()[1] is None and kept["acct"].to_list()[0] != "12-34-56-7"
    assert kept["acct"].to_list()[0][0] == "1" and kept["acct"].to_list()[0][2::3] == "---"
    assert MIN_ENCRYPTED_DIGITS == 6


def test_too_long_values_are_quarantined_rather_than_stall_the_run(ctx: RunContext) -> None:
    # FF1's work grows with the square of the length: 20,000 digits took 47 s, 100,000 over 10 minutes.
    longest = "9" * (MAX_ENCRYPTED_DIGITS + 2)  # the two kept in the clear do not count
    frame = pl.DataFrame({"id": [1, 2, 3], "acct": [longest, longest + "9", "1" * 100_000]})
    result = run(frame, ctx, columns=["acct"], domain="account", preserve_prefix=1, preserve_suffix=1)
    assert result.frame.collect()["id"].to_list() == [1]
    assert result.quarantine is not None
    assert result.quarantine.collect()[REASON].to_list() == ["fpe_too_long:acct"] * 2
    assert result.facts["max_encrypted_digits"] == MAX_ENCRYPTED_DIGITS == 256


def test_digits_of_other_scripts_are_quarantined_not_left_in_the_clear(ctx: RunContext) -> None:
    # FF1 runs over 0-9: a fullwidth or Arabic-Indic digit would have passed through unencrypted
    frame = pl.DataFrame(
        {"id": [1, 2, 3], "acct": ["\uff11\uff123456789\uff10", "\u0661" * 10, "1234567890"]}
    )
    result = run(frame, ctx, columns=["acct"], domain="account")
    assert result.frame.collect()["id"].to_list() == [3]
    assert result.quarantine is not None
    assert result.quarantine.collect()[REASON].to_list() == ["fpe_other_digits:acct"] * 2


def test_nulls_stay_null(ctx: RunContext) -> None:
    assert protect([None, "1234567", None], ctx)[::2] == [None, None]
    all_null = pl.DataFrame({"v": [None, None]}, schema={"v": pl.String})
    out = run(all_null, ctx, columns=["v"], domain="account").frame.collect()
    assert out["v"].to_list() == [None, None] and out.schema["v"] == pl.String


def test_round_trip(ctx: RunContext) -> None:
    params = Params(columns=["card", "n"], domain="account", preserve_prefix=6, preserve_suffix=4)
    frame = pl.DataFrame(
        {
            "card": ["4111-1111-1111-1111", None, "5500 0000 0000 0004 999", "0000000000000000"],
            "n": [1234567890123456, 987654321098765432, None, -1000000000000000],
        }
    )
    protected = format_preserving.apply(frame.lazy(), params, ctx).frame
    back = protected.select(
        format_preserving.decrypt_column("card", params, ctx),
        format_preserving.decrypt_column("n", params, ctx),
    ).collect()
    assert back["card"].to_list() == frame["card"].to_list()
    assert back["n"].to_list() == [None if v is None else str(v) for v in frame["n"].to_list()]


def test_unsupported_type_and_missing_column(ctx: RunContext) -> None:
    with pytest.raises(TransformError, match="type Float64"):
        run(pl.DataFrame({"x": [1.5]}), ctx, columns=["x"], domain="account")
    with pytest.raises(TransformError, match="not in the flow"):
        run(pl.DataFrame({"x": ["1234567"]}), ctx, columns=["y"], domain="account")


def test_kernel_refuses_values_that_skipped_quarantine() -> None:
    data = np.frombuffer(b"123", dtype=np.uint8)
    with pytest.raises(TransformError, match="fewer than 6 or more than 256 digits"):
        format_preserving.protect_digits(FIXED_KEY, b"t", data, np.array([0, 3]), prefix=0, suffix=0)


def test_facts_and_plan_hold_no_values_or_keys(ctx: RunContext) -> None:
    secret = "4111111111111111"
    result = run(pl.DataFrame({"v": [secret]}), ctx, columns=["v"], domain="account")
    assert result.facts["columns"] == ["v"]
    assert result.facts["algorithm"] == "FF1-AES256"
    assert result.facts["domain"] == "account"
    assert result.facts["key_version"] == 1
    key = ctx.domain_key("account", "fpe").reveal()
    for text in (repr(result.facts), result.frame.explain()):
        assert secret not in text and key.hex() not in text
    kernel = format_preserving.FF1Kernel(SecretBytes(key), b"account", 0, 0, decrypting=False)
    assert key.hex() not in repr(kernel)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(kernel)


def test_arrow_buffers_of_sliced_and_chunked_series() -> None:
    series = pl.Series("x", ["aa", "b", "ccc", "dddd", "é"])
    data, offsets = format_preserving.ragged(series.slice(2, 2))
    assert data.tobytes() == b"cccdddd" and offsets.tolist() == [0, 3, 7]
    chunked = pl.concat([series, series.slice(1, 2)], rechunk=False)
    data, offsets = format_preserving.ragged(chunked)
    assert format_preserving.from_ragged("y", data, offsets, pl.String).to_list() == chunked.to_list()
    binary = pl.Series("b", [b"\x00\x01", b"", b"zz"], dtype=pl.Binary)
    data, offsets = format_preserving.ragged(binary.slice(1, 2))
    assert data.tobytes() == b"zz" and offsets.tolist() == [0, 0, 2]
    with pytest.raises(TransformError, match="not valid UTF-8"):
        format_preserving.from_ragged(
            "z", np.frombuffer(b"\xff", dtype=np.uint8), np.array([0, 1]), pl.String
        )
