"""Constants shared by tests/audit (importable by name, unlike a `conftest` module)."""

PRINCIPAL = "alice.auditor@example.org"
