"""Where Vaultline keeps its state: `./.vaultline/` of the working directory unless overridden."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from vaultline.errors import TerminalError, VaultlineError

STATE_ENV = "VAULTLINE_HOME"
CATALOG_ENV = "VAULTLINE_CATALOG_URL"


@dataclass(frozen=True)
class State:
    root: Path

    @classmethod
    def resolve(cls, root: str | Path | None = None) -> State:
        chosen = root or os.environ.get(STATE_ENV) or Path.cwd() / ".vaultline"
        return cls(Path(chosen).resolve())

    @classmethod
    def existing(cls, root: str | Path | None = None) -> State:
        """The state of a command that works on what a state holds (reads, lists, gc, rotation):
        refused when its directory is missing, so a typo in --state or a command run from the wrong
        directory creates nothing (no empty catalog, no dev keyring that the real passphrase then
        cannot open) and is not mistaken for an empty state. Commands that bring state into being
        (run, demo, keys create, init, crawl, classify) use `resolve(...).ensure()`.

        Only the directory is required: the catalog may be elsewhere (VAULTLINE_CATALOG_URL)."""
        state = cls.resolve(root)
        if not state.root.is_dir():
            raise TerminalError(
                f"no Vaultline state at {state.root}",
                hint="run from the directory that holds .vaultline/ (e.g. the demo's), or point --state / "
                f"{STATE_ENV} at it",
            )
        return state

    def ensure(self) -> State:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise VaultlineError(
                f"the state directory {self.root} cannot be created ({exc.strerror})",
                hint=f"point --state or {STATE_ENV} at a directory you can write",
            ) from None
        return self

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    @property
    def quarantine_dir(self) -> Path:
        return self.root / "quarantine"

    @property
    def spill_dir(self) -> Path:
        """Encrypted spills of running pipelines (storage/spill.py); empty between runs."""
        return self.root / "spill"

    @property
    def catalog_url(self) -> str:
        return os.environ.get(CATALOG_ENV) or f"sqlite:///{self.root / 'catalog.db'}"


def write_private(path: Path, text: str) -> None:
    """Write a state file (owner-only, 0600) through a temp file, fsync and rename: a crash never leaves
    a torn keyring or cache entry behind."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
