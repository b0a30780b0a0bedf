"""anomaly: Isolation Forest scores and flags.

The forest is fitted on a deterministic sample (`sample_rows`) of the flow; the threshold is the
(1 - contamination) quantile of the sample's scores, computed here rather than by the library (much
cheaper than fitting with a contamination parameter). Adds a score column (higher = more anomalous)
and a boolean flag; the report records the model fingerprint (SHA-256 of the fitted model), the
threshold and the flagged rate. Ordered categorical features (bins, ordinal encodings) enter as
their ordinal codes; nulls enter as NaN.

Example (the fraud design's anomaly_config)::

    - anomaly:
        contamination: 0.01
        n_estimators: 100
        features: [amount_bin, merchant_risk, time_delta, velocity]
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vaultline.transforms.base import ColumnName, StepParams, TransformSpec


class Params(StepParams):
    features: list[ColumnName] = Field(min_length=1)
    contamination: float = Field(default=0.01, gt=0, le=0.5)
    n_estimators: int = Field(default=100, ge=1, le=2000)
    max_samples: int | Literal["auto"] = "auto"
    """Rows per tree (`auto` = min(256, sample))."""
    sample_rows: int = Field(default=200_000, ge=1000)
    """Rows the forest (and the threshold) are fitted on."""
    random_state: int = 42
    score_column: ColumnName = "anomaly_score"
    flag_column: ColumnName = "is_anomaly"

    def input_columns(self) -> list[str]:
        return list(self.features)

    def output_columns(self) -> list[str]:
        return [self.score_column, self.flag_column]


SPEC = TransformSpec("anomaly", Params, "Isolation Forest anomaly score and flag")
