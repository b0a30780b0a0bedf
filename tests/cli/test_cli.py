"""The CLI: exit codes, --json output, keys and runs commands, no tracebacks for user errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vaultline.cli.main import app
from vaultline.keys.local import PASSPHRASE_ENV

EXAMPLES = Path(__file__).parents[2] / "examples"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "cli-test-passphrase")


def test_help_is_fast_and_lists_commands() -> None:
    # --help must not import the heavy engine stack.
    code = (
        "import sys, vaultline.cli.main as m; m.app(['--help'], standalone_mode=False); "
        "print(sorted(k for k in ('polars','pyarrow','sklearn','boto3','sqlalchemy') if k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")
    commands = ("validate", "run", "schema", "demo", "keys", "runs", "classify", "init", "explain", "doctor")
    for command in (*commands, "read", "datasets", "gc", "vacuum"):
        assert command in out


def _commands(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_command_has_a_one_line_summary_for_the_command_list() -> None:
    # The command list shows a docstring's first paragraph as it is: a line break there splits
    # the summary mid-sentence; details go in a paragraph of their own.
    import typer.main

    broken = [
        " ".join(path)
        for path, command in _commands(typer.main.get_command(app), ("vaultline",))
        if "\n" in (command.help or "").strip().split("\n\n")[0]
    ]
    assert broken == []


def test_help_texts_escape_the_square_brackets_rich_would_take_for_markup() -> None:
    # Rich reads `[@VERSION]` as a style tag and drops it from --help; `\[` shows the bracket.
    import typer.main

    unescaped = re.compile(r"(?<!\\)\[")
    found = [
        " ".join(path)
        for path, command in _commands(typer.main.get_command(app), ("vaultline",))
        for text in [command.help, *(getattr(param, "help", None) for param in command.params)]
        if text and unescaped.search(text)
    ]
    assert found == []
    shown = runner.invoke(app, ["runs", "export", "--help"])
    assert shown.exit_code == 0 and "NAME[@VERSION]" in shown.output


@pytest.mark.parametrize("command", ["classify", "init"])
def test_an_unknown_source_format_is_a_usage_error_listing_the_formats(command: str, tmp_path: Path) -> None:
    source = tmp_path / "patients.csv"
    source.write_text("id\n1\n")
    result = runner.invoke(
        app, [command, str(source), "--source-format", "xlsx", "--state", str(tmp_path / "st")]
    )
    assert result.exit_code == 2, result.output
    assert all(f"'{name}'" in result.output for name in ("csv", "parquet", "jsonl"))
    assert "a bug" not in result.output


@pytest.mark.parametrize("command", ["classify", "init", "crawl"])
def test_source_errors_of_an_ad_hoc_source_name_its_location(command: str, tmp_path: Path) -> None:
    missing = tmp_path / "nosuch.csv"
    extra = {"init": ["--out", str(tmp_path / "drafted.yaml")], "crawl": ["--name", "t"]}.get(command, [])
    result = runner.invoke(app, [command, str(missing), *extra, "--state", str(tmp_path / "st")])
    assert result.exit_code == 1
    assert f"source {missing}: {missing} does not exist" in result.output
    assert "source input" not in result.output and "source source" not in result.output


def test_a_bad_expected_schema_is_a_problem_in_the_schema_file(tmp_path: Path) -> None:
    (tmp_path / "st").mkdir()
    expect = tmp_path / "nope.yaml"
    result = runner.invoke(
        app, ["catalog", "check", "t", "--expect", str(expect), "--state", str(tmp_path / "st")]
    )
    assert result.exit_code == 2
    assert (
        f"{expect}: 1 problem(s) in the schema file" in result.output and "in the spec" not in result.output
    )


def test_validate_valid_spec() -> None:
    result = runner.invoke(app, ["validate", str(EXAMPLES / "healthplus" / "pipeline.yaml")])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_validate_invalid_spec_exit_2_with_line_and_field(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    text = (EXAMPLES / "healthplus" / "pipeline.yaml").read_text().replace("keep: 4", "keep: four")
    spec.write_text(text)
    line = text.splitlines().index(next(t for t in text.splitlines() if "keep: four" in t)) + 1
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    assert (
        "bad.yaml" in result.output
        and "steps.4.mask.keep" in result.output
        and f"line {line}," in result.output
    )
    assert "Traceback" not in result.output
    as_json = runner.invoke(app, ["validate", str(spec), "--json"])
    assert as_json.exit_code == 2
    payload = json.loads(as_json.stdout)
    assert payload["valid"] is False and payload["errors"][0]["field"] == "steps.4.mask.keep"
    assert payload["errors"][0]["line"] == line


def test_schema_is_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    schema = json.loads(result.stdout)
    assert schema["title"] == "Pipeline"
    assert {"version", "name", "sources", "steps", "outputs"} <= set(schema["properties"])


def test_keys_lifecycle_never_prints_material(tmp_path: Path) -> None:
    state = ["--state", str(tmp_path / "st")]
    assert runner.invoke(app, ["keys", "create", "k1", *state]).exit_code == 0
    rotated = runner.invoke(app, ["keys", "rotate", "k1", *state])
    assert rotated.exit_code == 0 and "pin `k1@1` under `keys:`" in " ".join(rotated.stderr.split())
    listed = json.loads(runner.invoke(app, ["keys", "list", *state, "--json"]).stdout)
    assert listed[0]["name"] == "k1" and listed[0]["versions"] == [1, 2] and listed[0]["current_version"] == 2
    duplicate = runner.invoke(app, ["keys", "create", "k1", *state])
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    keyring = json.loads((tmp_path / "st" / "keyring.json").read_text())
    sealed = keyring["keys"]["k1"]["versions"]["1"]["ciphertext"]
    assert sealed not in duplicate.output


def test_runs_list_empty_and_unknown_run(tmp_path: Path) -> None:
    state = ["--state", str(tmp_path / "st")]
    (tmp_path / "st").mkdir()
    assert json.loads(runner.invoke(app, ["runs", "list", *state, "--json"]).stdout) == []
    missing = runner.invoke(app, ["runs", "show", "nope", *state])
    assert missing.exit_code == 1 and "no run with id nope" in missing.output


def test_validate_json_reports_a_malformed_param_as_json() -> None:
    spec = str(EXAMPLES / "fraud" / "pipeline.yaml")
    result = runner.invoke(app, ["validate", spec, "--param", "source_bucket", "--json"])
    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert payload["valid"] is False and payload["errors"][0]["field"] == "--param"


def test_a_state_directory_that_cannot_be_created_is_one_message(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = runner.invoke(app, ["keys", "create", "k1", "--state", str(blocker / "state")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"the state directory {blocker / 'state'} cannot be created (Not a directory)" in result.output
    assert "--state or VAULTLINE_HOME" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runs", "list", "--limit", "0"], "Invalid value for '--limit'"),
        (["read", "x", "--columns", " , "], "names no column"),
    ],
)
def test_options_out_of_range_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, "--state", str(tmp_path / "st")])
    assert result.exit_code in (1, 2) and message in result.output


def test_an_unexpected_error_shows_its_type_never_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polars.exceptions import PanicException

    from vaultline.catalog.runs import RunCatalog

    def panics(*_args: object, **_kwargs: object) -> None:
        # A Rust panic is a BaseException, past `except Exception`; its cause chain quotes values too.
        raise PanicException("index out of bounds: '123-45-6789'") from ValueError("'123-45-6789'")

    (tmp_path / "st").mkdir()
    monkeypatch.setattr(RunCatalog, "list", panics)
    result = runner.invoke(app, ["runs", "list", "--state", str(tmp_path / "st")])
    assert result.exit_code == 1 and "unexpected PanicException inside vaultline" in result.output
    assert "6789" not in result.output

    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise ConnectionRefusedError("connect to 10.0.0.9:9000 refused")  # a store out of reach, unmapped

    monkeypatch.setattr(RunCatalog, "list", unreachable)
    result = runner.invoke(app, ["runs", "list", "--state", str(tmp_path / "st")])
    assert result.exit_code == 75
    assert "a service could not be reached (ConnectionRefusedError)" in result.output
    assert "10.0.0.9" not in result.output and "run again unchanged" in result.output

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ValueError("could not convert '123-45-6789'")

    monkeypatch.setattr(RunCatalog, "list", broken)
    result = runner.invoke(app, ["runs", "list", "--state", str(tmp_path / "st")])
    assert result.exit_code == 1 and "unexpected ValueError inside vaultline" in result.output
    assert "6789" not in result.output and "VAULTLINE_DEBUG=1" in result.output
    monkeypatch.setenv("VAULTLINE_DEBUG", "1")
    debugging = runner.invoke(app, ["runs", "list", "--state", str(tmp_path / "st")])
    assert isinstance(debugging.exception, ValueError)
