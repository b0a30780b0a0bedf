"""Landing copies: every input file a run reads, kept encrypted under the source's `landing` directory.

Each copy is an AWS Encryption SDK message (storage/artifacts.py: 64 KiB frames, committing suite)
under the key `vaultline-landing` (created on first use), whose encryption context binds it to the
pipeline, the run, the source and the SHA-256 the run fingerprinted: a copy cannot pass for another
input or another run.

A copy is written to `<landing>/<run id>/<source>/<hash>-<file name>.enc`, `<hash>` being the first 12
hex digits of the SHA-256 of the input's full location: inputs sharing a file name (`in/a/tx.csv`,
`in/b/tx.csv`) and sources sharing a landing directory each get their own copy, and an input lands
under the same name in every run. The report's `landing` maps each input to its copy.

Copies are written before any step runs; a failure stops the run (fail closed: a run that promised a
landing copy does not process data it could not keep), and the copies this run had already written are
removed (best effort, logged without the inputs' names): a failed run's report records no copy, so none
is left behind that nothing names.

A run that fails later, or is killed, keeps its copies until `vaultline gc` removes its whole
`<landing>/<run id>/` once the grace period since its end has passed (catalog/run_leftovers.py: every
run records its landing directories when it starts). Only committed runs' copies stay: the raw zone.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from typing import Any

from vaultline.catalog.run_leftovers import landing_root, landing_run_directory
from vaultline.errors import TerminalError
from vaultline.keys.provider import KeyProvider, KeyRef
from vaultline.spec.models import Pipeline
from vaultline.storage import locations

LANDING_KEY = "vaultline-landing"
_HASH_DIGITS = 12
log = logging.getLogger("vaultline.run")


def copy_location(landing: str, run_id: str, source: str, input_location: str) -> str:
    """Where the copy of one input goes (normalised: absolute when local, s3:// verbatim)."""
    digest = hashlib.sha256(input_location.encode("utf-8")).hexdigest()[:_HASH_DIGITS]
    name = input_location.rstrip("/").rsplit("/", 1)[-1]
    return f"{landing_run_directory(landing_root(landing), run_id)}/{source}/{digest}-{name}.enc"


def land(
    pipeline: Pipeline, run_id: str, provider: KeyProvider, fingerprints: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Encrypted copies of the inputs of every source with `landing`; value-free records for the report.
    When one cannot be written, the copies already written are removed before the error goes on."""
    from vaultline.storage.artifacts import KeyringKey, encrypt_file

    key = KeyringKey(provider, str(KeyRef(LANDING_KEY)))
    copies: list[dict[str, Any]] = []
    try:
        for name, fingerprint, target in _targets(pipeline, run_id, fingerprints):
            context = {"vaultline:pipeline": pipeline.name, "vaultline:run_id": run_id,
                       "vaultline:source": name, "vaultline:sha256": fingerprint["sha256"]}  # fmt: skip
            info = encrypt_file(fingerprint["location"], target, key, context=context)
            copies.append(
                {"source": name, "input": fingerprint["location"], "copy": info.location,
                 "sha256": fingerprint["sha256"]}
            )  # fmt: skip
    except BaseException:
        _remove_copies(run_id, [copy["copy"] for copy in copies])
        raise
    return copies


def _targets(
    pipeline: Pipeline, run_id: str, fingerprints: dict[str, list[dict[str, Any]]]
) -> Iterator[tuple[str, dict[str, Any], str]]:
    """(source, fingerprint, copy location) for every input to land. Two inputs never share a copy: a
    clash of the short hashes fails the run rather than let one copy replace another."""
    seen: set[str] = set()
    for name, source in pipeline.sources.items():
        if not source.landing:
            continue
        for fingerprint in fingerprints.get(name, []):
            target = copy_location(source.landing, run_id, name, fingerprint["location"])
            if target in seen:
                raise TerminalError(
                    f"two inputs of source {name} would share one landing copy",
                    hint="rename one of the input files; nothing was processed",
                    where=f"sources.{name}.landing",
                )
            seen.add(target)
            yield name, fingerprint, target


def _remove_copies(run_id: str, copies: list[str]) -> None:
    """Best effort: a leftover is logged (by its run's landing directory, never an input's name), never
    the failure that ends the run."""
    for copy in copies:
        run_dir = copy.rsplit("/", 2)[0]  # <landing>/<run id>
        try:
            if locations.is_remote(copy):
                locations.filesystem(copy).rm_file(copy)
            else:
                os.unlink(copy)
                for directory in (os.path.dirname(copy), run_dir):
                    with contextlib.suppress(OSError):  # only once empty: another source's may be left
                        os.rmdir(directory)
        except FileNotFoundError:
            pass
        except Exception as exc:
            log.warning(
                "could not remove a landing copy of failed run %s (%s): remove what is left under %s",
                run_id, type(exc).__name__, run_dir,
            )  # fmt: skip
