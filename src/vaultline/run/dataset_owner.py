"""A dataset belongs to the pipeline that made it: another pipeline naming an output alike is refused.

Datasets are named by their output's name, across the whole catalog. Two pipelines that both call
an output `features` would otherwise write one dataset: an appending one adds its rows to the other's
(a reader sees both, mixed), an overwriting one replaces them. Neither is what either owner meant,
so a run refuses, before reading any row, an output whose dataset's latest version another pipeline
committed.
"""

from __future__ import annotations

from vaultline.errors import CatalogError, TerminalError
from vaultline.spec.models import Pipeline
from vaultline.state import State


class DatasetOwnedElsewhere(TerminalError):
    """An output's dataset was made by another pipeline."""


def check_owners(pipeline: Pipeline, state: State) -> None:
    from vaultline.catalog.dataset_records import DatasetNotFound
    from vaultline.catalog.datasets import DatasetCatalog
    from vaultline.catalog.runs import RunCatalog

    with DatasetCatalog(state.catalog_url) as datasets, RunCatalog(state.catalog_url) as runs:
        for output in pipeline.outputs:
            try:
                latest = datasets.latest(output)
            except DatasetNotFound:  # this run makes its first version
                continue
            try:
                owner = runs.report(latest.run_id).get("pipeline") if latest.run_id else None
            except CatalogError:  # written by a run this catalog no longer holds: nothing to compare
                continue
            if owner and owner != pipeline.name:
                raise DatasetOwnedElsewhere(
                    f"output '{output}' names dataset {output}, whose versions pipeline '{owner}' commits "
                    f"(latest: {output}@{latest.version}); pipeline '{pipeline.name}' would add to it or "
                    "replace it",
                    hint=f"give this output another name (e.g. `{pipeline.name}_{output}`); datasets are "
                    "named by their output across the whole catalog",
                    where=f"outputs.{output}",
                )
