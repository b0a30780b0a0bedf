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
    assert (issue.field, issue.line) == ("<yaml>", 3)
    assert "bad.yaml" in caught.value.render()
