"""The concrete step context handed to step implementations during a run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vaultline.errors import KeyringError
from vaultline.keys.provider import KeyProvider, KeyRef
from vaultline.keys.secret import SecretBytes
from vaultline.storage import locations


@dataclass
class RunContext:
    """Keys by token domain, file access and earlier runs' facts, for one step at a time."""

    provider: KeyProvider
    domains: dict[str, str]
    """Token domain -> keyring key reference, from the spec's `keys:` section."""
    step_index: int = 0
    facts_lookup: Callable[[str, int], dict[str, Any]] | None = None
    key_versions: dict[str, int] = field(default_factory=dict)
    """Domain/purpose -> master key version used, for the report."""

    def domain_key(self, domain: str, purpose: str) -> SecretBytes:
        if domain not in self.domains:
            known = ", ".join(sorted(self.domains)) or "none"
            raise KeyringError(
                f"token domain '{domain}' has no key (domains in keys: {known})",
                hint=f"add `{domain}: <keyring key name>` under `keys:` in the spec",
            )
        key, version = self.provider.derive(KeyRef.parse(self.domains[domain]), context=f"{purpose}/{domain}")
        self.key_versions[f"{purpose}/{domain}"] = version
        return key

    def read_bytes(self, location: str) -> bytes:
        return locations.read_bytes(location)

    def previous_facts(self, run_id: str, step_index: int) -> dict[str, Any]:
        if self.facts_lookup is None:
            raise KeyringError("no run catalog is available to look up earlier runs")
        return self.facts_lookup(run_id, step_index)

    def for_step(self, index: int) -> RunContext:
        self.step_index = index
        return self
