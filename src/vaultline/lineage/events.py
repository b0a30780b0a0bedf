"""OpenLineage RunEvents (START, COMPLETE, FAIL) for a Vaultline run, built with the official client.

Datasets are named as `naming.py` says. Events carry names, counts, sizes and SHA-256 digests of
whole files: never a data value, never a query text.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from typing import Any, ClassVar

import attr
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    InputDatasetFacet,
    JobFacet,
    OutputDatasetFacet,
    RunFacet,
    column_lineage_dataset,
    dataset_version_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    input_statistics_input_dataset,
    job_type_job,
    output_statistics_output_dataset,
    processing_engine_run,
    schema_dataset,
    symlinks_dataset,
)

from vaultline import __version__
from vaultline.lineage.columns import ColumnLineage, Hop, Sources, column_lineage
from vaultline.lineage.graph import contains
from vaultline.lineage.naming import location_dataset, output_dataset, source_dataset
from vaultline.spec.models import Pipeline

JOB_NAMESPACE = "vaultline"
"""Namespace of every Vaultline job; the job name is the pipeline name."""
DATASET_SYMLINK_NAMESPACE = "vaultline"
"""Namespace of the symlink that names an output by its catalog dataset name."""
PRODUCER = f"urn:vaultline:{__version__}"
_RUN_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:vaultline:run")


def run_uuid(run_id: str) -> str:
    """The OpenLineage run id of a Vaultline run: a UUID derived from its run id (the same every time)."""
    return str(uuid.uuid5(_RUN_IDS, run_id))


@attr.define
class VaultlineRunFacet(RunFacet):
    """The Vaultline run behind an OpenLineage run: its own id, its spec's digest, status and row counts."""

    runId: str  # OpenLineage facets spell fields in camelCase
    specSha256: str | None = attr.field(default=None)
    status: str | None = attr.field(default=None)
    rows: dict[str, int] | None = attr.field(default=None)

    _additional_skip_redact: ClassVar[list[str]] = ["runId", "specSha256", "status", "rows"]

    @staticmethod
    def _get_schema() -> str:
        return "urn:vaultline:facets:VaultlineRunFacet:1-0-0"


def _schema(columns: list[str], types: dict[str, str] | None = None) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=c, type=(types or {}).get(c), ordinal_position=i, fields=None
            )
            for i, c in enumerate(columns, start=1)
        ],
        producer=PRODUCER,
    )


def _flow_lineage(pipeline: Pipeline, report: dict[str, Any]) -> ColumnLineage:
    """Lineage up to the end of the steps: it names every source column the flow uses or passes on."""
    columns = report.get("columns_out") or [c for o in report.get("outputs", []) for c in o["columns"]]
    return column_lineage(pipeline, list(dict.fromkeys(columns)), _declared(pipeline))


def _declared(pipeline: Pipeline) -> list[str]:
    return list(dict.fromkeys(c for source in pipeline.sources.values() for c in source.columns or {}))


def _inputs(pipeline: Pipeline, report: dict[str, Any], *, complete: bool) -> list[InputDataset]:
    lineage = _flow_lineage(pipeline, report) if complete else None
    inputs: list[InputDataset] = []
    for source in pipeline.sources.values():
        dataset = source_dataset(source)
        facets: dict[str, DatasetFacet] = {}
        input_facets: dict[str, InputDatasetFacet] = {}
        if lineage is not None:
            facets["schema"] = _schema(lineage.source_columns, dict(source.columns or {}))
            read = report.get("inputs", [])
            files = [f for f in read if contains(dataset, location_dataset(str(f.get("location", ""))))]
            if files:
                facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                    datasetVersion=_files_version(files), producer=PRODUCER
                )
                input_facets["inputStatistics"] = (
                    input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                        size=sum(int(f.get("bytes") or 0) for f in files),
                        fileCount=len(files),
                        producer=PRODUCER,
                    )
                )
        inputs.append(InputDataset(dataset[0], dataset[1], facets=facets, inputFacets=input_facets))
    return inputs


def _files_version(files: list[dict[str, Any]]) -> str:
    """The SHA-256 of the one file read, or the SHA-256 of the sorted digests of several."""
    digests = sorted(str(f["sha256"]) for f in files)
    return digests[0] if len(digests) == 1 else hashlib.sha256("\n".join(digests).encode()).hexdigest()


def _transformations(hops: tuple[Hop, ...]) -> list[column_lineage_dataset.Transformation]:
    chain = hops or (Hop(-1, "DIRECT", "IDENTITY", False, "unchanged"),)
    return [
        column_lineage_dataset.Transformation(
            type=hop.kind, subtype=hop.subtype, description=hop.description, masking=hop.masking
        )
        for hop in chain
    ]


def _input_fields(
    sources: Sources, datasets: list[tuple[str, str]]
) -> list[column_lineage_dataset.InputField]:
    # Several sources are concatenated with the same columns: a column comes from each of them.
    return [
        column_lineage_dataset.InputField(
            namespace=namespace, name=name, field=column, transformations=_transformations(hops)
        )
        for column, hops in sources.items()
        for namespace, name in datasets
    ]


def _column_lineage_facet(
    lineage: ColumnLineage, datasets: list[tuple[str, str]]
) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    fields: dict[str, column_lineage_dataset.Fields] = {}
    for column, sources in lineage.fields.items():
        # the deprecated field-level type: IDENTITY (a copy) or MASKED (every input ends protected)
        identity = len(sources) == 1 and not any(sources.values())
        masked = bool(sources) and all(chain and chain[-1].masking for chain in sources.values())
        fields[column] = column_lineage_dataset.Fields(
            inputFields=_input_fields(sources, datasets),
            transformationType="IDENTITY" if identity else "MASKED" if masked else None,
        )
    return column_lineage_dataset.ColumnLineageDatasetFacet(
        fields=fields, dataset=_input_fields(lineage.dataset, datasets), producer=PRODUCER
    )


def _outputs(pipeline: Pipeline, report: dict[str, Any]) -> list[OutputDataset]:
    sources = [source_dataset(source) for source in pipeline.sources.values()]
    versions: dict[str, int] = report.get("datasets") or {}
    outputs: list[OutputDataset] = []
    for written in report.get("outputs", []):
        name = str(written["name"])
        namespace, dataset = output_dataset(pipeline.outputs[name])
        lineage = column_lineage(pipeline, list(written["columns"]), _declared(pipeline))
        facets: dict[str, DatasetFacet] = {
            "schema": _schema(list(written["columns"])),
            "columnLineage": _column_lineage_facet(lineage, sources),
            "symlinks": symlinks_dataset.SymlinksDatasetFacet(
                identifiers=[symlinks_dataset.Identifier(DATASET_SYMLINK_NAMESPACE, name, "DATASET")],
                producer=PRODUCER,
            ),
        }
        if name in versions:
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=str(versions[name]), producer=PRODUCER
            )
        statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=int(written["rows"]), size=int(written["bytes"]), fileCount=1, producer=PRODUCER
        )
        output_facets: dict[str, OutputDatasetFacet] = {"outputStatistics": statistics}
        outputs.append(OutputDataset(namespace, dataset, facets=facets, outputFacets=output_facets))
    quarantine = _quarantine(report)
    return outputs + ([quarantine] if quarantine else [])


def _quarantine(report: dict[str, Any]) -> OutputDataset | None:
    """Where the run's rejected rows went: an output too, so an auditor sees every place rows reach."""
    location = report.get("quarantine")
    if not location:
        return None
    namespace, dataset = location_dataset(str(location).rsplit("/", 1)[0])
    documentation = documentation_dataset.DocumentationDatasetFacet(
        description="Vaultline quarantine: rejected rows with their reason, data values AES-SIV encrypted",
        producer=PRODUCER,
    )
    rows = int((report.get("rows") or {}).get("quarantined", 0))
    statistics = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=rows, fileCount=1, producer=PRODUCER
    )
    return OutputDataset(
        namespace,
        dataset,
        facets={"documentation": documentation},
        outputFacets={"outputStatistics": statistics},
    )


def _job(pipeline: Pipeline) -> Job:
    facets: dict[str, JobFacet] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="VAULTLINE", jobType="JOB", producer=PRODUCER
        )
    }
    if pipeline.description:
        facets["documentation"] = documentation_job.DocumentationJobFacet(
            description=pipeline.description, producer=PRODUCER
        )
    return Job(namespace=JOB_NAMESPACE, name=pipeline.name, facets=facets)


def _run(run_id: str, report: dict[str, Any], status: str | None) -> Run:
    rows = report.get("rows") or {}
    counts = {k: int(rows[k]) for k in ("input", "output", "quarantined") if k in rows}
    facets: dict[str, RunFacet] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=__version__,
            name="vaultline",
            openlineageAdapterVersion=package_version("openlineage-python"),
            producer=PRODUCER,
        ),
        "vaultline": VaultlineRunFacet(
            runId=run_id,
            specSha256=(report.get("spec") or {}).get("sha256") or None,
            status=status,
            rows=counts or None,
            producer=PRODUCER,
        ),
    }
    if status == "failed":
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=str(report.get("error") or "the run failed"),
            programmingLanguage="python",
            producer=PRODUCER,
        )
    return Run(runId=run_uuid(run_id), facets=facets)


def _time(report: dict[str, Any], key: str) -> str:
    return str(report.get(key) or datetime.now(UTC).isoformat(timespec="milliseconds"))


def start_event(pipeline: Pipeline, run_id: str, report: dict[str, Any]) -> RunEvent:
    """START: the job and the datasets it will read (known from the spec before any row is read)."""
    return RunEvent(
        eventType=RunState.START,
        eventTime=_time(report, "started_at"),
        run=_run(run_id, report, "running"),
        job=_job(pipeline),
        inputs=_inputs(pipeline, report, complete=False),
        outputs=[OutputDataset(*output_dataset(o)) for o in pipeline.outputs.values()],
        producer=PRODUCER,
    )


def complete_event(pipeline: Pipeline, run_id: str, report: dict[str, Any]) -> RunEvent:
    """COMPLETE: inputs (schema, version, size), outputs (schema, column lineage, catalog version)."""
    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=_time(report, "finished_at"),
        run=_run(run_id, report, "succeeded"),
        job=_job(pipeline),
        inputs=_inputs(pipeline, report, complete=True),
        outputs=_outputs(pipeline, report),
        producer=PRODUCER,
    )


def fail_event(pipeline: Pipeline, run_id: str, report: dict[str, Any]) -> RunEvent:
    """FAIL: the run's value-free error message; no output was committed."""
    return RunEvent(
        eventType=RunState.FAIL,
        eventTime=_time(report, "finished_at"),
        run=_run(run_id, report, "failed"),
        job=_job(pipeline),
        inputs=_inputs(pipeline, report, complete=False),
        outputs=[],
        producer=PRODUCER,
    )
