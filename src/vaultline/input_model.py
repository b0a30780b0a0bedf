"""The base of every model that reads what a user wrote (the spec, `retention.yaml`, expected schemas).

pydantic's lax mode reads a YAML `true` as 1 wherever a number is expected (`n_estimators: true`
is one tree, `quarantine_days: true` one day), so a typo in a flag's place silently becomes a
number. `InputModel` hands such a boolean to validation as the text it was written as (`"true"`),
so it fails as any other non-number would, at its own field and line; everything else stays lax
(a YAML string still becomes an enum member). A model validator, not a field validator: pydantic
allows no field validator on a discriminator field.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, model_validator

_SEQUENCES = (list, tuple, set, frozenset, Sequence)
_MAPPINGS = (dict, Mapping)


def _fits(value: Any, annotation: Any) -> bool:
    if isinstance(value, list | tuple):
        return get_origin(annotation) in _SEQUENCES
    if isinstance(value, dict):
        return get_origin(annotation) in _MAPPINGS or isinstance(annotation, type)
    return True


def _refuses_bool(value: Any, annotation: Any) -> bool:
    """Whether `value` holds a boolean where `annotation` takes a number and no boolean."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return _refuses_bool(value, args[0])
    if origin in (Union, types.UnionType):
        # only the members a value of this shape can validate as (a list as `list[float]`, not `int`;
        # never None, which no value but None validates as)
        fitting = [member for member in args if member is not types.NoneType and _fits(value, member)]
        return bool(fitting) and all(_refuses_bool(value, member) for member in fitting)
    if isinstance(value, bool):
        if origin is Literal:
            return all(not isinstance(arg, bool) for arg in args)
        return annotation in (int, float)
    if isinstance(value, list | tuple) and origin in _SEQUENCES and args:
        items = args if origin is tuple and Ellipsis not in args else (args[0],) * len(value)
        return any(_refuses_bool(item, kind) for item, kind in zip(value, items, strict=False))
    if isinstance(value, dict) and origin in _MAPPINGS and len(args) == 2:
        return any(_refuses_bool(item, args[1]) for item in value.values())
    return False


def _as_text(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return [_as_text(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_text(item) for key, item in value.items()}
    return value


class InputModel(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _no_boolean_for_a_number(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        refused = {
            key: _as_text(data[key])
            for name, field in cls.model_fields.items()
            if (key := field.alias or name) in data and _refuses_bool(data[key], field.annotation)
        }
        return {**data, **refused} if refused else data
