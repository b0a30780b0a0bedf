"""AWS KMS as a key provider: master keys are created in KMS and never leave it.

Layout in KMS, per Vaultline key NAME and version N:

- a symmetric key (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT) aliased `alias/vaultline/NAME/vN`: wraps and
  unwraps data keys (`wrap_key` → Encrypt, `unwrap_data_key` → Decrypt, `generate_data_key` →
  GenerateDataKey), always with the EncryptionContext `{vaultline:key: NAME, vaultline:version: N}`
  so a blob wrapped for one key never unwraps as another;
- an HMAC_256 key (GENERATE_VERIFY_MAC) aliased `alias/vaultline/NAME/vN/mac`: feeds `derive`;
- `alias/vaultline/NAME` points at the current version's symmetric key, whose tags carry the key's
  metadata: `vaultline:name`, `vaultline:version`, `vaultline:purpose`, `vaultline:created`,
  `vaultline:roles` (space separated: commas are not allowed in KMS tag values).

Rotation creates version N+1's two keys and their aliases, then repoints `alias/vaultline/NAME` last:
that repoint is the commit, so a rotation interrupted before it leaves the old version current (the
next rotation reuses the half-made version's aliases). Old versions are never touched, so every blob
wrapped before stays unwrappable, and `info` lists versions from the `/vN` aliases.

Wrapped data keys are `VLA1` + version (4 bytes, big-endian) + the KMS CiphertextBlob. The version in
the header is authenticated through the encryption context, and Decrypt is called with that version's
alias as KeyId, so KMS checks the blob was made by exactly that key.

Why `derive` uses GenerateMac: derived keys (HMAC token keys) must be identical across runs for the
same key version and context, without the secret leaving KMS. moto (5.x, checked against 5.2.5)
implements GenerateMac on HMAC_256 keys, as AWS KMS does, so `derive` is
HKDF-SHA256(GenerateMac(HMAC_SHA_256, key NAME@N, "vaultline/v1/CONTEXT"), info "vaultline/v1/CONTEXT").
The HMAC key is deterministic and non-exportable, which gives stable derived keys with nothing stored
outside KMS; the alternative (a random seed from GenerateDataKey kept in wrapped form) would need
extra state and an unwrap per derive. The cost is one KMS call per derive and HMAC keys being
available in the region.

KMS failures become VaultlineErrors, raised `from None` so no botocore traceback reaches a user:
unreachable endpoint and throttling → KeyUnavailableError (retryable; the operation did not happen),
denied access, missing credentials or an unknown alias → KeyringError with a hint.

boto3 is imported on first use only: importing this module, and `vaultline --help`, stay light.
"""

from __future__ import annotations

import importlib
import os
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from vaultline.errors import (
    TRANSIENT_KMS_CODES,
    KeyringError,
    KeyUnavailableError,
    VaultlineError,
    aws_error_code,
)
from vaultline.keys.hooks import Action
from vaultline.keys.principal import admit, normalize_roles
from vaultline.keys.provider import KeyInfo, KeyRef
from vaultline.keys.secret import SecretBytes
from vaultline.storage.locations import endpoint_for_messages

PROVIDER_NAME = "aws-kms"
KMS_ENDPOINT_ENV = "VAULTLINE_KMS_ENDPOINT"
# Test and dev setups (moto, LocalStack) serve every service on one endpoint, so the S3 one is a
# sensible default; production leaves both unset and boto3 picks the regional AWS endpoint.
S3_ENDPOINT_ENV = "VAULTLINE_S3_ENDPOINT"
ALIAS_PREFIX = "alias/vaultline/"
_WRAP_MAGIC = b"VLA1"
_TAG = "vaultline:"
# KMS alias names allow letters, digits, '/', '_' and '-': a KeyRef name minus '.'.
_KMS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# The characters KMS accepts in tag values.
_TAG_TEXT = re.compile(r"^[\w .:/=+\-@]{0,256}$")
_VERSION_ALIAS = re.compile(r"^alias/vaultline/(?P<name>[^/]+)/v(?P<version>[1-9][0-9]*)$")
_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "IncompleteSignature",
    }
)


def kms_endpoint() -> str | None:
    """The KMS endpoint URL from the environment, or None for boto3's default (the AWS region's)."""
    return os.environ.get(KMS_ENDPOINT_ENV) or os.environ.get(S3_ENDPOINT_ENV) or None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _api_name(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_"))


@dataclass(frozen=True)
class _Current:
    """The key `alias/vaultline/NAME` points at, with the metadata from its tags."""

    key_id: str
    version: int
    purpose: str
    created: str
    roles: tuple[str, ...]


class AwsKmsProvider:
    """A KeyProvider whose master keys live in AWS KMS (or a KMS-compatible endpoint such as moto)."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        max_attempts: int = 3,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
    ) -> None:
        self.endpoint_url = endpoint_url or kms_endpoint()
        # boto3 reads AWS_DEFAULT_REGION only; AWS_REGION is what the other AWS SDKs and Lambda set
        self.region = region or os.environ.get("AWS_REGION") or None
        self._max_attempts = max_attempts
        self._timeouts = (connect_timeout, read_timeout)
        self._kms: Any = None
        self._botocore_errors: Any = None

    def __repr__(self) -> str:
        return f"AwsKmsProvider(endpoint={self._where})"

    @property
    def _where(self) -> str:
        endpoint = (
            endpoint_for_messages(self.endpoint_url) if self.endpoint_url else "the default AWS KMS endpoint"
        )
        region = self.region or os.environ.get("AWS_DEFAULT_REGION")  # boto3's own fallback
        return f"{endpoint}, region {region}" if region else endpoint

    # -- talking to KMS ------------------------------------------------------------------------------
    def _client(self) -> Any:
        if self._kms is None:
            # Imported here, not at module import: keeps boto3 out of `vaultline --help` and of every
            # run that uses the local keyring. importlib also sidesteps boto3's missing type stubs.
            try:
                boto3 = importlib.import_module("boto3")
            except ImportError:
                raise KeyringError(
                    "the aws-kms key provider needs boto3, which is not installed",
                    hint="install it into Vaultline's environment: pip install 'boto3>=1.35'",
                ) from None
            config_module = importlib.import_module("botocore.config")
            self._botocore_errors = importlib.import_module("botocore.exceptions")
            config = config_module.Config(
                connect_timeout=self._timeouts[0],
                read_timeout=self._timeouts[1],
                retries={"max_attempts": self._max_attempts, "mode": "standard"},
            )
            try:
                self._kms = boto3.session.Session().client(
                    "kms", endpoint_url=self.endpoint_url, region_name=self.region, config=config
                )
            except Exception as exc:
                raise self._translate(exc, "create_client", key=None) from None
        return self._kms

    def _call(
        self,
        method: str,
        *,
        key: str | None,
        missing: Callable[[], VaultlineError] | None = None,
        **params: Any,
    ) -> Any:
        """One KMS API call; any failure becomes a VaultlineError (`missing()` for NotFoundException,
        built only then because naming the known keys or versions costs more KMS calls)."""
        client = self._client()
        try:
            return getattr(client, method)(**params)
        except Exception as exc:
            if missing is not None and aws_error_code(exc) == "NotFoundException":
                raise missing() from None
            raise self._translate(exc, method, key=key) from None

    def _translate(self, exc: Exception, method: str, *, key: str | None) -> VaultlineError:
        if isinstance(exc, VaultlineError):  # already says what went wrong (no region, from the client)
            return exc
        errors = self._botocore_errors
        api = _api_name(method)
        about = f" for key '{key}'" if key else ""
        code = aws_error_code(exc)
        if code is not None:
            detail = _error_message(exc)
            suffix = f": {detail}" if detail else ""
            status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if code in TRANSIENT_KMS_CODES or status >= 500:  # a 5xx from KMS or a proxy before it
                return KeyUnavailableError(
                    f"AWS KMS could not serve {api}{about} right now ({code}){suffix}",
                    hint="retry later; nothing was wrapped, unwrapped or derived (fail closed)",
                    where=self._where,
                )
            if code == "AccessDeniedException" or code in _CREDENTIAL_CODES:
                return KeyringError(
                    f"AWS KMS denied {api}{about} ({code}){suffix}",
                    hint=f"grant the caller kms:{api} on the keys aliased {ALIAS_PREFIX}* (IAM policy or "
                    "key policy), and check the AWS credentials in use",
                    where=self._where,
                )
            if code in {"DisabledException", "KMSInvalidStateException"}:
                return KeyringError(
                    f"the KMS key{about} is disabled or pending deletion ({code})",
                    hint="enable the key (or cancel its scheduled deletion) in AWS KMS",
                    where=self._where,
                )
            if code == "NotFoundException":
                return KeyringError(
                    f"AWS KMS has no key{about}{suffix}",
                    hint="list keys with: vaultline keys list --provider aws-kms",
                    where=self._where,
                )
            return KeyringError(f"AWS KMS refused {api}{about} ({code}){suffix}", where=self._where)
        if errors is not None and isinstance(exc, (errors.ConnectionError, errors.HTTPClientError)):
            return KeyUnavailableError(
                f"AWS KMS is unreachable ({type(exc).__name__}) during {api}{about}",
                hint=f"check the network and the endpoint ({KMS_ENDPOINT_ENV} / AWS region), then retry; "
                "nothing was wrapped, unwrapped or derived (fail closed)",
                where=self._where,
            )
        if errors is not None and isinstance(
            exc, (errors.NoCredentialsError, errors.PartialCredentialsError)
        ):
            return KeyringError(
                "no usable AWS credentials for KMS",
                hint="configure credentials the usual AWS way (AWS_PROFILE, AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, or an instance role)",
                where=self._where,
            )
        if errors is not None and isinstance(exc, errors.NoRegionError):
            return KeyringError(
                "no AWS region is configured for KMS",
                hint="set AWS_REGION (or AWS_DEFAULT_REGION) to the region holding the Vaultline keys",
                where=self._where,
            )
        return KeyringError(f"AWS KMS {api}{about} failed ({type(exc).__name__})", where=self._where)

    # -- names, aliases and metadata --------------------------------------------------------------------
    @staticmethod
    def _checked(name: str) -> str:
        KeyRef.plain_name(name)
        if not _KMS_NAME.match(name):
            raise KeyringError(
                f"key name '{name}' cannot be used with AWS KMS: alias names allow only letters, digits, "
                "'_' and '-'",
                hint="choose a name without '.', e.g. 'customer_key'",
            )
        return name

    @staticmethod
    def _alias(name: str, version: int | None = None, *, mac: bool = False) -> str:
        alias = f"{ALIAS_PREFIX}{name}"
        if version is not None:
            alias += f"/v{version}"
        return f"{alias}/mac" if mac else alias

    def _unknown(self, name: str) -> KeyringError:
        try:
            known = ", ".join(sorted(self._versions_by_name())) or "none yet"
        except VaultlineError:
            known = "unknown"
        return KeyringError(
            f"no key named '{name}' in AWS KMS (alias {self._alias(name)} not found; known: {known})",
            hint=f"check the region first (keys live in one region); if it is right, create it with: "
            f"vaultline keys create {name} --provider aws-kms",
            where=self._where,
        )

    def _no_version(self, name: str, version: int) -> KeyringError:
        current = self._current(name)
        versions = self._info(name, current, self._versions_by_name().get(name, [])).versions
        return KeyringError(
            f"key '{name}' has no version {version} in AWS KMS (versions: {', '.join(map(str, versions))})",
            hint=f"reference an existing version, e.g. '{name}@{current.version}'",
            where=self._where,
        )

    def _current(self, name: str) -> _Current:
        current = self._lookup(name)
        if current is None:
            raise self._unknown(name)
        return current

    def _lookup(self, name: str) -> _Current | None:
        """The current version's key and metadata, or None when `alias/vaultline/NAME` does not exist."""
        try:
            described = self._client().describe_key(KeyId=self._alias(name))
        except Exception as exc:
            if aws_error_code(exc) == "NotFoundException":
                return None
            raise self._translate(exc, "describe_key", key=name) from None
        key_id = str(described["KeyMetadata"]["KeyId"])
        listing = self._call("list_resource_tags", key=name, KeyId=key_id)
        tags = {str(t["TagKey"]): str(t["TagValue"]) for t in listing.get("Tags", [])}
        if tags.get(f"{_TAG}name") != name or not tags.get(f"{_TAG}version", "").isdigit():
            raise KeyringError(
                f"alias {self._alias(name)} points at a KMS key Vaultline did not create (missing tags)",
                hint="point the alias back at the key Vaultline created, or use another key name",
                where=self._where,
            )
        return _Current(
            key_id=key_id,
            version=int(tags[f"{_TAG}version"]),
            purpose=tags.get(f"{_TAG}purpose", ""),
            created=tags.get(f"{_TAG}created", ""),
            roles=tuple(tags.get(f"{_TAG}roles", "").split()),
        )

    def _versions_by_name(self) -> dict[str, list[int]]:
        """Every Vaultline key name in the account with its versions, from the aliases. A name whose
        `/vN` aliases exist without `alias/vaultline/NAME` is an interrupted create: not a key."""
        heads: set[str] = set()
        found: dict[str, list[int]] = {}
        client = self._client()
        try:
            for page in client.get_paginator("list_aliases").paginate():
                for alias in page.get("Aliases", []):
                    alias_name = str(alias.get("AliasName", ""))
                    if not alias_name.startswith(ALIAS_PREFIX):
                        continue
                    rest = alias_name[len(ALIAS_PREFIX) :]
                    if "/" not in rest:
                        heads.add(rest)
                    elif match := _VERSION_ALIAS.match(alias_name):
                        found.setdefault(match["name"], []).append(int(match["version"]))
        except Exception as exc:
            raise self._translate(exc, "list_aliases", key=None) from None
        return {name: sorted(found.get(name, [])) for name in heads}

    def _info(self, name: str, current: _Current, versions: Sequence[int]) -> KeyInfo:
        return KeyInfo(
            name=name,
            current_version=current.version,
            # A version above the current one is an interrupted rotation's leftover: not a version.
            versions=tuple(sorted({*(v for v in versions if v <= current.version), current.version})),
            created=current.created,
            purpose=current.purpose,
            roles=current.roles,
        )

    def _resolve(self, ref: KeyRef, action: Action, context: str | None = None) -> tuple[_Current, int]:
        """Current metadata and the version `ref` selects, after the roles check and the hooks."""
        current = self._current(self._checked(ref.name))
        version = current.version if ref.version is None else ref.version
        if version > current.version:
            raise self._no_version(ref.name, version)
        admit(
            provider=PROVIDER_NAME,
            action=action,
            key=ref.name,
            version=version,
            key_roles=current.roles,
            context=context,
        )
        return current, version

    # -- master keys -----------------------------------------------------------------------------------
    def _set_alias(self, alias: str, key_id: str, *, key: str) -> None:
        """Point `alias` at `key_id`, creating it or (after an interrupted rotation) moving it."""
        try:
            self._client().create_alias(AliasName=alias, TargetKeyId=key_id)
        except Exception as exc:
            if aws_error_code(exc) != "AlreadyExistsException":
                raise self._translate(exc, "create_alias", key=key) from None
            self._call("update_alias", key=key, AliasName=alias, TargetKeyId=key_id)

    def _new_version(
        self, name: str, version: int, *, purpose: str, created: str, roles: Sequence[str]
    ) -> str:
        """Version `version`'s wrapping and HMAC keys with their `/vN` aliases; returns the wrapping key."""
        tags = {"name": name, "version": str(version), "purpose": purpose, "created": created}
        if roles:
            tags["roles"] = " ".join(roles)
        kms_tags = [{"TagKey": f"{_TAG}{k}", "TagValue": v} for k, v in tags.items()]
        wrapping = self._call(
            "create_key",
            key=name,
            Description=f"Vaultline key {name} v{version}: wraps data keys",
            KeySpec="SYMMETRIC_DEFAULT",
            KeyUsage="ENCRYPT_DECRYPT",
            Tags=[*kms_tags, {"TagKey": f"{_TAG}usage", "TagValue": "wrap"}],
        )["KeyMetadata"]["KeyId"]
        hmac_key = self._call(
            "create_key",
            key=name,
            Description=f"Vaultline key {name} v{version}: derives token keys",
            KeySpec="HMAC_256",
            KeyUsage="GENERATE_VERIFY_MAC",
            Tags=[*kms_tags[:2], {"TagKey": f"{_TAG}usage", "TagValue": "derive"}],
        )["KeyMetadata"]["KeyId"]
        self._set_alias(self._alias(name, version, mac=True), str(hmac_key), key=name)
        self._set_alias(self._alias(name, version), str(wrapping), key=name)
        return str(wrapping)

    def create(self, name: str, *, purpose: str = "general", roles: Sequence[str] = ()) -> KeyInfo:
        self._checked(name)
        chosen_roles = normalize_roles(roles, where=f"key '{name}'")
        if not _TAG_TEXT.match(purpose):
            raise KeyringError(
                f"purpose '{purpose[:64]}' cannot be stored as a KMS tag",
                hint="use letters, digits, spaces and _ . : / = + - @ (up to 256 characters)",
            )
        exists = KeyringError(
            f"a key named '{name}' already exists in AWS KMS",
            hint=f"rotate it: vaultline keys rotate {name} --provider aws-kms",
            where=self._where,
        )
        if self._lookup(name) is not None:
            raise exists
        admit(provider=PROVIDER_NAME, action="create", key=name, version=1)
        created = _now()
        wrapping = self._new_version(name, 1, purpose=purpose, created=created, roles=chosen_roles)
        try:
            self._client().create_alias(AliasName=self._alias(name), TargetKeyId=wrapping)
        except Exception as exc:
            # Someone created the same name concurrently; their key stands, ours stays unaliased.
            if aws_error_code(exc) == "AlreadyExistsException":
                raise exists from None
            raise self._translate(exc, "create_alias", key=name) from None
        current = _Current(wrapping, 1, purpose, created, chosen_roles)
        return self._info(name, current, [1])

    def rotate(self, name: str) -> KeyInfo:
        current = self._current(self._checked(name))
        version = current.version + 1
        admit(provider=PROVIDER_NAME, action="rotate", key=name, version=version)
        wrapping = self._new_version(
            name, version, purpose=current.purpose, created=current.created, roles=current.roles
        )
        # The commit point: from here new wraps and derives use `version`.
        self._call("update_alias", key=name, AliasName=self._alias(name), TargetKeyId=wrapping)
        return self.info(name)

    def set_roles(self, name: str, roles: Sequence[str]) -> KeyInfo:
        """Replace the roles tag on the current version (rotation copies it to the next one)."""
        chosen_roles = normalize_roles(roles, where=f"key '{name}'")
        current, _ = self._resolve(KeyRef(name), "set_roles")
        if chosen_roles:
            tag = {"TagKey": f"{_TAG}roles", "TagValue": " ".join(chosen_roles)}
            self._call("tag_resource", key=name, KeyId=current.key_id, Tags=[tag])
        else:
            self._call("untag_resource", key=name, KeyId=current.key_id, TagKeys=[f"{_TAG}roles"])
        return self.info(name)

    def list(self) -> list[KeyInfo]:
        by_name = self._versions_by_name()
        return [self._info(name, self._current(name), by_name[name]) for name in sorted(by_name)]

    def info(self, name: str) -> KeyInfo:
        current = self._current(self._checked(name))
        return self._info(name, current, self._versions_by_name().get(name, []))

    # -- derived and data keys ------------------------------------------------------------------------
    def derive(self, ref: KeyRef, *, context: str) -> tuple[SecretBytes, int]:
        _, version = self._resolve(ref, "derive", context)
        info = f"vaultline/v1/{context}".encode()
        mac = self._call(
            "generate_mac",
            key=ref.name,
            missing=lambda: self._no_version(ref.name, version),
            KeyId=self._alias(ref.name, version, mac=True),
            Message=info,
            MacAlgorithm="HMAC_SHA_256",
        )["Mac"]
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
        return SecretBytes(hkdf.derive(bytes(mac)), f"{ref.name}@{version}:{context}"), version

    def _wrapping_key(self, current: _Current, ref: KeyRef, version: int) -> str:
        # The current key by id, not by alias: a rotation between our read and the call must not
        # make the blob's header claim a version other than the key that wrapped it.
        return current.key_id if version == current.version else self._alias(ref.name, version)

    def generate_data_key(self, ref: KeyRef) -> tuple[SecretBytes, bytes]:
        current, version = self._resolve(ref, "generate_data_key")
        made = self._call(
            "generate_data_key",
            key=ref.name,
            missing=lambda: self._no_version(ref.name, version),
            KeyId=self._wrapping_key(current, ref, version),
            KeySpec="AES_256",
            EncryptionContext=_context(ref.name, version),
        )
        wrapped = _WRAP_MAGIC + struct.pack(">I", version) + bytes(made["CiphertextBlob"])
        return SecretBytes(bytes(made["Plaintext"]), f"data-key:{ref.name}"), wrapped

    def wrap_key(self, ref: KeyRef, key: bytes) -> bytes:
        """`key` encrypted by KMS under version N of `ref`: `VLA1`, N (4 bytes), the CiphertextBlob."""
        current, version = self._resolve(ref, "wrap_key")
        blob = self._call(
            "encrypt",
            key=ref.name,
            missing=lambda: self._no_version(ref.name, version),
            KeyId=self._wrapping_key(current, ref, version),
            Plaintext=key,
            EncryptionContext=_context(ref.name, version),
        )["CiphertextBlob"]
        return _WRAP_MAGIC + struct.pack(">I", version) + bytes(blob)

    def unwrap_data_key(self, name: str, wrapped: bytes) -> SecretBytes:
        if len(wrapped) < 9 or wrapped[:4] != _WRAP_MAGIC or wrapped[4:8] == bytes(4):
            raise KeyringError(
                f"the wrapped data key for '{name}' is not in Vaultline's AWS KMS format",
                hint="unwrap it with the provider that wrapped it (local keyring blobs start with VLK1)",
            )
        (version,) = struct.unpack(">I", wrapped[4:8])
        self._resolve(KeyRef(name, version), "unwrap_data_key")
        try:
            plain = self._client().decrypt(
                CiphertextBlob=wrapped[8:],
                EncryptionContext=_context(name, version),
                KeyId=self._alias(name, version),
            )["Plaintext"]
        except Exception as exc:
            code = aws_error_code(exc)
            if code == "NotFoundException":
                raise self._no_version(name, version) from None
            # moto answers a KeyId mismatch with AccessDenied, AWS with IncorrectKeyException.
            if code in {"InvalidCiphertextException", "IncorrectKeyException", "AccessDeniedException"}:
                raise KeyringError(
                    f"the wrapped data key does not belong to key '{name}@{version}' or was altered ({code})",
                    hint="unwrap it with the key name it was wrapped for; if that is right, check the "
                    "caller may kms:Decrypt with that key",
                    where=self._where,
                ) from None
            raise self._translate(exc, "decrypt", key=name) from None
        return SecretBytes(bytes(plain), f"data-key:{name}@{version}")


def _context(name: str, version: int) -> dict[str, str]:
    """The EncryptionContext: binds every wrapped blob to its Vaultline key name and version."""
    return {f"{_TAG}key": name, f"{_TAG}version": str(version)}


def _error_message(exc: Exception) -> str:
    """AWS's own message (ARNs and the operation, never key material), shortened for one line."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message") or "")[:300]
    return ""
