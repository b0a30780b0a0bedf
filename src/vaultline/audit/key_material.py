"""The audit log's own keys, all derived from the state's key provider (local keyring or AWS KMS alike).

Key `vaultline-audit` (created on first use, purpose "audit") gives, per version:
- the identifier key, `derive(context="audit/identifiers")`: HMAC-SHA256 key of the keyed hashes;
- the signing seed, `derive(context="audit/signing")`: the Ed25519 key that signs checkpoints.

The log's own key uses are *captured* rather than recorded by the audit key-use hook: the hook would
append to the very log whose keys are being derived. `capturing_own_key_uses` marks the current thread;
the session hook skips marked uses, and the log records the captured ones as entries itself.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vaultline.errors import AuditUnavailableError, KeyringError, VaultlineError, is_transient
from vaultline.keys import hooks
from vaultline.keys.hooks import KeyUse
from vaultline.keys.provider import KeyProvider, KeyRef
from vaultline.keys.secret import SecretBytes

AUDIT_KEY = "vaultline-audit"
IDENTIFIER_CONTEXT = "audit/identifiers"
SIGNING_CONTEXT = "audit/signing"
HASH_PREFIX = "hmac-sha256:"

_marked = threading.local()


def is_own_key_use() -> bool:
    """True while the current thread derives the audit log's own keys."""
    return getattr(_marked, "captured", None) is not None


@contextmanager
def capturing_own_key_uses() -> Iterator[list[KeyUse]]:
    """Collect the key uses this thread makes inside the block (other threads are not affected)."""
    captured: list[KeyUse] = []
    outer = getattr(_marked, "captured", None)

    def capture(use: KeyUse) -> None:
        if getattr(_marked, "captured", None) is captured:
            captured.append(use)

    _marked.captured = captured
    hooks.register(capture)
    try:
        yield captured
    finally:
        hooks.unregister(capture)
        _marked.captured = outer


def keyed_hash(key: SecretBytes, kind: str, value: str) -> str:
    """`hmac-sha256:<hex>` of `value`; the kind is part of the message, so a path and a person with the
    same text hash differently."""
    message = kind.encode("ascii") + b"\x1f" + value.encode("utf-8")
    return HASH_PREFIX + hmac.new(key.reveal(), message, hashlib.sha256).hexdigest()


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key: names the key in checkpoints and file names."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_key_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def unavailable(exc: BaseException, doing: str) -> AuditUnavailableError:
    """An AuditUnavailableError for a key-provider failure; a VaultlineError's message is value-free by
    contract, anything else is named by its type only."""
    reason = exc.message if isinstance(exc, VaultlineError) else type(exc).__name__
    # the cause's own fix first (set the passphrase, list role names only) where it has one
    fix = (
        exc.hint
        if isinstance(exc, VaultlineError) and exc.hint
        else (
            f"make the key provider reachable and key '{AUDIT_KEY}' usable by this principal (do not "
            "restrict its roles)"
        )
    )
    return AuditUnavailableError(
        f"the audit log could not {doing}: {reason}",
        hint=f"{fix}; audited operations stay stopped until the audit log can be written",
        where="audit log",
        # a provider out of reach may come back; a key refused to this principal stays refused
        retryable=exc.retryable if isinstance(exc, VaultlineError) else is_transient(exc),
    )


class AuditKeys:
    """Identifier keys by version and the checkpoint signing key, derived once per process."""

    def __init__(self, provider: KeyProvider) -> None:
        self._provider = provider
        self._identifier: dict[int, SecretBytes] = {}
        self.current_version = 0
        self._signing: Ed25519PrivateKey | None = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, provider: KeyProvider, *, signed_before: bool = False) -> tuple[AuditKeys, list[KeyUse]]:
        """Keys for the current version and the uses it took. `vaultline-audit` is created if missing,
        unless the log was `signed_before`: then its key is elsewhere (another region, provider or
        keyring), and a new one would start a second chain of trust beside the first."""
        keys = cls(provider)
        with capturing_own_key_uses() as uses:
            try:
                keys._ensure_key(signed_before=signed_before)
                identifier, version = provider.derive(KeyRef(AUDIT_KEY), context=IDENTIFIER_CONTEXT)
                seed, _ = provider.derive(KeyRef(AUDIT_KEY, version), context=SIGNING_CONTEXT)
            except Exception as exc:
                raise unavailable(exc, "derive its keys") from None
        keys._identifier[version] = identifier
        keys.current_version = version
        keys._signing = Ed25519PrivateKey.from_private_bytes(seed.reveal())
        return keys, list(uses)

    def _ensure_key(self, *, signed_before: bool) -> None:
        try:
            self._provider.info(AUDIT_KEY)
        except KeyringError:
            # a keyring that does not open (wrong passphrase) raises its own error here, rightly
            if AUDIT_KEY in {info.name for info in self._provider.list()}:
                raise
            if signed_before:
                raise KeyringError(
                    f"this audit log was signed with key '{AUDIT_KEY}', which the key provider in use does "
                    "not hold: it is not the provider (or AWS region, or keyring) the state was made with",
                    hint="select the state's provider (VAULTLINE_KEY_PROVIDER) and region (AWS_REGION); a "
                    "new audit key is never made for a log that already has one",
                ) from None
            # Another process may create it in between; if creation truly fails, the derive that
            # follows reports it.
            with suppress(KeyringError):
                self._provider.create(AUDIT_KEY, purpose="audit")

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        assert self._signing is not None, "AuditKeys.load sets the signing key"
        return self._signing

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    def identifier_key(self, version: int) -> tuple[SecretBytes, list[KeyUse]]:
        """The identifier key of `version` and the key uses deriving it took (none when held already)."""
        with self._lock:
            held = self._identifier.get(version)
            if held is not None:
                return held, []
            with capturing_own_key_uses() as uses:
                try:
                    key, _ = self._provider.derive(KeyRef(AUDIT_KEY, version), context=IDENTIFIER_CONTEXT)
                except Exception as exc:
                    raise unavailable(exc, f"derive its identifier key version {version}") from None
            self._identifier[version] = key
            return key, list(uses)

    def all_identifier_keys(self) -> tuple[dict[int, SecretBytes], list[KeyUse]]:
        """Every version's identifier key (for search across rotations) and the uses deriving them took."""
        try:
            versions = self._provider.info(AUDIT_KEY).versions
        except Exception as exc:
            raise unavailable(exc, "list the versions of its identifier key") from None
        uses: list[KeyUse] = []
        keys: dict[int, SecretBytes] = {}
        for version in versions:
            keys[version], taken = self.identifier_key(version)
            uses.extend(taken)
        return keys, uses
