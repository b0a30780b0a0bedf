"""`vaultline classify`: which columns of a source are sensitive, with evidence and profiles."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from vaultline.cli.common import JsonOption, SourceFormat, StateOption, audited, emit_json, handles_errors

FormatOption = Annotated[
    Literal["table", "json"], typer.Option("--format", help="table for people, json for scripts.")
]


@handles_errors
def classify(  # noqa: PLR0917 - typer maps each parameter to an option
    source: Annotated[
        str,
        typer.Argument(
            help="A file or s3:// URL (csv, parquet, jsonl), or SPEC.yaml:SOURCE for a source of a pipeline."
        ),
    ],
    sample_fraction: Annotated[
        float, typer.Option("--sample-fraction", help="Fraction of rows sampled (at least 1,000 rows).")
    ] = 0.1,
    threshold: Annotated[
        float,
        typer.Option("--threshold", help="Fraction of sampled values that must validate.", min=0.0, max=1.0),
    ] = 0.5,
    source_format: Annotated[
        SourceFormat | None,
        typer.Option("--source-format", help="csv, parquet or jsonl, when the extension does not say."),
    ] = None,
    output_format: FormatOption = "table",
    json_out: JsonOption = False,  # the spelling every other command takes
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="For SPEC.yaml:SOURCE: override a spec parameter, KEY=VALUE."),
    ] = None,
    state: StateOption = None,
) -> None:
    """Detect PII, PHI, PCI and credentials column by column, from a sample; never prints a value.

    Example: vaultline classify pipelines/fraud/pipeline.yaml:transactions --param source_bucket=raw
    """
    from vaultline.classify.report import classify_location
    from vaultline.cli.render import findings_table
    from vaultline.spec.loader import parse_param

    params = dict(parse_param(p) for p in param or [])
    with audited(state, "source.classify", identifiers={"path": source}) as operation:
        report = classify_location(
            source, fraction=sample_fraction, threshold=threshold, file_format=source_format, params=params
        )
        operation.details["columns"] = len(report["columns"])
    if json_out or output_format == "json":
        emit_json(report)
    else:
        findings_table(report["source"], report["columns"])
