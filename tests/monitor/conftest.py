"""Fixtures of tests/monitor, defined in monitor_support.py (tests import helpers from there: a module
named `conftest` is ambiguous when the whole suite runs)."""

from monitor_support import catalog_url, passphrase, receiver

__all__ = ["catalog_url", "passphrase", "receiver"]
