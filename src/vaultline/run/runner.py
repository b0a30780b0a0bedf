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
from vaultline.classify.entities import BY_NAME
from vaultline.errors import VaultlineError
from vaultline.keys.provider import KeyProvider, KeyRef
from vaultline.keys.providers import open_provider
from vaultline.run.context import RunContext
from vaultline.spec.loader import LoadedSpec
from vaultline.spec.models import Pipeline
from vaultline.state import State

QUARANTINE_KEY = "vaultline-quarantine"
DEFAULT_KEY_PREFIX = "vaultline-"
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
        provider, domains = _open_keys(pipeline, state)
        ctx = RunContext(provider=provider, domains=domains, facts_lookup=_facts_lookup(catalog))
        result = _execute(pipeline, state, ctx, run_id, report, on_phase=on_phase)
        report.update(_report_body(result, ctx))
        on_phase("committing dataset versions")
        report["datasets"] = _commit(state, run_id, result, report)
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


def _commit(state: State, run_id: str, result: Any, report: dict[str, Any]) -> dict[str, int]:
    """One catalog transaction per output: only now do its files become a readable version. When a
    commit fails, this run's files are removed (a crash before this point leaves them for `gc`)."""
    from vaultline.catalog.datasets import DatasetCatalog, FileEntry

    catalog = DatasetCatalog(state.catalog_url)
    detected = report.get("guardrail", {}).get("detected", {})
    versions: dict[str, int] = {}
    for position, output in enumerate(result.outputs):
        try:
            versions[output.name] = catalog.commit_with_retry(
                output.name,
                files=[FileEntry(output.location, output.sha256, output.rows, output.bytes)],
                run_id=run_id,
                schema={"columns": output.columns},
                classifications={c: detected[c] for c in output.columns if c in detected},
                protections={c: p for c, p in report["protections"].items() if c in output.columns},
                encryption=output.encryption or {"enabled": False},
                watermark={"inputs": report["inputs"]},
            )
        except BaseException:
            _remove_uncommitted([o.location for o in result.outputs[position:]])
            raise
        log.info("dataset %s version %d committed", output.name, versions[output.name])
    return versions


def _remove_uncommitted(paths: list[str]) -> None:
    from vaultline.storage import locations

    for path in paths:
        try:
            locations.filesystem(path).rm(path)
        except OSError:
            log.warning("could not remove an uncommitted output file; `vaultline gc` will")


def _open_keys(pipeline: Pipeline, state: State) -> tuple[KeyProvider, dict[str, str]]:
    """The key provider and the token domains; fail closed: every key must answer before a row is read."""
    provider = open_provider(state.root)
    domains = dict(pipeline.keys)
    if pipeline.quarantine.domain not in domains:
        ensure_key(provider, QUARANTINE_KEY, purpose="quarantine")
        domains[pipeline.quarantine.domain] = QUARANTINE_KEY
    for domain, ref in domains.items():
        provider.info(KeyRef.parse(ref).name)
        log.info("key for domain %s: %s", domain, KeyRef.parse(ref).name)
    _ensure_encryption_keys(pipeline, provider)
    return provider, domains


def _execute(
    pipeline: Pipeline, state: State, ctx: RunContext, run_id: str, report: dict[str, Any], *,
    on_phase: Callable[[str], None],
) -> Any:  # fmt: skip
    """Classify the sources (the guardrail may refuse the run here), then run the engine.

    Each source is planned (listed and fingerprinted: one full read of its bytes) once, here, and the
    same plan serves the guardrail, the landing copies and the engine."""
    from vaultline.classify import guardrail
    from vaultline.engines.polars.executor import execute
    from vaultline.engines.polars.sources import read_source

    ingests = {}
    for name, source in pipeline.sources.items():
        on_phase(f"reading source {name}")
        ingests[name] = read_source(name, source)
    on_phase("classifying sources")
    report["guardrail"] = guardrail.check(pipeline, state, ingests)
    for violation in report["guardrail"]["violations"]:
        log.warning("guardrail: %s", violation)
    classes = {c: BY_NAME[e].sensitivity.value for c, e in report["guardrail"]["detected"].items()}
    landing = {name: source for name, source in pipeline.sources.items() if source.landing}
    if landing:
        from vaultline.run.landing import LANDING_KEY, land

        on_phase("keeping encrypted landing copies")
        ensure_key(ctx.provider, LANDING_KEY, purpose="landing copies")
        prints = {name: ingests[name].fingerprints for name in landing}
        report["landing"] = land(pipeline, run_id, ctx.provider, prints)
    return execute(
        pipeline, ctx, run_id=run_id, quarantine_dir=state.quarantine_dir, on_phase=on_phase, classes=classes,
        ingests=ingests,
    )  # fmt: skip


def _ensure_encryption_keys(pipeline: Pipeline, provider: KeyProvider) -> None:
    """Fail closed before any row is read: every key an output encrypts with must be usable. Keys with
    Vaultline's default names are created on first use; keys the spec names must already exist."""
    for output in pipeline.outputs.values():
        encryption = output.encryption
        if not encryption.enabled:
            continue
        for ref in (encryption.footer_key, *encryption.column_keys.values()):
            name = KeyRef.parse(ref).name
            if name.startswith(DEFAULT_KEY_PREFIX):
                ensure_key(provider, name, purpose="encryption at rest")
            else:
                provider.info(name)


def ensure_key(provider: KeyProvider, name: str, *, purpose: str) -> None:
    """Create a key Vaultline manages itself (quarantine, default encryption keys) on first use."""
    if name not in {info.name for info in provider.list()}:
        provider.create(name, purpose=purpose)


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
