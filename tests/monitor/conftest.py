"""Fixtures of tests/monitor, defined in monitor_support.py (tests import helpers from there: a module
named `conftest` is ambiguous when the whole suite runs)."""

from monitor_support import passphrase, receiver

__all__ = ["passphrase", "receiver"]
