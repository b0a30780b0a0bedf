"""A keyring-free step context for golden tests: every domain key is FIXED_KEY."""

from __future__ import annotations

from typing import Any

from vaultline.keys.secret import SecretBytes

FIXED_KEY = bytes(range(32))


class StubContext:
    """Records which (domain, purpose) keys a step asked for; reading files or past runs is not expected."""

    step_index = 0

    def __init__(self) -> None:
        self.key_versions: dict[str, int] = {}
        self.asked: list[tuple[str, str]] = []

    def domain_key(self, domain: str, purpose: str) -> SecretBytes:
        self.asked.append((domain, purpose))
        return SecretBytes(FIXED_KEY, "fixed-test-key")

    def read_bytes(self, location: str) -> bytes:
        raise AssertionError("a golden test's step must not read files")

    def previous_facts(self, run_id: str, step_index: int) -> dict[str, Any]:
        raise AssertionError("a golden test's step must not look up earlier runs")
