"""bin: percentile, quantile or custom-edge binning with labels.

Edges are fitted on the whole column with one fixed quantile method (`linear`, the default of
NumPy and Polars; Spark's exact path reproduces it) and recorded in the run report. A later run can
reuse them with `edges:` (explicit) or `reuse_run:` (a run id whose report holds this step's edges).
Intervals are left-closed `[e_i, e_i+1)`, the last one closed; values outside reused edges fall in
the first or last bin and are counted. Where fitted edges collapse (skewed data: several percentiles
equal to one value e), every label stays and a value equal to e goes to the first bin at e: with
edges `[0, 0, 0, 1.75, 4]`, 0 is `bin_0`, `bin_1` stays empty and 1 is `bin_2`. The output is an
ordered categorical of the labels.

Example (the fraud design's binning_config)::

    - bin:
        column: amount
        output: amount_bin
        method: percentile
        bins: [0, 10, 25, 50, 75, 90, 95, 99, 100]
        labels: [micro, small, low, medium, high, large, very_large, extreme]
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

from pydantic import Field, model_validator

from vaultline.transforms.base import ColumnFlow, ColumnName, StepParams, TransformSpec


class Params(StepParams):
    column: ColumnName
    output: ColumnName | None = None
    """Output column (default `<column>_bin`)."""
    method: Literal["percentile", "quantile", "custom"] = "percentile"
    bins: list[float] | int = Field(default=4)
    """percentile: percentiles 0-100; quantile: a number of equal-frequency bins or fractions 0-1;
    custom: the edges themselves."""
    labels: list[str] | None = None
    """One label per bin (default `bin_0`, `bin_1`...)."""
    interpolation: Literal["linear", "lower", "higher", "nearest", "midpoint"] = "linear"
    edges: list[float] | None = None
    """Reuse these fitted edges instead of fitting."""
    reuse_run: str | None = None
    """Reuse the edges this step fitted in an earlier run (its run id)."""

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        if isinstance(self.bins, int):
            # A count means equal-frequency bins for both fitted methods (so the defaults,
            # `percentile` with 4 bins, give quartiles); custom binning needs the edges themselves.
            if self.method == "custom":
                raise ValueError("method custom needs a list of edges")
            n_bins = self.bins
            if n_bins < 2:
                raise ValueError(f"{self.method} binning needs at least 2 bins")
        else:
            if not all(math.isfinite(b) for b in self.bins):
                raise ValueError("bins must be finite numbers (values beyond them go to an end bin)")
            if len(self.bins) < 2 or any(b <= a for a, b in itertools.pairwise(self.bins)):
                raise ValueError("bins must be at least two strictly increasing numbers")
            upper = {"percentile": 100.0, "quantile": 1.0}.get(self.method)
            if upper is not None and (self.bins[0] < 0 or self.bins[-1] > upper):
                raise ValueError(f"{self.method} bins must lie between 0 and {upper:g}")
            n_bins = len(self.bins) - 1
        if self.labels is not None and len(self.labels) != n_bins:
            raise ValueError(f"{n_bins} bins need {n_bins} labels, got {len(self.labels)}")
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("labels must be distinct")
        if self.edges is not None and self.reuse_run is not None:
            raise ValueError("give either edges or reuse_run, not both")
        if self.edges is not None:
            check_edges(self.edges, n_bins)
        return self

    @property
    def output_column(self) -> str:
        return self.output or f"{self.column}_bin"

    @property
    def n_bins(self) -> int:
        return self.bins if isinstance(self.bins, int) else len(self.bins) - 1

    @property
    def bin_labels(self) -> list[str]:
        return self.labels or [f"bin_{i}" for i in range(self.n_bins)]

    def quantile_points(self) -> list[float]:
        """Quantile fractions in [0, 1] to fit (empty for custom edges)."""
        if self.method == "custom":
            return []
        if isinstance(self.bins, int):
            return [i / self.bins for i in range(self.bins + 1)]
        scale = 100.0 if self.method == "percentile" else 1.0
        return [b / scale for b in self.bins]

    def input_columns(self) -> list[str]:
        return [self.column]

    def output_columns(self) -> list[str]:
        return [self.output_column]

    def column_lineage(self) -> list[ColumnFlow]:
        return [ColumnFlow(self.output_column, self.column, description=f"{self.method} bins")]

    def fits_on_data(self) -> bool:
        return self.edges is None and self.reuse_run is None and self.method != "custom"


def check_edges(edges: list[float], n_bins: int) -> None:
    """Raise ValueError unless `edges` are `n_bins + 1` finite, non-decreasing numbers.

    Equal neighbours are allowed: fitted quantile edges collapse on skewed data, and a reused set of
    edges must be accepted exactly as it was fitted.
    """
    if len(edges) != n_bins + 1:
        raise ValueError(f"{n_bins} bins need {n_bins + 1} edges, got {len(edges)}")
    if not all(isinstance(e, int | float) and not isinstance(e, bool) and math.isfinite(e) for e in edges):
        raise ValueError("edges must be finite numbers")
    if any(b < a for a, b in itertools.pairwise(edges)):
        raise ValueError("edges must be in non-decreasing order")


SPEC = TransformSpec("bin", Params, "percentile/quantile/custom binning with labels")
