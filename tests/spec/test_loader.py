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
    assert field in rendered and ("PGPASSWORD" if "url" in field else "keyring") in rendered
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


def _rendered(text: str, **overrides: object) -> str:
    with pytest.raises(SpecError) as caught:
        loads(text, file="spec.yaml", overrides=overrides)
    return str(caught.value)


def test_a_repeated_key_is_named_without_either_value() -> None:
    text = BASE.replace("  source: in\n", "  pin: 123-45-6789\n  pin: 987-65-4321\n  source: in\n")
    rendered = _rendered(text)
    assert "line 5, field '<yaml>': not valid YAML: found duplicate key \"pin\"" in rendered
    assert "6789" not in rendered and "4321" not in rendered


@pytest.mark.parametrize(
    "value",
    [
        "AKIAABCDEFGHIJKLMNOP",
        "postgres://bob:hunter2@db/x",
        "postgresql://bob@db:5432/x?sslmode=require&Password=hunter2",
        "-----BEGIN PRIVATE KEY-----",
    ],
)
def test_param_values_from_the_command_line_are_checked_for_secrets(value: str) -> None:
    text = BASE.replace("  source: in\n", "  source: in\n  note: none\n")
    rendered = _rendered(text, note=value)
    assert "params.note" in rendered and "given with --param" in rendered
    assert ("PGPASSWORD or ~/.pgpass" if "://" in value else "keyring") in rendered
    assert value not in rendered and "hunter2" not in rendered


@pytest.mark.parametrize("value", ["[hunter2hunter2]", "{v: hunter2hunter2}", "1234.5678"])
def test_secret_named_params_are_refused_whatever_their_type(value: str) -> None:
    text = BASE.replace("  source: in\n", f"  source: in\n  db_password: {value}\n")
    assert _problems(text) == [("params.db_password", 5)]
    assert "hunter2" not in _rendered(text)


def test_secret_named_unknown_fields_are_refused_as_secrets() -> None:
    text = BASE.replace("domain: customer}", "domain: customer, salt: env_specific_salt}")
    rendered = _rendered(text)
    assert "line 14, field 'steps.0.tokenize.salt': holds a literal secret" in rendered
    assert "keyring" in rendered and "env_specific_salt" not in rendered


def test_names_of_the_users_own_are_not_secrets() -> None:
    text = BASE.replace(
        "  o: {path: out}\n",
        "  o: {path: out, encryption: {column_keys: {credential: my-cred}}}\n",
    ).replace(
        "  - tokenize:",
        "  - clean: {cast: {password_reset_count: int64}}\n  - tokenize:",
    )
    loaded = loads(text)
    assert loaded.pipeline.outputs["o"].encryption.column_keys["credential"] == "my-cred"


@pytest.mark.parametrize("params", ["[a, b]", "hello", "5"])
def test_params_that_are_not_a_mapping_are_one_clear_problem(params: str) -> None:
    text = BASE.replace("params:\n  source: in\n", f"params: {params}\n").replace("${params.source}", "in")
    text = (
        text.split("  contamination")[0]
        + text.split("binning: {method: percentile, bins: [0, 50, 100]}\n")[1]
    )
    assert _problems(text) == [("params", 3)]


def test_param_values_are_text_where_the_default_is_text() -> None:
    loaded = loads(BASE, overrides={"source": "007", "contamination": "0.05"})
    assert loaded.pipeline.sources["s"].path == "007/data.csv"
    assert loaded.pipeline.all_steps()[1][1].contamination == 0.05  # type: ignore[attr-defined]
    assert parse_param("source=a=b") == ("source", "a=b")


def test_a_param_value_that_is_not_yaml_where_a_number_is_declared() -> None:
    rendered = _rendered(BASE, contamination="[unclosed")
    assert "params.contamination" in rendered and "its default is a number" in rendered


@pytest.mark.parametrize("text", ["nokey", "=value"])
def test_a_param_without_a_key_and_value(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_param(text)
    assert "KEY=VALUE" in str(caught.value)


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("${param.source}", "not a parameter reference"),
        ("${ params.source }", "not a parameter reference"),
        ("${params.empty}", "its value is empty"),
    ],
)
def test_references_that_cannot_substitute_are_errors(reference: str, message: str) -> None:
    text = BASE.replace("${params.source}", reference).replace("  source: in\n", "  source: in\n  empty:\n")
    rendered = _rendered(text)
    assert "line 13, field 'sources.s.path'" in rendered and message in rendered


def test_a_default_may_not_refer_to_another_parameter() -> None:
    text = BASE.replace("  source: in\n", "  base: raw\n  source: ${params.base}\n")
    assert _problems(text) == [("params.source", 5)]


def test_lines_of_references_under_numeric_and_dotted_keys() -> None:
    text = BASE.replace(
        "  - tokenize:",
        '  - encode:\n      column: mcc\n      mapping:\n        5411: {category: "${params.nope}"}\n'
        '  - clean:\n      fill: {a.b: "${params.nope}"}\n  - tokenize:',
    )
    assert _problems(text) == [("steps.0.encode.mapping.5411.category", 17), ("steps.1.clean.fill.a.b", 19)]


def test_union_errors_are_one_problem_on_the_spec_field() -> None:
    text = BASE.replace("  - tokenize:", "  - clean: {trim: 5}\n  - tokenize:")
    rendered = _rendered(text)
    assert _problems(text) == [("steps.0.clean.trim", 14)]
    assert "; or: " in rendered


def test_errors_inside_the_short_form_of_expect_name_its_own_line() -> None:
    text = (EXAMPLES / "fraud" / "pipeline.yaml").read_text()
    broken = text.replace(
        "kind: distribution_drift, column: amount", "kind: distribution_drift, colum: amount"
    )
    line = next(n for n, row in enumerate(broken.splitlines(), 1) if "colum: amount" in row)
    problems = _problems(broken)
    assert [(field.split(".", 2)[2], at) for field, at in problems] == [
        ("expect.5.column", line),
        ("expect.5.colum", line),
    ]


def test_a_spec_that_is_not_utf8_or_nested_too_deeply(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("version: 1\nname: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError) as caught:
        load(latin)
    assert "is not UTF-8 text (byte 20)" in str(caught.value)
    deep = "version: 1\nname: " + "{a: " * 300 + "1" + "}" * 300 + "\n"
    assert "nested more than 64 levels" in _rendered(deep)


def test_two_outputs_on_one_path_are_refused() -> None:
    text = BASE.replace("  o: {path: out}\n", "  o: {path: out}\n  p: {path: out/}\n")
    assert _problems(text) == [("outputs.p.path", 19)]


@pytest.mark.parametrize(
    ("old", "new", "field", "line"),
    [
        ("contamination: 0.01", "contamination: true", "steps.1.anomaly.contamination", 15),
        ("bins: [0, 50, 100]", "bins: [0, true, 100]", "steps.2.bin.bins", 16),
        ("domain: customer}", "length: false, domain: customer}", "steps.0.tokenize.length", 14),
        (
            "  - bin:",
            "  - clean: {constraints: {a: {min: true}}}\n  - bin:",
            "steps.2.clean.constraints.a.min",
            16,
        ),
    ],
)
def test_a_boolean_where_a_number_is_expected_is_refused(old: str, new: str, field: str, line: int) -> None:
    with pytest.raises(SpecError, match=r"valid (number|integer)") as caught:
        loads(BASE.replace(old, new), file="spec.yaml")
    assert [(issue.field, issue.line) for issue in caught.value.issues] == [(field, line)]


def test_booleans_stay_booleans_where_a_flag_is_expected() -> None:
    loaded = loads(BASE.replace("  - bin:", "  - clean: {trim: true}\n  - bin:"), file="spec.yaml")
    assert loaded.pipeline.all_steps()[2][1].trim is True  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "value",
    [
        "1d9963d1a0c8b3e2f45a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8dfb8",  # hex: at most 4 bits a character
        "+z/xosnY5/altMPS4fCpuMfW5fSjssHQ6fintsXU4/I=",  # standard base64, slashes and all
    ],
)
def test_keys_written_in_hex_or_base64_are_refused(value: str) -> None:
    text = BASE.replace("  source: in\n", f"  source: in\n  hmac: '{value}'\n")
    assert _problems(text) == [("params.hmac", 5)] and value not in _rendered(text)
    note = BASE.replace("  source: in\n", "  source: in\n  note: none\n")
    assert "given with --param" in _rendered(note, note=value)


def test_paths_with_slashes_and_digits_are_not_keys() -> None:
    path = "landing/CustomerExports/v2/2024-01/part0001"
    assert loads(BASE.replace("path: ${params.source}/data.csv", f"path: {path}")).pipeline


@pytest.mark.parametrize(
    ("source", "output"), [("out/*", "out"), ("out/tx.csv", "out/tx.csv"), ("./out/*.parquet", "out/")]
)
def test_an_output_where_a_source_reads_is_refused(source: str, output: str) -> None:
    text = BASE.replace("path: ${params.source}/data.csv", f"path: {source}").replace(
        "o: {path: out}", f"o: {{path: {output}}}"
    )
    assert _problems(text) == [("outputs.o.path", 18)]
    assert "the next run would read it back" in _rendered(text)


def test_an_output_beside_its_source_file_is_valid() -> None:
    assert loads(BASE.replace("o: {path: out}", "o: {path: in}")).pipeline  # source in/data.csv


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("o: {path: out}", 'o: {path: ""}', "outputs.o.path", "at least 1 character"),
        (
            "    format: csv\n",
            "    format: csv\n    csv: {encoding: nope-codec}\n",
            "sources.s.csv.encoding",
            "codec",
        ),
        (
            'contamination: "${params.contamination}"',
            "contamination: .nan",
            "steps.1.anomaly.contamination",
            "NaN",
        ),
    ],
)
def test_values_a_run_would_refuse_are_refused_by_validate(
    old: str, new: str, field: str, message: str
) -> None:
    with pytest.raises(SpecError) as caught:
        loads(BASE.replace(old, new), file="spec.yaml")
    (issue,) = caught.value.issues
    assert issue.field == field and message in issue.message and issue.hint


def test_a_parameter_may_name_a_mapping_key() -> None:
    text = BASE.replace("  source: in\n", "  source: in\n  amount: total\n").replace(
        "  - bin:", "  - clean: {cast: {'${params.amount}': float64}}\n  - bin:"
    )
    clean = loads(text).pipeline.all_steps()[2][1]
    assert clean.cast == {"total": "float64"}  # type: ignore[attr-defined]


def test_a_param_value_is_not_substituted_and_a_wrong_one_is_blamed_on_the_option() -> None:
    assert _problems(BASE, source="${params.contamination}") == [("params.source", None)]
    rendered = _rendered(BASE, contamination="abc")
    assert (
        "field 'steps.1.anomaly.contamination'" in rendered
        and "(the value of --param contamination)" in rendered
    )
    assert "give --param contamination a valid value" in rendered


def test_an_error_of_a_whole_step_names_the_step_once() -> None:
    text = BASE.replace('bins: "${params.binning.bins}"', "bins: [0, 40, 20, 100]")
    assert _problems(text) == [("steps.2.bin", 16)]


def test_a_whole_source_beside_an_incremental_one_may_not_append() -> None:
    text = BASE.replace(
        "    path: ${params.source}/data.csv\n",
        "    path: ${params.source}/data.csv\n    incremental: {by: files}\n"
        "  ref:\n    format: csv\n    path: ref.csv\n",
    )
    rendered = _rendered(text)
    assert "output o appends each run's rows" in rendered and "source(s) ref are read whole" in rendered
    assert loads(text.replace("o: {path: out}", "o: {path: out, mode: overwrite}")).pipeline


@pytest.mark.parametrize(
    "step",
    [
        "  - derive: {columns: {customer_id: {kind: arithmetic, expression: 'a * 2'}}}",  # the token replaced
        "  - encode: {column: a, mapping: {x: {category: y}, unknown: {category: z}},"
        " outputs: {category: customer_id}}",
    ],
)
def test_a_protected_column_written_again_from_other_columns_is_refused(step: str) -> None:
    text = BASE.replace('contamination}"}\n', 'contamination}"}\n' + step + "\n")
    rendered = _rendered(text)
    assert "column customer_id is written again from a after step 0 protected it" in rendered
    assert "another name" in rendered


def test_rewriting_a_protected_column_from_itself_and_listing_it_twice_are_fine() -> None:
    text = BASE.replace(
        "  - tokenize: {columns: [customer_id], domain: customer}",
        "  - tokenize: {columns: [customer_id, customer_id], domain: customer}\n"
        "  - clean: {case: {customer_id: upper}}",
    )
    assert [w.field for w in loads(text).warnings] == []
