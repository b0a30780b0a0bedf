"""hash: unkeyed SHA-2 hex digests of each value's canonical text, equal to hashlib's."""

from __future__ import annotations

import hashlib
import random
import string

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from vaultline.engines.polars import hash as hash_step
from vaultline.errors import TransformError
from vaultline.run.context import RunContext
from vaultline.transforms.hash import Params


def test_golden_sha256_and_sha512(ctx: RunContext) -> None:
    frame = pl.DataFrame({"email": ["alice", "", "zoë 😀", None], "n": [42, 42, None, 42]})
    out256 = hash_step.apply(frame.lazy(), Params(columns=["email", "n"]), ctx).frame.collect()
    expected256 = pl.DataFrame(
        {
            "email": [
                "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "c0ad3c806a98baed80222a0b89bfbffaf5821c35373a5e48c23ed48789fcf462",
                None,
            ],
            "n": ["73475cb40a568e8da8a045ced110137e159f890ac4da883b6b17dc651b3a8049"] * 2
            + [None, "73475cb40a568e8da8a045ced110137e159f890ac4da883b6b17dc651b3a8049"],
        }
    )
    assert_frame_equal(out256, expected256)

    out512 = hash_step.apply(frame.lazy(), Params(columns=["email"], algorithm="sha512"), ctx).frame.collect()
    assert out512["email"].to_list()[1] == (
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
    )
    assert out512["n"].to_list() == [42, 42, None, 42]


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_equal_to_hashlib_on_random_values(ctx: RunContext, algorithm: str) -> None:
    rng = random.Random(7)
    values = ["".join(rng.choices(string.printable + "éü中😀", k=rng.randint(0, 60))) for _ in range(200)]
    frame = pl.DataFrame({"v": values})
    params = Params.model_validate({"columns": ["v"], "algorithm": algorithm})
    result = hash_step.apply(frame.lazy(), params, ctx)
    expected = [hashlib.new(algorithm, v.encode()).hexdigest() for v in values]
    assert result.frame.collect()["v"].to_list() == expected
    assert result.facts == {"columns": ["v"], "algorithm": algorithm}


def test_unhashable_type_and_missing_column_are_transform_errors(ctx: RunContext) -> None:
    frame = pl.DataFrame({"amount": [1.25]})
    with pytest.raises(TransformError, match=r"(?s)\(hash\).*'amount'.*clean") as info:
        hash_step.apply(frame.lazy(), Params(columns=["amount"]), ctx)
    assert "1.25" not in str(info.value)
    with pytest.raises(TransformError, match="available columns: amount"):
        hash_step.apply(frame.lazy(), Params(columns=["email"]), ctx)
