"""encrypt_deterministic: AES-SIV equal to cryptography's AESSIV, URL-safe text, reversible per domain."""

from __future__ import annotations

import base64
import datetime as dt
import pickle
import string
from typing import Any

import polars as pl
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from polars.testing import assert_frame_equal

from stubs import StubContext
from vaultline.engines.polars import encrypt_deterministic
from vaultline.engines.polars.base import StepResult
from vaultline.errors import TransformError
from vaultline.keys.secret import SecretBytes
from vaultline.run.context import RunContext
from vaultline.transforms.encrypt_deterministic import Params


def run(frame: pl.DataFrame, ctx: Any, **params: Any) -> StepResult:
    return encrypt_deterministic.apply(frame.lazy(), Params(**params), ctx)


def encrypt(values: list[str | None], ctx: Any, domain: str = "patient") -> list[str | None]:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    return run(frame, ctx, columns=["v"], domain=domain).frame.collect()["v"].to_list()


def reference(domain_key: bytes, text: str) -> str:
    """The documented format, from cryptography's own HKDF and AESSIV."""
    key = HKDF(hashes.SHA256(), 64, None, encrypt_deterministic.SIV_KEY_INFO).derive(domain_key)
    return base64.urlsafe_b64encode(AESSIV(key).encrypt(text.encode(), None)).rstrip(b"=").decode()


def test_golden_output_for_a_fixed_key() -> None:
    ctx = StubContext()
    frame = pl.DataFrame(
        {"ssn": ["123-45-6789", None, "", "zoë 😀", "123-45-6789"], "n": [42, -7, None, 42, 0]}
    )
    result = run(frame, ctx, columns=["ssn", "n"], domain="patient")
    expected = pl.DataFrame(
        {
            "ssn": [
                "ADnWDzW4a7Lw5tKlEF5NKRnprYSKL_DMVY8z",
                None,
                "kmGAZeLwi3_x6jSu3JuAfQ",
                "YQQClCRku5Q_ygwR4DyIt68ez5S76DDp7Q",
                "ADnWDzW4a7Lw5tKlEF5NKRnprYSKL_DMVY8z",
            ],
            "n": [
                "DcETgRyOYLXQmbNMwwA_muE2",
                "OBEwObo6OAwHkhzbpvn6X6XN",
                None,
                "DcETgRyOYLXQmbNMwwA_muE2",
                "eL6eBEDKgFgz2fHN7VTytZo",
            ],
        }
    )
    assert_frame_equal(result.frame.collect(), expected)
    assert_frame_equal(result.frame.collect(engine="streaming"), expected)
    assert ctx.asked == [("patient", "siv")]


def test_equals_cryptography_reference(ctx: RunContext) -> None:
    values = ["", "a", "x" * 15, "y" * 16, "z" * 17, "123-45-6789", "Ünïcødé 😀 text" * 5, "+/=" * 20]
    out = encrypt(values, ctx)
    domain_key = ctx.domain_key("patient", "siv").reveal()
    assert out == [reference(domain_key, v) for v in values]
    url_safe = set(string.ascii_letters + string.digits + "-_")
    assert all(o is not None and set(o) <= url_safe for o in out)


def test_domains_are_unlinkable_and_a_domain_is_deterministic(ctx: RunContext) -> None:
    values = ["123-45-6789", "123-45-6789", "987-65-4321"]
    patient = encrypt(values, ctx)
    assert patient[0] == patient[1] != patient[2]
    assert encrypt(values, ctx) == patient
    assert encrypt(values, ctx, "other")[0] != patient[0]
    assert encrypt(values, ctx, "customer")[0] != encrypt(values, ctx, "customer2")[0]


def test_nulls_stay_null_and_types_are_canonical_text(ctx: RunContext) -> None:
    frame = pl.DataFrame(
        {
            "s": [None, "a", None],
            "d": [dt.date(2024, 1, 31), None, dt.date(1999, 12, 1)],
            "b": [True, False, None],
            "none": [None, None, None],
        }
    )
    result = run(frame, ctx, columns=["s", "d", "b", "none"], domain="patient")
    out = result.frame.collect()
    assert out["s"].to_list()[::2] == [None, None] and out["d"][1] is None and out["b"][2] is None
    assert out["none"].to_list() == [None, None, None]
    assert all(out.schema[c] == pl.String for c in out.columns)
    back = out.select(encrypt_deterministic.decrypt_column(c, "patient", ctx) for c in out.columns)
    assert back["d"].to_list() == ["2024-01-31", None, "1999-12-01"]
    assert back["b"].to_list() == ["true", "false", None]


def test_round_trip(ctx: RunContext) -> None:
    frame = pl.DataFrame(
        {"ssn": ["123-45-6789", None, "", "zoë 😀", "a" * 100], "mrn": [1, 2, 3, None, -5]},
    )
    protected = run(frame, ctx, columns=["ssn", "mrn"], domain="patient").frame
    back = protected.select(
        encrypt_deterministic.decrypt_column("ssn", "patient", ctx),
        encrypt_deterministic.decrypt_column("mrn", "patient", ctx),
    ).collect(engine="streaming")
    assert back["ssn"].to_list() == frame["ssn"].to_list()
    assert back["mrn"].to_list() == ["1", "2", "3", None, "-5"]


def test_wrong_domain_or_tampering_fails_without_values(ctx: RunContext) -> None:
    secret = "123-45-6789"
    encrypted = pl.DataFrame({"v": encrypt([secret, "other"], ctx)})
    with pytest.raises(TransformError, match="2 value\\(s\\) failed AES-SIV authentication") as wrong:
        encrypted.select(encrypt_deterministic.decrypt_column("v", "other", ctx))
    assert secret not in str(wrong.value)
    token = encrypted["v"][0]
    altered = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(TransformError, match="1 value\\(s\\) failed") as tampered:
        pl.DataFrame({"v": [altered]}).select(encrypt_deterministic.decrypt_column("v", "patient", ctx))
    assert secret not in str(tampered.value)


def test_float_column_is_refused(ctx: RunContext) -> None:
    with pytest.raises(TransformError, match="no canonical text form"):
        run(pl.DataFrame({"x": [1.5]}), ctx, columns=["x"], domain="patient")


def test_facts_and_plan_hold_no_values_or_keys(ctx: RunContext) -> None:
    secret = "123-45-6789"
    result = run(pl.DataFrame({"v": [secret]}), ctx, columns=["v"], domain="patient")
    assert result.facts["columns"] == ["v"]
    assert result.facts["algorithm"] == "AES-SIV-512"
    assert result.facts["domain"] == "patient"
    assert result.facts["key_version"] == 1
    domain_key = ctx.domain_key("patient", "siv").reveal()
    siv_key = encrypt_deterministic.siv_key(ctx, "patient").reveal()
    assert len(siv_key) == 64
    for text in (repr(result.facts), result.frame.explain()):
        for forbidden in (secret, domain_key.hex(), siv_key.hex()):
            assert forbidden not in text
    kernel = encrypt_deterministic.SivKernel(SecretBytes(siv_key), decrypting=False)
    assert siv_key.hex() not in repr(kernel)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(kernel)
