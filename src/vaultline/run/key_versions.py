"""Tokens stay comparable within a dataset: an append never mixes two versions of a domain key.

A token, an FF1 value and an AES-SIV ciphertext depend on the version of the domain's key: after
`vaultline keys rotate`, the same value gives another one. A dataset that is replaced by each run only
changes as a whole; one that is appended to would hold, for one customer, a token of each version,
and its joins and counts would silently split. So a run that appends to an output refuses to start
when the version its domains would use differs from the one the output's latest version was written
with (the run report's `key_versions`). The fix is a choice only the owner can make: pin the old
version (`customer: customer_key@1` under `keys:`), or rewrite the whole dataset with the new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vaultline.errors import CatalogError, TerminalError
from vaultline.keys.provider import KeyProvider, KeyRef
from vaultline.spec.models import Pipeline
from vaultline.state import State
from vaultline.transforms.base import KeyedParams

OUTPUT_PURPOSES = frozenset({"tokenize", "siv", "fpe"})
"""The derivations whose results land in outputs (not quarantine files, not drift labels)."""


class KeyVersionChanged(TerminalError):
    """An append would mix values made with two versions of a domain key."""


def check_appends(
    pipeline: Pipeline,
    state: State,
    provider: KeyProvider,
    domains: Mapping[str, str],
    *,
    appending: Iterable[str],
) -> None:
    """Refuse the run when an output in `appending` was last written with other domain-key versions."""
    from vaultline.catalog.dataset_records import DatasetNotFound
    from vaultline.catalog.datasets import DatasetCatalog
    from vaultline.catalog.runs import RunCatalog

    used = {p.domain for _, p in pipeline.all_steps() if isinstance(p, KeyedParams)}
    now = {domain: _version_now(provider, domains[domain]) for domain in used if domain in domains}
    with DatasetCatalog(state.catalog_url) as datasets, RunCatalog(state.catalog_url) as runs:
        for output in appending:
            try:
                latest = datasets.latest(output)
            except DatasetNotFound:  # this run writes its first version
                continue
            try:
                report = runs.report(latest.run_id) if latest.run_id else {}
            except CatalogError:  # written by a run this catalog no longer holds: nothing to compare
                continue
            before: dict[str, int] = report.get("key_versions") or {}
            for derivation, version in sorted(before.items()):
                purpose, _, domain = derivation.partition("/")
                if purpose in OUTPUT_PURPOSES and domain in now and now[domain] != version:
                    raise _changed(
                        output, latest.version, domain, domains[domain], before=version, now=now[domain]
                    )


def _version_now(provider: KeyProvider, reference: str) -> int:
    ref = KeyRef.parse(reference)
    return ref.version if ref.version is not None else provider.info(ref.name).current_version


def _changed(
    output: str, number: int, domain: str, reference: str, *, before: int, now: int
) -> KeyVersionChanged:
    name = KeyRef.parse(reference).name
    return KeyVersionChanged(
        f"output '{output}' appends to version {number}, whose values of token domain '{domain}' were made "
        f"with key {name} version {before}; this run would use version {now}: one dataset would hold two "
        "different tokens (or ciphertexts) for the same value",
        hint=f"keep appending with the old version (`{domain}: {name}@{before}` under `keys:`), or rewrite "
        "the whole dataset with the new one (the output's `mode: overwrite`, or `vaultline bookmarks reset` "
        "for an incremental pipeline, which reads everything again)",
        where=f"outputs.{output}",
    )
