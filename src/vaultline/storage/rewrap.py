"""`vaultline keys rewrap NAME`: after a rotation, move stored key material onto the current version.

Every file of every committed (not vacuumed) dataset version whose encryption uses the key is
visited. Files written with external key material get their `_KEY_MATERIAL_FOR_` file re-wrapped in
place (the data, and so the SHA-256 the catalog recorded, do not change). Files with internal key
material cannot be re-wrapped without rewriting them; they are counted, and stay readable: the old
version of the key still unwraps them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vaultline.catalog.datasets import DatasetCatalog
from vaultline.keys.provider import KeyProvider, KeyRef
from vaultline.storage import locations


@dataclass
class RewrapResult:
    rewrapped: list[str] = field(default_factory=list)
    internal: list[str] = field(default_factory=list)
    """Files using the key whose material is inside the file: a rewrite would be needed."""


def _uses(encryption: dict[str, object], name: str) -> bool:
    column_keys = encryption.get("column_keys")
    refs = [encryption.get("footer_key"), *(column_keys if isinstance(column_keys, dict) else {})]
    return any(isinstance(ref, str) and KeyRef.parse(ref).name == name for ref in refs)


def rewrap_key(
    catalog: DatasetCatalog, provider: KeyProvider, name: str, *, dry_run: bool = False
) -> RewrapResult:
    from vaultline.storage.encrypted_parquet import rewrap

    provider.info(KeyRef.plain_name(name))  # a mistyped name must not pass for "0 files to re-wrap"
    result = RewrapResult()
    for summary in catalog.list():
        for version in catalog.history(summary.name):
            if version.status != "committed" or not _uses(version.encryption, name):
                continue
            external = version.encryption.get("key_material") == "external"
            for entry in catalog.files(summary.name, version.version):
                if not external:
                    result.internal.append(entry.location)
                    continue
                if not dry_run:
                    remote = locations.is_remote(entry.location)
                    rewrap(
                        entry.location,
                        provider,
                        filesystem=locations.filesystem(entry.location) if remote else None,
                    )
                result.rewrapped.append(entry.location)
    return result
