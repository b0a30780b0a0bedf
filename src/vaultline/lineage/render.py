"""Draw a lineage subgraph as a text tree, a Mermaid `graph LR` or a Graphviz DOT digraph.

Datasets show their catalog name (or the last part of their path) and their OpenLineage id; jobs show
the pipeline name. With columns, each edge is one input column feeding one output column, labelled
with the steps on the way; a masking edge (a protection) is dashed.
"""

from __future__ import annotations

from vaultline.lineage.graph import Branch, ColumnEdge, DatasetKey, JobView, LineageGraph, Subgraph


def _id(key: DatasetKey) -> str:
    return f"{key[0]}:{key[1]}"


def _dataset_line(graph: LineageGraph, key: DatasetKey) -> str:
    return f"{graph.label(key)} ({_id(key)})"


def _job_line(job: JobView) -> str:
    run = f", run {job.run_id}" if job.run_id else ""
    return f"job {job.name} [{job.state.lower()}{run}]"


def _edge_text(graph: LineageGraph, edge: ColumnEdge, *, upstream: bool) -> str:
    steps = " > ".join(edge.steps) or "unchanged"
    flags = " [masked]" if edge.masking else ""
    source = f"{graph.label(edge.source)}.{edge.source_field}"
    if not edge.target_field:
        return f"rows filtered by {source} via {steps}"
    target = f"{graph.label(edge.target)}.{edge.target_field}"
    if upstream:
        return f"{target} <- {source} via {steps}{flags}"
    return f"{source} -> {target} via {steps}{flags}"


def _column_edges(sub: Subgraph) -> list[ColumnEdge]:
    """Column edges between datasets the subgraph shows, through the jobs it shows."""
    shown = set(sub.datasets())
    edges = [
        edge
        for name, job in sub.jobs.items()
        for edge in job.columns
        if (name, edge.target) in sub.writes and edge.source in shown and (edge.source, name) in sub.reads
    ]
    return list(dict.fromkeys(edges))


def text(graph: LineageGraph, sub: Subgraph, *, columns: bool = False) -> str:
    """An indented tree: `<-` what the dataset comes from, `->` what comes from it."""
    lines = [_dataset_line(graph, sub.root)]
    for title, branches, upstream in (
        ("upstream", sub.upstream, True),
        ("downstream", sub.downstream, False),
    ):
        lines.append(f"  {title}:" if branches else f"  {title}: none")
        _branches(graph, sub, branches, 2, lines, columns=columns, upstream=upstream)
    return "\n".join(lines) + "\n"


def _branches(
    graph: LineageGraph, sub: Subgraph, branches: list[Branch], depth: int, lines: list[str], *,
    columns: bool, upstream: bool,
) -> None:  # fmt: skip
    arrow, indent = ("<-" if upstream else "->"), "  " * depth
    for branch in branches:
        job = sub.jobs[branch.job]
        lines.append(f"{indent}{arrow} {_job_line(job)}")
        if columns:
            related = [
                e for e in (*job.columns, *job.filters) if (e.target if upstream else e.source) == branch.via
            ]
            lines += [f"{indent}     {_edge_text(graph, e, upstream=upstream)}" for e in related]
        for dataset, beyond in branch.datasets:
            lines.append(f"{indent}  {arrow} {_dataset_line(graph, dataset)}")
            _branches(graph, sub, beyond, depth + 2, lines, columns=columns, upstream=upstream)


def _escape_mermaid(label: str) -> str:
    # entity codes: a quote would end the label, < and > could be read as HTML
    return label.replace('"', "#quot;").replace("<", "#60;").replace(">", "#62;")


def _escape_dot(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"')


def mermaid(graph: LineageGraph, sub: Subgraph, *, columns: bool = False) -> str:
    datasets = {key: f"d{i}" for i, key in enumerate(sub.datasets())}
    jobs = {name: f"j{i}" for i, name in enumerate(sub.jobs)}
    edges = _column_edges(sub) if columns else []
    fields = _fields(edges)
    lines = ["graph LR"]
    for key, node in datasets.items():
        label = f'"{_escape_mermaid(graph.label(key))}<br/>{_escape_mermaid(_id(key))}"'
        if columns and fields.get(key):
            lines.append(f"  subgraph {node}[{label}]")
            lines += [f'    {node}_c{i}["{_escape_mermaid(f)}"]' for i, f in enumerate(fields[key])]
            lines.append("  end")
        else:
            lines.append(f"  {node}[({label})]")
    lines += [f'  {node}[["{_escape_mermaid(name)}"]]' for name, node in jobs.items()]
    lines += [f"  {datasets[d]} --> {jobs[j]}" for d, j in sub.reads]
    lines += [f"  {jobs[j]} --> {datasets[d]}" for j, d in sub.writes]
    for edge in edges:
        source = f"{datasets[edge.source]}_c{fields[edge.source].index(edge.source_field)}"
        target = f"{datasets[edge.target]}_c{fields[edge.target].index(edge.target_field)}"
        arrow = "-.->" if edge.masking else "-->"
        label = f'|"{_escape_mermaid(" > ".join(edge.steps))}"|' if edge.steps else ""
        lines.append(f"  {source} {arrow}{label} {target}")
    return "\n".join(lines) + "\n"


def _fields(edges: list[ColumnEdge]) -> dict[DatasetKey, list[str]]:
    fields: dict[DatasetKey, list[str]] = {}
    for edge in edges:
        for key, name in ((edge.source, edge.source_field), (edge.target, edge.target_field)):
            if name not in fields.setdefault(key, []):
                fields[key].append(name)
    return fields


def _record_field(label: str) -> str:
    # a record label gives { } | < > a meaning: escape them, and the quote and backslash of the string
    return "".join(f"\\{c}" if c in '{}|<>"\\' else c for c in label)


def dot(graph: LineageGraph, sub: Subgraph, *, columns: bool = False) -> str:
    datasets = {key: f"d{i}" for i, key in enumerate(sub.datasets())}
    jobs = {name: f"j{i}" for i, name in enumerate(sub.jobs)}
    edges = _column_edges(sub) if columns else []
    fields = _fields(edges)
    lines = ["digraph lineage {", "  rankdir=LR;", "  node [fontname=Helvetica];"]
    for key, node in datasets.items():
        if columns and fields.get(key):
            head = _record_field(graph.label(key)) + "\\n" + _record_field(_id(key))
            ports = "|".join(f"<c{i}> {_record_field(f)}" for i, f in enumerate(fields[key]))
            # left to right, a record's fields stack vertically: the name first, then the columns
            lines.append(f'  {node} [shape=record, label="{head}|{ports}"];')
        else:
            label = f"{_escape_dot(graph.label(key))}\\n{_escape_dot(_id(key))}"
            lines.append(f'  {node} [shape=cylinder, label="{label}"];')
    lines += [
        f'  {node} [shape=box, style=rounded, label="{_escape_dot(name)}"];' for name, node in jobs.items()
    ]
    lines += [f"  {datasets[d]} -> {jobs[j]};" for d, j in sub.reads]
    lines += [f"  {jobs[j]} -> {datasets[d]};" for j, d in sub.writes]
    for edge in edges:
        source = f"{datasets[edge.source]}:c{fields[edge.source].index(edge.source_field)}"
        target = f"{datasets[edge.target]}:c{fields[edge.target].index(edge.target_field)}"
        attributes = [f'label="{_escape_dot(" > ".join(edge.steps))}"'] if edge.steps else []
        attributes += ["style=dashed"] if edge.masking else []
        lines.append(f"  {source} -> {target}" + (f" [{', '.join(attributes)}];" if attributes else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


RENDERERS = {"text": text, "mermaid": mermaid, "dot": dot}
