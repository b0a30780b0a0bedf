"""Real runs of the examples on small generated data, with their lineage events, once for this folder.

`examples`: the fraud and healthplus examples as shipped (encrypted outputs), their reports and the
events the emitter wrote for them. `chain`: a second state where a copy of the fraud example writing
plain Parquet feeds a scoring pipeline that reads its output directory, so lineage has an upstream
and a downstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lineage_runs import EXAMPLES, Runs

from vaultline.demo.fraud import generate_fraud
from vaultline.demo.healthplus import generate_healthplus
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.lineage.emitter import API_KEY_ENV, URL_ENV
from vaultline.run.runner import run
from vaultline.spec.loader import LoadedSpec, load
from vaultline.state import State

ROWS = 2000

SCORING_SPEC = """\
version: 1
name: fraud_scoring
description: Scores for the case-review queue, from the fraud features.
params:
  features: features
  target_bucket: output
sources:
  features:
    format: parquet
    path: ${params.features}/*.parquet
steps:
  - drop: {columns: [customer_id, account_number, card_number, email, ip_address, device_id]}
  - derive:
      columns:
        review_priority: {kind: arithmetic, expression: "round(anomaly_score * 100)"}
outputs:
  scores:
    path: ${params.target_bucket}/fraud_scores
    encryption: {enabled: false}
policy:
  on_unprotected_sensitive: warn
"""


def _run_with_lineage(loaded: LoadedSpec, state: State) -> dict[str, Any]:
    """Run for real: the runner emits START and COMPLETE."""
    keyring = LocalKeyring(state.root, warn=False)
    for ref in loaded.pipeline.keys.values():
        keyring.ensure(ref)
    report = run(loaded, state)
    assert not [w for w in report["warnings"] if "lineage" in w.lower()], report["warnings"]
    return report


@pytest.fixture(scope="package")
def _environment() -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv(PASSPHRASE_ENV, "lineage-test-passphrase")
    mp.delenv(URL_ENV, raising=False)
    mp.delenv(API_KEY_ENV, raising=False)
    yield
    mp.undo()


@pytest.fixture(scope="package")
def examples(tmp_path_factory: pytest.TempPathFactory, _environment: None) -> Runs:
    out = tmp_path_factory.mktemp("examples")
    state = State(out / ".vaultline").ensure()
    datasets = {"healthplus": generate_healthplus(ROWS, out), "fraud": generate_fraud(ROWS, out)}
    loaded, reports = {}, {}
    for name in ("healthplus", "fraud"):
        overrides = {"source_bucket": str(out / "raw"), "target_bucket": str(out / "output")}
        if name == "healthplus":
            overrides["reference_dir"] = str(EXAMPLES / "healthplus")
        loaded[name] = load(EXAMPLES / name / "pipeline.yaml", overrides)
        reports[name] = _run_with_lineage(loaded[name], state)
    return Runs(out, state, loaded, reports, datasets)


@pytest.fixture(scope="package")
def chain(tmp_path_factory: pytest.TempPathFactory, _environment: None) -> Runs:
    out = tmp_path_factory.mktemp("chain")
    state = State(out / ".vaultline").ensure()
    datasets = {"fraud": generate_fraud(ROWS, out)}
    plain = (EXAMPLES / "fraud" / "pipeline.yaml").read_text("utf-8")
    written = "    path: ${params.target_bucket}/fraud_features\n"
    assert written in plain
    (out / "fraud.yaml").write_text(plain.replace(written, written + "    encryption: {enabled: false}\n"))
    (out / "scoring.yaml").write_text(SCORING_SPEC)
    target = {"target_bucket": str(out / "output")}
    loaded = {
        "fraud": load(out / "fraud.yaml", {"source_bucket": str(out / "raw"), **target}),
        "fraud_scoring": load(
            out / "scoring.yaml", {"features": str(out / "output" / "fraud_features"), **target}
        ),
    }
    reports = {name: _run_with_lineage(spec, state) for name, spec in loaded.items()}
    return Runs(out, state, loaded, reports, datasets)
