"""The encrypting output sink: which columns get a Parquet dictionary, judged on the first batch."""

from __future__ import annotations

import numpy as np
import polars as pl

from vaultline.engines.polars.outputs import DICTIONARY_SAMPLE_ROWS, dictionary_columns


def _batch(rows: int) -> pl.DataFrame:
    positions = np.arange(rows)
    return pl.DataFrame(
        {
            "transaction_id": [f"tx{i}" for i in positions],  # every value distinct
            "customer_token": [f"c{i % (rows // 4)}" for i in positions],  # repeats four times
            "amount": positions * 0.5,  # distinct
            "mcc": (positions % 20).astype(str),
            "half_distinct": positions // 2,  # exactly one distinct value in two rows: kept
            "tags": [[1, 2]] * rows,  # nested: never named
        }
    )


def test_columns_of_distinct_values_get_no_dictionary() -> None:
    chosen = dictionary_columns(_batch(DICTIONARY_SAMPLE_ROWS))
    assert chosen == ["customer_token", "mcc", "half_distinct"]


def test_a_short_first_batch_keeps_every_dictionary() -> None:
    assert dictionary_columns(_batch(DICTIONARY_SAMPLE_ROWS - 1)) is True
