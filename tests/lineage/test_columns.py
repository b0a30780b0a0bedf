"""Column-level lineage from the spec: the fraud example's golden file, and the rules of the walk."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from lineage_runs import Runs

from vaultline.lineage.columns import column_lineage
from vaultline.spec.models import Pipeline
from vaultline.transforms.base import EVERY_COLUMN, ColumnFlow

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("VAULTLINE_UPDATE_GOLDEN") == "1"
DIRECT = {"IDENTITY", "TRANSFORMATION", "AGGREGATION"}
INDIRECT = {"JOIN", "GROUP_BY", "FILTER", "SORT", "WINDOW", "CONDITIONAL"}


def _compact(input_fields: list[dict[str, Any]]) -> dict[str, list[str]]:
    """field -> 'TYPE SUBTYPE [masking]: description' per transformation (one source dataset)."""
    compact: dict[str, list[str]] = {}
    for item in input_fields:
        compact[item["field"]] = [
            f"{t['type']} {t['subtype']}{' masking' if t['masking'] else ''}: {t['description']}"
            for t in item["transformations"]
        ]
    return compact


def _complete(runs: Runs, pipeline: str) -> dict[str, Any]:
    return next(e for e in runs.events() if e["eventType"] == "COMPLETE" and e["job"]["name"] == pipeline)


def _pipeline(text: str) -> Pipeline:
    from ruamel.yaml import YAML

    return Pipeline.model_validate(YAML(typ="safe").load(text))


def test_fraud_column_lineage_matches_the_golden_file(examples: Runs) -> None:
    facet = _complete(examples, "fraud")["outputs"][0]["facets"]["columnLineage"]
    got = {
        "fields": {
            name: {"type": spec.get("transformationType"), "inputs": _compact(spec["inputFields"])}
            for name, spec in facet["fields"].items()
        },
        "dataset": _compact(facet["dataset"]),
    }
    path = GOLDEN / "fraud_column_lineage.json"
    if UPDATE:
        path.write_text(json.dumps(got, indent=2) + "\n", "utf-8")
    assert got == json.loads(path.read_text("utf-8"))


def test_fraud_lineage_covers_every_output_column_from_the_source(examples: Runs) -> None:
    event = _complete(examples, "fraud")
    source = event["inputs"][0]
    output = event["outputs"][0]
    facet = output["facets"]["columnLineage"]
    columns = examples.reports["fraud"]["outputs"][0]["columns"]
    assert sorted(facet["fields"]) == sorted(columns)  # the serializer sorts keys: the schema keeps order
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == columns
    for spec in facet["fields"].values():
        assert spec["inputFields"], "every output column comes from at least one source column"
        for item in spec["inputFields"]:
            assert (item["namespace"], item["name"]) == (source["namespace"], source["name"])
            for t in item["transformations"]:
                assert t["subtype"] in (DIRECT if t["type"] == "DIRECT" else INDIRECT)
    # the source's schema holds every column the flow reads, including merchant_name, which is
    # dropped before anything else reads it
    source_fields = {f["name"] for f in source["facets"]["schema"]["fields"]}
    feeding = {i["field"] for s in facet["fields"].values() for i in s["inputFields"]}
    assert feeding | {"merchant_name"} <= source_fields
    assert "merchant_name" not in facet["fields"]


def test_protections_are_masking_and_features_are_not(examples: Runs) -> None:
    fields = _complete(examples, "fraud")["outputs"][0]["facets"]["columnLineage"]["fields"]
    for column in ("customer_id", "account_number", "card_number", "email", "device_id", "ip_address"):
        assert fields[column]["transformationType"] == "MASKED"
        assert fields[column]["inputFields"][0]["transformations"][-1]["masking"] is True
    for column in ("transaction_id", "mcc", "country"):  # trimmed, "" made null: clean's every-column rule
        assert _compact(fields[column]["inputFields"]) == {column: ["DIRECT TRANSFORMATION: clean (step 0)"]}
    velocity = {i["field"]: i["transformations"] for i in fields["velocity"]["inputFields"]}
    assert {(t["type"], t["subtype"]) for t in velocity["customer_id"]} >= {("INDIRECT", "WINDOW")}
    assert ("DIRECT", "AGGREGATION") in {(t["type"], t["subtype"]) for t in velocity["timestamp"]}
    assert fields["velocity"].get("transformationType") is None  # derived, not a masked copy


def test_healthplus_generalization_replaces_date_of_birth_with_age(examples: Runs) -> None:
    event = _complete(examples, "healthplus")
    facet = event["outputs"][0]["facets"]["columnLineage"]
    assert "date_of_birth" not in facet["fields"]
    age = _compact(facet["fields"]["age"]["inputFields"])
    assert set(age) == {"date_of_birth", "admission_date"}
    assert any("masking: generalize" in t and "age_from_date" in t for t in age["date_of_birth"])
    # k-anonymity suppression decides which rows remain: age's sources and gender filter the dataset
    filters = _compact(facet["dataset"])
    for column in ("date_of_birth", "admission_date", "gender"):
        assert any("INDIRECT FILTER" in t and "k_anonymity" in t for t in filters[column])
    assert not any("k_anonymity" in t for t in filters.get("condition_code", []))  # min_l is not set


def test_every_example_step_stays_within_its_declared_columns(examples: Runs) -> None:
    for loaded in examples.loaded.values():
        for _, params in loaded.pipeline.all_steps():
            flows = params.column_lineage()
            assert all(isinstance(f, ColumnFlow) for f in flows)
            assert {f.source for f in flows} <= {*params.input_columns(), EVERY_COLUMN}
            assert {f.target for f in flows if f.target} <= {*params.output_columns(), EVERY_COLUMN}


SPEC = """
version: 1
name: walk
sources:
  a: {format: csv, path: a.csv, schema: {x: float64, y: string}}
steps:
  - derive: {columns: {z: {kind: arithmetic, expression: "x * 2 + w"}}}
  - tokenize: {columns: [y], domain: d}
  - derive: {columns: {x: {kind: arithmetic, expression: "z + 1"}}}
  - k_anonymity: {quasi_identifiers: [y], min_k: 2}
  - drop: {columns: [z, v]}
outputs:
  o: {path: out}
"""


def test_the_walk_reads_each_step_before_it_writes() -> None:
    lineage = column_lineage(_pipeline(SPEC), ["x", "y", "u"], ["x", "y"])
    # declared first, then in order of first use: w (read by a step), v (dropped), u (passed through)
    assert lineage.source_columns == ["x", "y", "w", "v", "u"]
    # x is overwritten from z, which came from the original x and w
    assert set(lineage.fields["x"]) == {"x", "w"}
    assert [h.description for h in lineage.fields["x"]["x"]] == [
        "derive (step 0): arithmetic",
        "derive (step 2): arithmetic",
    ]
    assert [h.masking for h in lineage.fields["y"]["y"]] == [True]
    assert lineage.fields["u"] == {"u": ()}
    assert lineage.dataset == {}  # k_anonymity with on_violation fail never removes a row


def test_dropped_columns_leave_the_flow() -> None:
    pipeline = _pipeline(SPEC)
    lineage = column_lineage(pipeline, ["z"])
    # z was dropped: an output column of that name could only be a new source column
    assert lineage.fields["z"] == {"z": ()}


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"bin": {"column": "a", "output": "b"}}, [("b", "a", "TRANSFORMATION")]),
        ({"clean": {"cast": {"a": "float64"}, "dedupe": {"keys": ["k"]}}},
         [("a", "a", "TRANSFORMATION"), ("*", "*", "TRANSFORMATION"), (None, "a", "FILTER"),
          (None, "k", "FILTER")]),
        ({"clean": {"required": ["a"], "empty_as_null": False}}, [(None, "a", "FILTER")]),
        ({"k_anonymity": {"quasi_identifiers": ["q"], "sensitive": ["s"], "min_l": 2,
                          "on_violation": "suppress"}},
         [(None, "q", "FILTER"), (None, "s", "FILTER")]),
        ({"drop": {"columns": ["a"]}}, []),
        ({"mask": {"columns": ["a"]}}, [("a", "a", "TRANSFORMATION")]),
    ],
)  # fmt: skip
def test_column_flows_per_transform(
    step: dict[str, Any], expected: list[tuple[str | None, str, str]]
) -> None:
    from vaultline.spec.models import step_params

    spec = {"version": 1, "name": "one", "sources": {"s": {"format": "csv", "path": "s.csv"}},
            "steps": [step], "outputs": {"o": {"path": "o"}}}  # fmt: skip
    params = step_params(Pipeline.model_validate(spec).steps[0])
    assert [(f.target, f.source, f.subtype) for f in params.column_lineage()] == expected
    assert all(f.masking == (params.protection.value != "none") for f in params.column_lineage())


def test_a_pipeline_without_clean_copies_columns_as_identity(chain: Runs) -> None:
    event = _complete(chain, "fraud_scoring")
    fields = event["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert fields["amount_bin"]["transformationType"] == "IDENTITY"
    assert _compact(fields["amount_bin"]["inputFields"]) == {"amount_bin": ["DIRECT IDENTITY: unchanged"]}
    assert _compact(fields["review_priority"]["inputFields"]) == {
        "anomaly_score": ["DIRECT TRANSFORMATION: derive (step 1): arithmetic"]
    }
    assert "customer_id" not in fields  # dropped by the scoring pipeline
