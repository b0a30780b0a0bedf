"""The Polars engine's step table: every transform has an implementation; prefetches name real modules
and warm the kernels the steps call."""

from __future__ import annotations

import gc
import importlib
import subprocess
import sys
from types import SimpleNamespace

import pytest

from vaultline.engines.polars import registry
from vaultline.engines.polars.registry import IMPLEMENTATIONS, PREFETCH, _import_quietly, implementation
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


def test_prefetch_loads_the_kernels_with_the_types_the_steps_call_them_with() -> None:
    # Another specialization would mean the warm-up compiled code no step runs, and the first
    # batch still paid numba's start-up. A fresh process: no other test has called the kernel.
    script = (
        "import polars as pl\n"
        "from vaultline.engines.polars import _ragged, registry\n"
        "from vaultline.engines.polars.format_preserving import _count_digits\n"
        "registry._import_quietly(['vaultline.engines.polars._ragged'])\n"
        "warmed = list(_ragged.digit_counts.signatures)\n"
        "_count_digits(pl.Series(['4111-1111', None, '12']))\n"
        "print(len(warmed), _ragged.digit_counts.signatures == warmed)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["1", "True"]


def test_a_failing_warm_up_stays_in_the_prefetch_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("no machine code")

    loaded: list[str] = []

    def load(name: str) -> SimpleNamespace:
        loaded.append(name)
        return SimpleNamespace(warm=broken)

    monkeypatch.setattr(registry, "import_module", load)
    _import_quietly(["first", "second"])
    assert loaded == ["first", "second"]


@pytest.mark.parametrize("collecting", [True, False])
def test_the_prefetch_imports_run_without_the_collector_and_leave_it_as_it_was(
    monkeypatch: pytest.MonkeyPatch, collecting: bool
) -> None:
    seen: list[bool] = []

    def load(_name: str) -> SimpleNamespace:
        seen.append(gc.isenabled())
        return SimpleNamespace()

    monkeypatch.setattr(registry, "import_module", load)
    was = gc.isenabled()
    (gc.enable if collecting else gc.disable)()
    try:
        _import_quietly(["first", "second"])
        assert seen == [False, False]
        assert gc.isenabled() is collecting
    finally:
        (gc.enable if was else gc.disable)()
