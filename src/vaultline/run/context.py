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
    previous_run_report: Callable[[], dict[str, Any] | None] | None = None
    """The report of the pipeline's latest succeeded run that read rows (None before the first one)."""

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

    def previous_run_facts(self, step: str) -> tuple[str, list[dict[str, Any]]] | None:
        """(run id, facts of each `step` step) of the pipeline's latest succeeded run, or None: what
        drift expectations compare with."""
        report = self.previous_run_report() if self.previous_run_report is not None else None
        if not report:
            return None
        return report["run_id"], [s["facts"] for s in report.get("steps", []) if s.get("name") == step]

    def for_step(self, index: int) -> RunContext:
        self.step_index = index
        return self
