"""Run a pipeline end to end: keys, catalog record, engine execution, report.

Fail closed: the keyring is opened and every domain key derived before any row is read; a run that
fails is recorded as failed with a value-free error and leaves no output under its final name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaultline import __version__
from vaultline.catalog.cleanup import normalize
from vaultline.classify.entities import BY_NAME
from vaultline.errors import (
    AuditUnavailableError,
    KeyringError,
    RetryableError,
    TerminalError,
    Terminated,
    TransformError,
    VaultlineError,
    is_transient,
)
from vaultline.keys.provider import KeyProvider, KeyRef
from vaultline.keys.providers import open_provider
from vaultline.run import dataset_owner, key_versions
from vaultline.run.context import RunContext
from vaultline.run.drift import SchemaDriftError, check_drift
from vaultline.spec.loader import LoadedSpec
from vaultline.spec.models import DEFAULT_ENCRYPTION_KEYS, Pipeline
from vaultline.state import State, write_private

if TYPE_CHECKING:
    from vaultline.audit import AuditLog
    from vaultline.catalog.bookmarks import Advance, SourceBookmark
    from vaultline.catalog.runs import RunCatalog
    from vaultline.engines.polars.sources import Ingest

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
    loaded: LoadedSpec,
    state: State,
    *,
    on_phase: Callable[[str], None] = lambda _: None,
    reset_bookmarks: bool = False,
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Execute the spec and return its report (also stored in the catalog and under the run directory).
    A caller's `report` dict is the one filled: when the run raises, it still holds the failed run's
    report (empty if the run never started).

    Fail closed: without a writable audit log nothing runs; every source read, key use, commit and
    the run's outcome are recorded, and a signed checkpoint closes every run, even one that did nothing.
    `reset_bookmarks`: forget what the pipeline's incremental sources delivered before, first."""
    from vaultline.audit import audit_session
    from vaultline.catalog.runs import RunCatalog

    state.ensure()
    run_id = new_run_id()
    report = {} if report is None else report
    try:
        with (
            audit_session(state, checkpoint_reason="run-end") as audit,
            audit.within_run(run_id),
            RunCatalog(state.catalog_url) as catalog,
        ):
            _audited_run(
                loaded,
                state,
                audit,
                catalog,
                report,
                run_id=run_id,
                on_phase=on_phase,
                reset_bookmarks=reset_bookmarks,
            )
    except AuditUnavailableError as exc:
        if report.get("status") == "succeeded":  # the log failed after the commit: say what stands
            committed = ", ".join(f"{name}@{number}" for name, number in report.get("datasets", {}).items())
            exc.message = (
                f"run {run_id} succeeded (committed: {committed or 'nothing'}), but the audit log failed "
                f"after its commit: {exc.message}"
            )
            exc.hint = (
                "fix the audit log's location; the entries written before the failure (the commit's "
                "intent among them) are fsynced, and the next checkpoint signs them"
            )
            exc.final()  # rerunning would commit (or append) the same data again
        raise
    return report


def _audited_run(
    loaded: LoadedSpec,
    state: State,
    audit: AuditLog,
    catalog: RunCatalog,
    report: dict[str, Any],
    *,
    run_id: str,
    on_phase: Callable[[str], None],
    reset_bookmarks: bool,
) -> None:
    """Run the pipeline, filling `report` (the caller's, so that what a failure after the commit left
    standing is known to it)."""
    from vaultline.lineage.emitter import LineageEmitter
    from vaultline.run.governance import after_run

    pipeline = loaded.pipeline
    run_dir = state.run_dir(run_id)
    handler = _open_log(run_dir)
    started = time.perf_counter()
    report.update(_new_report(loaded, run_id, state.quarantine_dir))
    audit.record(
        "run.start", resource=pipeline.name, run_id=run_id, details={"spec_sha256": report["spec"]["sha256"]}
    )
    _record_spec_change(audit, catalog, pipeline.name, run_id, report["spec"]["sha256"])
    for abandoned in catalog.abandon_dead():
        audit.record("run.abandoned", run_id=abandoned)
        log.warning("run %s: its process ended without finishing it (see `vaultline runs show`)", abandoned)
    catalog.start(
        run_id, pipeline.name, report["spec"]["sha256"], output_roots=report["output_roots"],
        landing_roots=report["landing_roots"], quarantine_root=report["quarantine_root"],
    )  # fmt: skip
    log.info("run %s of pipeline %s started", run_id, pipeline.name)
    lineage = LineageEmitter(state, pipeline)
    if warning := lineage.start(run_id, report):
        report["warnings"].append(warning)
    try:
        provider, domains = _open_keys(pipeline, state)
        ctx = RunContext(
            provider=provider, domains=domains, facts_lookup=_facts_lookup(catalog),
            previous_run_report=lambda: catalog.latest_succeeded_report(pipeline.name),
        )  # fmt: skip
        _check_output_buckets(pipeline)
        dataset_owner.check_owners(pipeline, state)
        read = _read_sources(pipeline, state, report, audit, reset=reset_bookmarks, on_phase=on_phase)
        if read.nothing_new:
            report.update(_nothing_new_body())
            log.info("run %s: every incremental source was already delivered; nothing to do", run_id)
        else:
            appending = [name for name in pipeline.outputs if _appends(pipeline, name, read)]
            key_versions.check_appends(pipeline, state, provider, domains, appending=appending)
            result = _execute(
                pipeline, state, ctx, run_id, report=report, ingests=read.ingests, on_phase=on_phase
            )
            report.update(_report_body(result, ctx))
            on_phase("committing dataset versions")
            report["datasets"] = _commit_audited(
                audit, state, run_id, pipeline, result, report=report, read=read
            )
            log.info(
                "run %s succeeded: %d rows in, %d out, %d quarantined",
                run_id, result.rows_input, result.rows_output, result.rows_input - result.rows_output,
            )  # fmt: skip
        report["status"] = "succeeded"
    except BaseException as exc:  # a Rust panic or an interrupt is a failed run too, never left "running"
        _settle_failure(loaded, report, exc)
        raise
    finally:
        with _stops_deferred():
            report["finished_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
            report["seconds"] = round(time.perf_counter() - started, 3)
            after_run(state, pipeline, report, lineage)
            write_private(run_dir / "report.json", json.dumps(report, indent=2, sort_keys=True, default=str))
            catalog.finish(run_id, json.loads(json.dumps(report, default=str)))
            log.removeHandler(handler)
            handler.close()
            audit.record(
                "run.end",
                outcome="succeeded" if report.get("status") == "succeeded" else "failed",
                resource=pipeline.name,
                run_id=run_id,
                details=_run_end_details(report),
            )


def _record_spec_change(
    audit: AuditLog, catalog: RunCatalog, pipeline: str, run_id: str, sha256: str
) -> None:
    """A configuration change, audited: this run's spec differs from the pipeline's previous run's."""
    previous = catalog.list(limit=1, pipeline=pipeline)
    if not previous:
        return
    before = catalog.report(previous[0].run_id).get("spec", {}).get("sha256")
    if before is not None and before != sha256:
        audit.record(
            "pipeline.spec_change", resource=pipeline, run_id=run_id,
            details={"previous_run": previous[0].run_id, "previous_sha256": before, "sha256": sha256},
        )  # fmt: skip


def _spec_file(loaded: LoadedSpec) -> str:
    """The spec's path, absolute: `read` finds its access rules from any directory (--state,
    VAULTLINE_HOME); a spec given as text (`loads`) keeps its label."""
    path = Path(loaded.file)
    return str(path.absolute()) if path.is_file() else loaded.file


def _new_report(loaded: LoadedSpec, run_id: str, quarantine_dir: Path) -> dict[str, Any]:
    from vaultline.catalog.run_leftovers import landing_root, quarantine_root

    pipeline = loaded.pipeline
    return {
        "run_id": run_id,
        "pipeline": loaded.pipeline.name,
        "vaultline_version": __version__,
        "spec": {"file": _spec_file(loaded), "sha256": _spec_sha256(loaded)},
        "params": loaded.params,
        # where this run writes, known before it does: `gc` finds a killed first run's files there
        "output_roots": [normalize(output.path) for output in loaded.pipeline.outputs.values()],
        # and outside them: `gc` removes a killed or failed run's landing copies and quarantine file
        "landing_roots": sorted({landing_root(s.landing) for s in pipeline.sources.values() if s.landing}),
        "quarantine_root": quarantine_root(pipeline.quarantine.path, quarantine_dir, pipeline.name),
        "started_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "warnings": [w.render() for w in loaded.warnings],
    }


def _settle_failure(loaded: LoadedSpec, report: dict[str, Any], exc: BaseException) -> None:
    """The report of a run that raised: failed, unless the audit log failed after the commit (the data
    is committed: the run succeeded, and `run` says the log did not record all of it)."""
    if isinstance(exc, AuditUnavailableError) and report.get("datasets"):
        report["status"] = "succeeded"
        return
    if isinstance(exc, KeyboardInterrupt | Terminated) and report.get("datasets"):
        # stopped after its commit: the versions stand (as for a run killed then), the report says so
        committed = ", ".join(f"{name}@{number}" for name, number in sorted(report["datasets"].items()))
        report["status"], report["retryable"] = "committed", False
        report["error"] = f"{_stopped_by(exc)} after committing {committed}: those versions are whole"
        return
    if isinstance(exc, TransformError) and exc.step is not None:
        where = loaded.step_location(exc.step)
        exc.where = f"{where}: {exc.where}" if exc.where else where
    _failed(report, exc)


def _failed(report: dict[str, Any], exc: BaseException) -> None:
    """Mark the report failed with a value-free error, keeping what the error carries for the report."""
    from vaultline.transforms.expect import DataQualityError, summarize

    report["status"] = "failed"
    report["error_type"] = type(exc).__name__
    # what a scheduler needs to decide whether to rerun unchanged (`vaultline run` exits 75 then)
    report["retryable"] = exc.retryable if isinstance(exc, VaultlineError) else is_transient(exc)
    if isinstance(exc, KeyboardInterrupt | Terminated):  # stopped on purpose: a rerun completes it
        report["retryable"], report["error"] = True, _stopped_by(exc)
        log.error("run %s failed: %s", report["run_id"], report["error"])
        return
    if not isinstance(exc, VaultlineError):
        # by its type only: its text may quote values; out of reach (a store, a service) is a retry
        name = type(exc).__name__
        report["error"] = (
            f"a service could not be reached ({name})" if report["retryable"] else f"unexpected {name}"
        )
        log.error("run %s failed: %s", report["run_id"], report["error"])
        return
    report["error"] = exc.render()
    if isinstance(exc, DataQualityError):
        report["quality"] = summarize(exc.results)
    if isinstance(exc, SchemaDriftError):
        report["schema_drift"] = exc.report
    log.error("run %s failed: %s", report["run_id"], exc.render())


def _stopped_by(exc: BaseException) -> str:
    return "stopped by SIGTERM" if isinstance(exc, Terminated) else "interrupted (SIGINT)"


@contextmanager
def _stops_deferred() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait while a run records its end (report, catalog, audit `run.end`): arriving
    in the middle, they left it `running` for ever. Delivered right after, to the handlers that were
    in place. Signal handlers belong to the main thread; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {stop: signal.signal(stop, lambda number, _frame: caught.append(number)) for stop in stops}
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)
        if caught:
            signal.raise_signal(caught[0])


def _run_end_details(report: dict[str, Any]) -> dict[str, int | float | str]:
    rows = report.get("rows") or {}
    details: dict[str, int | float | str] = {"seconds": report["seconds"]}
    details |= {f"rows_{k}": v for k, v in rows.items() if isinstance(v, int)}
    if report.get("status") != "succeeded":
        # the type only: a message may name a principal, a key or a path, which the log keeps as hashes
        details["error"] = str(report.get("error_type", "unknown"))
    return details


@dataclass
class _SourcesRead:
    """Every source planned once (listed, fingerprinted) and the bookmarks the incremental ones used."""

    ingests: dict[str, Ingest]
    bookmarks: dict[str, SourceBookmark]

    @property
    def reset(self) -> bool:
        """Reset bookmarks were read from the start: outputs are replaced, not appended to."""
        return any(bookmark.reset for bookmark in self.bookmarks.values())

    @property
    def resets(self) -> int:
        """How many bookmarks this run's commit replaces (a never-advanced one does not count)."""
        return sum(1 for bookmark in self.bookmarks.values() if bookmark.reset and bookmark.run_id)

    @property
    def nothing_new(self) -> bool:
        return all(ingest.nothing_new for ingest in self.ingests.values())

    def advances(self, pipeline: Pipeline) -> list[Advance]:
        from vaultline.catalog.bookmarks import Advance

        moves = []
        for name, bookmark in self.bookmarks.items():
            ingest, incremental = self.ingests[name], pipeline.sources[name].incremental
            assert incremental is not None
            moves.append(
                Advance(
                    name, bookmark.kind, bookmark.run_id,
                    column=incremental.column, watermark=ingest.watermark, replace=bookmark.reset,
                    new_files=tuple((f["location"], f["sha256"]) for f in ingest.fingerprints)
                    if bookmark.kind == "files" else (),
                )
            )  # fmt: skip
        return moves

    def section(self) -> dict[str, Any]:
        """The report's value-free `incremental` section (counts, never the watermark's value)."""
        return {
            name: {
                "by": bookmark.kind,
                "already_delivered_files": len(bookmark.files),
                "new_files": 0 if self.ingests[name].nothing_new else len(self.ingests[name].fingerprints),
                "new_input": not self.ingests[name].nothing_new,
            }
            for name, bookmark in self.bookmarks.items()
        }


def _check_output_buckets(pipeline: Pipeline) -> None:
    """Before any input is read (fingerprinted, classified, copied to landing): an output bucket
    that is missing or out of reach would otherwise fail the run only once every row went through."""
    from vaultline.engines.polars.outputs import check_buckets

    check_buckets(pipeline)


def _read_sources(
    pipeline: Pipeline, state: State, report: dict[str, Any], audit: AuditLog, *, reset: bool,
    on_phase: Callable[[str], None],
) -> _SourcesRead:  # fmt: skip
    """Plan each source once (one full read of its bytes for the fingerprint); the plan serves the
    guardrail, the landing copies and the engine. Incremental sources skip what their bookmark says
    committed runs already delivered."""
    from vaultline.engines.polars.sources import read_source

    marks = _bookmarks(pipeline, state, reset=reset)
    if any(mark.reset for mark in marks.values()):
        report["bookmarks_reset"] = sum(1 for mark in marks.values() if mark.reset and mark.run_id)
        log.info("pipeline %s reads its reset sources from the start", pipeline.name)
    ingests = {}
    for name, source in pipeline.sources.items():
        on_phase(f"reading source {name}")
        where = source.path or f"{source.url}/{source.table or 'query'}"
        with audit.operation(
            "source.read", resource=f"{pipeline.name}.{name}", identifiers={"path": where},
            run_id=report["run_id"], details={"format": source.format},
        ) as op:  # fmt: skip
            ingests[name] = read_source(name, source, marks.get(name))
            op.details["inputs"] = len(ingests[name].fingerprints)
    report["schema_drift"] = check_drift(pipeline, state, ingests, report["run_id"])
    read = _SourcesRead(ingests, marks)
    if marks:
        report["incremental"] = read.section()
    return read


def _bookmarks(pipeline: Pipeline, state: State, *, reset: bool) -> dict[str, SourceBookmark]:
    """The incremental sources' bookmarks; with `reset`, all of them read as reset for this run only
    (the commit replaces them). Refuses a reset that would repeat input in an appended output."""
    from vaultline.catalog.bookmarks import BookmarkCatalog, SourceBookmark

    incremental = {name: s.incremental for name, s in pipeline.sources.items() if s.incremental}
    if reset and not incremental:
        raise TerminalError(
            f"pipeline {pipeline.name} has no incremental source: --reset-bookmark has nothing to reset",
            hint="run it without --reset-bookmark; each output's `mode` says whether a run replaces it",
        )
    if not incremental:
        return {}
    with BookmarkCatalog(state.catalog_url) as catalog:
        marks = {
            name: catalog.read(pipeline.name, name, inc.by, inc.column) for name, inc in incremental.items()
        }
    if reset:
        marks = {name: SourceBookmark(name, m.kind, m.run_id, reset=True) for name, m in marks.items()}
    kept = sorted(name for name, mark in marks.items() if mark.run_id and not mark.reset)
    appending = [name for name in pipeline.outputs if _output_mode(pipeline, name) == "append"]
    if kept and appending and any(mark.reset for mark in marks.values()):
        raise TerminalError(
            f"only some sources of pipeline {pipeline.name} were reset (not {', '.join(kept)}): reading the "
            f"reset ones again would repeat their input in {', '.join(appending)}, which the run appends to",
            hint=f"reset every source (vaultline bookmarks reset {pipeline.name}) or run with "
            "--reset-bookmark; both replace the appended outputs",
        )
    return marks


def _nothing_new_body() -> dict[str, Any]:
    return {
        "inputs": [],
        "rows": {"input": 0, "output": 0, "quarantined": 0, "quarantine_by_reason": {}},
        "steps": [], "protections": {}, "anomaly": {}, "reidentification": {}, "key_versions": {},
        "outputs": [], "quarantine": None, "timings": {}, "columns_out": [], "datasets": {},
    }  # fmt: skip


def _commit_audited(
    audit: AuditLog, state: State, run_id: str, pipeline: Pipeline, result: Any, *, report: dict[str, Any],
    read: _SourcesRead,
) -> dict[str, int]:  # fmt: skip
    """`_commit`, fail closed: no commit (nor bookmark reset) the log has not heard of first. When the
    intents or the commit fail, this run's files (outputs, their key material, its quarantine file)
    are removed, unless the catalog holds them all the same (a crash before this point leaves them
    for `gc`), and the bookmarks stay, so a rerun processes the same input exactly once."""
    try:
        for output in result.outputs:
            audit.intent("dataset.commit", resource=output.name, run_id=run_id)
        if read.reset:
            audit.intent("bookmark.reset", resource=pipeline.name, run_id=run_id)
        versions = report["datasets"] = _commit(state, run_id, pipeline, result, report=report, read=read)
    except BaseException as exc:
        written = [o.location for o in result.outputs]
        if not _committed_anyway(state, written):
            _remove_uncommitted(written, result.quarantine_location)
        elif isinstance(exc, RetryableError):  # the versions stand, or may: a rerun could append twice
            exc.final()
            exc.hint = (
                f"the commit of run {run_id} may have landed: `vaultline datasets list` tells; rerun only "
                f"if it did not. {exc.hint or ''}"
            ).strip()
        raise
    for name, number in versions.items():
        audit.record("dataset.commit", resource=name, run_id=run_id, details={"version": number})
    if read.reset:
        details = {"bookmarks": read.resets}
        audit.record("bookmark.reset", resource=pipeline.name, run_id=run_id, details=details)
    return versions


def _commit(
    state: State, run_id: str, pipeline: Pipeline, result: Any, *, report: dict[str, Any], read: _SourcesRead
) -> dict[str, int]:
    """One catalog transaction for every output and the incremental sources' bookmarks: only now do the
    files become readable versions and the input counts as delivered."""
    from vaultline.catalog.bookmarks import advance
    from vaultline.catalog.datasets import DatasetCatalog, FileEntry, VersionRequest

    detected = report.get("guardrail", {}).get("detected", {})
    requests = [
        VersionRequest(
            output.name,
            [FileEntry(output.location, output.sha256, output.rows, output.bytes)],
            schema={"columns": output.columns, "types": output.types},
            classifications={c: detected[c] for c in output.columns if c in detected},
            protections={c: p for c, p in report["protections"].items() if c in output.columns},
            encryption=output.encryption or {"enabled": False},
            watermark={"inputs": report["inputs"]},
            append=_appends(pipeline, output.name, read),
        )
        for output in result.outputs
    ]
    moves = read.advances(pipeline)
    with DatasetCatalog(state.catalog_url) as catalog:
        versions = catalog.commit_run(
            requests,
            run_id=run_id,
            also=(lambda conn: advance(conn, pipeline.name, run_id, moves)) if moves else None,
        )
    for name, number in versions.items():
        log.info("dataset %s version %d committed", name, number)
    return versions


def _output_mode(pipeline: Pipeline, output: str) -> str:
    """Incremental pipelines append by default."""
    incremental = any(source.incremental for source in pipeline.sources.values())
    return pipeline.outputs[output].mode or ("append" if incremental else "overwrite")


def _appends(pipeline: Pipeline, output: str, read: _SourcesRead) -> bool:
    """After a bookmark reset everything was read again, so the new version replaces the old files
    rather than repeating them."""
    return _output_mode(pipeline, output) == "append" and not read.reset


def _committed_anyway(state: State, paths: list[str]) -> bool:
    """Whether a failed commit's files are referenced all the same (a connection lost during COMMIT
    leaves its outcome unknown until asked); when the catalog cannot say, they are kept for gc, which
    deletes only what no version references."""
    from vaultline.catalog.datasets import DatasetCatalog

    try:
        with DatasetCatalog(state.catalog_url) as catalog:
            referenced = catalog.referenced_locations()
    except Exception:  # any failure means "unknown": keep the files
        log.warning("could not check whether a failed commit's files are referenced; `vaultline gc` will")
        return True
    return any(path in referenced for path in paths)


def _remove_uncommitted(paths: list[str], quarantine: str | None) -> None:
    from vaultline.storage import locations
    from vaultline.storage.parquet_footer import key_material_path

    if quarantine is not None:  # a failed run reports no quarantine file: none would find it
        try:
            locations.filesystem(quarantine).rm(quarantine)
        except OSError:
            log.warning("could not remove the quarantine file of a failed commit")
    for path in paths:
        fs = locations.filesystem(path)
        try:
            fs.rm(path)
            sidecar = key_material_path(path)  # external key material, when the output keeps it apart
            if fs.exists(sidecar):
                fs.rm(sidecar)
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
        key = KeyRef.parse(ref)
        # pinned for the whole run: a rotation while it works must not split one domain's tokens
        # between two versions (nor slip past the append check, which compares this version)
        version = key.version if key.version is not None else provider.info(key.name).current_version
        domains[domain] = str(KeyRef(key.name, version))
        log.info("key for domain %s: %s", domain, key.name)
    _ensure_encryption_keys(pipeline, provider)
    return provider, domains


def _execute(
    pipeline: Pipeline, state: State, ctx: RunContext, run_id: str, *, report: dict[str, Any],
    ingests: dict[str, Ingest], on_phase: Callable[[str], None],
) -> Any:  # fmt: skip
    """Classify the sources (the guardrail may refuse the run here), then run the engine."""
    from vaultline.classify import guardrail
    from vaultline.engines.polars.executor import execute

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
        ingests=ingests, spill_dir=state.spill_dir,
    )  # fmt: skip


def _ensure_encryption_keys(pipeline: Pipeline, provider: KeyProvider) -> None:
    """Fail closed before any row is read: every key an output encrypts with must be usable. Keys with
    Vaultline's default names are created on first use; any other key must already exist (a misspelt
    default name too: it would otherwise become a key of its own)."""
    for output in pipeline.outputs.values():
        encryption = output.encryption
        if not encryption.enabled:
            continue
        for ref in (encryption.footer_key, *encryption.column_keys.values()):
            name = KeyRef.parse(ref).name
            if name in DEFAULT_ENCRYPTION_KEYS:
                ensure_key(provider, name, purpose="encryption at rest")
            else:
                provider.info(name)


def ensure_key(provider: KeyProvider, name: str, *, purpose: str) -> None:
    """Create a key Vaultline manages itself (quarantine, default encryption keys) on first use.
    Two first runs may both find it missing: the one whose creation loses finds it made by the other."""
    try:
        provider.info(name)  # one key asked about: a listing would describe every key the provider has
        return
    except KeyringError:
        if name in {info.name for info in provider.list()}:  # it exists: the error was another one
            raise
    try:
        provider.create(name, purpose=purpose)
    except KeyringError:
        if name not in {info.name for info in provider.list()}:
            raise


def _facts_lookup(catalog: RunCatalog) -> Callable[[str, int], dict[str, Any]]:
    def lookup(run_id: str, step_index: int) -> dict[str, Any]:
        report = catalog.report(run_id)
        for step in report.get("steps", []):
            if step["index"] == step_index:
                facts: dict[str, Any] = step["facts"]
                return facts
        raise VaultlineError(f"run {run_id} has no step {step_index} in its report")

    return lookup


def _report_body(result: Any, ctx: RunContext) -> dict[str, Any]:
    from vaultline.transforms.expect import summarize

    protections: dict[str, list[str]] = {}
    quality: list[dict[str, Any]] = []
    anomaly: dict[str, Any] = {}
    reidentification: dict[str, Any] = {}
    for step in result.steps:
        from vaultline.transforms.registry import BY_NAME

        params_model = BY_NAME[step.name].params
        if params_model.protection.value != "none":
            for column in (
                # generalize: the column each rule writes (its `output`, or the column itself)
                list((step.facts.get("outputs") or {}).values())
                or step.facts.get("columns")
                or step.params.get("columns")
                or list(step.params.get("rules", {}))
            ):
                protections.setdefault(column, []).append(params_model.protection.value)
        if step.name == "anomaly":
            anomaly = {**step.facts, **step.metrics}
        if step.name == "k_anonymity":
            reidentification = dict(step.facts)
        if step.name == "expect":
            quality += step.facts["expectations"]
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
        "quality": summarize(quality),
        "key_versions": dict(ctx.key_versions),
        "outputs": [asdict(output) for output in result.outputs],
        "quarantine": result.quarantine_location,
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
        "columns_out": result.columns_out,
    }
