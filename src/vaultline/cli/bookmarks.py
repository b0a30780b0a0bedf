"""`vaultline bookmarks list|reset`: what each incremental source has already delivered.

A column watermark may be a data value (a timestamp, an id): it is only ever reported as set or not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from vaultline.cli.common import JsonOption, StateOption, audited, emit_json, handles_errors
from vaultline.errors import TerminalError

if TYPE_CHECKING:
    from vaultline.catalog.bookmarks import BookmarkCatalog, BookmarkSummary

app = typer.Typer(help="Job bookmarks of incremental sources.", no_args_is_help=True)


def _catalog(state: StateOption) -> BookmarkCatalog:
    from vaultline.catalog.bookmarks import BookmarkCatalog
    from vaultline.state import State

    return BookmarkCatalog(State.existing(state).catalog_url)


@app.command("list")
@handles_errors
def list_bookmarks(
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline's bookmarks.")] = None,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Every bookmark: files delivered so far, or whether a column watermark is set, and by which run."""
    with _catalog(state) as catalog:
        summaries = catalog.list(pipeline)
    if json_out:
        emit_json([s.as_dict() for s in summaries])
        return
    if not summaries:
        typer.echo("no bookmarks yet: a source with `incremental:` gets one when its first run commits")
        return
    for s in summaries:
        mark = "watermark set" if s.watermark_set else "no watermark yet"
        kept = f"{s.files} file(s)" if s.kind == "files" else f"column {s.column}, {mark}"
        pending = "; reset: the next run reads it from the start" if s.reset_pending else ""
        typer.echo(f"{s.pipeline}.{s.source}  by {s.kind}: {kept}{pending}  (run {s.run_id}, {s.updated_at})")


def _require_bookmarks(summaries: list[BookmarkSummary], pipeline: str, source: str | None) -> None:
    """Refuse a reset that would mark nothing: an unknown pipeline, or a source it has no bookmark for."""
    pipelines = sorted({s.pipeline for s in summaries})
    if pipeline not in pipelines:
        raise TerminalError(
            f"pipeline {pipeline} has no bookmarks to reset",
            hint=f"pipelines with bookmarks: {', '.join(pipelines)}"
            if pipelines
            else "no pipeline has any: a source with `incremental:` gets one when its first run commits",
        )
    sources = sorted(s.source for s in summaries if s.pipeline == pipeline)
    if source is not None and source not in sources:
        raise TerminalError(
            f"pipeline {pipeline} has no bookmark for source {source}",
            hint=f"its sources with bookmarks: {', '.join(sources)}",
        )


@app.command("reset")
@handles_errors
def reset(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    source: Annotated[str | None, typer.Option(help="Only this source (default: every source).")] = None,
    state: StateOption = None,
    json_out: JsonOption = False,
) -> None:
    """Reset incremental sources: the next run reads them from the start and replaces appended outputs.

    What they delivered is forgotten only when that run commits: a failed run leaves the reset pending."""
    with _catalog(state) as catalog:
        _require_bookmarks(catalog.list(), pipeline, source)  # a typo is refused, not audited as a reset
        with audited(state, "bookmark.reset", resource=pipeline, details={"source": source}) as operation:
            removed = operation.details["bookmarks"] = catalog.reset(pipeline, source)
    if json_out:
        emit_json({"pipeline": pipeline, "source": source, "reset": removed})
        return
    typer.echo(
        f"{removed} bookmark(s) of pipeline {pipeline} reset: its next run reads them from the start and "
        "replaces the outputs it appends to"
    )
