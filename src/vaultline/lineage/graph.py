"""Upstream and downstream of a dataset, from the stored OpenLineage events (no OpenLineage import).

Each job (pipeline) is seen as its latest completed run: the datasets it read, the datasets it wrote
and their column lineage; a job that never completed is seen as its latest start (inputs only). A
job writes a dataset when one of its outputs is that dataset or a directory holding it; it reads a
dataset when one of its inputs is that dataset or lies inside it (a pipeline reading
`output/features/*.parquet` reads what another pipeline writes to `output/features`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaultline.errors import TerminalError

DatasetKey = tuple[str, str]
"""(namespace, name) of a dataset, as OpenLineage names it."""


@dataclass(frozen=True)
class ColumnEdge:
    """An input column feeding an output column (or, with no target field, deciding which rows reach
    the output), with the steps on the way; `masking` when one of them is a protection."""

    source: DatasetKey
    source_field: str
    target: DatasetKey
    target_field: str
    steps: tuple[str, ...]
    masking: bool


@dataclass
class JobView:
    """A job as its latest completed run shows it (or its latest start when it never completed)."""

    name: str
    state: str = ""
    run_id: str = ""
    inputs: list[DatasetKey] = field(default_factory=list)
    outputs: list[DatasetKey] = field(default_factory=list)
    columns: list[ColumnEdge] = field(default_factory=list)
    filters: list[ColumnEdge] = field(default_factory=list)
    """Input columns that decide which rows reach an output (target_field is empty)."""
    completed: bool = False


@dataclass
class Branch:
    """A job met while walking from the root, with the datasets it leads to (its inputs when walking
    upstream, its outputs downstream), each with the branches beyond it."""

    job: str
    via: DatasetKey
    """The dataset the walk came from: written by the job (upstream) or read by it (downstream)."""
    datasets: list[tuple[DatasetKey, list[Branch]]] = field(default_factory=list)


@dataclass
class Subgraph:
    """What `vaultline lineage` shows: the dataset, then jobs and datasets up and down to a depth."""

    root: DatasetKey
    jobs: dict[str, JobView] = field(default_factory=dict)
    reads: list[tuple[DatasetKey, str]] = field(default_factory=list)
    """(dataset, job) edges."""
    writes: list[tuple[str, DatasetKey]] = field(default_factory=list)
    """(job, dataset) edges."""
    upstream: list[Branch] = field(default_factory=list)
    downstream: list[Branch] = field(default_factory=list)

    def datasets(self) -> list[DatasetKey]:
        keys = [self.root, *(d for d, _ in self.reads), *(d for _, d in self.writes)]
        return list(dict.fromkeys(keys))


def contains(outer: DatasetKey, inner: DatasetKey) -> bool:
    """Whether `inner` is `outer` or lies inside it (a file in a directory, an object under a prefix)."""
    return outer[0] == inner[0] and (outer[1] == inner[1] or inner[1].startswith(outer[1].rstrip("/") + "/"))


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every run event of the local event file, in the order they were written."""
    if not path.exists():
        raise TerminalError(
            f"no lineage events yet at {path}",
            hint="lineage events are written by `vaultline run`; run a pipeline first (or pass --state)",
        )
    events: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of a crashed writer: the other events still stand
            if isinstance(event, dict) and "job" in event and "eventType" in event:
                events.append(event)
    return events


def _key(dataset: dict[str, Any]) -> DatasetKey:
    return str(dataset["namespace"]), str(dataset["name"])


def _steps(transformations: list[dict[str, Any]]) -> tuple[str, ...]:
    names = [str(t.get("description") or t.get("subtype") or "").split(" (")[0] for t in transformations]
    return tuple(dict.fromkeys(n for n in names if n and n != "unchanged"))


def _column_edges(target: DatasetKey, facet: dict[str, Any]) -> tuple[list[ColumnEdge], list[ColumnEdge]]:
    def edge(item: dict[str, Any], target_field: str) -> ColumnEdge:
        transformations = list(item.get("transformations") or [])
        return ColumnEdge(
            source=(str(item["namespace"]), str(item["name"])),
            source_field=str(item["field"]),
            target=target,
            target_field=target_field,
            steps=_steps(transformations),
            masking=any(t.get("masking") for t in transformations),
        )

    columns = [
        edge(item, name)
        for name, spec in (facet.get("fields") or {}).items()
        for item in spec.get("inputFields") or []
    ]
    return columns, [edge(item, "") for item in facet.get("dataset") or []]


@dataclass
class LineageGraph:
    """Every job of the event file, and the catalog names of the datasets they wrote."""

    jobs: dict[str, JobView]
    aliases: dict[DatasetKey, str]

    @classmethod
    def from_events(cls, events: Iterable[dict[str, Any]]) -> LineageGraph:
        jobs: dict[str, JobView] = {}
        aliases: dict[DatasetKey, str] = {}
        for event in events:
            name = str(event["job"]["name"])
            job = jobs.setdefault(name, JobView(name))
            kind = str(event["eventType"])
            run_id = str(((event.get("run") or {}).get("facets") or {}).get("vaultline", {}).get("runId", ""))
            inputs = [_key(d) for d in event.get("inputs") or []]
            if job.completed and kind != "COMPLETE":
                continue  # seen as its latest completed run: later starts and failures change nothing
            job.state, job.run_id = kind, run_id
            if kind == "COMPLETE" and job.completed and not event.get("outputs"):
                continue  # a run with nothing new committed nothing: the last writing run's edges stand
            if kind == "COMPLETE":
                job.completed = True
                job.inputs, job.outputs, job.columns, job.filters = inputs, [], [], []
                for output in event.get("outputs") or []:
                    key = _key(output)
                    job.outputs.append(key)
                    facets = output.get("facets") or {}
                    columns, filters = _column_edges(key, facets.get("columnLineage") or {})
                    job.columns += columns
                    job.filters += filters
                    for link in (facets.get("symlinks") or {}).get("identifiers") or []:
                        aliases[key] = str(link["name"])
            elif not job.completed and kind == "START":
                job.inputs = inputs
        return cls(jobs, aliases)

    def label(self, dataset: DatasetKey) -> str:
        """Short name: the catalog dataset name, else the last part of the path or table name."""
        return self.aliases.get(dataset) or dataset[1].rstrip("/").rsplit("/", 1)[-1] or dataset[1]

    def known(self) -> list[DatasetKey]:
        keys = [k for job in self.jobs.values() for k in (*job.inputs, *job.outputs)]
        return sorted(set(keys))

    def resolve(self, text: str) -> DatasetKey:
        """A dataset by catalog name, `namespace:name`, local path or s3:// URL."""
        from vaultline.lineage.naming import location_dataset

        named = [key for key, alias in self.aliases.items() if alias == text]
        if len(named) == 1:
            return named[0]
        known = self.known()
        candidates = [key for key in known if f"{key[0]}:{key[1]}" == text]
        if not candidates:
            wanted = location_dataset(text)
            candidates = [key for key in known if contains(key, wanted) or contains(wanted, key)]
            candidates = [wanted] if wanted in candidates else candidates
        if len(candidates) == 1:
            return candidates[0]
        names = sorted(set(self.aliases.values())) or [f"{k[0]}:{k[1]}" for k in known[:10]]
        problem = (
            "matches several datasets" if candidates or len(named) > 1 else "is not in the lineage events"
        )
        raise TerminalError(
            f"dataset {text!r} {problem}",
            hint=f"give a catalog dataset name ({', '.join(names[:10]) or 'none yet'}), "
            "a path, an s3:// URL or namespace:name",
        )

    def writers(self, dataset: DatasetKey) -> list[JobView]:
        return [job for job in self.jobs.values() if any(contains(o, dataset) for o in job.outputs)]

    def readers(self, dataset: DatasetKey) -> list[JobView]:
        return [job for job in self.jobs.values() if any(contains(dataset, i) for i in job.inputs)]

    def around(self, root: DatasetKey, depth: int) -> Subgraph:
        """The jobs and datasets up to `depth` jobs upstream and downstream of `root`."""
        graph = Subgraph(root)
        graph.upstream = self._walk(graph, root, depth, set(), upstream=True)
        graph.downstream = self._walk(graph, root, depth, set(), upstream=False)
        return graph

    def _walk(
        self, graph: Subgraph, dataset: DatasetKey, depth: int, seen: set[str], *, upstream: bool
    ) -> list[Branch]:
        if depth < 1:
            return []
        branches: list[Branch] = []
        for job in self.writers(dataset) if upstream else self.readers(dataset):
            graph.jobs[job.name] = job
            if upstream:
                _add(graph.writes, (job.name, dataset))
            else:
                _add(graph.reads, (dataset, job.name))
            branch = Branch(job.name, dataset)
            branches.append(branch)
            if job.name in seen:
                continue  # a cycle (a job reading what it writes): shown once
            for other in job.inputs if upstream else job.outputs:
                if upstream:
                    _add(graph.reads, (other, job.name))
                else:
                    _add(graph.writes, (job.name, other))
                beyond = self._walk(graph, other, depth - 1, seen | {job.name}, upstream=upstream)
                branch.datasets.append((other, beyond))
        return branches


def _add(edges: list[Any], edge: Any) -> None:
    if edge not in edges:
        edges.append(edge)
