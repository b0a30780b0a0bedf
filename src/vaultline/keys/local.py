"""The local keyring: master keys stored AES-256-GCM encrypted under a key derived with scrypt.

The passphrase comes from `VAULTLINE_PASSPHRASE`. Without it a *dev keyring* is created whose random
passphrase sits beside it (mode 0600) and every use prints a loud warning: fine for a laptop demo,
never for real data. Data keys are wrapped with AES-GCM under a master key version, the wrapped blob
carrying that version so rotation never strands old data.

A key may list roles (see keys/principal.py); entries written before roles existed have none and stay
unrestricted. Every key use is checked and reported to keys/hooks.py before it takes effect.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import secrets
import struct
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from vaultline.errors import KeyringError
from vaultline.keys.hooks import Action
from vaultline.keys.principal import admit, normalize_roles
from vaultline.keys.provider import KeyInfo, KeyRef
from vaultline.keys.secret import SecretBytes
from vaultline.state import write_private

PASSPHRASE_ENV = "VAULTLINE_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
KEYRING_FILE = "keyring.json"
LOCK_FILE = "keyring.lock"
DEV_PASSPHRASE_FILE = "keyring.dev-passphrase"  # noqa: S105 - a file name
_FORMAT = 1
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
_CHECK = b"vaultline-keyring-check"
_WRAP_MAGIC = b"VLK1"
PROVIDER_NAME = "local"
_warned_dev: set[str] = set()  # warn once per process and keyring, not on every open
_warned_mode: set[str] = set()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def _well_formed(entry: Any) -> bool:
    """A key entry as `create` and `rotate` write it: what an edit broke is refused as damage up front,
    not met later as an unexpected error (the integrity of each version is AES-GCM's to check)."""
    try:
        versions = entry["versions"]
        sealed = [versions[str(int(v))] for v in versions]
        int(entry["current"]), str(entry["created"]), str(entry["purpose"])
        for version in sealed:
            base64.b64decode(version["nonce"].encode("ascii"), validate=True)
            base64.b64decode(version["ciphertext"].encode("ascii"), validate=True)
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error):
        return False
    return str(int(entry["current"])) in versions and isinstance(entry.get("roles", []), list)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LocalKeyring:
    """A KeyProvider backed by one JSON file of encrypted master keys under the state directory."""

    def __init__(self, state_dir: Path, *, warn: bool = True) -> None:
        self.state_dir = state_dir
        self.path = state_dir / KEYRING_FILE
        self._warn = warn
        self._kek: SecretBytes | None = None
        self._data: dict[str, Any] | None = None

    # -- opening -----------------------------------------------------------------------------------
    def _passphrase(self, *, creating: bool) -> tuple[bytes, bool]:
        env = os.environ.get(PASSPHRASE_ENV)
        dev_file = self.state_dir / DEV_PASSPHRASE_FILE
        if env:
            return env.encode("utf-8"), False
        if creating or dev_file.exists():
            if creating:
                write_private(dev_file, secrets.token_urlsafe(32))
            if self._warn and str(self.path) not in _warned_dev:
                _warned_dev.add(str(self.path))
                sys.stderr.write(
                    f"WARNING: {PASSPHRASE_ENV} is not set; using the DEV keyring at {self.path} whose "
                    "passphrase is stored beside it. Do not protect real data with it: set "
                    f"{PASSPHRASE_ENV} and create a new keyring.\n"
                )
            return dev_file.read_text(encoding="utf-8").strip().encode("utf-8"), True
        raise KeyringError(
            f"the keyring at {self.path} is protected by a passphrase and {PASSPHRASE_ENV} is not set",
            hint=f"export {PASSPHRASE_ENV} with the passphrase the keyring was created with",
        )

    def _load(self) -> dict[str, Any]:
        if self._data is not None:
            return self._data
        if not self.path.exists():
            self._refuse_to_replace()
            self.state_dir.mkdir(parents=True, exist_ok=True)
            passphrase, dev = self._passphrase(creating=True)
            salt = secrets.token_bytes(16)
            self._kek = self._derive_kek(passphrase, salt)
            nonce = secrets.token_bytes(12)
            check = AESGCM(self._kek.reveal()).encrypt(nonce, _CHECK, b"check")
            self._data = {
                "format": _FORMAT,
                "dev": dev,
                "kdf": {"name": "scrypt", "salt": _b64(salt), **_SCRYPT},
                "check": {"nonce": _b64(nonce), "ciphertext": _b64(check)},
                "keys": {},
            }
            self._save()
            return self._data
        data = self._read()
        passphrase, _ = self._passphrase(creating=False)
        try:
            kek = self._derive_kek(passphrase, _unb64(data["kdf"]["salt"]), data["kdf"])
            nonce, check = _unb64(data["check"]["nonce"]), _unb64(data["check"]["ciphertext"])
        except (KeyError, TypeError, ValueError) as exc:
            raise self._damaged(exc) from None
        try:
            AESGCM(kek.reveal()).decrypt(nonce, check, b"check")
        except InvalidTag:
            dev = data.get("dev") is True and bool(os.environ.get(PASSPHRASE_ENV))
            raise KeyringError(
                f"the passphrase does not open the keyring at {self.path}",
                hint=f"this DEV keyring opens with the passphrase stored beside it: unset {PASSPHRASE_ENV}"
                if dev
                else f"set {PASSPHRASE_ENV} to the passphrase this keyring was created with",
            ) from None
        self._kek, self._data = kek, data
        return data

    def _read(self) -> dict[str, Any]:
        if self.path.stat().st_mode & 0o077 and str(self.path) not in _warned_mode:
            _warned_mode.add(str(self.path))
            sys.stderr.write(f"WARNING: the keyring at {self.path} is readable by others: chmod 600 it\n")
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:  # unreadable is not damaged: a backup must not replace a good keyring
            raise KeyringError(
                f"the keyring at {self.path} cannot be read ({exc.strerror or type(exc).__name__})",
                hint="check that the user running vaultline owns it and may read and write it (chmod 600)",
            ) from None
        except UnicodeDecodeError as exc:
            raise self._damaged(exc) from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise self._damaged(exc) from None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
            raise self._damaged(TypeError("not a mapping of keys"))
        if not all(_well_formed(entry) for entry in data["keys"].values()):
            raise self._damaged(ValueError("a key entry is not as Vaultline writes one"))
        return data

    def _damaged(self, exc: Exception) -> KeyringError:
        return KeyringError(
            f"the keyring at {self.path} is damaged or not a Vaultline keyring ({type(exc).__name__})",
            hint="restore it from a backup: without it, nothing its keys protect can be decrypted",
        )

    def _refuse_to_replace(self) -> None:
        """A keyring appears only in a state directory that never had one: an audit log already there
        was signed with a key of the keyring now gone, and a new keyring would quietly take its place."""
        if any((self.state_dir / "audit" / "segments").glob("*.jsonl")):
            raise KeyringError(
                f"the keyring at {self.path} is missing, but this state directory has an audit log "
                "signed with one of its keys",
                hint="restore keyring.json from a backup; to start afresh on purpose, use a new state "
                "directory (--state)",
            )

    @staticmethod
    def _derive_kek(passphrase: bytes, salt: bytes, params: dict[str, Any] | None = None) -> SecretBytes:
        p = params or _SCRYPT
        kdf = Scrypt(salt=salt, length=32, n=int(p["n"]), r=int(p["r"]), p=int(p["p"]))
        return SecretBytes(kdf.derive(passphrase), "keyring-kek")

    def _save(self) -> None:
        assert self._data is not None
        write_private(self.path, json.dumps(self._data, indent=2, sort_keys=True))

    def _refresh(self) -> None:
        """Re-read the file; the derived KEK is kept when the passphrase salt is unchanged."""
        if self._data is not None and self.path.exists():
            fresh = self._read()
            if fresh.get("kdf") == self._data["kdf"]:
                self._data = fresh
            else:
                self._data = self._kek = None

    @contextmanager
    def _changing(self) -> Iterator[dict[str, Any]]:
        """Read-modify-write under an exclusive lock, from what is on disk *now*: two processes (or
        two keyring objects) adding keys at once must never drop each other's keys."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.state_dir / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._refresh()
                yield self._load()
                self._save()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @property
    def is_dev(self) -> bool:
        return bool(self._load()["dev"])

    # -- master keys -------------------------------------------------------------------------------
    def _entry(self, name: str) -> dict[str, Any]:
        keys: dict[str, Any] = self._load()["keys"]
        if name not in keys:
            self._refresh()  # another process or keyring object may have created it since we read
            keys = self._load()["keys"]
        if name not in keys:
            known = ", ".join(sorted(keys)) or "none yet"
            raise KeyringError(
                f"no key named '{name}' in the keyring at {self.path} (known: {known})",
                hint=f"create it with: vaultline keys create {name}",
            )
        entry: dict[str, Any] = keys[name]
        return entry

    def _seal(self, name: str, version: int, material: bytes) -> dict[str, str]:
        assert self._kek is not None
        nonce = secrets.token_bytes(12)
        aad = f"{name}@{version}".encode()
        return {
            "nonce": _b64(nonce),
            "ciphertext": _b64(AESGCM(self._kek.reveal()).encrypt(nonce, material, aad)),
        }

    def _version(self, name: str, version: int | None) -> int:
        """The version `version` pins (current when None), checked to exist; nothing is decrypted."""
        entry = self._entry(name)
        if version is not None and str(version) not in entry["versions"]:
            self._refresh()  # rotated by another process since we read
            entry = self._entry(name)
        chosen = version or int(entry["current"])
        if str(chosen) not in entry["versions"]:
            raise KeyringError(
                f"key '{name}' has no version {chosen} (versions: {', '.join(entry['versions'])})",
                hint=f"reference an existing version, e.g. '{name}@{entry['current']}'",
            )
        return chosen

    def _admit(self, action: Action, name: str, version: int | None, context: str | None = None) -> None:
        """Roles check and hook notification, before the operation touches any material."""
        roles = _roles(self._entry(name))
        admit(
            provider=PROVIDER_NAME, action=action, key=name, version=version, key_roles=roles, context=context
        )

    def _material(self, name: str, version: int | None) -> tuple[SecretBytes, int]:
        chosen = self._version(name, version)
        sealed = self._entry(name)["versions"][str(chosen)]
        assert self._kek is not None
        try:
            raw = AESGCM(self._kek.reveal()).decrypt(
                _unb64(sealed["nonce"]), _unb64(sealed["ciphertext"]), f"{name}@{chosen}".encode()
            )
        except InvalidTag:
            raise KeyringError(
                f"key '{name}@{chosen}' failed its integrity check; the keyring was altered"
            ) from None
        return SecretBytes(raw, f"{name}@{chosen}"), chosen

    def _info(self, name: str, entry: dict[str, Any]) -> KeyInfo:
        return KeyInfo(
            name=name,
            current_version=int(entry["current"]),
            versions=tuple(sorted(int(v) for v in entry["versions"])),
            created=str(entry["created"]),
            purpose=str(entry["purpose"]),
            roles=_roles(entry),
        )

    def create(self, name: str, *, purpose: str = "general", roles: Sequence[str] = ()) -> KeyInfo:
        KeyRef.plain_name(name)
        chosen_roles = normalize_roles(roles, where=f"key '{name}'")
        with self._changing() as data:
            if name in data["keys"]:
                raise KeyringError(
                    f"a key named '{name}' already exists", hint=f"rotate it: vaultline keys rotate {name}"
                )
            admit(provider=PROVIDER_NAME, action="create", key=name, version=1)
            data["keys"][name] = {
                "created": _now(),
                "purpose": purpose,
                "roles": list(chosen_roles),
                "current": 1,
                "versions": {"1": self._seal(name, 1, secrets.token_bytes(32))},
            }
        return self._info(name, data["keys"][name])

    def set_roles(self, name: str, roles: Sequence[str]) -> KeyInfo:
        """Replace the key's roles (empty: unrestricted). A restricted key's roles can only be changed
        by a caller holding one of them, or anyone could grant themselves access."""
        chosen_roles = normalize_roles(roles, where=f"key '{name}'")
        with self._changing():
            entry = self._entry(name)
            self._admit("set_roles", name, None)
            entry["roles"] = list(chosen_roles)
        return self._info(name, entry)

    def ensure(self, name: str, *, purpose: str = "general") -> KeyInfo:
        """The key's info, creating the key first if it does not exist (used by the demo)."""
        if name in self._load()["keys"]:
            return self._info(name, self._entry(name))
        return self.create(name, purpose=purpose)

    def rotate(self, name: str) -> KeyInfo:
        KeyRef.plain_name(name)
        with self._changing():
            entry = self._entry(name)
            version = int(entry["current"]) + 1
            self._admit("rotate", name, version)
            entry["versions"][str(version)] = self._seal(name, version, secrets.token_bytes(32))
            entry["current"] = version
        return self._info(name, entry)

    def list(self) -> list[KeyInfo]:
        keys: dict[str, Any] = self._load()["keys"]
        return [self._info(name, keys[name]) for name in sorted(keys)]

    def info(self, name: str) -> KeyInfo:
        return self._info(name, self._entry(name))

    # -- derived and data keys ---------------------------------------------------------------------
    def derive(self, ref: KeyRef, *, context: str) -> tuple[SecretBytes, int]:
        self._admit("derive", ref.name, self._version(ref.name, ref.version), context)
        master, version = self._material(ref.name, ref.version)
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"vaultline/v1/{context}".encode())
        return SecretBytes(hkdf.derive(master.reveal()), f"{ref.name}@{version}:{context}"), version

    def generate_data_key(self, ref: KeyRef) -> tuple[SecretBytes, bytes]:
        self._admit("generate_data_key", ref.name, self._version(ref.name, ref.version))
        data_key = secrets.token_bytes(32)
        wrapped = self._wrap(ref, data_key)
        return SecretBytes(data_key, f"data-key:{ref.name}"), wrapped

    def wrap_key(self, ref: KeyRef, key: bytes) -> bytes:
        """`key` encrypted (AES-256-GCM) under master key `ref` (its current version unless pinned):
        magic `VLK1`, the version (4 bytes, big-endian), a 12-byte nonce, ciphertext and tag; the key
        name and header are authenticated data. `unwrap_data_key` reverses it with any version."""
        self._admit("wrap_key", ref.name, self._version(ref.name, ref.version))
        return self._wrap(ref, key)

    def _wrap(self, ref: KeyRef, key: bytes) -> bytes:
        master, version = self._material(ref.name, ref.version)
        nonce = secrets.token_bytes(12)
        header = _WRAP_MAGIC + struct.pack(">I", version)
        return header + nonce + AESGCM(master.reveal()).encrypt(nonce, key, ref.name.encode() + header)

    def unwrap_data_key(self, name: str, wrapped: bytes) -> SecretBytes:
        if len(wrapped) < 8 + 12 + 16 or wrapped[:4] != _WRAP_MAGIC:
            raise KeyringError(f"the wrapped data key for '{name}' is not in Vaultline's format")
        header, nonce, body = wrapped[:8], wrapped[8:20], wrapped[20:]
        (version,) = struct.unpack(">I", header[4:])
        self._admit("unwrap_data_key", name, self._version(name, version))
        master, _ = self._material(name, version)
        try:
            raw = AESGCM(master.reveal()).decrypt(nonce, body, name.encode() + header)
        except InvalidTag:
            raise KeyringError(f"the wrapped data key does not belong to key '{name}@{version}'") from None
        return SecretBytes(raw, f"data-key:{name}@{version}")


def _roles(entry: dict[str, Any]) -> tuple[str, ...]:
    # Entries written before roles existed have no "roles": unrestricted, as they always were.
    return tuple(str(role) for role in entry.get("roles") or ())
