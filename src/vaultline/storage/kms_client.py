"""A pyarrow Parquet `KmsClient` over a Vaultline key provider (Parquet Modular Encryption).

Parquet's key tools never see a master key: they hand a key (a KEK under double wrapping) to
`wrap_key` with a *master key identifier* and store the returned text in the file's key material.
Here the identifier is a Vaultline key reference (`pii_key`, or `pii_key@2` to pin a version) and the
text is the base64 of the provider's wrapped-key envelope (VLK1 for the local keyring: the master
key version travels inside it, so unwrapping ignores any pin and keys rotated since still unwrap).

pyarrow calls these methods from C++. An exception raised here comes back out of the pyarrow call
that triggered it as the *same* Python exception object (the status carries it), so the reader can
tell `MasterKeyRefused` (the provider refused or does not hold the key) from `KeyMaterialCorrupt`
(the stored text is not a wrapped key at all). One exception to that: pyarrow 26 aborts the whole
process (std::terminate) when an unwrap fails while `FileMetaData.row_group(i).column(j)` decrypts a
column's metadata, so callers must know a key is unwrappable before touching column metadata
(`encrypted_parquet` checks every key first).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, Protocol

import pyarrow.parquet.encryption as pe

from vaultline.errors import KeyringError, TerminalError
from vaultline.keys.provider import KeyRef
from vaultline.keys.secret import SecretBytes


class KeyWrapper(Protocol):
    """The two KeyProvider methods Parquet encryption needs (every KeyProvider has them)."""

    def wrap_key(self, ref: KeyRef, key: bytes) -> bytes: ...

    def unwrap_data_key(self, name: str, wrapped: bytes) -> SecretBytes: ...


class MasterKeyRefused(KeyringError):
    """The key provider refused (or does not hold) the master key a Parquet key is wrapped with."""

    def __init__(self, key_ref: str, reason: str, *, action: str, hint: str | None = None) -> None:
        self.key_ref = key_ref
        self.reason = reason
        self.provider_hint = hint
        guess = (
            f"check that the keyring holds '{key_ref}' and that this caller may use it (vaultline keys list)"
        )
        super().__init__(
            f"the key provider refused to {action} with master key '{key_ref}': {reason}",
            hint=hint or guess,  # the provider knows why (a disabled KMS key, a missing grant): its fix wins
        )


class KeyMaterialCorrupt(TerminalError):
    """Stored Parquet key material is not a wrapped key: the file or its key-material file was altered."""


def unwrap_master_wrapped(provider: KeyWrapper, wrapped: str, master_key_identifier: str) -> SecretBytes:
    """The key that `wrap_key` wrapped: base64 text → provider envelope → key bytes (kept secret)."""
    ref = _parse_ref(master_key_identifier)
    try:
        envelope = base64.b64decode(wrapped.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise KeyMaterialCorrupt(
            f"a key wrapped with master key '{ref}' is not valid base64",
            hint="the Parquet file or its _KEY_MATERIAL_FOR_ file was altered; restore it from its source",
        ) from None
    try:
        return provider.unwrap_data_key(ref.name, envelope)
    except MasterKeyRefused:
        raise
    except KeyringError as exc:
        raise MasterKeyRefused(str(ref), exc.message, action="unwrap a Parquet key", hint=exc.hint) from None


def _parse_ref(master_key_identifier: str) -> KeyRef:
    try:
        return KeyRef.parse(master_key_identifier)
    except KeyringError:
        raise KeyMaterialCorrupt(
            f"the Parquet key material names master key '{master_key_identifier[:64]}', "
            "which is not a Vaultline key reference",
            hint="the file was encrypted with another KMS, or its key material was altered",
        ) from None


class VaultlineKmsClient(pe.KmsClient):  # type: ignore[misc]  # pyarrow ships no type stubs
    """Wraps and unwraps Parquet keys with a Vaultline key provider; master keys never leave it."""

    def __init__(self, provider: KeyWrapper) -> None:
        super().__init__()
        self._provider = provider

    def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
        ref = _parse_ref(master_key_identifier)
        try:
            envelope = self._provider.wrap_key(ref, key_bytes)
        except KeyringError as exc:
            raise MasterKeyRefused(
                str(ref), exc.message, action="wrap a Parquet key", hint=exc.hint
            ) from None
        return base64.b64encode(envelope).decode("ascii")

    def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
        # pyarrow needs the raw bytes; they go straight into its SecureString.
        return unwrap_master_wrapped(self._provider, wrapped_key, master_key_identifier).reveal()

    def __repr__(self) -> str:
        return f"VaultlineKmsClient({type(self._provider).__name__})"


def kms_client_factory(provider: KeyWrapper) -> Callable[[Any], VaultlineKmsClient]:
    """The `kms_client_factory` for `pyarrow.parquet.encryption.CryptoFactory`.

    The connection config (KMS instance id/url, access token) is ignored: the provider already knows
    where its keys live and who the caller is.
    """

    def create(_config: Any) -> VaultlineKmsClient:
        return VaultlineKmsClient(provider)

    return create
