"""anomaly: Isolation Forest scores and flags.

The forest is fitted on a deterministic sample of the flow (every k-th row, at most
`sample_rows`); the threshold is the (1 - contamination) quantile of the sample's scores, computed
here rather than by the library (much cheaper than fitting with a contamination parameter). Adds a
score column, -score_samples of scikit-learn's IsolationForest, in (0, 1] with higher = more
anomalous, and a boolean flag, score > threshold; the report records the model fingerprint
(SHA-256 of the fitted trees), the threshold and the flagged rate. Numeric and boolean features
enter as numbers, ordered categorical features (bins, ordinal encodings) as their ordinal codes,
nulls as missing values (NaN); text features are refused (bin or encode them first).

Example (the fraud design's anomaly_config)::

    - anomaly:
        contamination: 0.01
        n_estimators: 100
        features: [amount_bin, merchant_risk, time_delta, velocity]
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from vaultline.transforms.base import ColumnFlow, ColumnName, StepParams, TransformSpec


class Params(StepParams):
    features: list[ColumnName] = Field(min_length=1)
    """Numeric, boolean or Enum columns the forest looks at (text must be binned or encoded first)."""
    contamination: float = Field(default=0.01, gt=0, le=0.5)
    """Expected share of anomalies: the flag threshold is the (1 - contamination) quantile of the
    sample's scores."""
    n_estimators: int = Field(default=100, ge=1, le=2000)
    """Trees in the forest."""
    max_samples: Annotated[int, Field(ge=2)] | Literal["auto"] = "auto"
    """Rows per tree (`auto` = min(256, sample); a number above the sample size is lowered to it)."""
    sample_rows: int = Field(default=200_000, ge=1000)
    """At most this many rows (every k-th row of the flow) fit the forest and the threshold."""
    random_state: int = 42
    """Seed of the forest: the same sample and seed give the same trees (same fingerprint)."""
    score_column: ColumnName = "anomaly_score"
    """Float64 score in (0, 1], higher = more anomalous."""
    flag_column: ColumnName = "is_anomaly"
    """Boolean: score > threshold."""

    def input_columns(self) -> list[str]:
        return list(self.features)

    def output_columns(self) -> list[str]:
        return [self.score_column, self.flag_column]

    def column_lineage(self) -> list[ColumnFlow]:
        return [ColumnFlow(target, feature) for target in self.output_columns() for feature in self.features]

    def fits_on_data(self) -> bool:
        return True


SPEC = TransformSpec("anomaly", Params, "Isolation Forest anomaly score and flag")
