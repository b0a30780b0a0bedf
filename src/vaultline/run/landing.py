"""Landing copies: every input file a run reads, kept encrypted under the source's `landing` directory.

Each copy is an AWS Encryption SDK message (storage/artifacts.py: 64 KiB frames, committing suite)
under the key `vaultline-landing` (created on first use), whose encryption context binds it to the
pipeline, the run, the source and the SHA-256 the run fingerprinted: a copy cannot pass for another
input or another run. Copies are written before any step runs; a failure stops the run (fail closed:
a run that promised a landing copy does not process data it could not keep).
"""

from __future__ import annotations

from typing import Any

from vaultline.keys.provider import KeyProvider, KeyRef
from vaultline.spec.models import Pipeline

LANDING_KEY = "vaultline-landing"


def land(
    pipeline: Pipeline, run_id: str, provider: KeyProvider, fingerprints: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Encrypted copies of the inputs of every source with `landing`; value-free records for the report."""
    from vaultline.storage.artifacts import KeyringKey, encrypt_file

    copies = []
    for name, source in pipeline.sources.items():
        if not source.landing:
            continue
        for fingerprint in fingerprints.get(name, []):
            location = fingerprint["location"]
            target = f"{source.landing.rstrip('/')}/{run_id}/{location.rstrip('/').rsplit('/', 1)[-1]}.enc"
            context = {"vaultline:pipeline": pipeline.name, "vaultline:run_id": run_id,
                       "vaultline:source": name, "vaultline:sha256": fingerprint["sha256"]}  # fmt: skip
            info = encrypt_file(
                location, target, KeyringKey(provider, str(KeyRef(LANDING_KEY))), context=context
            )
            copies.append(
                {"source": name, "input": location, "copy": info.location, "sha256": fingerprint["sha256"]}
            )
    return copies
