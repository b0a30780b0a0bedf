"""Column-level lineage of a pipeline, computed from its spec alone (no data, no engine).

The steps are walked in spec order from the source columns. Every column of the flow carries the
source columns it comes from, each with the hops (one per step) that led there; a step's
`column_lineage()` says which columns feed which, `removed_columns()` which leave the flow. A step's
flows all read the flow as it was before the step, as an engine's `with_columns` does.

Source columns are not read from the data: they are the columns the source declares, the columns a
step reads before any step created them, the columns dropped before any other use, and the output
columns that no step created (passed through).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vaultline.spec.models import Pipeline
from vaultline.transforms.base import EVERY_COLUMN, ColumnFlow

Sources = dict[str, tuple["Hop", ...]]
"""Source column -> the hops from it to a column, in step order (empty: the column is unchanged)."""


@dataclass(frozen=True)
class Hop:
    """One step on the way from a source column: OpenLineage's transformation type and subtype."""

    step: int
    """Index of the step in the spec."""
    kind: str
    subtype: str
    masking: bool
    description: str


@dataclass(frozen=True)
class ColumnLineage:
    """Where each output column comes from, and which source columns filter the rows."""

    source_columns: list[str]
    """Columns of the sources, in order of first use."""
    fields: dict[str, Sources]
    """Output column -> its source columns and hops."""
    dataset: Sources = field(default_factory=dict)
    """Source columns that decide which rows remain (filters, dedupe, suppression), with their hops."""


def _hop(index: int, step: str, flow: ColumnFlow) -> Hop:
    where = f"{step} (step {index})"
    description = f"{where}: {flow.description}" if flow.description else where
    return Hop(index, flow.kind, flow.subtype, flow.masking, description)


def _merge(into: Sources, origin: str, hops: tuple[Hop, ...]) -> None:
    """Record that `origin` reaches a column through `hops`; a second path adds its new hops, and
    all are kept in step order."""
    merged = dict.fromkeys((*into.get(origin, ()), *hops))
    into[origin] = tuple(sorted(merged, key=lambda hop: hop.step))


def column_lineage(
    pipeline: Pipeline, output_columns: list[str], declared: list[str] | None = None
) -> ColumnLineage:
    """Lineage of `output_columns` (an output's columns as written) from the sources' columns.

    `declared`: source columns known beforehand (a declared schema), in order. A first walk finds every
    source column; the second starts from all of them, so that a step rewriting every column (clean's
    trim) also reaches the columns no step names until later, or never."""
    found = _walk(pipeline, output_columns, declared or [])
    return _walk(pipeline, output_columns, found.source_columns)


def _walk(pipeline: Pipeline, output_columns: list[str], declared: list[str]) -> ColumnLineage:
    flow: dict[str, Sources] = {}
    sources: list[str] = []

    def lineage_of(column: str) -> Sources:
        if column not in flow:  # first seen here, created by no step: a source column
            flow[column] = {column: ()}
            sources.append(column)
        return flow[column]

    for column in declared:
        lineage_of(column)
    dataset: Sources = {}
    for index, (step, params) in enumerate(pipeline.all_steps()):
        written: dict[str, Sources] = {}
        for edge in params.column_lineage():
            hop = _hop(index, step, edge)
            every = edge.source == EVERY_COLUMN
            for target_column, source_column in (
                [(c, c) for c in flow] if every else [(edge.target, edge.source)]
            ):
                target = dataset if target_column is None else written.setdefault(target_column, {})
                for origin, hops in lineage_of(source_column).items():
                    _merge(target, origin, (*hops, hop))
        flow.update(written)
        for column in params.removed_columns():
            lineage_of(column)  # a column dropped before any other use is still a source column
            flow.pop(column)
    fields = {column: dict(lineage_of(column)) for column in output_columns}
    return ColumnLineage(source_columns=sources, fields=fields, dataset=dataset)
