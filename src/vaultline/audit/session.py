"""`audit_session`: the audit log open for a block, with every key use recorded through the key hooks.

Sessions nest: a run inside a CLI command (same state directory) reuses the outer session's log and its
single hook, so each key use is recorded once. The hook is unregistered when the outermost session ends.
A session given a `checkpoint_reason` signs a checkpoint when it ends, however it ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vaultline.audit.log import AuditLog
from vaultline.errors import VaultlineError
from vaultline.keys import hooks
from vaultline.state import State


@dataclass
class _Active:
    log: AuditLog
    depth: int


_lock = threading.Lock()
_active: dict[Path, _Active] = {}


@contextmanager
def audit_session(state: State, checkpoint_reason: str | None = None) -> Iterator[AuditLog]:
    """The state's audit log, recording every key use as `key.<action>` while the block runs."""
    with _lock:
        active = _active.get(state.root)
        if active is None:
            # Opened under the lock: two threads starting sessions at once share one log and one hook.
            active = _Active(AuditLog.open(state), 0)
            hooks.register(active.log.record_key_use)
            _active[state.root] = active
        active.depth += 1
    try:
        yield active.log
    except BaseException as exc:
        if checkpoint_reason is not None:
            try:
                active.log.checkpoint(checkpoint_reason)
            except VaultlineError as audit_exc:
                exc.add_note(f"the audit checkpoint could not be written: {audit_exc.message}")
        raise
    else:
        if checkpoint_reason is not None:
            active.log.checkpoint(checkpoint_reason)
    finally:
        _leave(state.root, active)


def _leave(root: Path, active: _Active) -> None:
    with _lock:
        active.depth -= 1
        if active.depth == 0:
            hooks.unregister(active.log.record_key_use)
            _active.pop(root, None)
            active.log.close()
