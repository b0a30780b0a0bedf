"""Whole-file encryption for artifacts that are not Parquet: landing copies of raw CSV, exported reports.

The format is the AWS Encryption SDK message format, so the AWS Encryption CLI (or any ESDK) can read
what Vaultline writes: framed (64 KiB frames, streamed both ways, never a whole-file read), the
committing, signing suite AES-256-GCM + HKDF-SHA512 + key commitment + ECDSA P-384, commitment policy
REQUIRE_ENCRYPT_REQUIRE_DECRYPT, and an encryption context (dataset, run id, purpose...) that is
authenticated with the data and checked on decrypt.

The data key is wrapped by one of:
- `KeyringKey`: a raw AES-256-GCM wrapping key derived from a Vaultline key provider (the local
  keyring or any other: `derive(KeyRef, context="artifact")`); the message records `vaultline` /
  `<name>@<version>`, so rotating the key never strands old artifacts.
- `KmsKey`: an AWS KMS key (ARN, key id or alias), called through a boto3 client whose endpoint is
  `VAULTLINE_KMS_ENDPOINT`, else `VAULTLINE_S3_ENDPOINT` (moto and LocalStack serve every service on
  one endpoint), else botocore's usual resolution — the same order as the aws-kms key provider.

Writes go to a temp file, are fsynced and renamed (S3: uploaded in one PUT once complete), so a
failure — a tampered frame found half-way, a bad signature at the end — never leaves a partial
plaintext or ciphertext behind. Errors name the file and never carry key material or data.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from vaultline.errors import (
    S3_UNREACHABLE_HINT,
    TRANSIENT_KMS_CODES,
    KeyringError,
    KeyUnavailableError,
    OutputError,
    OutputUnavailableError,
    SourceError,
    TerminalError,
    VaultlineError,
    aws_error_code,
    is_transient,
)
from vaultline.keys.aws_kms import KMS_ENDPOINT_ENV, kms_endpoint
from vaultline.keys.provider import KeyProvider, KeyRef
from vaultline.keys.secret import SecretBytes
from vaultline.storage.locations import filesystem, is_remote

FRAME_LENGTH = 65536
KEY_NAMESPACE = "vaultline"  # the raw keyring's provider id, recorded in every wrapped data key
DERIVE_CONTEXT = "artifact"  # the keyring derives the wrapping key for this purpose only
_CHUNK = 1 << 20  # bytes asked of the SDK stream per read: many frames, bounded memory
_MAX_DATA_KEYS = 4  # Vaultline writes one wrapped key; refusing floods of them is a cheap DoS guard
_RESERVED_PREFIX = "aws-crypto-"  # context keys the SDK reserves for itself
_SDK_LOGGER = "aws_encryption_sdk"
_KMS_DISABLED = frozenset({"DisabledException", "KMSInvalidStateException"})
_KMS_DENIED = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
    }
)
# KMS's answers that the data key is not this key's, or was altered: the artifact's problem, not KMS's.
_KMS_NOT_THIS_KEY = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class ArtifactError(TerminalError):
    """An encrypted artifact cannot be decrypted as asked: altered, wrong key or wrong context."""


@dataclass(frozen=True)
class KeyringKey:
    """Wrap with a key derived from a Vaultline key provider (`name`, or a pinned `name@2`)."""

    provider: KeyProvider = field(repr=False)
    key: str


@dataclass(frozen=True)
class KmsKey:
    """Wrap with an AWS KMS key: ARN, key id or `alias/...` (resolved to the key ARN before use)."""

    key_id: str
    region: str | None = None


KeyringSpec = KeyringKey | KmsKey


@dataclass(frozen=True)
class ArtifactInfo:
    """What was written: value-free facts for reports and logs."""

    location: str
    key: str
    context: dict[str, str]
    plaintext_bytes: int
    frame_length: int


def parse_keyring(text: str, provider: KeyProvider) -> KeyringSpec:
    """`kms:<arn|key id|alias/...>`, or a Vaultline key name (`name`, `name@2`, `keyring:name`)."""
    if text.startswith("kms:"):
        return KmsKey(_checked_kms_key_id(text.removeprefix("kms:")))
    name = text.removeprefix("keyring:")
    KeyRef.parse(name)  # fail early, with the keyring's own message, on a malformed name
    return KeyringKey(provider, name)


# -- public API ------------------------------------------------------------------------------------------
def encrypt_file(
    src: str | Path, dst: str | Path, keyring_spec: KeyringSpec, *, context: Mapping[str, str]
) -> ArtifactInfo:
    """Encrypt `src` into `dst` (local path or s3://) under `keyring_spec`, binding `context` to it."""
    from aws_encryption_sdk.identifiers import Algorithm

    expected = _checked_context(context, where=str(dst))
    key_provider, label = _encrypt_provider(keyring_spec)
    # Errors name `dst`, the artifact being made: `src` may be a caller's temp file (`runs export`).
    with _open_source(src) as source, private_output(dst) as out:
        encryptor = _client().stream(
            mode="e",
            source=source,
            key_provider=key_provider,
            encryption_context=expected,
            frame_length=FRAME_LENGTH,
            algorithm=Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
        )
        with _sdk_errors(str(dst), label, encrypting=True, key_provider=key_provider):
            while chunk := encryptor.read(_CHUNK):
                out.write(chunk)
            encryptor.close()
        plaintext_bytes = source.tell()  # the SDK read the source to its end
    return ArtifactInfo(str(dst), label, expected, plaintext_bytes, FRAME_LENGTH)


def decrypt_file(
    src: str | Path, dst: str | Path, keyring_spec: KeyringSpec, *, context: Mapping[str, str]
) -> ArtifactInfo:
    """Decrypt `src` into `dst`; refuse (before writing a byte) unless the artifact carries `context`.

    `context` is what the caller expects: every pair must be in the artifact's encryption context.
    """
    from aws_encryption_sdk.identifiers import ContentType

    expected = _checked_context(context, where=str(src))
    key_provider, label = _decrypt_provider(keyring_spec)
    with _open_source(src) as source:
        decryptor = _client().stream(mode="d", source=source, key_provider=key_provider)
        with _sdk_errors(str(src), label, encrypting=False, key_provider=key_provider):
            header = decryptor.header  # reads the header and unwraps the data key: no plaintext yet
        if header.content_type != ContentType.FRAMED_DATA:
            # An unframed body can only be checked after reading it whole: not streamed, so refused.
            raise ArtifactError(
                f"{src} is an unframed Encryption SDK message, which Vaultline does not read",
                hint="re-encrypt it with a frame length (vaultline writes 64 KiB frames)",
            )
        found = {
            k: str(v) for k, v in header.encryption_context.items() if not k.startswith(_RESERVED_PREFIX)
        }
        _match_context(found, expected, where=str(src))
        written = 0
        with (
            private_output(dst) as out,
            _sdk_errors(str(src), label, encrypting=False, key_provider=key_provider),
        ):
            while chunk := decryptor.read(_CHUNK):
                out.write(chunk)
                written += len(chunk)
            decryptor.close()  # verifies the footer signature; the temp file is discarded if it fails
    return ArtifactInfo(str(dst), label, found, written, int(header.frame_length))


# -- keys ------------------------------------------------------------------------------------------------
def _client() -> Any:
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy

    _quiet_sdk_logging()
    return aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT,
        max_encrypted_data_keys=_MAX_DATA_KEYS,
    )


def _encrypt_provider(spec: KeyringSpec) -> tuple[Any, str]:
    if isinstance(spec, KmsKey):
        return _kms_master_key(spec)
    ref = KeyRef.parse(spec.key)
    secret, version = spec.provider.derive(ref, context=DERIVE_CONTEXT)
    key_id = f"{ref.name}@{version}"
    return _raw_provider({key_id: secret}), key_id


def _decrypt_provider(spec: KeyringSpec) -> tuple[Any, str]:
    if isinstance(spec, KmsKey):
        return _kms_master_key(spec)
    ref = KeyRef.parse(spec.key)
    # The artifact may predate a rotation: offer every version unless the reference pins one.
    versions = [ref.version] if ref.version else list(spec.provider.info(ref.name).versions)
    keys = {
        f"{ref.name}@{v}": spec.provider.derive(KeyRef(ref.name, v), context=DERIVE_CONTEXT)[0]
        for v in versions
    }
    return _raw_provider(keys), str(ref)


def _raw_provider(keys: dict[str, SecretBytes]) -> Any:
    """An ESDK raw AES-256-GCM master key provider over keyring-derived keys (`name@version` ids)."""
    from aws_encryption_sdk.identifiers import (
        EncryptionKeyType,
        WrappingAlgorithm,
    )
    from aws_encryption_sdk.internal.crypto.wrapping_keys import WrappingKey
    from aws_encryption_sdk.key_providers.raw import RawMasterKeyProvider

    # Defined here so the SDK (and boto3 under it) is imported only when an artifact is handled.
    class _KeyringProvider(RawMasterKeyProvider):  # type: ignore[misc]
        provider_id = KEY_NAMESPACE

        def __init__(self, **_kwargs: Any) -> None:  # the SDK builds its config in __new__
            pass

        def _get_raw_key(self, key_id: bytes) -> Any:
            # The material leaves SecretBytes only here, straight into the SDK's wrapping key.
            return WrappingKey(
                wrapping_algorithm=WrappingAlgorithm.AES_256_GCM_IV12_TAG16_NO_PADDING,
                wrapping_key=keys[key_id.decode()].reveal(),
                wrapping_key_type=EncryptionKeyType.SYMMETRIC,
            )

    provider = _KeyringProvider()
    provider.add_master_keys_from_list([key_id.encode() for key_id in keys])
    return provider


def _checked_kms_key_id(key_id: str) -> str:
    if not key_id.strip():
        raise KeyringError(
            "'kms:' names no AWS KMS key: the key id is missing",
            hint="write the key after 'kms:': an alias (kms:alias/NAME), a key id or a key ARN",
        )
    return key_id


def _kms_master_key(spec: KmsKey) -> tuple[Any, str]:
    """A KMS master key on an explicit boto3 client (the only way to give it an endpoint URL)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoRegionError, ParamValidationError

    key_id = _checked_kms_key_id(spec.key_id)
    region = spec.region or (key_id.split(":")[3] if key_id.startswith("arn:") else None)
    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
    try:
        client = boto3.client("kms", region_name=region, endpoint_url=kms_endpoint(), config=config)
        # Strict decryption matches the key ARN recorded in the message, so aliases are resolved first.
        arn = str(client.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"])
    except NoRegionError:
        raise KeyringError(
            f"no AWS region for KMS key '{key_id}'", hint="set AWS_REGION or give the key's full ARN"
        ) from None
    except ParamValidationError:  # botocore refused to send it: no KMS call was made
        raise KeyringError(
            f"'{key_id[:100]}' is not an AWS KMS key id, key ARN or alias",
            hint="give the key as alias/NAME, a key id or a key ARN",
        ) from None
    except ClientError as exc:
        raise _describe_refused(exc, key_id) from None
    except BotoCoreError as exc:  # retryable only when it is the network (no credentials stays so)
        raise KeyUnavailableError(
            f"AWS KMS cannot be reached for key '{key_id}' ({type(exc).__name__})",
            hint=f"check the network, credentials and {KMS_ENDPOINT_ENV}",
            retryable=is_transient(exc),
        ) from None
    return _recording_kms_master_key(arn, client), arn


def _describe_refused(exc: BaseException, key_id: str) -> VaultlineError:
    code = aws_error_code(exc) or "error"
    if _kms_transient(exc):
        return KeyUnavailableError(
            f"AWS KMS could not serve DescribeKey for key '{key_id}' right now ({code})",
            hint="retry later, unchanged: nothing was read or written",
        )
    return KeyringError(
        f"KMS key '{key_id}' cannot be used ({code})",
        hint="check the key id or alias, its region, and kms:DescribeKey/GenerateDataKey/Decrypt grants",
    )


def _recording_kms_master_key(arn: str, client: Any) -> Any:
    """The SDK's KMS master key, keeping the KMS error behind the SDK's generic one (`kms_error`)."""
    from aws_encryption_sdk.exceptions import DecryptKeyError, GenerateKeyError
    from aws_encryption_sdk.key_providers.kms import KMSMasterKey

    # Defined here so the SDK (and boto3 under it) is imported only when an artifact is handled.
    class _RecordingKmsMasterKey(KMSMasterKey):  # type: ignore[misc]
        # The SDK turns every KMS answer into one exception type and, on decrypt, drops the answer on
        # the way out; its code is what tells throttling from a disabled key or an altered file.
        kms_error: BaseException | None = None

        def _generate_data_key(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super()._generate_data_key(*args, **kwargs)
            except GenerateKeyError as exc:
                self.kms_error = exc.__cause__
                raise

        def _decrypt_data_key(self, *args: Any, **kwargs: Any) -> Any:
            try:
                return super()._decrypt_data_key(*args, **kwargs)
            except DecryptKeyError as exc:
                self.kms_error = exc.__cause__
                raise

    return _RecordingKmsMasterKey(key_id=arn, client=client)


# -- context ---------------------------------------------------------------------------------------------
def _checked_context(context: Mapping[str, str], *, where: str) -> dict[str, str]:
    if not context:
        raise ArtifactError(
            f"{where}: an encryption context is required",
            hint="pass the names the file belongs to, e.g. {'vaultline:run_id': ..., "
            "'vaultline:source': ...} (docs/operations.md lists the contexts Vaultline writes)",
        )
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise ArtifactError(f"{where}: encryption context keys and values must be non-empty strings")
        if key.startswith(_RESERVED_PREFIX):
            raise ArtifactError(f"{where}: encryption context key '{key}' uses the SDK's reserved prefix")
    return dict(context)


def _match_context(found: Mapping[str, str], expected: Mapping[str, str], *, where: str) -> None:
    """Every expected pair must be in the artifact. Errors name the keys only, never the values."""
    missing = sorted(k for k in expected if k not in found)
    differ = sorted(k for k in expected if k in found and found[k] != expected[k])
    if missing or differ:
        parts = [f"missing {', '.join(missing)}"] if missing else []
        parts += [f"different {', '.join(differ)}"] if differ else []
        raise ArtifactError(
            f"{where}: the encryption context does not match ({'; '.join(parts)})",
            hint="decrypt with the dataset / run id / purpose the artifact was written for",
        )


# -- I/O -------------------------------------------------------------------------------------------------
@contextmanager
def _open_source(src: str | Path) -> Iterator[IO[bytes]]:
    location = str(src)
    try:
        handle: IO[bytes] = filesystem(location).open(location, "rb")
    except FileNotFoundError:
        raise SourceError(f"{location} does not exist", hint="check the path or the bucket/key") from None
    except PermissionError:
        raise SourceError(
            f"{location} cannot be read", hint="check the file's or bucket's permissions"
        ) from None
    except OSError as exc:  # a directory, a dropped connection...
        raise SourceError(f"{location} cannot be read ({exc.strerror or type(exc).__name__})") from None
    with handle:
        yield handle


def _make_private_directories(directory: Path) -> None:
    """Create `directory` and each missing parent 0700 (mkdir's `parents` leaves those to the umask):
    they will hold private files only, and their names (a landing copy's) are no one else's to list."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for created in reversed(missing):
        created.mkdir(mode=0o700, exist_ok=True)


def check_output_path(location: str) -> None:
    """Refuse, before any work, a path `private_output` must not write: one that names a directory
    (`out/`) or exists as something other than a regular file."""
    if is_remote(location):
        return
    if location.endswith(("/", os.sep)) or (os.path.lexists(location) and not Path(location).is_file()):
        # the rename that makes the file whole would replace what is there: /dev/null itself, say
        raise OutputError(
            f"{location} names a directory, a device or a pipe, not a file",
            hint="give the path of a file to write (it is replaced only once it is complete)",
        )


@contextmanager
def private_output(dst: str | Path) -> Iterator[IO[bytes]]:
    """A private temp file beside `dst` (S3: in the temp dir) that becomes `dst` only on success."""
    location = str(dst)
    check_output_path(location)
    local = Path(tempfile.gettempdir()) if is_remote(location) else Path(location).absolute().parent
    try:
        _make_private_directories(local)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{Path(location).name}.", suffix=".tmp", dir=local)
    except OSError as exc:
        raise OutputError(
            f"{location} cannot be written ({exc.strerror})", hint="check the directory"
        ) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:  # mkstemp: mode 0600, only this user can read it
            yield out
            try:
                out.flush()
                os.fsync(out.fileno())
            except OSError as exc:
                raise OutputError(f"{location} cannot be written ({exc.strerror})") from None
        _commit(tmp, location)
    finally:
        tmp.unlink(missing_ok=True)


def _commit(tmp: Path, location: str) -> None:
    try:
        if is_remote(location):
            filesystem(location).put_file(str(tmp), location)  # one PUT of the complete file
        else:
            os.replace(tmp, location)
            _fsync_dir(Path(location).absolute().parent)
    except OSError as exc:
        raise OutputError(
            f"{location} cannot be written ({exc.strerror or type(exc).__name__})",
            hint="check the directory or bucket exists and that this user may write to it",
        ) from None


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (best effort: some filesystems refuse fsync on directories)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _sdk_errors(where: str, key: str, *, encrypting: bool, key_provider: Any = None) -> Iterator[None]:
    """SDK, crypto and KMS failures as one-line Vaultline errors naming the file (never a traceback)."""
    from aws_encryption_sdk.exceptions import (
        AWSEncryptionSDKClientError,
        DecryptKeyError,
        GenerateKeyError,
        MasterKeyProviderError,
    )
    from botocore.exceptions import BotoCoreError
    from cryptography.exceptions import InvalidSignature, InvalidTag

    try:
        yield
    except BotoCoreError as exc:
        raise KeyUnavailableError(
            f"{where}: AWS KMS could not be reached for key {key} ({type(exc).__name__})",
            hint=f"check the network, credentials and {KMS_ENDPOINT_ENV}",
            retryable=is_transient(exc),
        ) from None
    except OSError as exc:  # reading the source or writing the temp file (disk full, S3 read dropped)
        if is_transient(exc):
            raise OutputUnavailableError(
                f"{where}: a location could not be reached ({type(exc).__name__})",
                hint=S3_UNREACHABLE_HINT,
            ) from None
        raise OutputError(f"{where}: I/O failed ({exc.strerror or type(exc).__name__})") from None
    except (GenerateKeyError, MasterKeyProviderError, DecryptKeyError) as exc:
        kms_error = getattr(key_provider, "kms_error", None) or exc.__cause__
        raise _data_key_failure(exc, where, key, encrypting=encrypting, kms_error=kms_error) from None
    except (AWSEncryptionSDKClientError, InvalidTag, InvalidSignature, ValueError, EOFError) as exc:
        if encrypting and not isinstance(exc, (InvalidTag, InvalidSignature)):
            raise OutputError(f"{where}: encryption failed ({type(exc).__name__})") from None
        raise _integrity(where) from None


def _data_key_failure(
    exc: BaseException, where: str, key: str, *, encrypting: bool, kms_error: BaseException | None
) -> VaultlineError:
    """The data key could not be made or unwrapped: KMS's answer, when there was one, says why."""
    from aws_encryption_sdk.exceptions import DecryptKeyError

    answered = _kms_answer(kms_error, where, key, encrypting=encrypting) if kms_error else None
    if answered is not None:
        return answered
    if isinstance(exc, DecryptKeyError):
        return ArtifactError(
            f"{where}: key {key} cannot decrypt this artifact's data key",
            hint="use the key it was encrypted under; if that is the key, the file was altered",
        )
    if encrypting:
        return KeyringError(
            f"{where}: key {key} could not produce a data key ({type(exc).__name__})",
            hint="check the key exists, is enabled and that the credentials may use it",
        )
    return _integrity(where)


def _kms_answer(error: BaseException, where: str, key: str, *, encrypting: bool) -> VaultlineError | None:
    """A KMS error answer to GenerateDataKey or Decrypt; None when it says the data key is not this
    key's or was altered (the caller words that one), or when it is no KMS answer at all."""
    code = aws_error_code(error)
    if code is None or code in _KMS_NOT_THIS_KEY:
        return None
    api = "GenerateDataKey" if encrypting else "Decrypt"
    if _kms_transient(error):
        return KeyUnavailableError(
            f"{where}: AWS KMS could not serve {api} for key {key} right now ({code})",
            hint="retry later, unchanged: nothing was written (KMS throttled the call or failed on its side)",
        )
    if code in _KMS_DISABLED:
        return KeyringError(
            f"{where}: KMS key {key} is disabled or pending deletion ({code})",
            hint="enable the key (or cancel its scheduled deletion) in AWS KMS",
        )
    if code in _KMS_DENIED:
        return KeyringError(
            f"{where}: AWS KMS denied {api} with key {key} ({code})",
            hint=f"grant the caller kms:{api} on the key (IAM or key policy), and check the AWS credentials",
        )
    return KeyringError(
        f"{where}: AWS KMS refused {api} with key {key} ({code})",
        hint="check the key id or alias, its region and its state in AWS KMS",
    )


def _kms_transient(error: BaseException) -> bool:
    """KMS asked to slow down or failed on its side (any 5xx, a proxy's 502 too): not a refusal."""
    if aws_error_code(error) in TRANSIENT_KMS_CODES:
        return True
    response = getattr(error, "response", None)
    metadata = response.get("ResponseMetadata", {}) if isinstance(response, dict) else {}
    status = metadata.get("HTTPStatusCode")
    return isinstance(status, int) and status >= 500


class _QuietSdkLog(logging.Filter):
    """The SDK logs each KMS failure with `logger.exception`: with no logging configured, Python prints
    that as a botocore traceback on stderr, next to the one-line error Vaultline raises for it. Kept
    for whoever turns on debug logging, as a DEBUG line without the traceback or the arguments (the
    encryption context, say), so value-free: the message template only."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info, record.args = None, None, None, None
        if record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


_QUIET = _QuietSdkLog()


def _quiet_sdk_logging() -> None:
    # A logger's filters see only its own records, not its children's: each SDK module's logger gets it.
    for name in list(logging.root.manager.loggerDict):
        if name == _SDK_LOGGER or name.startswith(f"{_SDK_LOGGER}."):
            logger = logging.getLogger(name)
            if _QUIET not in logger.filters:
                logger.addFilter(_QUIET)


def _integrity(where: str) -> ArtifactError:
    return ArtifactError(
        f"{where} failed its integrity check: it was altered or truncated, or is not an encrypted artifact",
        hint="restore it from the original; nothing was written",
    )
