"""`vaultline lineage DATASET`: where a dataset comes from and what is made from it.

Read from the local copy of the OpenLineage events (`<state>/lineage/events.jsonl`), which every run
keeps even when its events also go to an HTTP endpoint.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from vaultline.cli.common import StateOption, handles_errors


class Format(StrEnum):
    text = "text"
    mermaid = "mermaid"
    dot = "dot"


@handles_errors
def lineage(
    dataset: Annotated[
        str, typer.Argument(help="Catalog dataset name, path, s3:// URL or OpenLineage namespace:name.")
    ],
    output_format: Annotated[
        Format, typer.Option("--format", help="text tree, Mermaid `graph LR` or Graphviz DOT.")
    ] = Format.text,
    depth: Annotated[int, typer.Option(help="Jobs to follow upstream and downstream.", min=1)] = 3,
    columns: Annotated[bool, typer.Option("--columns", help="Show column-level edges.")] = False,
    state: StateOption = None,
) -> None:
    """Upstream (sources and the datasets feeding them) and downstream (pipelines reading it) of a dataset."""
    from vaultline.lineage.emitter import events_path
    from vaultline.lineage.graph import LineageGraph, read_events
    from vaultline.lineage.render import RENDERERS
    from vaultline.state import State

    graph = LineageGraph.from_events(read_events(events_path(State.resolve(state))))
    sub = graph.around(graph.resolve(dataset), depth)
    typer.echo(RENDERERS[output_format.value](graph, sub, columns=columns), nl=False)
