"""`vaultline init` and `vaultline explain`: the policy assistant. It proposes; a human decides."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from vaultline.cli.common import JsonOption, SourceFormat, StateOption, audited, emit_json, handles_errors

Profile = Literal["hipaa-safe-harbor", "pci", "gdpr-pseudonymization"]


@handles_errors
def init(  # noqa: PLR0917 - typer maps each parameter to an option
    source: Annotated[str, typer.Argument(help="A file or s3:// URL (csv, parquet, jsonl) to protect.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the drafted spec.")] = Path(
        "pipeline.yaml"
    ),
    profile: Annotated[
        Profile, typer.Option("--profile", help="Compliance profile the proposals follow.")
    ] = "hipaa-safe-harbor",
    use: Annotated[
        list[str] | None,
        typer.Option(
            "--use",
            help="COLUMN=USE, what a column is for: join_key, display, analytics, free_text or none "
            "(default: inferred from what it holds).",
        ),
    ] = None,
    sample_fraction: Annotated[
        float, typer.Option("--sample-fraction", help="Fraction of rows sampled.")
    ] = 0.1,
    source_format: Annotated[
        SourceFormat | None,
        typer.Option("--source-format", help="csv, parquet or jsonl, when the extension does not say."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    state: StateOption = None,
) -> None:
    """Classify SOURCE and draft a complete, valid pipeline spec, each protection with its reason.

    Example: vaultline init raw/transactions.csv --profile pci --use email=join_key --out tx.yaml
    """
    from vaultline.classify.assistant import write_spec

    with audited(state, "source.classify", identifiers={"path": source}, details={"draft": True}):
        draft = write_spec(
            source, out, force=force, profile=profile, uses=use or [], fraction=sample_fraction,
            file_format=source_format,
        )  # fmt: skip
    typer.echo(f"wrote {out}: {len(draft.proposals)} column(s) protected under {profile}; review every step.")
    for key in draft.keys.values():
        typer.echo(f"  vaultline keys create {key}")
    typer.echo(f"  vaultline explain {out}\n  vaultline run {out}")


@handles_errors
def explain(
    spec: Annotated[Path, typer.Argument(help="Pipeline spec (YAML).")],
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Override a parameter: KEY=VALUE.")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 1 when there is any finding.")
    ] = False,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Explain each protection of a spec (why, which risk, what the profile proposes) and flag weak ones."""
    from vaultline.classify.explain import explain as explain_spec
    from vaultline.cli.render import explanation
    from vaultline.spec.loader import load, parse_param
    from vaultline.state import State

    loaded = load(spec, dict(parse_param(p) for p in param or []))
    result = explain_spec(loaded.pipeline, State.resolve(state))
    if json_out:
        emit_json(result)
    else:
        explanation(str(spec), result)
    if strict and result["findings"]:
        raise typer.Exit(1)
