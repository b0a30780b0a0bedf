"""Tamper test, measured: random mutations of a real audit log, and how many `verify` detects.

    .venv/bin/python bench/audit_tamper.py [--runs 60] [--segment-entries 400] [--trials 100] [--seed 5]

Setup: a fresh state directory whose audit log is written through the public API and the key hooks, as
runs would write it: each simulated run opens a nested `audit_session(..., "run-end")`, wraps its work in
`log.operation("run")`, records source reads (intent, then outcome) around real keyring uses (derive,
generate, unwrap: recorded by the hook), a denied unwrap now and then, a dataset write, and ends with a
checkpoint. A few entries follow the last checkpoint (the unprotected tail every live log has).

Then, for each kind below, `--trials` seeded mutations, each applied to a fresh copy of the log
directory (segments and checkpoints: what an attacker on the machine can reach), and `verify_log`
against the untouched copy location. A mutation is detected when verify reports at least one error.

- byte_flip: XOR one random byte of one segment with a random non-zero mask;
- entry_deletion: delete one random entry line (not the log's last: that is tail truncation);
- reorder: swap two random entry lines of one segment;
- segment_deletion: delete one random segment file (when it held only entries after the last copied
  checkpoint, that is a cut of the unprotected tail and is counted there);
- tail_truncation: cut the last k entries (removing emptied segment files and the local checkpoints that
  covered them, as a careful attacker would). Half the trials cut only inside the unprotected tail (after
  the last checkpoint copied to the second location: undetectable by design, counted separately), half
  cut deeper;
- checkpoint_swap: swap the contents of two checkpoint files.

The last lines are a table and `audit_tamper kind=K trials=N detected=D rate=R` per kind.
tests/audit/test_tamper.py runs it small.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from vaultline.audit import audit_session
from vaultline.audit.checkpoints import Checkpoint
from vaultline.audit.folders import LocalFolder
from vaultline.audit.settings import SEGMENT_ENTRIES_ENV, numbered_files
from vaultline.audit.verify import load_public_keys, verify_log
from vaultline.errors import KeyringError
from vaultline.keys.local import PASSPHRASE_ENV, LocalKeyring
from vaultline.keys.principal import PRINCIPAL_ENV, ROLES_ENV
from vaultline.keys.provider import KeyRef
from vaultline.state import State

KINDS = ("byte_flip", "entry_deletion", "reorder", "segment_deletion", "tail_truncation", "checkpoint_swap")
READS_PER_RUN = 10
TAIL_ENTRIES = 12


@dataclass(frozen=True)
class BuiltLog:
    """A finished log: its state directory and what verification trusts."""

    state_root: Path
    entries: int
    segments: int
    checkpoints: int
    checkpointed_seq: int
    seconds: float

    @property
    def audit_dir(self) -> Path:
        return self.state_root / "audit"

    @property
    def copy_dir(self) -> Path:
        return self.state_root / "audit-copy"


@dataclass
class Tally:
    trials: int = 0
    detected: int = 0

    @property
    def rate(self) -> float:
        return self.detected / self.trials if self.trials else 0.0


@dataclass
class Outcome:
    """Detection per kind; tail truncation is split by whether the cut reached a copied checkpoint."""

    tallies: dict[str, Tally] = field(default_factory=lambda: {kind: Tally() for kind in KINDS})
    unprotected_tail: Tally = field(default_factory=Tally)
    verify_seconds: float = 0.0

    def table(self) -> str:
        lines = ["| mutation | trials | detected | rate |", "| --- | --- | --- | --- |"]
        for kind in KINDS:
            tally = self.tallies[kind]
            label = "tail_truncation (into checkpointed entries)" if kind == "tail_truncation" else kind
            lines.append(f"| {label} | {tally.trials} | {tally.detected} | {tally.rate:.0%} |")
        tail = self.unprotected_tail
        lines.append(
            f"| cut after the last copied checkpoint (tail or whole last segment) | {tail.trials} | "
            f"{tail.detected} | "
            f"{tail.rate:.0%} |"
        )
        return "\n".join(lines)


@contextmanager
def bench_environment(segment_entries: int) -> Iterator[None]:
    """A passphrase-protected keyring, a fixed principal, small segments; restored afterwards."""
    wanted = {
        PASSPHRASE_ENV: "audit-tamper-bench-passphrase",
        PRINCIPAL_ENV: "bench-operator",
        SEGMENT_ENTRIES_ENV: str(segment_entries),
    }
    saved = {
        name: os.environ.get(name)
        for name in [*wanted, ROLES_ENV, "VAULTLINE_AUDIT_COPY", "VAULTLINE_AUDIT_URL"]
    }
    os.environ.update(wanted)
    for name in (ROLES_ENV, "VAULTLINE_AUDIT_COPY", "VAULTLINE_AUDIT_URL"):
        os.environ.pop(name, None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def build_log(state_root: Path, *, runs: int, seed: int) -> BuiltLog:
    """Write a log the way runs do (see the module docstring); call inside `bench_environment`."""
    started = time.perf_counter()
    rng = random.Random(seed)
    state = State(state_root).ensure()
    keyring = LocalKeyring(state_root, warn=False)
    keyring.create("customer_key", purpose="tokenize")
    keyring.create("phi_key", purpose="encrypt", roles=["privacy_office"])
    _, phi_wrapped = keyring.generate_data_key(KeyRef("phi_key"))
    with audit_session(state) as outer:
        for number in range(runs):
            run_id = f"run-{number:04d}"
            with (
                audit_session(state, checkpoint_reason="run-end") as log,
                log.operation("run", resource="fraud", run_id=run_id) as run,
            ):
                rows = 0
                for read in range(READS_PER_RUN):
                    path = f"s3://raw/transactions/{number}/{read}.csv"
                    log.intent(
                        "source.read", resource="transactions", run_id=run_id, identifiers={"path": path}
                    )
                    keyring.derive(KeyRef("customer_key"), context="tokenize/customer")
                    _, wrapped = keyring.generate_data_key(KeyRef("customer_key"))
                    keyring.unwrap_data_key("customer_key", wrapped)
                    count = rng.randint(1_000, 50_000)
                    rows += count
                    log.record(
                        "source.read",
                        resource="transactions",
                        run_id=run_id,
                        identifiers={"path": path},
                        details={"rows": count},
                    )
                if number % 7 == 3:
                    with suppress(KeyringError):  # refused (no role): recorded as denied
                        keyring.unwrap_data_key("phi_key", phi_wrapped)
                log.record("dataset.write", resource="features", run_id=run_id, details={"rows": rows})
                run.details["rows"] = rows
        for number in range(TAIL_ENTRIES):
            outer.record("dataset.read", resource="features", details={"rows": number})
    report = verify_log(
        state_root / "audit",
        copy=LocalFolder(state_root / "audit-copy"),
        public_keys=trusted_keys(state_root / "audit-copy"),
    )
    if not report.ok:
        raise RuntimeError(f"the freshly built log does not verify: {report.findings[:3]}")
    return BuiltLog(
        state_root=state_root,
        entries=report.entries,
        segments=report.segments,
        checkpoints=report.checkpoints,
        checkpointed_seq=report.checkpointed_seq,
        seconds=time.perf_counter() - started,
    )


def trusted_keys(copy_dir: Path) -> dict[str, Ed25519PublicKey]:
    """The public keys published in the copy location (what verification trusts)."""
    return load_public_keys(path.read_bytes() for path in sorted((copy_dir / "public-keys").glob("*.pem")))


# -- mutations ---------------------------------------------------------------------------------------
def _write(path: Path, data: bytes) -> None:
    """Overwrite a (read-only) file and give it back its mode: the attacker leaves no mode trace."""
    mode = path.stat().st_mode
    path.chmod(0o600)
    path.write_bytes(data)
    path.chmod(mode)


def _segments(audit: Path) -> list[Path]:
    return [path for _, path in numbered_files(audit / "segments", "jsonl")]


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _join(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def byte_flip(audit: Path, rng: random.Random, built: BuiltLog) -> bool | None:
    segments = _segments(audit)
    sizes = [path.stat().st_size for path in segments]
    offset = rng.randrange(sum(sizes))
    for path, size in zip(segments, sizes, strict=True):
        if offset < size:
            data = bytearray(path.read_bytes())
            data[offset] ^= rng.randrange(1, 256)
            _write(path, bytes(data))
            return None
        offset -= size
    raise AssertionError("offset beyond the log")


def entry_deletion(audit: Path, rng: random.Random, built: BuiltLog) -> bool | None:
    segments = _segments(audit)
    positions = [(path, index) for path in segments for index in range(len(_lines(path)))]
    path, index = rng.choice(positions[:-1])
    lines = _lines(path)
    del lines[index]
    _write(path, _join(lines))
    return None


def reorder(audit: Path, rng: random.Random, built: BuiltLog) -> bool | None:
    path = rng.choice(_segments(audit))
    lines = _lines(path)
    first, second = rng.sample(range(len(lines)), 2)
    lines[first], lines[second] = lines[second], lines[first]
    _write(path, _join(lines))
    return None


def segment_deletion(audit: Path, rng: random.Random, built: BuiltLog) -> bool | None:
    """Returns True when the segment held only entries after the last copied checkpoint: deleting it is
    then a tail truncation of that unprotected window."""
    path = rng.choice(_segments(audit))
    first = _seq(_lines(path)[0])
    path.unlink()
    return first > built.checkpointed_seq


def tail_truncation(audit: Path, rng: random.Random, built: BuiltLog) -> bool | None:
    """Returns True when the cut stays after the last copied checkpoint (undetectable by design)."""
    unprotected = built.entries - built.checkpointed_seq
    per_segment = built.entries // built.segments
    if rng.random() < 0.5:
        cut = rng.randint(1, unprotected)
    else:
        cut = rng.randint(unprotected + 1, unprotected + 2 * per_segment)
    remaining = built.entries - cut
    for path in reversed(_segments(audit)):
        lines = _lines(path)
        keep = [line for line in lines if _seq(line) <= remaining]
        if not keep:
            path.unlink()
        elif len(keep) != len(lines):
            _write(path, _join(keep))
    for _, path in numbered_files(audit / "checkpoints", "json"):
        if Checkpoint.parse(path.read_bytes()).last_seq > remaining:
            path.unlink()  # hide the local checkpoints that would give the cut away
    return remaining >= built.checkpointed_seq


def checkpoint_swap(audit: Path, rng: random.Random, built: BuiltLog) -> bool | None:
    files = [path for _, path in numbered_files(audit / "checkpoints", "json")]
    first, second = rng.sample(files, 2)
    one, other = first.read_bytes(), second.read_bytes()
    _write(first, other)
    _write(second, one)
    return None


def _seq(line: bytes) -> int:
    start = line.index(b'"seq":') + len(b'"seq":')
    end = start
    while line[end : end + 1].isdigit():
        end += 1
    return int(line[start:end])


MUTATIONS: dict[str, Callable[[Path, random.Random, BuiltLog], bool | None]] = {
    "byte_flip": byte_flip,
    "entry_deletion": entry_deletion,
    "reorder": reorder,
    "segment_deletion": segment_deletion,
    "tail_truncation": tail_truncation,
    "checkpoint_swap": checkpoint_swap,
}


def tamper_trials(built: BuiltLog, work: Path, *, trials: int, seed: int) -> Outcome:
    """`trials` mutations of every kind, each on a fresh copy, verified against the untouched copy."""
    outcome = Outcome()
    copy = LocalFolder(built.copy_dir)
    keys = trusted_keys(built.copy_dir)
    for kind in KINDS:
        rng = random.Random(f"{seed}:{kind}")
        for trial in range(trials):
            target = work / f"{kind}-{trial}"
            shutil.copytree(built.audit_dir, target, ignore=shutil.ignore_patterns("lock", "exports.json"))
            unprotected = MUTATIONS[kind](target, rng, built)
            started = time.perf_counter()
            report = verify_log(target, copy=copy, public_keys=keys)
            outcome.verify_seconds += time.perf_counter() - started
            tally = outcome.unprotected_tail if unprotected else outcome.tallies[kind]
            tally.trials += 1
            tally.detected += bool(report.errors)
            _remove(target)
    return outcome


def _remove(target: Path) -> None:
    for folder, _, files in os.walk(target):
        os.chmod(folder, 0o700)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o600)
    shutil.rmtree(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--segment-entries", type=int, default=400)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="audit-tamper-") as scratch,
        bench_environment(args.segment_entries),
    ):
        built = build_log(Path(scratch) / "state", runs=args.runs, seed=args.seed)
        print(
            f"log: {built.entries} entries, {built.segments} segments, {built.checkpoints} checkpoints, "
            f"entries 1..{built.checkpointed_seq} checkpointed, built in {built.seconds:.1f} s"
        )
        outcome = tamper_trials(built, Path(scratch) / "trials", trials=args.trials, seed=args.seed)
    print(outcome.table())
    total = sum(t.trials for t in outcome.tallies.values()) + outcome.unprotected_tail.trials
    print(f"verify: {total} runs, {outcome.verify_seconds / total * 1000:.1f} ms each")
    for kind in KINDS:
        tally = outcome.tallies[kind]
        print(
            f"audit_tamper kind={kind} trials={tally.trials} detected={tally.detected} rate={tally.rate:.3f}"
        )
    tail = outcome.unprotected_tail
    print(
        f"audit_tamper kind=unprotected_tail_cut trials={tail.trials} "
        f"detected={tail.detected} rate={tail.rate:.3f}"
    )


if __name__ == "__main__":
    main()
