"""YAML files read with their line numbers: the spec, expected-schema files, `retention.yaml`.

ruamel's round-trip loader keeps each key's and item's line, so a problem found later (by pydantic,
by a lint rule) can name the line it comes from. Messages name fields and lines, never values.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import ReusedAnchorWarning, YAMLError
from ruamel.yaml.reader import ReaderError

from vaultline.errors import SpecError, SpecIssue

M = TypeVar("M", bound=BaseModel)


MAX_DEPTH = 64
"""Nesting no spec, schema or policy needs; deeper input is refused before anything recurses into it."""
MAX_VALUES = 100_000
"""Values (mapping entries, list items) a file may hold with its aliases expanded: specs hold hundreds."""


def parse(text: str, *, file: str) -> Any:
    """The round-trip tree of `text`; invalid YAML is a SpecError with the line of the problem."""
    try:
        with warnings.catch_warnings():
            # ruamel warns of a reused anchor by quoting the line, values and all; a reuse is valid YAML.
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            tree = YAML(typ="rt").load(text)
    except YAMLError as exc:
        raise SpecError([_yaml_issue(exc, text)], file=file) from None
    except RecursionError:
        raise SpecError(
            [SpecIssue("<yaml>", f"nested more than {MAX_DEPTH} levels deep")], file=file
        ) from None
    issue = _shape_problem(tree)
    if issue is not None:
        raise SpecError([issue], file=file)
    return tree


def _yaml_issue(exc: YAMLError, text: str) -> SpecIssue:
    if isinstance(exc, ReaderError):  # a control character: no mark, a position in the text
        line = text.count("\n", 0, exc.position) + 1
        return SpecIssue(
            "<yaml>",
            f"not valid YAML: holds the control character U+{exc.character:04X}",
            line=line,
            hint="remove it (a text editor may not show it); write \\t or \\n inside double quotes",
        )
    problem = _problem(exc)
    mark, context = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    if context is not None and (mark is None or mark.line >= len(text.splitlines())):
        # The problem is the end of the file (an unclosed quote or bracket): where it opened says more.
        opened = getattr(exc, "context", None) or "a value"
        problem, mark = f"{opened} that is never closed ({problem})", context
    return SpecIssue("<yaml>", f"not valid YAML: {problem}", line=mark.line + 1 if mark is not None else None)


def _problem(exc: YAMLError) -> str:
    problem = str(getattr(exc, "problem", None) or "invalid YAML")
    # ruamel names both values of a repeated key; a value may be a secret.
    return _REPEATED_VALUES.sub("", problem) if isinstance(exc, DuplicateKeyError) else problem


_REPEATED_VALUES = re.compile(r"\s+with value .*", re.S)


def _shape_problem(tree: Any) -> SpecIssue | None:
    """Too deep, too large once its aliases are expanded, or holding a YAML tag: checked without
    recursion and within a budget, since a hostile file may nest thousands of levels, or expand a
    few hundred bytes of aliases (`&a [*b, *b, ...]`) into billions of values."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(tree, ())]
    values = 0
    while stack:
        node, path = stack.pop()
        values += 1
        if len(path) >= MAX_DEPTH:
            return SpecIssue("<yaml>", f"nested more than {MAX_DEPTH} levels deep", line=line_of(tree, path))
        if values > MAX_VALUES:
            return SpecIssue(
                "<yaml>",
                f"holds more than {MAX_VALUES:,} values once its aliases (*name) are expanded",
                hint="write each value once; an alias repeats everything its anchor holds",
            )
        tag = getattr(getattr(node, "tag", None), "value", None)
        if tag is not None or isinstance(node, TaggedScalar | bytes):
            return SpecIssue(
                _dotted(path),
                "has a YAML tag (`!name` or `!!type`): a spec is plain mappings, lists and values",
                line=line_of(tree, path),
                hint="remove the tag; quote a value that YAML should read as text",
            )
        if isinstance(node, Mapping):
            stack.extend((child, (*path, key)) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(node))
    return None


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path) or "<root>"


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


def read_model(path: Path, model: type[M], *, what: str = "the file") -> M:
    """A YAML file validated by a pydantic model; every problem becomes a SpecError naming the file,
    field and line (exit code 2 in the CLI), and `what` the file is ("the schema file"), since it is
    not a spec."""
    file = str(path)
    try:
        tree = parse(read_text(path), file=file)
    except SpecError as exc:
        raise SpecError(exc.issues, file=file, what=what) from None
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
        raise SpecError(issues, file=file, what=what) from None
