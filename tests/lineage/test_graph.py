"""`vaultline lineage`: upstream and downstream from the stored events, as text, Mermaid and DOT.

The chain: raw transactions.csv -> fraud -> features (output/fraud_features) -> fraud_scoring ->
scores (output/fraud_scores). Goldens hold the renderings with the temporary directory written as
<ROOT> and run ids as <RUN>; `VAULTLINE_UPDATE_GOLDEN=1` rewrites them after a deliberate change.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from lineage_runs import Runs
from typer.testing import CliRunner

from vaultline.cli.main import app
from vaultline.errors import TerminalError
from vaultline.lineage.emitter import events_path
from vaultline.lineage.graph import LineageGraph, read_events
from vaultline.lineage.render import RENDERERS

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("VAULTLINE_UPDATE_GOLDEN") == "1"
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]{6}")


def _graph(runs: Runs) -> LineageGraph:
    return LineageGraph.from_events(read_events(events_path(runs.state)))


def _normalized(runs: Runs, text: str) -> str:
    return RUN_ID.sub("<RUN>", text.replace(str(runs.out.resolve()), "<ROOT>"))


@pytest.mark.parametrize(
    ("output_format", "columns", "golden"),
    [
        ("text", False, "features.txt"),
        ("text", True, "features_columns.txt"),
        ("mermaid", False, "features.mmd"),
        ("mermaid", True, "features_columns.mmd"),
        ("dot", False, "features.dot"),
        ("dot", True, "features_columns.dot"),
    ],
)
def test_renderings_match_their_goldens(chain: Runs, output_format: str, columns: bool, golden: str) -> None:
    graph = _graph(chain)
    rendered = RENDERERS[output_format](graph, graph.around(graph.resolve("features"), 3), columns=columns)
    got = _normalized(chain, rendered)
    path = GOLDEN / golden
    if UPDATE:
        path.write_text(got, "utf-8")
    assert got == path.read_text("utf-8")


def test_upstream_and_downstream_of_the_middle_dataset(chain: Runs) -> None:
    graph = _graph(chain)
    features = graph.resolve("features")
    sub = graph.around(features, 3)
    assert [b.job for b in sub.upstream] == ["fraud"]
    assert [d for d, _ in sub.upstream[0].datasets] == [("file", str(chain.out / "raw" / "transactions.csv"))]
    assert [b.job for b in sub.downstream] == ["fraud_scoring"]
    assert [d for d, _ in sub.downstream[0].datasets] == [
        ("file", str(chain.out / "output" / "fraud_scores"))
    ]


def test_depth_limits_the_walk(chain: Runs) -> None:
    graph = _graph(chain)
    raw = graph.resolve(str(chain.out / "raw" / "transactions.csv"))
    two = graph.around(raw, 2)
    assert [b.job for b in two.downstream] == ["fraud"]
    assert [b.job for _, beyond in two.downstream[0].datasets for b in beyond] == ["fraud_scoring"]
    one = graph.around(raw, 1)
    assert [b.job for _, beyond in one.downstream[0].datasets for b in beyond] == []
    assert set(one.jobs) == {"fraud"}


def test_datasets_resolve_by_catalog_name_path_and_openlineage_id(
    chain: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    graph = _graph(chain)
    features = ("file", str(chain.out / "output" / "fraud_features"))
    assert graph.resolve("features") == features
    assert graph.resolve(f"file:{features[1]}") == features
    assert graph.resolve(str(chain.out / "output" / "fraud_features" / "*.parquet")) == features
    monkeypatch.chdir(chain.out)
    assert graph.resolve("output/fraud_features") == features
    assert graph.resolve("scores") == ("file", str(chain.out / "output" / "fraud_scores"))


def test_an_unknown_dataset_names_the_known_ones(chain: Runs) -> None:
    with pytest.raises(TerminalError) as raised:
        _graph(chain).resolve("no_such_dataset")
    assert "is not in the lineage events" in raised.value.message
    assert raised.value.hint is not None and "features" in raised.value.hint and "scores" in raised.value.hint


def test_a_torn_last_line_is_skipped(tmp_path: Path, chain: Runs) -> None:
    copy = tmp_path / "events.jsonl"
    copy.write_text(events_path(chain.state).read_text("utf-8") + '{"eventType": "STA', "utf-8")
    assert len(read_events(copy)) == len(chain.events())


def test_the_command_prints_each_format(chain: Runs) -> None:
    runner = CliRunner()
    state = str(chain.state.root)
    graph = _graph(chain)
    sub = graph.around(graph.resolve("scores"), 3)
    for output_format in ("text", "mermaid", "dot"):
        result = runner.invoke(
            app, ["lineage", "scores", "--state", state, "--format", output_format, "--columns"]
        )
        assert result.exit_code == 0, result.output
        assert result.output == RENDERERS[output_format](graph, sub, columns=True)
    text = runner.invoke(app, ["lineage", "scores", "--state", state]).output
    assert "<- job fraud_scoring" in text and "<- job fraud [" in text and "downstream: none" in text


def test_the_command_explains_missing_events_and_unknown_datasets(chain: Runs, tmp_path: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(app, ["lineage", "features", "--state", str(tmp_path / "empty")])
    assert empty.exit_code == 1 and "no lineage events yet" in empty.output
    unknown = runner.invoke(app, ["lineage", "nope", "--state", str(chain.state.root)])
    assert unknown.exit_code == 1 and "is not in the lineage events" in unknown.output
    assert "Traceback" not in unknown.output


def test_a_run_with_nothing_new_keeps_the_edges_of_the_last_run_that_wrote() -> None:
    source = {"namespace": "file", "name": "/raw/events"}
    output = {"namespace": "file", "name": "/out/events_out"}

    def complete(run: str, outputs: list[dict[str, str]]) -> dict[str, object]:
        facets = {"vaultline": {"runId": run}}
        return {"eventType": "COMPLETE", "job": {"name": "events"}, "run": {"facets": facets},
                "inputs": [source], "outputs": outputs}  # fmt: skip

    graph = LineageGraph.from_events([complete("r1", [output]), complete("r2", [])])
    [writer] = graph.writers(("file", "/out/events_out"))
    assert writer.run_id == "r2" and writer.inputs == [("file", "/raw/events")]


def test_a_failed_run_after_a_completed_one_changes_neither_its_edges_nor_its_run() -> None:
    def event(kind: str, run: str, source: str) -> dict[str, object]:
        outputs = [{"namespace": "file", "name": "/out/features"}] if kind == "COMPLETE" else []
        return {"eventType": kind, "job": {"name": "fraud"}, "run": {"facets": {"vaultline": {"runId": run}}},
                "inputs": [{"namespace": "file", "name": source}], "outputs": outputs}  # fmt: skip

    graph = LineageGraph.from_events(
        [event("START", "r1", "/raw/tx"), event("COMPLETE", "r1", "/raw/tx"),
         event("START", "r2", "/nope/tx"), event("FAIL", "r2", "/nope/tx")]
    )  # fmt: skip
    [writer] = graph.writers(("file", "/out/features"))
    assert (writer.state, writer.run_id, writer.inputs) == ("COMPLETE", "r1", [("file", "/raw/tx")])
    never = LineageGraph.from_events([event("START", "r9", "/raw/a"), event("FAIL", "r9", "/raw/a")])
    assert (never.jobs["fraud"].state, never.jobs["fraud"].run_id) == ("FAIL", "r9")  # its latest state
