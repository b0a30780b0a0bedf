"""Every third-party module `src/vaultline` imports is installed by `make setup` (pyproject's
dependencies, the ones they require, and pycanon, which the Makefile adds): a module only the dev
extras bring (click came with moto and flask) would pass every test and break `make demo`."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
MAKEFILE_EXTRAS = ("pycanon",)  # installed with --no-deps by `make setup`


def _name(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _installed_by_setup() -> set[str]:
    declared = [
        Requirement(text)
        for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ]
    extras = {extra for requirement in declared for extra in requirement.extras} | {""}
    seen: set[str] = set()
    pending = [_name(r.name) for r in declared] + list(MAKEFILE_EXTRAS)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in MAKEFILE_EXTRAS:
            continue
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in extras):
                pending.append(_name(requirement.name))
    return seen


def _imported_modules() -> set[str]:
    modules: set[str] = set()
    for path in (ROOT / "src" / "vaultline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "vaultline"}


def test_every_imported_module_is_installed_by_make_setup() -> None:
    providers = metadata.packages_distributions()
    installed = _installed_by_setup()
    missing = {
        module: providers.get(module, [])
        for module in _imported_modules()
        if not any(_name(d) in installed for d in providers.get(module, []))
    }
    assert missing == {}, "declare these in pyproject.toml's dependencies"
