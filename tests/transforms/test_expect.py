"""expect: every kind passes and fails, quarantine routes exactly the failing rows, mostly, fail stops
the run with its results, drift against the previous run through the real runner, and no result ever
holds an input value."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from stubs import StubContext
from vaultline.engines.polars import expect
from vaultline.engines.polars.base import REASON, StepResult
from vaultline.errors import SpecError, TransformError
from vaultline.keys.local import PASSPHRASE_ENV
from vaultline.run.context import RunContext
from vaultline.run.runner import run
from vaultline.spec.loader import loads
from vaultline.state import State
from vaultline.transforms.expect import DataQualityError, Params

NOW = dt.datetime.now(dt.UTC)


def apply(frame: pl.DataFrame, *expectations: dict[str, Any], ctx: Any = None) -> StepResult:
    return expect.apply(frame.lazy(), Params.model_validate(list(expectations)), ctx or StubContext())


def results(result: StepResult) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in result.facts["expectations"]}


def only(frame: pl.DataFrame, **expectation: Any) -> dict[str, Any]:
    """The result of one warn-severity expectation (warn never stops the step)."""
    result = apply(frame, {"name": "e", "severity": "warn", **expectation})
    return results(result)["e"]


TX = pl.DataFrame(
    {
        "tx": ["T-01", "T-02", "T-03", "T-04", "T-05", "T-06"],
        "account": ["A-9", "A-9", "A-7", None, "A-5", "A-9"],
        "amount": [12.5, 880.25, -3.75, 45.0, None, 1999.99],
        "currency": ["USD", "EUR", "usd", "GBP", "USD", None],
        "mcc": [5411, 5812, 5411, 7995, 5411, 5812],
        "booked": [NOW - dt.timedelta(hours=h) for h in (50, 40, 30, 20, 10, 5)],
    }
)

# (expectation, failing rows on TX) per row-level kind; each passes on the rows that do not fail.
ROW_CASES: list[tuple[dict[str, Any], int]] = [
    ({"kind": "not_null", "columns": ["tx", "account"]}, 1),
    ({"kind": "unique", "column": "account"}, 3),  # every A-9 row
    ({"kind": "unique", "columns": ["account", "mcc"]}, 2),  # (A-9, 5812) twice
    ({"kind": "range", "column": "amount", "min": 0, "max": 1000}, 2),  # -3.75 and 1999.99
    ({"kind": "range", "column": "amount", "min": 12.5, "include_min": False}, 2),  # 12.5 itself, -3.75
    ({"kind": "range", "column": "amount", "max": 1999.99, "include_max": False}, 1),
    ({"kind": "allowed_values", "column": "currency", "values": ["USD", "EUR", "GBP"]}, 1),  # usd
    ({"kind": "allowed_values", "column": "mcc", "values": [5411, 5812]}, 1),  # 7995
    ({"kind": "pattern", "column": "currency", "pattern": "[A-Z]{3}"}, 1),  # usd
    ({"kind": "pattern", "column": "tx", "pattern": "T-0[1-5]"}, 1),  # whole text: T-06
]


@pytest.mark.parametrize(("expectation", "failing"), ROW_CASES, ids=lambda c: str(c)[:60])
def test_each_row_level_kind_counts_its_failing_rows_and_passes_without_them(
    expectation: dict[str, Any], failing: int
) -> None:
    failed = only(TX, **expectation)
    assert (failed["passed"], failed["failed_rows"]) == (False, failing)
    kept = apply(TX, {"name": "q", "severity": "quarantine", **expectation}).frame.collect()
    assert kept.height == TX.height - failing
    passing = only(kept, **expectation)
    assert (passing["passed"], passing["failed_rows"], passing["columns"]) == (True, 0, failed["columns"])


def test_pattern_matches_the_whole_text_and_nulls_pass_value_checks() -> None:
    frame = pl.DataFrame({"code": ["ABC", "ABCD", "xABC", None]})
    result = only(frame, kind="pattern", column="code", pattern="[A-Z]{3}")
    assert result["failed_rows"] == 2
    assert result["observed"] == {"rows": 3, "failed_fraction": round(2 / 3, 6)}
    assert only(frame, kind="not_null", column="code")["failed_rows"] == 1


def test_not_null_counts_nan_as_missing_in_float_columns() -> None:
    # a column only not_null reads is collected as its presence: NaN must stay missing there too
    frame = pl.DataFrame({"x": [1.0, float("nan"), None, 2.0], "tx": ["a", "b", None, "d"]})
    assert only(frame, kind="not_null", column="x")["failed_rows"] == 2
    assert only(frame, kind="not_null", columns=["x", "tx"])["failed_rows"] == 2
    result = apply(frame, {"name": "x_present", "kind": "not_null", "column": "x", "severity": "quarantine"})
    assert result.quarantine is not None
    assert result.quarantine.collect()["tx"].to_list() == ["b", None]
    assert result.frame.collect()["tx"].to_list() == ["a", "d"]


@pytest.mark.parametrize(
    ("bounds", "passed"),
    [({"min": 6}, True), ({"min": 7}, False), ({"max": 5}, False), ({"min": 1, "max": 6}, True)],
)
def test_row_count(bounds: dict[str, int], passed: bool) -> None:
    result = only(TX, kind="row_count", **bounds)
    assert result["passed"] is passed
    assert result["observed"] == {"rows": 6, "min": bounds.get("min"), "max": bounds.get("max")}


def test_row_count_fails_on_an_empty_flow() -> None:
    assert only(TX.clear(), kind="row_count", min=1)["passed"] is False


@pytest.mark.parametrize(
    ("column", "max_age", "passed"),
    [("booked", "6h", True), ("booked", "4h", False), ("booked_utc", "1d", True), ("booked_utc", "3h", False),
     ("day", "3d", True), ("day", "1h", False)],
)  # fmt: skip
def test_freshness_on_naive_zoned_timestamps_and_dates(column: str, max_age: str, passed: bool) -> None:
    # Ages are measured against the wall clock: `booked` is rebuilt now, not when the module loaded.
    now = dt.datetime.now(dt.UTC)
    fresh = pl.Series("booked", [now - dt.timedelta(hours=h) for h in (50, 40, 30, 20, 10, 5)])
    frame = TX.with_columns(fresh.cast(TX.schema["booked"])).with_columns(
        pl.col("booked").dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Tokyo").alias("booked_utc"),
        pl.col("booked").dt.date().alias("day"),
    )
    result = only(frame, kind="freshness", column=column, max_age=max_age)
    assert result["passed"] is passed
    assert result["observed"]["max_age_seconds"] in {6 * 3600, 4 * 3600, 86400, 3 * 3600, 3 * 86400, 3600}
    if column != "day":
        assert result["observed"]["age_seconds"] == pytest.approx(5 * 3600, abs=120)


def test_freshness_of_an_all_null_column_fails() -> None:
    frame = pl.DataFrame({"ts": pl.Series([None, None], dtype=pl.Datetime("us"))})
    result = only(frame, kind="freshness", column="ts", max_age="1d")
    assert result["passed"] is False and result["observed"]["age_seconds"] is None


def test_quarantine_routes_exactly_the_failing_rows_with_the_first_reason() -> None:
    frame = TX.with_columns(pl.Series("currency", ["USD", "EUR", "usd", "GBP", "JPY", None]))
    result = apply(
        frame,
        {"name": "amount_sane", "kind": "range", "column": "amount", "min": 0, "max": 1000,
         "severity": "quarantine"},
        {"name": "known_currency", "kind": "allowed_values", "column": "currency",
         "values": ["USD", "EUR", "GBP"], "severity": "quarantine"},
        {"name": "accounts", "kind": "not_null", "column": "account", "severity": "warn"},
    )  # fmt: skip
    assert_frame_equal(result.frame.collect(), frame[[0, 1, 3]])
    assert result.quarantine is not None
    # Row 2 breaks both rules (-3.75 and "usd"): the first expectation in spec order names it.
    reasons = ["expect:amount_sane", "expect:known_currency", "expect:amount_sane"]
    assert_frame_equal(result.quarantine.collect(), frame[[2, 4, 5]].with_columns(pl.Series(REASON, reasons)))
    by_name = results(result)
    assert (by_name["amount_sane"]["failed_rows"], by_name["known_currency"]["failed_rows"]) == (2, 2)
    assert by_name["accounts"]["failed_rows"] == 1 and by_name["accounts"]["passed"] is False


def test_nothing_fails_nothing_is_quarantined() -> None:
    result = apply(TX, {"name": "ids", "kind": "not_null", "column": "tx", "severity": "quarantine"})
    assert result.quarantine is None
    assert_frame_equal(result.frame.collect(), TX)


@pytest.mark.parametrize(("mostly", "passed"), [(0.8, True), (0.81, False), (0.5, True), (1.0, False)])
def test_mostly_is_the_fraction_of_judged_rows_that_must_pass(mostly: float, passed: bool) -> None:
    # 10 rows with a value, 2 outside [0, 100], and 2 nulls that are not judged: 8/10 pass.
    frame = pl.DataFrame({"x": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 250.5, -1.5, None, None]})
    result = only(frame, kind="range", column="x", min=0, max=100, mostly=mostly)
    assert (result["passed"], result["failed_rows"]) == (passed, 2)
    assert result["observed"] == {"rows": 10, "failed_fraction": 0.2, "mostly": mostly}


def test_fail_raises_with_every_result_after_evaluating_all() -> None:
    with pytest.raises(DataQualityError) as caught:
        apply(
            TX,
            {"name": "ids", "kind": "unique", "column": "tx"},
            {"name": "amount_sane", "kind": "range", "column": "amount", "min": 0},
            {"name": "volume", "kind": "row_count", "max": 3},
            {"name": "fresh", "kind": "freshness", "column": "booked", "max_age": "1h", "severity": "warn"},
        )
    error = caught.value
    assert [(r["name"], r["passed"]) for r in error.results] == [
        ("ids", True), ("amount_sane", False), ("volume", False), ("fresh", False)
    ]  # fmt: skip
    assert "2 expectation(s) of severity fail" in error.message
    assert "amount_sane (range, 1 failing rows)" in error.message and "volume" in error.message
    assert error.where == "step 0 (expect)" and error.hint and not error.retryable


def test_validation_is_not_switched_off_by_pandera_configuration() -> None:
    from pandera.config import config_context

    with config_context(validation_enabled=False):
        assert only(TX, kind="not_null", column="account")["failed_rows"] == 1


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for value in node.values() for leaf in _leaves(value)]
    if isinstance(node, list):
        return [leaf for value in node for leaf in _leaves(value)]
    return [node]


def test_no_result_holds_an_input_value() -> None:
    rng = random.Random(7)
    n = 400
    secret_ids = [f"SSN-{rng.randrange(10**8, 10**9)}" for _ in range(n)]
    frame = pl.DataFrame(
        {
            "ssn": [*secret_ids[:-3], None, secret_ids[0], secret_ids[1]],
            "amount": [round(rng.uniform(1000, 9000), 3) + 0.0005 for _ in range(n)],
            "email": [f"person{i}@example.org" for i in range(n)],
            "seen": [NOW - dt.timedelta(days=9, seconds=rng.randrange(10**5)) for _ in range(n)],
        }
    )
    with pytest.raises(DataQualityError) as caught:
        apply(
            frame,
            {"name": "a", "kind": "not_null", "column": "ssn", "severity": "warn"},
            {"name": "b", "kind": "unique", "column": "ssn", "severity": "quarantine"},
            {"name": "c", "kind": "range", "column": "amount", "max": 5000, "severity": "warn"},
            {
                "name": "d",
                "kind": "allowed_values",
                "column": "email",
                "values": ["x@y.z"],
                "severity": "warn",
            },
            {"name": "f", "kind": "pattern", "column": "email", "pattern": "[a-z]+@example\\.com"},
            {"name": "g", "kind": "row_count", "max": 10},
            {"name": "h", "kind": "freshness", "column": "seen", "max_age": "1d"},
            {"name": "i", "kind": "distribution_drift", "column": "amount", "severity": "warn"},
        )
    inputs = {v for column in frame.columns for v in frame[column].drop_nulls().to_list()}
    texts = {str(v) for v in inputs}
    leaves = _leaves(caught.value.results)
    assert not [leaf for leaf in leaves if leaf in inputs or str(leaf) in texts]
    rendered = json.dumps(caught.value.results) + caught.value.render() + str(caught.value)
    assert not [t for t in texts if t in rendered]
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_type_mismatches_are_value_free_errors() -> None:
    with pytest.raises(TransformError, match="needs a numeric column, but 'currency' has type String"):
        only(TX, kind="range", column="currency", min=0)
    with pytest.raises(TransformError, match="needs a text or categorical column, but 'mcc'"):
        only(TX, kind="pattern", column="mcc", pattern="5.*")
    with pytest.raises(TransformError, match="fractional values for integer column 'mcc'"):
        only(TX, kind="allowed_values", column="mcc", values=[5411.5])
    with pytest.raises(TransformError, match="not all of its kind"):
        only(TX, kind="allowed_values", column="amount", values=["12.5"])
    with pytest.raises(TransformError, match="not supported by Polars"):
        only(TX, kind="pattern", column="tx", pattern=r"T-01\Z")  # Python's end of text; Rust has no \Z
    with pytest.raises(TransformError, match="needs a date or timestamp column"):
        only(TX, kind="freshness", column="amount", max_age="1d")
    with pytest.raises(TransformError, match=r"column\(s\) 'nope' not in the flow"):
        only(TX, kind="not_null", column="nope")


# --- parameters --------------------------------------------------------------------------------


def _invalid(*expectations: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as caught:  # pydantic's ValidationError
        Params.model_validate(list(expectations))
    return str(caught.value)


def test_parameters_are_validated_with_their_field() -> None:
    assert "quarantine applies to row-level kinds only" in _invalid(
        {"name": "n", "kind": "row_count", "min": 1, "severity": "quarantine"}
    )
    assert "mostly applies to warn and fail" in _invalid(
        {"name": "n", "kind": "not_null", "column": "a", "severity": "quarantine", "mostly": 0.9}
    )
    assert "either `columns: [...]` or `column: NAME`" in _invalid({"name": "n", "kind": "unique"})
    assert "must be unique: n repeated" in _invalid(
        {"name": "n", "kind": "unique", "column": "a"}, {"name": "n", "kind": "not_null", "column": "a"}
    )
    assert "Extra inputs are not permitted" in _invalid(
        {"name": "n", "kind": "row_count", "min": 1, "mostly": 0.5}
    )
    assert "min must not be greater than max" in _invalid(
        {"name": "n", "kind": "range", "column": "a", "min": 2, "max": 1}
    )
    assert "max_age is a whole number and a unit" in _invalid(
        {"name": "n", "kind": "freshness", "column": "t", "max_age": "2 days"}
    )
    assert "invalid regular expression" in _invalid(
        {"name": "n", "kind": "pattern", "column": "a", "pattern": "("}
    )
    assert "'not_null', 'unique'" in _invalid({"name": "n", "kind": "sometimes", "column": "a"})
    assert "give min, max or both" in _invalid({"name": "n", "kind": "range", "column": "a"})
    assert "greater than 0" in _invalid({"name": "n", "kind": "not_null", "column": "a", "mostly": 0})


def test_spec_forms_lines_and_lint() -> None:
    spec = """\
version: 1
name: p
sources: {s: {format: csv, path: in.csv}}
steps:
  - expect:
      - {name: ids, kind: not_null, column: id}
  - expect:
      expectations:
        - {name: volume, kind: row_count, min: 1, severity: quarantine}
outputs: {o: {path: out}}
"""
    with pytest.raises(SpecError) as caught:
        loads(spec)
    (issue,) = caught.value.issues
    assert issue.field.startswith("steps.1.expect.expectations.0") and issue.line == 9
    assert "quarantine applies to row-level kinds only" in issue.message

    duplicated = spec.replace(
        "{name: volume, kind: row_count, min: 1, severity: quarantine}",
        "{name: ids, kind: row_count, min: 1}",
    )
    with pytest.raises(SpecError, match="expectation name 'ids' is already used by step 0"):
        loads(duplicated)

    drift = spec.replace(
        "{name: volume, kind: row_count, min: 1, severity: quarantine}",
        "{name: mix, kind: distribution_drift, column: c, domain: nokey}",
    )
    (warning,) = loads(drift).warnings
    assert warning.field == "steps.1.expect.0.domain" and "token domain 'nokey' has no key" in warning.message
    assert not loads(drift.replace("domain: nokey", "domain: quarantine")).warnings  # fmt: skip


def test_json_schema_lists_every_kind() -> None:
    from vaultline.spec.models import Pipeline

    text = json.dumps(Pipeline.model_json_schema())
    for kind in ("not_null", "unique", "range", "allowed_values", "pattern", "row_count", "freshness",
                 "distribution_drift"):  # fmt: skip
        assert f'"const": "{kind}"' in text


# --- distribution drift ------------------------------------------------------------------------


class HistoryContext(StubContext):
    """A golden-test context with one earlier run whose expect step recorded `baselines`."""

    def __init__(self, baselines: dict[str, Any], run: str = "run-1") -> None:
        super().__init__()
        self.baselines = baselines
        self.run = run

    def previous_run_facts(self, step: str) -> tuple[str, list[dict[str, Any]]]:
        assert step == "expect"
        return self.run, [{"baselines": self.baselines}]


def _psi(actual: list[float], expected: list[float]) -> float:
    floor = [(max(a, 1e-4), max(e, 1e-4)) for a, e in zip(actual, expected, strict=True)]
    return sum((a - e) * math.log(a / e) for a, e in floor)


def test_numeric_psi_over_the_previous_runs_edges() -> None:
    baseline = {"type": "numeric", "edges": [10.0, 20.0], "proportions": [0.25, 0.5, 0.25]}
    # Bins (-inf, 10], (10, 20], (20, inf): 10 is in the first bin; NaN and null are left out.
    frame = pl.DataFrame({"x": [1.0, 10.0, 15.0, 25.0, 30.0, 40.0, float("nan"), None]})
    result = results(
        apply(frame, {"name": "d", "kind": "distribution_drift", "column": "x", "severity": "warn"},
              ctx=HistoryContext({"d": baseline}))
    )["d"]  # fmt: skip
    expected = _psi([2 / 6, 1 / 6, 3 / 6], [0.25, 0.5, 0.25])
    assert result["observed"] == {
        "threshold": 0.2, "baseline_run": "run-1", "psi": round(expected, 6), "values": 6,
        "no_new_baseline": "fewer than 100 finite values (10 per bin)",
    }  # fmt: skip
    assert result["passed"] is (expected <= 0.2) is False


def test_first_run_records_equal_frequency_edges_and_passes() -> None:
    frame = pl.DataFrame({"x": [float(v) for v in range(1, 101)]})
    result = apply(
        frame, {"name": "d", "kind": "distribution_drift", "column": "x", "bins": 4, "severity": "warn"}
    )
    assert results(result)["d"]["observed"] == {"threshold": 0.2, "baseline": True}
    # Each edge halfway between the two values around its cut: 25 | 26, 50 | 51, 75 | 76.
    assert result.facts["baselines"]["d"] == {
        "type": "numeric", "edges": [25.5, 50.5, 75.5], "proportions": [0.25, 0.25, 0.25, 0.25]
    }  # fmt: skip


def test_categorical_drift_uses_keyed_hashes_and_the_other_bucket(ctx: RunContext) -> None:
    first = pl.DataFrame({"region": ["north"] * 50 + ["south"] * 30 + ["east"] * 20})
    drift = {"name": "mix", "kind": "distribution_drift", "column": "region", "domain": "other",
             "max_categories": 2, "severity": "warn"}  # fmt: skip
    baseline = apply(first, drift, ctx=ctx).facts["baselines"]["mix"]
    assert baseline["proportions"] == [0.5, 0.3] and baseline["other"] == pytest.approx(0.2)
    assert baseline["key_version"] == ctx.key_versions["quality/other"] == 1
    assert not {"north", "south", "east"} & set(json.dumps(baseline).split('"'))
    assert all(len(h) == 16 for h in baseline["categories"])

    second = pl.DataFrame({"region": ["north"] * 20 + ["south"] * 30 + ["west"] * 50})
    history = HistoryContext({"mix": baseline})
    history.domain_key = ctx.domain_key  # type: ignore[method-assign]
    history.key_versions = ctx.key_versions
    result = results(apply(second, drift, ctx=history))["mix"]
    expected = _psi([0.2, 0.3, 0.5], [0.5, 0.3, 0.2])  # west and the unseen east share `other`
    assert result["observed"]["psi"] == pytest.approx(expected, abs=1e-6)
    assert result["passed"] is False

    rotated = dict(baseline, key_version=0)
    history.baselines = {"mix": rotated}
    assert results(apply(second, drift, ctx=history))["mix"]["observed"] == {
        "threshold": 0.2,
        "baseline": True,
    }


# --- through the runner ------------------------------------------------------------------------

RUNNER_SPEC = """\
version: 1
name: drifting
params: {source: raw, target: out, drift_severity: warn}
sources:
  tx: {format: csv, path: "${params.source}/tx.csv"}
steps:
  - clean: {cast: {amount: float64}}
  - expect:
      - {name: amount_positive, kind: range, column: amount, min: 0, severity: quarantine}
      - {name: amount_stable, kind: distribution_drift, column: amount, severity: "${params.drift_severity}"}
      - {name: region_mix, kind: distribution_drift, column: region, severity: warn}
      - {name: enough, kind: row_count, min: 100}
outputs:
  o: {path: "${params.target}/drifting"}
"""


def _write_input(directory: Path, *, shift: float, regions: list[str], seed: int) -> str:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    rows = [(round(rng.gauss(100 + shift, 15), 2), rng.choice(regions)) for _ in range(3000)]
    rows[7] = (-5.25, regions[0])
    lines = ["amount,region", *(f"{a},{r}" for a, r in rows)]
    (directory / "tx.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(directory)


def test_distribution_drift_between_two_real_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "expect-test-passphrase")
    state = State(tmp_path / "state").ensure()
    target = str(tmp_path / "out")

    def run_on(source: str, **params: str) -> dict[str, Any]:
        return run(loads(RUNNER_SPEC, overrides={"source": source, "target": target, **params}), state)

    steady = ["north", "south", "east"]
    first = run_on(_write_input(tmp_path / "a", shift=0, regions=steady, seed=1))
    quality = first["quality"]
    assert (quality["expectations"], quality["passed"], quality["failed"]) == (4, 3, 1)
    by_name = {r["name"]: r for r in quality["results"]}
    assert by_name["amount_stable"]["observed"]["baseline"] is True
    assert by_name["amount_positive"]["failed_rows"] == 1
    assert first["rows"]["quarantine_by_reason"] == {"expect:amount_positive": 1}

    same = run_on(_write_input(tmp_path / "b", shift=0, regions=steady, seed=2))
    by_name = {r["name"]: r for r in same["quality"]["results"]}
    assert by_name["amount_stable"]["observed"]["baseline_run"] == first["run_id"]
    assert by_name["amount_stable"]["observed"]["psi"] < 0.05 and by_name["amount_stable"]["passed"]
    assert by_name["region_mix"]["observed"]["psi"] < 0.05 and by_name["region_mix"]["passed"]

    shifted = run_on(_write_input(tmp_path / "c", shift=25, regions=["north", "west"], seed=3))
    by_name = {r["name"]: r for r in shifted["quality"]["results"]}
    assert by_name["amount_stable"]["observed"]["baseline_run"] == same["run_id"]
    assert by_name["amount_stable"]["observed"]["psi"] > 0.2 and not by_name["amount_stable"]["passed"]
    assert by_name["region_mix"]["observed"]["psi"] > 0.2 and not by_name["region_mix"]["passed"]
    assert shifted["status"] == "succeeded"  # warn: recorded, the run goes on

    # As a fail expectation the same shift stops the run, with every result attached.
    with pytest.raises(DataQualityError) as caught:
        run_on(_write_input(tmp_path / "d", shift=60, regions=steady, seed=4), drift_severity="fail")
    assert {r["name"]: r["passed"] for r in caught.value.results}["amount_stable"] is False
    from vaultline.catalog.runs import RunCatalog

    with RunCatalog(state.catalog_url) as catalog:
        assert catalog.list()[0].status == "failed"
        # the baseline stays the last success
        assert catalog.latest_succeeded("drifting") == shifted["run_id"]


EMPTY_RUN_SPEC = """\
version: 1
name: drift_gap
params: {file: x.csv, target: out}
sources:
  d: {format: csv, path: "${params.file}"}
steps:
  - clean: {cast: {amount: float64}}
  - expect: [{name: dn, kind: distribution_drift, column: amount, severity: warn}]
outputs:
  o: {path: "${params.target}/drift_gap"}
"""


def test_a_real_run_with_only_empty_values_keeps_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "expect-test-passphrase")
    state = State(tmp_path / "state").ensure()
    rng = random.Random(11)

    def run_on(name: str, amounts: list[str]) -> dict[str, Any]:
        path = tmp_path / f"{name}.csv"
        lines = ["id,amount", *(f"{i},{a}" for i, a in enumerate(amounts))]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        overrides = {"file": str(path), "target": str(tmp_path / "out")}
        report = run(loads(EMPTY_RUN_SPEC, overrides=overrides), state)
        observed: dict[str, Any] = report["quality"]["results"][0]["observed"]
        return {"run_id": report["run_id"], **observed}

    first = run_on("a", [f"{rng.gauss(50, 10):.2f}" for _ in range(500)])
    assert first["baseline"] is True
    empty = run_on("b", [""] * 100)
    assert (empty["baseline_run"], empty["values"]) == (first["run_id"], 0)
    shifted = run_on("c", [f"{rng.gauss(80, 10):.2f}" for _ in range(500)])
    assert "baseline" not in shifted and shifted["baseline_run"] == first["run_id"]
    assert shifted["psi"] > 0.2


def test_drift_on_a_column_left_without_numbers_fails_and_boolean_columns_are_categorical() -> None:
    baseline = {"type": "numeric", "edges": [1.0], "proportions": [0.5, 0.5]}
    empty = pl.DataFrame({"x": pl.Series([None, float("nan")], dtype=pl.Float64)})
    drift = {"name": "d", "kind": "distribution_drift", "column": "x", "severity": "warn"}
    result = results(apply(empty, drift, ctx=HistoryContext({"d": baseline})))["d"]
    assert result["passed"] is False
    assert result["observed"] == {
        "threshold": 0.2, "baseline_run": "run-1", "psi": None, "values": 0,
        "no_new_baseline": "fewer than 100 finite values (10 per bin)",
    }  # fmt: skip

    flags = pl.DataFrame({"x": [True, True, False, None]})
    recorded = apply(flags, drift).facts["baselines"]["d"]
    assert recorded["type"] == "categorical" and recorded["proportions"] == [2 / 3, 1 / 3]
    # A numeric baseline does not compare with a column that became categorical: it starts afresh.
    restarted = results(apply(flags, drift, ctx=HistoryContext({"d": baseline})))["d"]
    assert restarted["observed"] == {"threshold": 0.2, "baseline": True}


DRIFT = {"name": "d", "kind": "distribution_drift", "column": "x", "severity": "warn"}


def _gauss(mean: float, n: int, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    return pl.DataFrame({"x": [rng.gauss(mean, 10) for _ in range(n)]})


NOTHING_TO_MEASURE = {
    "all null": pl.DataFrame({"x": pl.Series([None] * 100, dtype=pl.Float64)}),
    "no rows": pl.DataFrame({"x": pl.Series([], dtype=pl.Float64)}),
    "too few values": _gauss(50, 60, seed=9),
}


@pytest.mark.parametrize("nothing", NOTHING_TO_MEASURE.values(), ids=NOTHING_TO_MEASURE.keys())
def test_a_run_without_a_new_baseline_carries_the_previous_one_forward(nothing: pl.DataFrame) -> None:
    first = apply(_gauss(50, 500, seed=1), DRIFT).facts["baselines"]["d"]
    second = apply(nothing, DRIFT, ctx=HistoryContext({"d": first}, run="run-1"))
    assert results(second)["d"]["observed"]["no_new_baseline"] == "fewer than 100 finite values (10 per bin)"
    carried = second.facts["baselines"]["d"]
    assert carried == {**first, "run": "run-1"}  # still naming the run whose values it describes

    # A 3-sigma shift in the next run is compared with run 1's values, not taken as a new baseline.
    third = results(apply(_gauss(80, 500, seed=3), DRIFT, ctx=HistoryContext({"d": carried}, run="run-2")))
    observed = third["d"]["observed"]
    assert observed["baseline_run"] == "run-1" and "baseline" not in observed
    assert observed["psi"] > 0.2 and third["d"]["passed"] is False
    # Carried again by a second such run, it keeps naming run 1.
    again = apply(nothing, DRIFT, ctx=HistoryContext({"d": carried}, run="run-2")).facts["baselines"]["d"]
    assert again == carried


def test_a_categorical_run_without_values_carries_the_previous_baseline_forward() -> None:
    regions = pl.DataFrame({"x": ["north"] * 60 + ["south"] * 40})
    first = apply(regions, DRIFT).facts["baselines"]["d"]
    nothing = pl.DataFrame({"x": pl.Series([None] * 10, dtype=pl.String)})
    second = apply(nothing, DRIFT, ctx=HistoryContext({"d": first}))
    assert results(second)["d"]["observed"]["no_new_baseline"] == "no values"
    assert second.facts["baselines"]["d"] == {**first, "run": "run-1"}


FEW_VALUES = {
    "one row": ([42.17], "fewer than 100 finite values (10 per bin)"),
    "11 rows": ([float(v) for v in range(11)], "fewer than 100 finite values (10 per bin)"),
    "one value": ([7.5] * 500, "no two distinct finite values to put an edge between"),
}


@pytest.mark.parametrize(("values", "why"), FEW_VALUES.values(), ids=FEW_VALUES.keys())
def test_no_baseline_from_too_few_values(values: list[float], why: str) -> None:
    result = apply(pl.DataFrame({"x": values}), DRIFT)
    assert result.facts["baselines"] == {}
    assert results(result)["d"]["passed"] is True
    assert results(result)["d"]["observed"] == {"threshold": 0.2, "baseline": False, "no_new_baseline": why}


def _demo_like_amounts(n: int, seed: int) -> list[float]:
    """Long-tailed amounts with exactly two decimals, as the fraud demo writes: many repeats."""
    rng = random.Random(seed)
    return [round(rng.lognormvariate(3.5, 1.1), 2) for _ in range(n)]


EDGE_CASES = {
    # (n - 1) * i / bins whole: a linear quantile is exactly a value
    "1..101": [float(v) for v in range(1, 102)],
    "each value 3 times": [float(v // 3) for v in range(301)],
    "demo-like amounts": _demo_like_amounts(20_001, seed=5),
    # ties around the cuts: a midpoint quantile is exactly a value too
    "70% one value": [0.0] * 700 + [round(v, 1) for v in _gauss(50, 300, seed=6)["x"]],
    "two values": [1.0] * 50 + [2.0] * 50,
    "integers": list(range(1001)),
}


@pytest.mark.parametrize("values", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_numeric_edges_are_never_values_of_the_data(values: list[float]) -> None:
    baseline = apply(pl.DataFrame({"x": values}), DRIFT).facts["baselines"]["d"]
    edges = baseline["edges"]
    assert edges and not set(edges) & {float(v) for v in values}
    assert edges == sorted(set(edges)) and min(values) < edges[0] and edges[-1] < max(values)
    assert len(baseline["proportions"]) == len(edges) + 1
    assert sum(baseline["proportions"]) == pytest.approx(1.0)


def test_midpoint_edges_keep_psi_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    for values, shifted in (
        (_gauss(50, 2000, seed=1), _gauss(80, 2000, seed=3)),
        (pl.DataFrame({"x": _demo_like_amounts(2000, 1)}), pl.DataFrame({"x": _demo_like_amounts(2000, 3)})),
    ):
        baseline = apply(values, DRIFT).facts["baselines"]["d"]
        history = HistoryContext({"d": baseline})
        same = pl.DataFrame({"x": values["x"].sample(fraction=1.0, shuffle=True, seed=2)})
        assert results(apply(same, DRIFT, ctx=history))["d"]["observed"]["psi"] < 0.01
        if shifted["x"].mean() > 60:  # the gaussian case: 3 sigma
            assert results(apply(shifted, DRIFT, ctx=history))["d"]["observed"]["psi"] > 0.2
        else:  # another sample of the same amounts
            assert results(apply(shifted, DRIFT, ctx=history))["d"]["observed"]["psi"] < 0.1
        tripled = values.select(pl.col("x") * 3)
        assert results(apply(tripled, DRIFT, ctx=history))["d"]["observed"]["psi"] > 0.2


def test_pattern_with_a_verbose_comment_still_matches_the_whole_text() -> None:
    frame = pl.DataFrame({"id": ["ID1", "ID12", "xID1", "ID1\n", None]})
    for pattern in ("(?x)ID[0-9] # an id", "(?x) ID [0-9]  # ) $ a comment with parentheses", "ID[0-9]"):
        result = only(frame, kind="pattern", column="id", pattern=pattern)
        assert (result["failed_rows"], result["observed"]["rows"]) == (3, 4), pattern


def test_pattern_reads_categorical_and_enum_columns_as_text() -> None:
    labels = ["low_1", "mid_2", "high", None]
    frame = pl.DataFrame(
        {
            "enum": pl.Series(labels, dtype=pl.Enum(["low_1", "mid_2", "high"])),
            "cat": pl.Series(labels, dtype=pl.Categorical),
        }
    )
    result = only(frame, kind="pattern", columns=["enum", "cat"], pattern="[a-z]+_[0-9]")
    assert (result["failed_rows"], result["observed"]["rows"]) == (1, 3)


def test_composite_uniqueness_treats_null_as_a_value() -> None:
    frame = pl.DataFrame({"a": [1, 1, None, None, 2], "b": ["x", "y", None, None, "x"]})
    result = only(frame, kind="unique", columns=["a", "b"])
    assert (result["failed_rows"], result["observed"]["rows"]) == (2, 5)
