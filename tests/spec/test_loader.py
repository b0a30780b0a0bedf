"""Spec loading: errors name file, line, field and a fix; params substitute; literal secrets are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from vaultline.errors import SpecError
from vaultline.spec.loader import load, loads, parse_param

EXAMPLES = Path(__file__).parents[2] / "examples"

BASE = """\
version: 1
name: t
params:
  source: in
  contamination: 0.01
  binning: {method: percentile, bins: [0, 50, 100]}
keys:
  customer: customer_key
sources:
  s:
    format: csv
    path: ${params.source}/data.csv
steps:
  - tokenize: {columns: [customer_id], domain: customer}
  - anomaly: {features: [a], contamination: "${params.contamination}"}
  - bin: {column: a, method: "${params.binning.method}", bins: "${params.binning.bins}"}
outputs:
  o: {path: out}
"""


def _problems(text: str, **overrides: object) -> list[tuple[str, int | None]]:
    with pytest.raises(SpecError) as caught:
        loads(text, file="spec.yaml", overrides=overrides)
    assert "spec.yaml" in str(caught.value)
    return [(issue.field, issue.line) for issue in caught.value.issues]


@pytest.mark.parametrize("example", ["fraud", "healthplus"])
def test_examples_are_valid(example: str) -> None:
    loaded = load(EXAMPLES / example / "pipeline.yaml")
    assert loaded.pipeline.name == example


def test_params_substitute_keeping_types_and_dotted_paths() -> None:
    loaded = loads(BASE)
    steps = loaded.pipeline.all_steps()
    assert loaded.pipeline.sources["s"].path == "in/data.csv"
    assert steps[1][1].contamination == 0.01  # type: ignore[attr-defined]
    assert steps[2][1].bins == [0, 50, 100]  # type: ignore[attr-defined]


def test_param_override_from_command_line() -> None:
    key, value = parse_param("contamination=0.05")
    loaded = loads(BASE, overrides={key: value, "source": "s3://raw"})
    assert loaded.pipeline.sources["s"].path == "s3://raw/data.csv"
    assert loaded.pipeline.all_steps()[1][1].contamination == 0.05  # type: ignore[attr-defined]


def test_undeclared_param_override_is_an_error() -> None:
    assert _problems(BASE, nope=1) == [("params.nope", 3)]


def test_unknown_field_names_line_and_field() -> None:
    text = BASE.replace("domain: customer}", "domain: customer, lenght: 16}")
    assert _problems(text) == [("steps.0.tokenize.lenght", 14)]


def test_unknown_transform_names_the_step() -> None:
    text = BASE.replace("- tokenize:", "- tokenise:")
    assert _problems(text) == [("steps.0", 14)]


def test_missing_required_field() -> None:
    text = BASE.replace("  - bin: {column: a,", "  - bin: {")
    assert _problems(text) == [("steps.2.bin.column", 16)]


def test_domain_without_key() -> None:
    text = BASE.replace("domain: customer}", "domain: account}")
    assert _problems(text) == [("steps.0.tokenize.domain", 14)]


def test_undeclared_param_reference() -> None:
    text = BASE.replace("${params.source}", "${params.missing}")
    assert _problems(text) == [("sources.s.path", 12)]


@pytest.mark.parametrize(
    ("snippet", "field"),
    [
        ("  customer: customer_key\n  salt: s3cr3t-literal\n", "params.salt"),
        ("  customer: customer_key\n", "sources.s.url"),
        ("  customer: customer_key\n", "params.aws"),
    ],
)
def test_literal_secrets_are_refused_without_echoing_them(snippet: str, field: str) -> None:
    if field == "params.salt":
        text = BASE.replace("  source: in\n", "  source: in\n  salt: s3cr3t-literal\n")
    elif field == "sources.s.url":
        text = BASE.replace("    format: csv\n", "    format: csv\n    url: postgresql://app:hunter2@db/x\n")
    else:
        text = BASE.replace("  source: in\n", "  source: in\n  aws: AKIAABCDEFGHIJKLMNOP\n")
    with pytest.raises(SpecError) as caught:
        loads(text, file="spec.yaml")
    rendered = str(caught.value)
    assert field in rendered and "keyring" in rendered
    for secret in ("s3cr3t-literal", "hunter2", "AKIAABCDEFGHIJKLMNOP"):
        assert secret not in rendered


def test_key_material_in_keys_section_is_refused() -> None:
    text = BASE.replace("customer: customer_key", "customer: 8f2a9c1e7b3d4f6a0c5e9b2d7f1a3c8e")
    fields = [f for f, _ in _problems(text)]
    assert "keys.customer" in fields


def test_unkeyed_hash_warns() -> None:
    text = BASE.replace(
        "  - tokenize: {columns: [customer_id], domain: customer}", "  - hash: {columns: [email]}"
    )
    loaded = loads(text)
    assert [w.field for w in loaded.warnings] == ["steps.0.hash"]
    assert loaded.warnings[0].line == 14


def test_invalid_yaml_gives_line() -> None:
    with pytest.raises(SpecError) as caught:
        loads("version: 1\nname: [unclosed\n", file="bad.yaml")
    assert caught.value.issues[0].line is not None
