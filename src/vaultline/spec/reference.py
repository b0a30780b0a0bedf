"""Render docs/spec.md from the models, so the field reference can never drift from the code.

Run `python -m vaultline.spec.reference > docs/spec.md`; a test fails when the file is stale.
"""

from __future__ import annotations

import inspect
import sys
from datetime import timedelta
from typing import Any, get_args

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from vaultline.monitor.rules import (
    AnomalySpikeRule,
    DqBreachRule,
    EmailTarget,
    JobFailureRule,
    LatencyRule,
    TerminalTarget,
    UnusualAccessRule,
    WebhookTarget,
)
from vaultline.spec.models import Encryption, Output, Pipeline, Policy, Quarantine
from vaultline.spec.sources import CsvOptions, Incremental, Source
from vaultline.transforms.registry import TRANSFORMS

HEADER = """# Pipeline spec reference (version 1)

Generated from the models by `python -m vaultline.spec.reference`; `vaultline schema` prints the
same as JSON Schema. Any string value may use `${params.NAME}` (or `${params.NAME.sub}`); a value
that is exactly one reference keeps the parameter's type (number, list, mapping). Inside longer
text a parameter must be text or a number. Defaults under `params:` are plain values (no references).
`--param NAME=VALUE` keeps VALUE as text where the default is text (`007` stays `007`) and reads it
as YAML otherwise (`0.02`, `[1, 2]`). Secrets are never literal: a parameter whose name says secret
(salt, password, api_key, ...) may not hold a value, and no value, in the file or given with
`--param`, may look like a key, a private key or a URL with a password; keys live in the keyring and
are referenced by name under `keys:`.
"""


ALARM_RULES: tuple[type[BaseModel], ...] = (
    JobFailureRule,
    DqBreachRule,
    AnomalySpikeRule,
    LatencyRule,
    UnusualAccessRule,
)
TARGETS: tuple[type[BaseModel], ...] = (TerminalTarget, WebhookTarget, EmailTarget)


def _json_type(schema: dict[str, Any]) -> str:
    """A short human type from a JSON Schema fragment."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return " \\| ".join(repr(v) for v in schema["enum"])
    for combo in ("anyOf", "oneOf"):
        if combo in schema:
            return " \\| ".join(_json_type(option) for option in schema[combo])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list[{_json_type(schema.get('items', {}))}]"
    if kind == "object":
        extra = schema.get("additionalProperties")
        return f"map[str, {_json_type(extra)}]" if isinstance(extra, dict) else "mapping"
    if kind == "string" and "pattern" in schema:
        return "name"
    return str(kind).replace("integer", "int").replace("number", "float").replace("boolean", "bool")


def _duration(value: timedelta) -> str:
    """`1d`, `6h`, `90m` or `45s`: the largest unit that divides it."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _fields(model: type[BaseModel]) -> list[str]:
    properties = model.model_json_schema(by_alias=True).get("properties", {})
    lines = ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, info in model.model_fields.items():
        shown = info.alias or name
        if info.is_required():
            default = "**required**"
        elif isinstance(info.default, timedelta):  # written as a duration in a spec, shown as one
            default = f"`'{_duration(info.default)}'`"
        elif info.default is not PydanticUndefined:
            default = f"`{info.default!r}`" if not isinstance(info.default, BaseModel) else "see below"
        else:
            made = info.default_factory() if info.default_factory else None  # type: ignore[call-arg]
            default = "see below" if isinstance(made, BaseModel) else f"`{made!r}`"
        doc = (info.description or "").replace("\n", " ").replace("|", "\\|")
        kind = "step" if name == "steps" else _json_type(properties.get(shown, {}))
        kind = kind.replace("StepUnion", "step")
        lines.append(f"| `{shown}` | {kind} | {default} | {doc} |")
    return lines


def _nested(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            current = stack.pop()
            if inspect.isclass(current) and issubclass(current, BaseModel) and current not in seen:
                seen.add(current)
                found.append(current)
                found += _nested(current, seen)
            stack += list(get_args(current))
    return found


def _kind(model: type[BaseModel]) -> str:
    """The literal `kind` that selects `model` in a discriminated union."""
    return str(model.model_json_schema()["properties"]["kind"]["const"])


def render() -> str:
    out = [HEADER]
    sections: list[tuple[str, type[BaseModel]]] = [
        ("Pipeline (top level)", Pipeline), ("sources.NAME", Source), ("sources.NAME.csv", CsvOptions),
        ("sources.NAME.incremental", Incremental), ("outputs.NAME", Output),
        ("outputs.NAME.encryption", Encryption), ("quarantine", Quarantine), ("policy", Policy),
        *((f"alarms[] (kind: {_kind(rule)})", rule) for rule in ALARM_RULES),
        *((f"alarms[].notify[] (kind: {_kind(target)})", target) for target in TARGETS),
    ]  # fmt: skip
    for title, model in sections:
        out += [f"## {title}", "", inspect.cleandoc(model.__doc__ or ""), "", *_fields(model), ""]
    out += ["## steps", "", "Each step is a one-key mapping `- <transform>: {params}`, applied in order.", ""]
    for spec in TRANSFORMS:
        module_doc = inspect.cleandoc(sys.modules[spec.params.__module__].__doc__ or "")
        out += [f"### `{spec.name}`", "", module_doc, "", *_fields(spec.params), ""]
        for nested in _nested(spec.params, {spec.params}):
            out += [f"#### `{spec.name}` / `{nested.__name__}`", "", *_fields(nested), ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
