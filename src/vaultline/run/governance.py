"""What every run leaves for the auditor and the on-call engineer, whatever its outcome.

`after_run` is called once per run, succeeded or failed, after its report is final and before it is
written: data-quality results into the catalog, the OpenLineage COMPLETE or FAIL event, the run's
metrics and the alarms they fire. None of these may mask the run's own outcome or error: a failure
here becomes a value-free warning in the report (the audit log, which must not fail, is not here:
the runner writes it and stops when it cannot).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vaultline.errors import VaultlineError

if TYPE_CHECKING:
    from vaultline.lineage.emitter import LineageEmitter
    from vaultline.spec.models import Pipeline
    from vaultline.state import State

log = logging.getLogger("vaultline.run")


def _record_quality(state: State, pipeline: Pipeline, report: dict[str, Any], _: LineageEmitter) -> None:
    from vaultline.catalog.quality import record_results

    results = (report.get("quality") or {}).get("results")
    if results:
        record_results(state.catalog_url, report["run_id"], pipeline.name, results)


def _emit_lineage(
    _state: State, _pipeline: Pipeline, report: dict[str, Any], lineage: LineageEmitter
) -> None:
    succeeded = report.get("status") == "succeeded"
    warning = (lineage.complete if succeeded else lineage.fail)(report["run_id"], report)
    if warning:
        report["warnings"].append(warning)


def _observe(state: State, pipeline: Pipeline, report: dict[str, Any], _: LineageEmitter) -> None:
    from vaultline.monitor.observe import observe_run

    report["alarms"] = [
        {
            k: v
            for k, v in event.as_dict().items()
            if k in ("rule", "kind", "severity", "message", "deliveries")
        }
        for event in observe_run(state, pipeline, report)
    ]


AfterRun = Callable[["State", "Pipeline", dict[str, Any], "LineageEmitter"], None]
# Cheapest and most important first: a slow webhook never delays the stored results.
AFTER_RUN: tuple[AfterRun, ...] = (_record_quality, _emit_lineage, _observe)


def after_run(state: State, pipeline: Pipeline, report: dict[str, Any], lineage: LineageEmitter) -> None:
    for step in AFTER_RUN:
        try:
            step(state, pipeline, report, lineage)
        except VaultlineError as exc:
            warning = f"{step.__name__.strip('_').replace('_', ' ')} failed: {exc.message}"
            report["warnings"].append(warning)
            log.warning("run %s: %s", report["run_id"], warning)
