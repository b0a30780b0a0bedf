"""Rules a valid spec must also satisfy, as plain functions composed in explicit tuples (sqlglot-style).

`SECRET_RULES` run on the raw YAML tree before anything else (a literal secret is an error even when
the rest is invalid); `SPEC_RULES` run on the validated Pipeline and return errors and warnings.
"""

from __future__ import annotations

import fnmatch
import math
import posixpath
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from vaultline.errors import SpecIssue
from vaultline.spec.models import Pipeline
from vaultline.transforms import expect
from vaultline.transforms.base import KeyedParams

LineOf = Callable[[Any, tuple[Any, ...]], int | None]
_SECRET_FIELD = re.compile(
    r"(salt|secret|passw(or)?d|passphrase|api[_-]?key|private[_-]?key|credential|token[_-]?key)", re.I
)
KEY_HINT = "store it in the keyring (`vaultline keys create NAME`) and reference NAME under `keys:`"
URL_HINT = (
    "remove it from the URL: PostgreSQL reads the password from PGPASSWORD or ~/.pgpass, S3 and KMS "
    "their credentials from the AWS environment (profile, role or AWS_* variables)"
)


def _walk(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any, Any]]:
    """(path, key, value) for every mapping entry and list item of the raw tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), key, value
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*path, index), index, value
            yield from _walk(value, (*path, index))


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_like_secret(value: str) -> str | None:
    if re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", value):
        return "an AWS access key id"
    if "PRIVATE KEY-----" in value:
        return "a private key"
    if re.search(r"://[^/\s:@]+:[^/\s@]+@", value):
        return "a URL with an embedded password"
    if re.search(r"://\S*[?&]password=", value, re.IGNORECASE):
        return "a URL with a password parameter"
    if re.fullmatch(r"[A-Za-z0-9+_=-]{32,}", value) and _entropy(value) > 4.0:
        return "a high-entropy literal (a key or token?)"
    if _HEX_KEY.fullmatch(value) and _has_all(value, "0-9", "a-fA-F") and _entropy(value) > 3.0:
        return "a hex-encoded key (128 bits or more)"  # hex tops out at 4 bits a character
    if _BASE64_KEY.fullmatch(value) and _has_all(value, "0-9", "a-z", "A-Z") and _entropy(value) > 4.5:
        return "a base64-encoded key (or token?)"  # a path has `/` too, and words: lower entropy
    return None


_HEX_KEY = re.compile(r"[0-9a-fA-F]{32,}")
_BASE64_KEY = re.compile(r"[A-Za-z0-9+/]{28,}={0,2}")


def _has_all(value: str, *classes: str) -> bool:
    return all(re.search(f"[{chars}]", value) for chars in classes)


def is_secret_name(name: Any) -> bool:
    return isinstance(name, str) and _SECRET_FIELD.search(name) is not None


def literal_secrets(tree: Any, line_of: LineOf, *, origin: str = "") -> list[SpecIssue]:
    """Secrets never sit in a spec (nor in --param values): secret-named parameters with a value, and
    secret-looking text anywhere. A secret-named field elsewhere is either one the models define or
    an unknown one, which the loader reports as a literal secret; mapping keys that are the user's
    own names (columns, sensitivity classes) are not fields."""
    issues: list[SpecIssue] = []
    suffix = f" (given with {origin})" if origin else ""
    for path, key, value in _walk(tree):
        dotted = ".".join(str(p) for p in path)
        if len(path) == 2 and path[0] == "params" and is_secret_name(key) and _has_value(value):
            issues.append(
                SpecIssue(dotted, f"holds a literal secret{suffix}", line=line_of(tree, path), hint=KEY_HINT)
            )
            continue
        if isinstance(value, str):
            what = _looks_like_secret(value)
            if what:
                issues.append(
                    SpecIssue(
                        dotted,
                        f"looks like {what}{suffix}",
                        line=line_of(tree, path),
                        hint=URL_HINT if what.startswith("a URL") else KEY_HINT,
                    )
                )
    return issues


def _has_value(value: Any) -> bool:
    """A secret-named parameter may be declared empty or refer to another one; any value is literal."""
    if isinstance(value, str):
        return bool(value) and not value.startswith("${")
    if isinstance(value, dict | list):
        return bool(value)
    return value is not None


Rule = Callable[[Pipeline], Iterator[tuple[str, tuple[Any, ...], str, str | None]]]
"""A rule yields (severity 'error'|'warning', field path, message, hint)."""


def domains_have_keys(pipeline: Pipeline) -> Iterator[tuple[str, tuple[Any, ...], str, str | None]]:
    for index, (name, params) in enumerate(pipeline.all_steps()):
        if isinstance(params, KeyedParams) and params.domain not in pipeline.keys:
            yield (
                "error",
                ("steps", index, name, "domain"),
                f"token domain '{params.domain}' has no key",
                f"add `{params.domain}: <keyring key name>` under `keys:`",
            )


def unkeyed_hash(pipeline: Pipeline) -> Iterator[tuple[str, tuple[Any, ...], str, str | None]]:
    severity = "error" if pipeline.policy.unkeyed_hash == "error" else "warning"
    for index, (name, params) in enumerate(pipeline.all_steps()):
        if name == "hash":
            yield (
                severity,
                ("steps", index, name),
                f"unkeyed hash of {', '.join(params.input_columns())}: low-entropy values (emails, phone "
                "numbers, ids) are reversed by hashing every candidate",
                "use `tokenize` (keyed HMAC) unless a third party must reproduce the digest",
            )


def protected_once(pipeline: Pipeline) -> Iterator[tuple[str, tuple[Any, ...], str, str | None]]:
    seen: dict[str, int] = {}
    for index, (name, params) in enumerate(pipeline.all_steps()):
        if params.protection.value in ("none", "drop"):
            continue
        for column in dict.fromkeys(params.protected_columns()):  # not an `as_of` it only reads
            if column in seen:
                yield (
                    "warning",
                    ("steps", index, name),
                    f"column {column} is protected again (first by step {seen[column]})",
                    "protect each column once; a second protection hides the first one's semantics",
                )
            seen.setdefault(column, index)


def protections_stand(pipeline: Pipeline) -> Iterator[tuple[str, tuple[Any, ...], str, str | None]]:
    """A step that writes a protected (or dropped) column from other columns puts their values where the
    protection was, while the report, the catalog and the guardrail still call the column protected."""
    protected: dict[str, int] = {}
    for index, (name, params) in enumerate(pipeline.all_steps()):
        rewritten = {
            flow.target: flow.source
            for flow in params.column_lineage()
            if flow.target in protected and flow.source != flow.target
        }
        for column, source in rewritten.items():
            if column not in params.protected_columns():
                yield (
                    "error",
                    ("steps", index, name),
                    f"column {column} is written again from {source} after step {protected[column]} "
                    "protected it: the output would hold the new values under a protected name",
                    f"give the new column another name than {column}, or protect it after this step",
                )
        for column in params.protected_columns():
            protected.setdefault(column, index)


def _expectations(pipeline: Pipeline) -> Iterator[tuple[int, str, int, Any]]:
    """(step index, step name, position, expectation) for every expectation of the pipeline."""
    for index, (name, params) in enumerate(pipeline.all_steps()):
        if isinstance(params, expect.Params):
            for position, expectation in enumerate(params.expectations):
                yield index, name, position, expectation


def expectation_names_unique(pipeline: Pipeline) -> Iterator[tuple[str, tuple[Any, ...], str, str | None]]:
    """Names identify results in the catalog and quarantine reasons across the whole pipeline."""
    seen: dict[str, int] = {}
    for index, name, position, expectation in _expectations(pipeline):
        if seen.get(expectation.name, index) != index:
            yield (
                "error",
                ("steps", index, name, position, "name"),
                f"expectation name '{expectation.name}' is already used by step {seen[expectation.name]}",
                "give every expectation of the pipeline its own name",
            )
        seen.setdefault(expectation.name, index)


def drift_domains_have_keys(pipeline: Pipeline) -> Iterator[tuple[str, tuple[Any, ...], str, str | None]]:
    for index, name, position, expectation in _expectations(pipeline):
        domain = getattr(expectation, "domain", None)
        if domain is not None and domain not in pipeline.keys and domain != pipeline.quarantine.domain:
            yield (
                "warning",
                ("steps", index, name, position, "domain"),
                f"token domain '{domain}' has no key: drift on a non-numeric column hashes its "
                "categories under that domain's key, and will fail",
                f"add `{domain}: <keyring key name>` under `keys:`, or keep the quarantine domain",
            )


def output_paths_distinct(pipeline: Pipeline) -> Iterator[tuple[str, tuple[Any, ...], str, str | None]]:
    """Each output writes `<path>/<pipeline>-<run id>.parquet`: two outputs on one path would collide."""
    seen: dict[str, str] = {}
    for name, output in pipeline.outputs.items():
        directory = output.path.rstrip("/")
        if directory in seen:
            yield (
                "error",
                ("outputs", name, "path"),
                f"output {name} writes to the same path as output {seen[directory]}",
                "give each output its own path",
            )
        seen.setdefault(directory, name)


def outputs_apart_from_sources(pipeline: Pipeline) -> Iterator[tuple[str, tuple[Any, ...], str, str | None]]:
    """An output directory a source's path or glob reaches would be read back by the next run (as
    CSV, say), or would overwrite the input itself."""
    for name, output in pipeline.outputs.items():
        directory = _normalized(output.path)
        written = f"{directory}/{pipeline.name}-RUN.parquet"  # what a run writes there
        for source_name, source in pipeline.sources.items():
            if source.path is None:
                continue
            read = _normalized(source.path)
            if (
                read == directory
                or fnmatch.fnmatchcase(written, read)
                or fnmatch.fnmatchcase(written, f"{read}/*")
            ):
                yield (
                    "error",
                    ("outputs", name, "path"),
                    f"output {name} writes where source {source_name} reads: the next run would read it back",
                    "give the output a directory apart from every source path and glob",
                )


def whole_sources_beside_incremental_ones(
    pipeline: Pipeline,
) -> Iterator[tuple[str, tuple[Any, ...], str, str | None]]:
    """With an incremental source, outputs append each run's rows; a source read whole beside it would
    be appended again on every run, its rows repeated in the dataset."""
    incremental = [name for name, source in pipeline.sources.items() if source.incremental is not None]
    whole = [name for name, source in pipeline.sources.items() if source.incremental is None]
    if not incremental or not whole:
        return
    for name, output in pipeline.outputs.items():
        if output.mode in (None, "append"):
            yield (
                "error",
                ("outputs", name, "mode") if output.mode else ("outputs", name),
                f"output {name} appends each run's rows, and source(s) {', '.join(whole)} are read whole "
                f"on every run beside incremental {', '.join(incremental)}: their rows would repeat",
                "make every source incremental, or set `mode: overwrite` on the output",
            )


def _normalized(path: str) -> str:
    return path.rstrip("/") if "://" in path else posixpath.normpath(path)


SPEC_RULES: tuple[Rule, ...] = (
    domains_have_keys,
    unkeyed_hash,
    protected_once,
    protections_stand,
    expectation_names_unique,
    drift_domains_have_keys,
    output_paths_distinct,
    outputs_apart_from_sources,
    whole_sources_beside_incremental_ones,
)


def check(pipeline: Pipeline, tree: Any, line_of: LineOf) -> tuple[list[SpecIssue], list[SpecIssue]]:
    errors: list[SpecIssue] = []
    warnings: list[SpecIssue] = []
    for rule in SPEC_RULES:
        for severity, path, message, hint in rule(pipeline):
            issue = SpecIssue(".".join(str(p) for p in path), message, line=line_of(tree, path), hint=hint)
            (errors if severity == "error" else warnings).append(issue)
    return errors, warnings
