"""YAML files with line numbers: lines of mapping keys and list items, plain containers, and a model
file's problems named by field and line (the spec loader and expected-schema files build on these)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from vaultline.errors import SpecError
from vaultline.spec.yaml_tree import line_of, parse, plain, read_model

TEXT = "name: a\nitems:\n  - x: 1\n  - x: 2\n    y: 3\n"


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    x: int


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    items: list[_Item]


def test_line_of_names_the_deepest_node_that_exists() -> None:
    tree = parse(TEXT, file="t.yaml")
    assert line_of(tree, ("name",)) == 1
    assert line_of(tree, ("items", 1)) == 4
    assert line_of(tree, ("items", 1, "y")) == 5
    assert line_of(tree, ("items", 7, "x")) == 2  # no item 7: the list's own line
    assert line_of(tree, ("missing",)) is None


def test_plain_turns_the_tree_into_dicts_and_lists() -> None:
    value = plain(parse(TEXT, file="t.yaml"))
    assert value == {"name": "a", "items": [{"x": 1}, {"x": 2, "y": 3}]}
    assert type(value) is dict and type(value["items"]) is list


def test_read_model_names_field_and_line_of_each_problem(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(TEXT)
    with pytest.raises(SpecError) as caught:
        read_model(path, _File)
    assert {(i.field, i.line) for i in caught.value.issues} == {("items.1.y", 5)}
    path.write_text("name: a\nitems: []\n")
    assert read_model(path, _File) == _File(name="a", items=[])


def test_invalid_yaml_names_its_line() -> None:
    with pytest.raises(SpecError) as caught:
        parse("a: 1\nb: [unclosed\n", file="bad.yaml")
    (issue,) = caught.value.issues
    assert (issue.field, issue.line) == ("<yaml>", 2)  # where the bracket opens, not the end of the file
    assert "bad.yaml" in caught.value.render() and "never closed" in issue.message


def _problem(text: str) -> tuple[str, str, int | None]:
    with pytest.raises(SpecError) as caught:
        parse(text, file="t.yaml")
    (issue,) = caught.value.issues
    return issue.field, issue.message, issue.line


def test_aliases_that_expand_past_the_budget_are_refused_at_once() -> None:
    # 789 bytes that expand to 10**7 values: walked as written, this took 70 s and 500 MB.
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 8)]
    field, message, _ = _problem("\n".join(levels) + "\n")
    assert field == "<yaml>" and "more than 100,000 values once its aliases" in message
    modest = "base: &b {path: raw}\nfirst: *b\nsecond: *b\n"  # aliases as people use them
    assert plain(parse(modest, file="t.yaml"))["second"] == {"path": "raw"}


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("a: 1\nb: !!python/object/apply:os.system ['echo']\n", "b", 2),
        ("a:\n  - !custom 5\n", "a.0", 2),
        ("a: !!str 5\n", "a", 1),
        ("a: !!binary aGVsbG8=\n", "a", 1),
    ],
)
def test_yaml_tags_are_refused_with_their_field(text: str, field: str, line: int) -> None:
    assert _problem(text)[0::2] == (field, line)


def test_an_unclosed_quote_names_the_line_it_opens_on() -> None:
    field, message, line = _problem('a: 1\nb: "never closed\nc: 2\nd: 3\n')
    assert (field, line) == ("<yaml>", 2)
    assert "quoted scalar that is never closed" in message


def test_a_reused_anchor_is_valid_and_quotes_nothing(recwarn: pytest.WarningsRecorder) -> None:
    tree = parse("a: &x [secret-1]\nb: &x [2]\nc: *x\n", file="t.yaml")
    assert plain(tree)["c"] == [2] and not recwarn.list


def test_a_control_character_is_named_with_its_line() -> None:
    field, message, line = _problem("a: 1\nb: x\x07y\n")
    assert (field, line) == ("<yaml>", 2) and "control character U+0007" in message
