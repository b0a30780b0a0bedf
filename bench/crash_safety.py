"""Crash safety, measured: SIGKILL `vaultline run` at random points of its write phase, N times.

    .venv/bin/python bench/crash_safety.py [--rows 200000] [--kills 20] [--seed 1]

Setup: the fraud example on generated data in a fresh work directory. The write phase begins when
the encrypted output's temporary file appears in the output directory; it streams there until it is
renamed, then the run commits its version and ends. One undisturbed run measures both stretches.
Then, N times, a run is started, watched until its temporary file appears, and killed with SIGKILL
at a random instant: every other kill while the output streams, the others between its rename and
the process's end (a run that finished first counts as not killed). Watching for the file instead
of timing from the start keeps the kills inside the window however slow start-up is on the day.
After every kill the harness checks:

- no partial version visible: every committed version lists files that exist, whose SHA-256 and row
  count match the catalog, and that decrypt; the number of committed versions equals the number of
  runs that completed;
- the catalog is consistent: versions are 1..n without gaps;
- `vaultline gc --grace 0s` removes every file no version references, and nothing else.

Finally a rerun must complete. The last line is
`crash_safety kills=N killed=K killed_streaming=S partial_versions_visible=P reruns_completed=R
catalog_consistent=B leftovers_collected=L` (on one line).
tests/run/test_crash_safety.py runs it small in CI.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAULTLINE = [str(Path(sys.executable).parent / "vaultline")]
DATASET = "features"


@dataclass
class Outcome:
    kills: int = 0
    killed: int = 0
    killed_streaming: int = 0
    """Kills that landed while the output still streamed to its temporary file."""
    partial_versions_visible: int = 0
    reruns_completed: int = 0
    catalog_consistent: bool = True
    completed_runs: int = 0
    leftovers_collected: int = 0
    """Files a killed run left (temporary or written but never committed) that gc then removed."""

    def line(self) -> str:
        return (
            f"crash_safety kills={self.kills} killed={self.killed} "
            f"killed_streaming={self.killed_streaming} "
            f"partial_versions_visible={self.partial_versions_visible} "
            f"reruns_completed={self.reruns_completed} "
            f"catalog_consistent={str(self.catalog_consistent).lower()} "
            f"leftovers_collected={self.leftovers_collected}"
        )


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"VAULTLINE_HOME": str(work / ".vaultline"), "VAULTLINE_PASSPHRASE": "crash-safety-bench",
                "PYTHONUNBUFFERED": "1", "COLUMNS": "200"})  # fmt: skip
    return env


def _command(work: Path) -> list[str]:
    return [
        *VAULTLINE, "run", str(ROOT / "examples" / "fraud" / "pipeline.yaml"),
        "--param", f"source_bucket={work / 'raw'}", "--param", f"target_bucket={work / 'output'}",
    ]  # fmt: skip


@contextmanager
def _environment(work: Path) -> Iterator[None]:
    """This process sees the runs' state and passphrase while it inspects them; restored after."""
    saved = dict(os.environ)
    os.environ.update(_env(work))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def prepare(work: Path, rows: int) -> None:
    from vaultline.demo.fraud import generate_fraud
    from vaultline.keys.local import LocalKeyring
    from vaultline.spec.loader import load

    with _environment(work):
        generate_fraud(rows, work)
        keyring = LocalKeyring(work / ".vaultline", warn=False)
        loaded = load(ROOT / "examples" / "fraud" / "pipeline.yaml", {"source_bucket": str(work / "raw")})
        for ref in loaded.pipeline.keys.values():
            keyring.ensure(ref.split("@")[0])


def _writing(work: Path) -> bool:
    """True once a run's encrypted output streams to its temporary file (gc removed any earlier one)."""
    return any((work / "output").rglob("*.parquet.tmp"))


def _start_writing(work: Path) -> tuple[subprocess.Popen[bytes], float | None]:
    """A started run and the instant its write phase began (None: it ended before writing)."""
    process = subprocess.Popen(_command(work), env=_env(work), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    while process.poll() is None:
        if _writing(work):
            return process, time.perf_counter()
        time.sleep(0.005)
    return process, None


@dataclass(frozen=True)
class Window:
    streaming: float
    """Seconds from the temporary output's appearance to its rename."""
    total: float
    """Seconds from the temporary output's appearance to the end of the process."""


def write_window(work: Path) -> Window:
    process, began = _start_writing(work)
    renamed = None
    while process.poll() is None:
        if renamed is None and not _writing(work):
            renamed = time.perf_counter()
        time.sleep(0.005)
    ended = time.perf_counter()
    if process.returncode != 0 or began is None:
        raise SystemExit(f"the undisturbed run failed (exit {process.returncode}) or wrote no output")
    return Window(streaming=(renamed or ended) - began, total=ended - began)


def killed_run(work: Path, delay: float) -> tuple[bool, bool]:
    """Start a run, SIGKILL it `delay` seconds into its write phase.

    (still running when killed, still streaming its output when killed)."""
    process, began = _start_writing(work)
    if began is None:
        return False, False
    time.sleep(delay)
    if process.poll() is not None:
        return False, False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True, _writing(work)  # a killed run's temporary file stays until gc


def check(work: Path, completed: int) -> tuple[int, bool, int, int]:
    """(partial versions visible, catalog consistent, versions, leftover files) after a kill and gc.

    A killed run may have committed just before the signal landed (it was exiting): `completed` or
    one more version are both consistent; a gap, a duplicate or a version short of a file is not."""
    from vaultline.catalog.datasets import DatasetCatalog
    from vaultline.keys.local import LocalKeyring
    from vaultline.state import State
    from vaultline.storage.dataset_reader import read_dataset
    from vaultline.storage.locations import sha256_of

    state = State(work / ".vaultline")
    catalog = DatasetCatalog(state.catalog_url)
    names = {summary.name for summary in catalog.list()}
    history = catalog.history(DATASET) if DATASET in names else []
    numbers = sorted(v.version for v in history)
    consistent = numbers == list(range(1, len(numbers) + 1)) and len(numbers) in (completed, completed + 1)
    partial = 0
    with _environment(work):
        provider = LocalKeyring(state.root, warn=False)
        for version in history:
            files = catalog.files(DATASET, version.version)
            intact = all(Path(f.location).exists() and sha256_of(f.location)[0] == f.sha256 for f in files)
            ref = f"{DATASET}@{version.version}"
            rows = read_dataset(catalog, ref, provider)[2].num_rows if intact else -1
            if not intact or rows != version.row_count:
                partial += 1
    referenced = {str(Path(p)) for p in catalog.referenced_locations()}
    catalog.close()
    before = {str(p) for p in (work / "output").rglob("*") if p.is_file()}
    gc = subprocess.run(
        [*VAULTLINE, "gc", "--grace", "0s"], env=_env(work), capture_output=True, text=True, check=False
    )
    if gc.returncode != 0:
        consistent = False
    left = {str(p) for p in (work / "output").rglob("*") if p.is_file()}
    if left != referenced:  # gc removed every leftover and kept every committed file
        consistent = False
    return partial, consistent, len(numbers), len(before - referenced)


def trials(work: Path, *, rows: int, kills: int, seed: int) -> Outcome:
    prepare(work, rows)
    outcome = Outcome(kills=kills)
    write_window(work)  # the first run also classifies the source (then cached): not representative
    window = write_window(work)
    outcome.completed_runs = 2
    chance = random.Random(seed)
    for kill in range(kills):
        # Margins of 20% and 10%: a run's timing varies a little from one run to the next.
        if kill % 2 == 0:
            delay = chance.uniform(0.0, 0.8 * window.streaming)
        else:
            after_rename = window.total - window.streaming
            delay = chance.uniform(window.streaming, window.streaming + 0.9 * after_rename)
        killed, streaming = killed_run(work, delay)
        outcome.killed += killed
        outcome.killed_streaming += streaming
        if not killed:
            outcome.completed_runs += 1
        partial, consistent, versions, leftovers = check(work, outcome.completed_runs)
        outcome.leftovers_collected += leftovers
        outcome.partial_versions_visible += partial
        outcome.catalog_consistent &= consistent
        outcome.completed_runs = versions
        rerun = subprocess.run(_command(work), env=_env(work), capture_output=True, check=False)
        if rerun.returncode == 0:
            outcome.reruns_completed += 1
            outcome.completed_runs += 1
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=ROOT / "bench" / "out" / "crash")
    args = parser.parse_args()
    import shutil

    shutil.rmtree(args.work, ignore_errors=True)
    outcome = trials(args.work, rows=args.rows, kills=args.kills, seed=args.seed)
    print(outcome.line())


if __name__ == "__main__":
    main()
