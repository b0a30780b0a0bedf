"""YAML files read with their line numbers: the spec, expected-schema files, `retention.yaml`.

ruamel's round-trip loader keeps each key's and item's line, so a problem found later (by pydantic,
by a lint rule) can name the line it comes from. Messages name fields and lines, never values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import YAMLError

from vaultline.errors import SpecError, SpecIssue

M = TypeVar("M", bound=BaseModel)


MAX_DEPTH = 64
"""Nesting no spec, schema or policy needs; deeper input is refused before anything recurses into it."""


def parse(text: str, *, file: str) -> Any:
    """The round-trip tree of `text`; invalid YAML is a SpecError with the line of the problem."""
    try:
        tree = YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise SpecError(
            [SpecIssue("<yaml>", f"not valid YAML: {_problem(exc)}", line=line)], file=file
        ) from None
    except RecursionError:
        raise SpecError(
            [SpecIssue("<yaml>", f"nested more than {MAX_DEPTH} levels deep")], file=file
        ) from None
    if _depth(tree) > MAX_DEPTH:
        raise SpecError([SpecIssue("<yaml>", f"nested more than {MAX_DEPTH} levels deep")], file=file)
    return tree


def _problem(exc: YAMLError) -> str:
    problem = str(getattr(exc, "problem", None) or "invalid YAML")
    # ruamel names both values of a repeated key; a value may be a secret.
    return _REPEATED_VALUES.sub("", problem) if isinstance(exc, DuplicateKeyError) else problem


_REPEATED_VALUES = re.compile(r"\s+with value .*", re.S)


def _depth(tree: Any) -> int:
    """Nesting depth of a tree, without recursion (a hostile file may nest thousands of levels)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = node.values() if isinstance(node, Mapping) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def read_text(path: str | Path) -> str:
    """The file's text; an unreadable file is a SpecError naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([SpecIssue("<file>", f"cannot be read ({exc.strerror})")], file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise SpecError(
            [SpecIssue("<file>", f"is not UTF-8 text (byte {exc.start})", hint="save the file as UTF-8")],
            file=str(path),
        ) from None


def plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists (pydantic and JSON reports want those)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def line_of(tree: Any, path: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node of `path` that exists in the tree."""
    line: int | None = None
    node = tree
    for part in path:
        try:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
            else:
                break
            node = node[part]
        except (AttributeError, KeyError, TypeError):
            break
    return line


def read_model(path: Path, model: type[M]) -> M:
    """A YAML file validated by a pydantic model; every problem becomes a SpecError naming the file,
    field and line (exit code 2 in the CLI)."""
    file = str(path)
    tree = parse(read_text(path), file=file)
    try:
        return model.model_validate(plain(tree if tree is not None else {}))
    except ValidationError as exc:
        issues = [
            SpecIssue(
                ".".join(str(p) for p in error["loc"]) or "<root>",
                "is required" if error["type"] == "missing" else error["msg"],
                line=line_of(tree, tuple(error["loc"])),
            )
            for error in exc.errors()
        ]
        raise SpecError(issues, file=file) from None
