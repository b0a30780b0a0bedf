"""Load a spec: YAML with line numbers, `${params.X}` substitution, typed validation, lint.

Every problem becomes a SpecIssue naming the field path and its line in the file, collected into
one SpecError (exit code 2 in the CLI). Messages never repeat the offending value: it may be a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from vaultline.errors import SpecError, SpecIssue
from vaultline.spec import lint
from vaultline.spec.models import STEP_MODELS, Pipeline
from vaultline.spec.yaml_tree import line_of, parse, plain, read_text

_PARAM = re.compile(r"\$\{params\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")
_MISSING = object()
_FIX_HINTS = {
    "missing": "add this field",
    "extra_forbidden": "remove it or check its spelling against `vaultline schema`",
    "literal_error": "use one of the allowed values",
    "unknown_step": "check the transform name",
}


@dataclass
class LoadedSpec:
    pipeline: Pipeline
    file: str
    params: dict[str, Any]
    warnings: list[SpecIssue] = field(default_factory=list)


def parse_param(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` from the command line; VALUE is read as a YAML scalar or flow collection."""
    if "=" not in text:
        raise SpecError(
            [SpecIssue("--param", "expected KEY=VALUE", hint="e.g. --param source_bucket=s3://raw")],
            file="<command line>",
        )
    key, raw = text.split("=", 1)
    value = YAML(typ="safe").load(raw) if raw.strip() else ""
    return key.strip(), value


def load(path: str | Path, overrides: Mapping[str, Any] | None = None) -> LoadedSpec:
    """Read, substitute, validate and lint a spec file. Raises SpecError listing every problem."""
    return loads(read_text(path), file=str(path), overrides=overrides)


def loads(text: str, *, file: str = "<string>", overrides: Mapping[str, Any] | None = None) -> LoadedSpec:
    tree = parse(text, file=file)
    if not isinstance(tree, CommentedMap):
        raise SpecError(
            [SpecIssue("<root>", "the spec must be a mapping with version, name, sources, steps, outputs")],
            file=file,
        )

    issues = lint.literal_secrets(tree, line_of)
    params = plain(dict(tree.get("params") or {}))
    params.update(overrides or {})
    unknown = sorted(set(overrides or {}) - set(tree.get("params") or {}))
    for name in unknown:
        issues.append(
            SpecIssue(
                f"params.{name}",
                "is given with --param but not declared under params:",
                hint="declare it with a default",
            )
        )
    resolved = _substitute(tree, params, issues, path=())
    for issue in issues:
        if issue.line is None and issue.field != "<root>":
            issue.line = line_of(tree, tuple(int(p) if p.isdigit() else p for p in issue.field.split(".")))
    if issues:
        raise SpecError(issues, file=file)
    try:
        pipeline = Pipeline.model_validate(resolved)
    except ValidationError as exc:
        raise SpecError([_issue(error, tree) for error in exc.errors()], file=file) from None
    problems, warnings = lint.check(pipeline, tree, line_of)
    if problems:
        raise SpecError(problems, file=file)
    return LoadedSpec(pipeline=pipeline, file=file, params=params, warnings=warnings)


def _substitute(node: Any, params: Mapping[str, Any], issues: list[SpecIssue], path: tuple[Any, ...]) -> Any:
    if isinstance(node, Mapping):
        return {key: _substitute(value, params, issues, (*path, key)) for key, value in node.items()}
    if isinstance(node, list):
        return [_substitute(value, params, issues, (*path, index)) for index, value in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        whole = _PARAM.fullmatch(node)
        for name in _PARAM.findall(node):
            if _lookup(params, name) is _MISSING:
                issues.append(
                    SpecIssue(
                        _dotted(path),
                        f"refers to ${{params.{name}}} which is not declared",
                        hint="declare it under params: or pass --param",
                    )
                )
                return node
        if whole:  # a whole-value reference keeps the parameter's type (number, list, mapping)
            return plain(_lookup(params, whole.group(1)))
        return _PARAM.sub(lambda m: str(_lookup(params, m.group(1))), node)
    return node


def _lookup(params: Mapping[str, Any], dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in path) or "<root>"


def _issue(error: Any, tree: Any) -> SpecIssue:
    loc = list(error["loc"])
    # Discriminated steps repeat their tag in the location: steps.3.tokenize.tokenize.columns
    if len(loc) >= 4 and loc[0] == "steps" and loc[2] in STEP_MODELS and loc[2] == loc[3]:
        del loc[3]
    path = tuple(loc)
    kind = error["type"]
    message = error["msg"]
    if kind == "missing":
        message = "is required"
    return SpecIssue(_dotted(path), message, line=line_of(tree, path), hint=_FIX_HINTS.get(kind))
