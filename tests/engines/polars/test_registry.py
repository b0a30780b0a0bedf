"""The Polars engine's step table: every transform has an implementation; prefetches name real modules."""

from __future__ import annotations

import importlib

import pytest

from vaultline.engines.polars.registry import IMPLEMENTATIONS, PREFETCH, implementation
from vaultline.errors import TransformError
from vaultline.transforms.registry import BY_NAME


def test_every_transform_has_an_implementation() -> None:
    assert set(IMPLEMENTATIONS) == set(BY_NAME)
    for name in IMPLEMENTATIONS:
        assert callable(implementation(name))


@pytest.mark.parametrize("step", sorted(PREFETCH))
def test_prefetched_modules_exist_for_real_steps(step: str) -> None:
    assert step in IMPLEMENTATIONS
    for module in PREFETCH[step]:
        importlib.import_module(module)  # _import_quietly would hide a typo as a missing dependency


def test_an_unknown_step_is_a_clear_error() -> None:
    with pytest.raises(TransformError, match="no implementation of 'teleport'"):
        implementation("teleport")
