"""Load a spec: YAML with line numbers, `${params.X}` substitution, typed validation, lint.

Every problem becomes a SpecIssue naming the field path and its line in the file, collected into
one SpecError (exit code 2 in the CLI). Messages never repeat the offending value: it may be a secret.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from vaultline.errors import SpecError, SpecIssue
from vaultline.spec import lint
from vaultline.spec.models import Pipeline
from vaultline.spec.yaml_tree import line_of, parse, plain, read_text

_PARAM = re.compile(r"\$\{params\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")
_MISSING = object()
_FIX_HINTS = {
    "missing": "add this field",
    "extra_forbidden": "remove it or check its spelling against `vaultline schema`",
    "literal_error": "use one of the allowed values",
    "unknown_step": "check the transform name",
    "union_tag_invalid": "use one of the kinds the message lists",
    "union_tag_not_found": "add `kind:` with one of the allowed kinds",
    "string_pattern_mismatch": "use letters, digits, _ and -, starting with a letter",
    "dict_type": "write a mapping (`key: value` lines or `{key: value}`)",
    "list_type": "write a list (`- item` lines or `[a, b]`)",
    "string_type": "write text (quote it if YAML reads it as a number or a boolean)",
    "int_parsing": "write a whole number, without quotes",
    "int_type": "write a whole number, without quotes",
    "float_parsing": "write a number, without quotes",
    "bool_parsing": "write true or false",
    "greater_than_equal": "raise the value",
    "greater_than": "raise the value",
    "less_than_equal": "lower the value",
    "less_than": "lower the value",
    "int_from_float": "write a whole number",
    "finite_number": "write a finite number",
    "string_too_short": "write a longer value (it may not be empty)",
    "string_too_long": "write a shorter value",
    "model_type": "write `{field: value}` pairs (see `vaultline schema`)",
    "model_attributes_type": "write `{field: value}` pairs (see `vaultline schema`)",
    "invalid_key": "quote the key: YAML reads 1, true or null as a number, a boolean or nothing",
    "time_delta_parsing": "write a duration such as 90m, 24h or 7d",
    "time_delta_type": "write a duration such as 90m, 24h or 7d",
    "too_short": "add at least one item",
    "value_error": "see `docs/spec.md` for this field",
}


@dataclass
class LoadedSpec:
    pipeline: Pipeline
    file: str
    params: dict[str, Any]
    warnings: list[SpecIssue] = field(default_factory=list)
    step_lines: tuple[int | None, ...] = ()
    """The line of each step in the file, for errors found while running."""

    def step_location(self, index: int) -> str:
        line = self.step_lines[index] if 0 <= index < len(self.step_lines) else None
        return f"{self.file}, line {line}" if line else self.file


def parse_param(text: str) -> tuple[str, str]:
    """`KEY=VALUE` from the command line, VALUE as text: `loads` types it like the declared default."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SpecError(
            [SpecIssue("--param", "expected KEY=VALUE", hint="e.g. --param source_bucket=s3://raw")],
            file="<command line>",
        )
    return key.strip(), value


def load(path: str | Path, overrides: Mapping[str, Any] | None = None) -> LoadedSpec:
    """Read, substitute, validate and lint a spec file. Raises SpecError listing every problem."""
    return loads(read_text(path), file=str(path), overrides=overrides)


def loads(text: str, *, file: str = "<string>", overrides: Mapping[str, Any] | None = None) -> LoadedSpec:
    tree = parse(text, file=file)
    if not isinstance(tree, CommentedMap):
        raise SpecError(
            [
                SpecIssue(
                    "<root>",
                    "the spec must be a mapping with version, name, sources, steps, outputs",
                    hint="start from `vaultline init SOURCE` or examples/*/pipeline.yaml",
                )
            ],
            file=file,
        )
    declared = tree.get("params")
    if declared is not None and not isinstance(declared, Mapping):
        raise SpecError(
            [
                SpecIssue(
                    "params",
                    "must be a mapping of parameter names to default values",
                    line=line_of(tree, ("params",)),
                    hint="e.g. `params: {source_bucket: raw}`",
                )
            ],
            file=file,
        )
    declared = plain(declared or {})
    issues = lint.literal_secrets(tree, line_of)
    given = dict(overrides or {})
    issues += lint.literal_secrets({"params": given}, lambda _tree, _path: None, origin="--param")
    params = {**declared, **_typed(given, declared, tree, issues)}
    resolved = _substitute(tree, params, issues, path=(), root=tree)
    if issues:
        raise SpecError(issues, file=file)
    try:
        pipeline = Pipeline.model_validate(resolved)
    except ValidationError as exc:
        raise SpecError(_issues(exc, tree, given), file=file) from None
    problems, warnings = lint.check(pipeline, tree, line_of)
    if problems:
        raise SpecError(problems, file=file)
    step_lines = tuple(line_of(tree, ("steps", index)) for index in range(len(pipeline.steps)))
    return LoadedSpec(pipeline=pipeline, file=file, params=params, warnings=warnings, step_lines=step_lines)


def _typed(
    given: Mapping[str, Any], declared: Mapping[str, Any], tree: Any, issues: list[SpecIssue]
) -> dict[str, Any]:
    """--param values as the declared default's type: text stays text (`007` is not 7), anything
    else is read as YAML (`0.02`, `[1, 2]`)."""
    typed: dict[str, Any] = {}
    for name, value in given.items():
        if name not in declared:
            issues.append(
                SpecIssue(
                    f"params.{name}",
                    "is given with --param but not declared under params:",
                    line=line_of(tree, ("params",)),
                    hint="declare it with a default",
                )
            )
            continue
        default = declared[name]
        if isinstance(value, str) and "${" in value:
            issues.append(
                SpecIssue(
                    f"params.{name}",
                    "the --param value refers to a parameter",
                    hint="give the value itself: --param values are not substituted",
                )
            )
            continue
        if not isinstance(value, str) or default is None or isinstance(default, str):
            typed[name] = value
            continue
        try:
            typed[name] = YAML(typ="safe").load(value) if value.strip() else ""
        except YAMLError as exc:
            issues.append(
                SpecIssue(
                    f"params.{name}",
                    f"the --param value is not valid YAML ({getattr(exc, 'problem', None) or 'unreadable'})",
                    hint=f"its default is {_kind(default)}: give a value of that kind",
                )
            )
    return typed


def _kind(value: Any) -> str:
    for kind, name in (
        (bool, "true or false"),
        (int, "a whole number"),
        (float, "a number"),
        (list, "a list"),
    ):
        if isinstance(value, kind):
            return name
    return "a mapping" if isinstance(value, Mapping) else "text"


def _substitute(
    node: Any, params: Mapping[str, Any], issues: list[SpecIssue], path: tuple[Any, ...], root: Any
) -> Any:
    if isinstance(node, Mapping):
        return {
            _substitute_key(key, params, issues, (*path, key), root): _substitute(
                value, params, issues, (*path, key), root
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_substitute(value, params, issues, (*path, index), root) for index, value in enumerate(node)]
    if not (isinstance(node, str) and "${" in node):
        return node
    problem, hint = _reference_problem(node, params, path)
    if problem:
        issues.append(SpecIssue(_dotted(path), problem, line=line_of(root, path), hint=hint))
        return node
    whole = _PARAM.fullmatch(node)
    if whole:  # a whole-value reference keeps the parameter's type (number, list, mapping)
        return plain(_lookup(params, whole.group(1)))
    return _PARAM.sub(lambda m: str(_lookup(params, m.group(1))), node)


def _substitute_key(
    key: Any, params: Mapping[str, Any], issues: list[SpecIssue], path: tuple[Any, ...], root: Any
) -> Any:
    """A mapping key may name a column through a parameter too (`cast: {${params.amount}: float64}`)."""
    if not (isinstance(key, str) and "${" in key):
        return key
    resolved = _substitute(key, params, issues, path, root)
    if isinstance(resolved, Mapping | list) or resolved is None:
        issues.append(
            SpecIssue(
                _dotted(path),
                "a key refers to a parameter whose value is not text or a number",
                line=line_of(root, path),
                hint="give the parameter a text value",
            )
        )
        return key
    return str(resolved)


def _reference_problem(text: str, params: Mapping[str, Any], path: tuple[Any, ...]) -> tuple[str, str]:
    """What is wrong with the `${...}` references of `text` ('' when nothing is)."""
    if path[:1] == ("params",):
        return (
            "a parameter's default refers to a parameter",
            "write the value itself, or pass it with --param",
        )
    if "${" in _PARAM.sub("", text):
        return "holds '${' that is not a parameter reference", "write ${params.NAME}, without spaces"
    whole = _PARAM.fullmatch(text) is not None
    for name in _PARAM.findall(text):
        value = _lookup(params, name)
        if value is _MISSING:
            return (
                f"refers to ${{params.{name}}} which is not declared",
                "declare it under params: or pass --param",
            )
        if not whole and (value is None or isinstance(value, Mapping | list)):
            return (
                f"puts ${{params.{name}}} inside text, but its value is "
                f"{'empty' if value is None else 'a mapping or a list'}",
                "give the parameter a text or number value",
            )
    return "", ""


def _lookup(params: Mapping[str, Any], dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path) or "<root>"


def _issues(exc: ValidationError, tree: Any, given: Mapping[str, Any]) -> list[SpecIssue]:
    """pydantic's errors as issues on the spec's own field paths, one issue a field: the several
    errors of a union (one a member) become one. A value that came from `--param` says so."""
    merged: dict[str, SpecIssue] = {}
    for error in exc.errors():
        kind = error["type"]
        loc = _spec_path(tuple(error["loc"]), tree, missing=kind == "missing")
        message = str(error["msg"]).removeprefix("Value error, ")
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden" and lint.is_secret_name(loc[-1]):
            message, kind = "holds a literal secret", "literal_secret"
        elif isinstance(error.get("input"), float) and math.isnan(error["input"]):
            message, kind = "is NaN, which is not a number", "float_parsing"
        elif kind in ("model_type", "model_attributes_type"):
            message = "should be a mapping of its fields"
        if "[key]" in error["loc"]:
            message = f"the name is not allowed: {message}"
        hint = lint.KEY_HINT if kind == "literal_secret" else _FIX_HINTS.get(kind)
        if (name := _param_given(tree, loc, given)) is not None:
            message += f" (the value of --param {name})"
            hint = f"give --param {name} a valid value" + (f": {hint}" if hint else "")
        dotted = _dotted(loc)
        if dotted in merged:
            merged[dotted].message += f"; or: {message}"
            continue
        merged[dotted] = SpecIssue(dotted, message, line=line_of(tree, loc), hint=hint)
    return list(merged.values())


def _param_given(tree: Any, loc: tuple[Any, ...], given: Mapping[str, Any]) -> str | None:
    """The --param whose value the spec's field at `loc` takes whole (`${params.NAME}`), if any."""
    node = tree
    for part in loc:
        key = _key_of(node, part)
        if key is not _MISSING:
            node = node[key]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    whole = _PARAM.fullmatch(node) if isinstance(node, str) else None
    name = whole.group(1).split(".")[0] if whole else None
    return name if name in given else None


def _spec_path(loc: tuple[Any, ...], tree: Any, *, missing: bool) -> tuple[Any, ...]:
    """pydantic's location without its own segments (union members, discriminator tags, the wrapper
    of a short form, `[key]`): each segment is kept only where the spec has it, or where a required
    field is missing from a mapping the spec has."""
    path: list[Any] = []
    node = tree
    for position, part in enumerate(loc):
        key = _key_of(node, part)
        if key is not _MISSING:
            node = node[key]
            path.append(key)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(part)
        elif missing and isinstance(node, Mapping) and position == len(loc) - 1:
            path.append(part)
    return tuple(path)


def _key_of(node: Any, part: Any) -> Any:
    """The key of mapping `node` that pydantic calls `part` (YAML may have read `5411:` as a number)."""
    if not isinstance(node, Mapping):
        return _MISSING
    if part in node:
        return part
    return next((key for key in node if str(key) == str(part)), _MISSING)
