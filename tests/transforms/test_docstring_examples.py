"""Every transform's docstring example (which docs/spec.md shows) is a step the spec accepts."""

from __future__ import annotations

import importlib
import textwrap
from typing import Any

import pytest
from ruamel.yaml import YAML

from vaultline.transforms.registry import BY_NAME, TRANSFORMS


def _example(name: str) -> Any:
    doc = importlib.import_module(f"vaultline.transforms.{name}").__doc__ or ""
    _, found, rest = doc.partition("::\n")
    assert found, f"transforms/{name}.py has no `Example::` block"
    block = []
    for line in rest.splitlines()[1:]:  # a blank line follows `::`
        if line and not line.startswith("    "):
            break
        block.append(line)
    return YAML(typ="safe", pure=True).load(textwrap.dedent("\n".join(block)))


@pytest.mark.parametrize("name", [spec.name for spec in TRANSFORMS])
def test_the_docstring_example_is_a_valid_step(name: str) -> None:
    example = _example(name)
    steps = example["steps"] if isinstance(example, dict) else example
    assert steps and all(len(step) == 1 for step in steps)
    for step in steps:
        ((step_name, params),) = step.items()
        BY_NAME[step_name].params.model_validate(params)
