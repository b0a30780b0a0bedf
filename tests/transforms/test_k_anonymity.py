"""k_anonymity: exact k and l, suppression of whole classes, value-free failures, nulls, pycanon agreement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from pycanon import anonymity
from pydantic import ValidationError

from stubs import StubContext
from vaultline.engines.polars.base import REASON, StepResult
from vaultline.engines.polars.k_anonymity import apply, k_reason, l_reason
from vaultline.errors import TransformError
from vaultline.transforms.k_anonymity import Params

# pycanon grouping by a one-column list triggers a pandas deprecation inside pycanon
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

QIS = ["age", "zip"]
# 4 classes: (30, 100) x3, (40, 200) x2, (50, 300) x1, (60, 400) x1; dx gives l per class 2, 1, 1, 1.
PATIENTS = pl.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6, 7],
        "age": ["30", "30", "30", "40", "40", "50", "60"],
        "zip": ["100", "100", "100", "200", "200", "300", "400"],
        "dx": ["flu", "asthma", "flu", "diabetes", "diabetes", "copd", "flu"],
    }
)


def run(frame: pl.DataFrame, **params: Any) -> StepResult:
    return apply(frame.lazy(), Params.model_validate(params), StubContext())


def pycanon_k(frame: pl.DataFrame, qis: list[str]) -> int:
    """pycanon on the values themselves (frames without nulls), independent of the step's encoding."""
    return int(anonymity.k_anonymity(frame.select(qis).to_pandas(), qis))


def pycanon_l(frame: pl.DataFrame, qis: list[str], sensitive: list[str]) -> int:
    return int(anonymity.l_diversity(frame.select(*qis, *sensitive).to_pandas(), qis, sensitive))


def test_suppress_quarantines_exactly_the_small_classes() -> None:
    result = run(PATIENTS, quasi_identifiers=QIS, sensitive=["dx"], min_k=2, on_violation="suppress")
    kept = result.frame.collect()
    assert result.quarantine is not None
    rejected = result.quarantine.collect()
    assert kept.equals(PATIENTS.filter(pl.col("id") <= 5))
    assert rejected.drop(REASON).equals(PATIENTS.filter(pl.col("id") >= 6))
    assert rejected[REASON].to_list() == [k_reason(2)] * 2
    assert k_reason(2) == "k_anonymity:equivalence class smaller than k=2"
    assert result.facts == {
        "quasi_identifiers": QIS,
        "sensitive": ["dx"],
        "k": 2,
        "k_before": 1,
        "l": 1,
        "l_before": 1,
        "classes": 2,
        "classes_before": 4,
        "classes_suppressed": 2,
        "rows_suppressed": 2,
        "class_sizes": {"1": 2, "2": 1, "3-4": 1, "5-9": 0, "10-19": 0, "20-49": 0, "50-99": 0, "100+": 0},
        "min_k": 2,
        "min_l": None,
        "on_violation": "suppress",
        "library": result.facts["library"],
    }
    assert result.facts["library"].startswith("pycanon 1.")
    assert result.facts["k"] >= 2
    assert result.facts["k"] == pycanon_k(kept, QIS)
    assert result.facts["l"] == pycanon_l(kept, QIS, ["dx"])


def test_suppress_to_a_larger_k() -> None:
    result = run(PATIENTS, quasi_identifiers=QIS, min_k=3, on_violation="suppress")
    assert result.frame.collect()["id"].to_list() == [1, 2, 3]
    assert result.quarantine is not None
    assert result.quarantine.collect()["id"].to_list() == [4, 5, 6, 7]
    assert (result.facts["k"], result.facts["rows_suppressed"], result.facts["classes"]) == (3, 4, 1)
    assert result.facts["l"] is None and result.facts["sensitive"] == []


def test_fail_names_the_columns_and_counts_never_values() -> None:
    secret = pl.DataFrame(
        {
            "zip": ["SECRET-ZIP-90210", "SECRET-ZIP-90210", "OTHER-ZIP-10001"],
            "birth": ["DOB-1970-01-01", "DOB-1970-01-01", "DOB-1985-12-31"],
        }
    )
    with pytest.raises(TransformError) as caught:
        run(secret, quasi_identifiers=["zip", "birth"], min_k=2)
    message = str(caught.value)
    assert "'zip', 'birth'" in message
    assert "is 1, below min_k=2" in message
    assert "1 row(s) in 1 equivalence class(es)" in message
    assert "generalize" in message and "on_violation: suppress" in message
    for value in ("SECRET", "ZIP-", "DOB", "90210", "1970", "1985", "10001"):
        assert value not in message


def test_fail_passes_when_k_is_reached() -> None:
    frame = PATIENTS.filter(pl.col("id") <= 5)
    result = run(frame, quasi_identifiers=QIS, min_k=2)
    assert result.quarantine is None
    assert result.frame.collect().equals(frame)
    assert (result.facts["k"], result.facts["k_before"], result.facts["rows_suppressed"]) == (2, 2, 0)


def test_measure_only_leaves_the_flow_alone() -> None:
    result = run(PATIENTS, quasi_identifiers=QIS, sensitive=["dx"], on_violation="suppress")
    assert result.quarantine is None
    assert result.frame.collect().equals(PATIENTS)
    assert (result.facts["k"], result.facts["l"], result.facts["classes"]) == (1, 1, 4)
    assert result.facts["k"] == pycanon_k(PATIENTS, QIS)


def test_l_diversity_suppresses_homogeneous_classes() -> None:
    # (30, 100): 3 rows, 2 diagnoses; (40, 200): 2 rows, 1 diagnosis; (70, 500): 3 rows, 3 diagnoses.
    frame = pl.concat(
        [
            PATIENTS.filter(pl.col("id") <= 5),
            pl.DataFrame(
                {"id": [8, 9, 10], "age": ["70"] * 3, "zip": ["500"] * 3, "dx": ["flu", "copd", "asthma"]}
            ),
        ]
    )
    params = {"quasi_identifiers": QIS, "sensitive": ["dx"], "min_k": 2, "min_l": 2}
    with pytest.raises(TransformError) as caught:
        run(frame, **params)
    message = str(caught.value)
    assert "l-diversity of 'dx' within the classes of 'age', 'zip' is 1, below min_l=2" in message
    assert "2 row(s) in 1 equivalence class(es)" in message
    assert "diabetes" not in message

    result = run(frame, **params, on_violation="suppress")
    kept = result.frame.collect()
    assert kept["id"].to_list() == [1, 2, 3, 8, 9, 10]
    assert result.quarantine is not None
    rejected = result.quarantine.collect()
    assert rejected["id"].to_list() == [4, 5]
    assert rejected[REASON].to_list() == [l_reason(2)] * 2
    assert result.facts["k"] == 3 == pycanon_k(kept, QIS)
    assert result.facts["l"] == 2 == pycanon_l(kept, QIS, ["dx"])
    assert result.facts["l_before"] == 1


def test_l_is_the_minimum_over_sensitive_columns_and_k_reason_comes_first() -> None:
    frame = pl.DataFrame(
        {
            "q": ["a", "a", "a", "b", "b", "c"],
            "s1": [1, 2, 3, 1, 2, 1],
            "s2": ["x", "y", "x", "x", "x", "z"],
        }
    )
    result = run(
        frame, quasi_identifiers=["q"], sensitive=["s1", "s2"], min_k=2, min_l=2, on_violation="suppress"
    )
    assert result.quarantine is not None
    reasons = dict(result.quarantine.collect().group_by(REASON).len().iter_rows())
    # class b: l = min(2, 1) = 1; class c: too small (k first, although its l is 1 too)
    assert reasons == {l_reason(2): 2, k_reason(2): 1}
    kept = result.frame.collect()
    assert kept["q"].to_list() == ["a"] * 3
    assert result.facts["l"] == 2 == pycanon_l(kept, ["q"], ["s1", "s2"])
    assert result.facts["l_before"] == 1


def test_null_quasi_identifiers_form_their_own_class() -> None:
    frame = pl.DataFrame(
        {
            "age": ["30", "30", None, None, None, "30", None],
            "zip": ["100", "100", "100", "100", None, None, None],
            "dx": ["a", "b", "a", None, "c", "c", None],
        }
    )
    # classes: (30, 100) x2, (null, 100) x2, (null, null) x2, (30, null) x1
    result = run(frame, quasi_identifiers=["age", "zip"], sensitive=["dx"], min_k=2, on_violation="suppress")
    kept = result.frame.collect()
    assert kept.height == 6
    assert result.quarantine is not None
    assert result.quarantine.collect().select("age", "zip").rows() == [("30", None)]
    assert result.facts["k"] == 2 and result.facts["classes"] == 3 and result.facts["classes_before"] == 4
    # a null sensitive value counts as one distinct value: (null, 100) has {a, null}, (null, null) {c, null}
    assert result.facts["l"] == 2
    # pandas' group-by drops null keys: pycanon on the raw values would see only (30, 100)
    assert pycanon_k(kept, ["age", "zip"]) == 2
    filled = kept.with_columns(pl.col("age", "zip", "dx").fill_null("<null>"))
    assert pycanon_k(filled, ["age", "zip"]) == result.facts["k"]
    assert pycanon_l(filled, ["age", "zip"], ["dx"]) == result.facts["l"]


def test_typed_quasi_identifiers() -> None:
    frame = pl.DataFrame(
        {
            "year": pl.Series([2020, 2020, 2021, 2021, None, None], dtype=pl.Int32),
            "band": pl.Series(["low", "low", "high", "high", "low", "low"], dtype=pl.Enum(["low", "high"])),
            "flag": [True, True, False, False, None, None],
            "score": [0.5, 0.5, float("nan"), float("nan"), -0.0, 0.0],
        }
    )
    result = run(frame, quasi_identifiers=["year", "band", "flag", "score"], min_k=2)
    assert (result.facts["k"], result.facts["classes"]) == (2, 3)


def test_everything_suppressed_reports_no_k() -> None:
    result = run(PATIENTS, quasi_identifiers=["id"], sensitive=["dx"], min_k=2, on_violation="suppress")
    assert result.frame.collect().height == 0
    assert result.facts["k"] is None and result.facts["l"] is None
    assert result.facts["rows_suppressed"] == 7 and result.facts["classes"] == 0


@pytest.mark.parametrize("seed", range(8))
def test_polars_counts_agree_with_pycanon(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = 400
    frame = pl.DataFrame(
        {
            "a": rng.integers(0, 6, rows),
            "b": rng.choice(["x", "y", "z", "w"], rows),
            "c": rng.integers(0, 3, rows).astype(float),
            "s": rng.choice(["p", "q", "r"], rows),
        }
    )
    qis = ["a", "b", "c"]
    min_k = int(rng.integers(2, 6))
    result = run(frame, quasi_identifiers=qis, sensitive=["s"], min_k=min_k, on_violation="suppress")
    kept = result.frame.collect()
    assert result.quarantine is not None
    rejected = result.quarantine.collect()
    sizes = frame.group_by(qis).len()
    assert rejected.height == sizes.filter(pl.col("len") < min_k)["len"].sum()
    assert kept.height + rejected.height == rows
    assert result.facts["k_before"] == pycanon_k(frame, qis) == sizes["len"].min()
    if kept.height:
        assert result.facts["k"] == pycanon_k(kept, qis) == kept.group_by(qis).len()["len"].min()
        assert result.facts["k"] >= min_k
        assert result.facts["l"] == pycanon_l(kept, qis, ["s"])
    # with nulls and NaN in the QIs, the step's count and its pycanon k still agree (it checks itself)
    holes = frame.with_columns(
        pl.when(pl.col("s") == "p").then(None).otherwise(pl.col("b")).alias("b"),
        pl.when(pl.col("a") == 0).then(float("nan")).otherwise(pl.col("c")).alias("c"),
    )
    again = run(holes, quasi_identifiers=qis, sensitive=["s"], min_k=min_k, on_violation="suppress")
    assert again.facts["k"] is None or again.facts["k"] >= min_k
    assert again.facts["k_before"] == holes.group_by(qis).len()["len"].min()


def test_params_are_validated() -> None:
    with pytest.raises(ValidationError, match="min_l needs at least one `sensitive` column"):
        Params(quasi_identifiers=["age"], min_l=2)
    with pytest.raises(ValidationError, match="both quasi-identifier and sensitive"):
        Params(quasi_identifiers=["age", "dx"], sensitive=["dx"])
    with pytest.raises(ValidationError):
        Params(quasi_identifiers=[])
    with pytest.raises(ValidationError):
        Params(quasi_identifiers=["age"], min_k=1)
    with pytest.raises(ValidationError):
        Params.model_validate({"quasi_identifiers": ["age"], "on_violation": "drop"})
    params = Params(quasi_identifiers=["age", "zip"], sensitive=["dx"], min_k=5, min_l=2)
    assert params.input_columns() == ["age", "zip", "dx"]
    assert params.output_columns() == []
    assert params.fits_on_data()


def test_missing_and_nested_columns_are_rejected() -> None:
    with pytest.raises(TransformError, match="'nope'"):
        run(PATIENTS, quasi_identifiers=["age", "nope"])
    nested = PATIENTS.with_columns(pl.concat_list("age", "zip").alias("both"))
    with pytest.raises(TransformError, match="'both' has type List"):
        run(nested, quasi_identifiers=["both"])


SPEC = """\
version: 1
name: kanon
params: {source: raw, target: out}
sources:
  people: {format: csv, path: "${params.source}/people.csv"}
steps:
  - clean: {cast: {age: int64}}
  - generalize: {rules: {age: {rule: age_band, width: 10}}}
  - k_anonymity:
      quasi_identifiers: [age, region]
      sensitive: [dx]
      min_k: 3
      on_violation: suppress
outputs:
  o: {path: "${params.target}/kanon"}
"""


def test_end_to_end_suppression_through_the_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vaultline.keys.local import PASSPHRASE_ENV
    from vaultline.run.runner import run as run_pipeline
    from vaultline.spec.loader import loads
    from vaultline.state import State

    monkeypatch.setenv(PASSPHRASE_ENV, "k-anonymity-test-passphrase")
    state = State(tmp_path / "state").ensure()
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = ["age,region,dx"]
    lines += [f"{31 + i % 8},north,dx{i % 3}" for i in range(40)]  # band 30-39, north: 40 rows
    lines += [f"{42 + i},south,dx{i}" for i in range(5)]  # band 40-49, south: 5 rows
    lines += ["55,south,dx1", "57,south,dx2"]  # band 50-59, south: 2 rows (suppressed)
    lines += ["64,east,dx0"]  # 1 row (suppressed)
    (raw / "people.csv").write_text("\n".join(lines) + "\n")
    report = run_pipeline(loads(SPEC, overrides={"source": str(raw), "target": str(tmp_path / "out")}), state)
    assert report["status"] == "succeeded"
    rows = report["rows"]
    assert rows["input"] == 48
    assert rows["input"] == rows["output"] + rows["quarantined"]
    assert rows["output"] == 45
    assert rows["quarantine_by_reason"] == {k_reason(3): 3}
    step = next(s for s in report["steps"] if s["name"] == "k_anonymity")
    assert step["facts"]["k"] == 5 and step["facts"]["k_before"] == 1
    assert step["facts"]["rows_suppressed"] == 3 and step["facts"]["l"] == 3
    assert step["rows_out"] == rows["output"]
