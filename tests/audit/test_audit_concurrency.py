"""Two processes appending at once (a run and a `vaultline read`) keep one valid chain."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from itertools import pairwise

from vaultline.audit import AuditLog
from vaultline.audit.settings import SEGMENT_ENTRIES_ENV
from vaultline.keys.local import LocalKeyring
from vaultline.state import State

WRITER = textwrap.dedent(
    """
    import sys
    from vaultline.audit import audit_session
    from vaultline.keys.local import LocalKeyring
    from vaultline.keys.provider import KeyRef
    from vaultline.state import State

    state, name, count = State.resolve(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    keyring = LocalKeyring(state.root, warn=False)
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    with audit_session(state, checkpoint_reason="run-end") as log:
        for number in range(count):
            log.record("dataset.read", resource=name, details={"n": number})
            if number % 10 == 0:
                keyring.derive(KeyRef("shared_key"), context=f"tokenize/{name}")
                log.checkpoint("progress")
    """
)


def test_two_processes_appending_at_once_keep_one_valid_chain(state: State) -> None:
    LocalKeyring(state.root, warn=False).create("shared_key")
    with AuditLog.open(state, segment_entries=25):
        pass  # creates the audit key once, before the race
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(state.root), name, "150"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, SEGMENT_ENTRIES_ENV: "25"},
        )
        for name in ("run_a", "reader_b")
    ]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for worker in workers:
        _, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err
    with AuditLog.open(state) as log:
        report = log.verify()
        reads = list(log.entries(action="dataset.read"))
    assert report.ok, report.findings
    assert report.segments >= 14 and report.checkpoints >= 40
    assert Counter(e.resource for e in reads) == {"run_a": 150, "reader_b": 150}
    for name in ("run_a", "reader_b"):  # each writer's entries in its own order
        assert [e.details["n"] for e in reads if e.resource == name] == list(range(150))
    resources = [e.resource for e in reads]
    switches = sum(1 for a, b in pairwise(resources) if a != b)
    assert switches > 2, "the writers did not interleave: the test proved nothing"
