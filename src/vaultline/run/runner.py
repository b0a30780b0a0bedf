"""Run a pipeline end to end: keys, catalog record, engine execution, report.

Fail closed: the keyring is opened and every domain key derived before any row is read; a run that
fails is recorded as failed with a value-free error and leaves no output under its final name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vaultline import __version__
from vaultline.errors import VaultlineError
from vaultline.keys.local import LocalKeyring
from vaultline.keys.provider import KeyRef
from vaultline.run.context import RunContext
from vaultline.spec.loader import LoadedSpec
from vaultline.state import State

QUARANTINE_KEY = "vaultline-quarantine"
log = logging.getLogger("vaultline.run")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def _spec_sha256(loaded: LoadedSpec) -> str:
    return hashlib.sha256(Path(loaded.file).read_bytes()).hexdigest() if Path(loaded.file).exists() else ""


def _open_log(run_dir: Path) -> logging.Handler:
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = logging.FileHandler(run_dir / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def run(
    loaded: LoadedSpec, state: State, *, on_phase: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Execute the spec and return its report (also stored in the catalog and under the run directory)."""
    from vaultline.catalog.runs import RunCatalog

    pipeline = loaded.pipeline
    state.ensure()
    catalog = RunCatalog(state.catalog_url)
    run_id = new_run_id()
    run_dir = state.run_dir(run_id)
    handler = _open_log(run_dir)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "run_id": run_id,
        "pipeline": pipeline.name,
        "vaultline_version": __version__,
        "spec": {"file": loaded.file, "sha256": _spec_sha256(loaded)},
        "params": loaded.params,
        "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "warnings": [w.render() for w in loaded.warnings],
    }
    catalog.start(run_id, pipeline.name, report["spec"]["sha256"])
    log.info("run %s of pipeline %s started", run_id, pipeline.name)
    try:
        keyring = LocalKeyring(state.root)
        domains = dict(pipeline.keys)
        if pipeline.quarantine.domain not in domains:
            keyring.ensure(QUARANTINE_KEY, purpose="quarantine")
            domains[pipeline.quarantine.domain] = QUARANTINE_KEY
        for domain, ref in domains.items():  # fail closed before reading any row
            keyring.info(KeyRef.parse(ref).name)
            log.info("key for domain %s: %s", domain, KeyRef.parse(ref).name)
        ctx = RunContext(provider=keyring, domains=domains, facts_lookup=_facts_lookup(catalog))

        from vaultline.classify import guardrail
        from vaultline.engines.polars.executor import execute

        on_phase("classifying sources")
        report["guardrail"] = guardrail.check(pipeline, state)
        for violation in report["guardrail"]["violations"]:
            log.warning("guardrail: %s", violation)

        result = execute(pipeline, ctx, run_id=run_id, quarantine_dir=state.quarantine_dir, on_phase=on_phase)
        report.update(_report_body(result, ctx))
        report["status"] = "succeeded"
        log.info(
            "run %s succeeded: %d rows in, %d out, %d quarantined",
            run_id, result.rows_input, result.rows_output, result.rows_input - result.rows_output,
        )  # fmt: skip
    except VaultlineError as exc:
        report["status"] = "failed"
        report["error"] = exc.render()
        log.error("run %s failed: %s", run_id, exc.render())
        raise
    except Exception as exc:
        report["status"] = "failed"
        report["error"] = f"unexpected {type(exc).__name__}"
        log.error("run %s failed with an unexpected %s", run_id, type(exc).__name__)
        raise
    finally:
        report["finished_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        report["seconds"] = round(time.perf_counter() - started, 3)
        (run_dir / "report.json").write_text(
            json.dumps(report, indent=2, sort_keys=True, default=str), "utf-8"
        )
        catalog.finish(run_id, json.loads(json.dumps(report, default=str)))
        log.removeHandler(handler)
        handler.close()
    return report


def _facts_lookup(catalog: Any) -> Callable[[str, int], dict[str, Any]]:
    def lookup(run_id: str, step_index: int) -> dict[str, Any]:
        report = catalog.report(run_id)
        for step in report.get("steps", []):
            if step["index"] == step_index:
                facts: dict[str, Any] = step["facts"]
                return facts
        raise VaultlineError(f"run {run_id} has no step {step_index} in its report")

    return lookup


def _report_body(result: Any, ctx: RunContext) -> dict[str, Any]:
    protections: dict[str, list[str]] = {}
    anomaly: dict[str, Any] = {}
    reidentification: dict[str, Any] = {}
    for step in result.steps:
        from vaultline.transforms.registry import BY_NAME

        params_model = BY_NAME[step.name].params
        if params_model.protection.value != "none":
            for column in (
                step.facts.get("columns") or step.params.get("columns") or list(step.params.get("rules", {}))
            ):
                protections.setdefault(column, []).append(params_model.protection.value)
        if step.name == "anomaly":
            anomaly = {**step.facts, **step.metrics}
        if step.name == "k_anonymity":
            reidentification = dict(step.facts)
    return {
        "inputs": result.fingerprints,
        "rows": {
            "input": result.rows_input,
            "output": result.rows_output,
            "quarantined": result.rows_input - result.rows_output,
            "quarantine_by_reason": result.quarantine_by_reason,
        },
        "steps": [asdict(step) for step in result.steps],
        "protections": protections,
        "anomaly": anomaly,
        "reidentification": reidentification,
        "key_versions": dict(ctx.key_versions),
        "outputs": [asdict(output) for output in result.outputs],
        "quarantine": result.quarantine_location,
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
        "columns_out": result.columns_out,
    }
