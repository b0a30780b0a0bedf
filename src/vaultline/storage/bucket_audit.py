"""Value-free checks of where a pipeline's data sits: S3 bucket settings and local directory modes.

Every check reads configuration only (never an object or a file's content) and becomes a `Check`
with `pass`, `warn` or `fail`, a detail and, unless it passed, the exact fix. Failing to reach a bucket
(no such bucket, access denied, endpoint down, no credentials) is a `fail` check too: `vaultline
doctor` must report, not crash. boto3 is imported inside the functions so `vaultline --help` never
pays for it.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from vaultline.errors import TerminalError, aws_error_code
from vaultline.storage.locations import endpoint_for_messages, is_remote, s3_endpoint

Status = Literal["pass", "warn", "fail"]
Finding = tuple[Status, str, str]  # status, detail, fix ("" when it passed)

# The four bucket-level switches that together keep a bucket from ever being made public.
PUBLIC_ACCESS_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_GLOB = set("*?[")
UMASK_MODE = 0o777
"""The `create_mode` of a directory nothing of Vaultline creates (a source's): the umask alone decides."""
PRIVATE_MODE = 0o700
"""The `create_mode` of a directory a run makes itself (outputs, quarantine, landing): mode 0700."""
_BUCKET_NAME_FIX = (
    "correct the spec's path or --param: s3://BUCKET/key, BUCKET being 3-63 lowercase letters, digits, "
    "dots and hyphens"
)


@dataclass(frozen=True)
class Check:
    """One finding about one location. `fix` is empty when the check passed."""

    location: str
    name: str
    status: Status
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


# -- what to audit -------------------------------------------------------------------------------------
def bucket_of(location: str) -> str:
    """`s3://bucket/some/key` -> `bucket`."""
    return location.removeprefix("s3://").split("/", 1)[0]


def audit_target(location: str, *, names_files: bool) -> str:
    """What to audit for a location: `s3://bucket` for S3, else a local directory.

    `names_files` is true for sources (a file or a glob: its directory is audited) and false for
    outputs, quarantine and landing directories (the path is the directory itself, taken literally:
    the runner never expands a glob there, so `out/[2024]` is a directory of that name).
    """
    if is_remote(location):
        return f"s3://{bucket_of(location)}"
    path = Path(location).expanduser()
    if not names_files:
        return str(path)
    parts = path.parts
    for index, part in enumerate(parts):
        if _GLOB & set(part):  # a glob: everything it matches sits under its fixed prefix
            return str(Path(*parts[:index]) if index else Path("."))
    return str(path if path.is_dir() else path.parent)


def audit(target: str, *, create_mode: int = UMASK_MODE) -> list[Check]:
    """All checks for one target from `audit_target` (an `s3://bucket` or a local directory).

    `create_mode`: the mode Vaultline passes to mkdir when it creates a missing local directory
    (`PRIVATE_MODE` or `UMASK_MODE`), so that the warning about its future mode is true."""
    if is_remote(target):
        return audit_bucket(bucket_of(target))
    return audit_directory(Path(target), create_mode=create_mode)


# -- S3 --------------------------------------------------------------------------------------------------
def _client() -> Any:
    import boto3
    from botocore.config import Config

    # Short timeouts and few retries: a doctor that hangs on a dead endpoint is no doctor.
    config = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"})
    return boto3.client("s3", endpoint_url=s3_endpoint(), config=config)


def _unreachable(exc: Exception, permission: str, bucket: str) -> Finding:
    """A failure to talk to S3 as a readable finding (never a traceback)."""
    from botocore.exceptions import NoCredentialsError, ParamValidationError

    configured = s3_endpoint()
    endpoint = endpoint_for_messages(configured) if configured else "the AWS S3 endpoint"
    if isinstance(exc, NoCredentialsError):
        return "fail", "no AWS credentials were found", "configure AWS credentials (profile, keys or role)"
    if isinstance(exc, ParamValidationError):  # botocore refused the request before sending it
        return "fail", f"'{bucket}' is not a valid bucket name", _BUCKET_NAME_FIX
    if not hasattr(exc, "response"):  # connection refused, DNS, timeout: botocore raised before a reply
        fix = "check the network and VAULTLINE_S3_ENDPOINT (unset it to use AWS itself)"
        return "fail", f"cannot reach {endpoint} ({type(exc).__name__})", fix
    code = aws_error_code(exc) or type(exc).__name__
    if code in ("404", "NoSuchBucket", "NotFound"):
        fix = "create the bucket, or correct the spec's path / --param"
        return "fail", f"bucket '{bucket}' does not exist at {endpoint}", fix
    if code in ("403", "AccessDenied", "Forbidden", "AllAccessDisabled"):
        fix = f"grant the credentials {permission} on arn:aws:s3:::{bucket}"
        return "fail", f"access denied ({permission})", fix
    return "fail", f"S3 refused {permission} ({code})", "check the bucket name, region and permissions"


def audit_bucket(bucket: str, *, client: Any = None) -> list[Check]:
    """Default encryption, public access block, TLS-only policy and versioning of one bucket."""
    from botocore.exceptions import BotoCoreError, ClientError

    location = f"s3://{bucket}"
    if not bucket:  # `s3:///key`: botocore would refuse it anyway, after building a client
        return [Check(location, "reachable", "fail", "the bucket name is empty", _BUCKET_NAME_FIX)]
    try:
        s3 = client or _client()
        s3.head_bucket(Bucket=bucket)
    except TerminalError as exc:  # the endpoint itself is refused (credentials in its URL)
        return [Check(location, "reachable", "fail", exc.message, exc.hint or "")]
    except (BotoCoreError, ClientError) as exc:
        # Nothing else can be read about a bucket that cannot be reached: one clear failure.
        return [Check(location, "reachable", *_unreachable(exc, "s3:ListBucket", bucket))]
    checks: list[Check] = []
    for name, permission, run in _BUCKET_CHECKS:
        try:
            finding = run(s3, bucket)
        except (BotoCoreError, ClientError) as exc:  # this check only: the others may still be readable
            status, detail, fix = _unreachable(exc, permission, bucket)
            finding = status, f"could not be read: {detail}", fix
        checks.append(Check(location, name, *finding))
    return checks


def _unless_absent(exc: Exception, code: str) -> None:
    """Re-raise `exc` unless it is S3's answer that the setting is not configured (`code`)."""
    if aws_error_code(exc) != code:
        raise exc


def _encryption_fix(bucket: str) -> str:
    default = {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "<customer managed KMS key ARN>"}
    config = {"Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]}
    return (
        f"aws s3api put-bucket-encryption --bucket {bucket} "
        f"--server-side-encryption-configuration '{json.dumps(config, separators=(',', ':'))}'"
    )


def _encryption(s3: Any, bucket: str) -> Finding:
    from botocore.exceptions import ClientError

    try:
        rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        _unless_absent(exc, "ServerSideEncryptionConfigurationNotFoundError")
        detail = "no default encryption: objects written without encryption headers are stored in the clear"
        return "fail", detail, _encryption_fix(bucket)
    default: dict[str, Any] = next(
        (
            r["ApplyServerSideEncryptionByDefault"]
            for r in rules
            if r.get("ApplyServerSideEncryptionByDefault")
        ),
        {},
    )
    algorithm = str(default.get("SSEAlgorithm", ""))
    if algorithm == "AES256":
        detail = (
            "SSE-S3 (AES256, S3-managed keys): encrypted, but regulated data (HIPAA, PCI, GDPR) needs "
            "SSE-KMS with a customer managed key, whose use is access-controlled and logged"
        )
        return "warn", detail, _encryption_fix(bucket)
    if not algorithm.startswith("aws:kms"):
        return "fail", f"unrecognised default encryption '{algorithm or 'none'}'", _encryption_fix(bucket)
    kind = "DSSE-KMS" if algorithm == "aws:kms:dsse" else "SSE-KMS"
    bucket_key = ", S3 Bucket Key on" if any(r.get("BucketKeyEnabled") for r in rules) else ""
    key_id = str(default.get("KMSMasterKeyID") or "")
    if not key_id:
        detail = f"{kind} with the AWS managed key aws/s3{bucket_key}: its key policy cannot be restricted"
        return "warn", detail, _encryption_fix(bucket)
    state = _kms_key_state(key_id, s3)
    if state and state != "Enabled":
        fix = f"enable it (aws kms enable-key --key-id {key_id}) or point the bucket at an enabled key"
        return "fail", f"{kind} with KMS key {key_id}, which is {state}: writes will fail", fix
    return "pass", f"{kind} with KMS key {key_id}{bucket_key}", ""


def _kms_key_state(key_id: str, s3: Any) -> str | None:
    """The KMS key's state (Enabled, Disabled, PendingDeletion...), or None when KMS cannot be asked.

    Best effort: the doctor's credentials may lack kms:DescribeKey, which is no fault of the bucket.
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from vaultline.keys.aws_kms import kms_endpoint

    region = key_id.split(":")[3] if key_id.startswith("arn:") else s3.meta.region_name
    try:
        kms = boto3.client("kms", region_name=region, endpoint_url=kms_endpoint(), config=s3.meta.config)
        return str(kms.describe_key(KeyId=key_id)["KeyMetadata"].get("KeyState") or "") or None
    except (BotoCoreError, ClientError):
        return None


def _public_access_block(s3: Any, bucket: str) -> Finding:
    from botocore.exceptions import ClientError

    try:
        config = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        _unless_absent(exc, "NoSuchPublicAccessBlockConfiguration")
        config = {}
    off = [flag for flag in PUBLIC_ACCESS_FLAGS if not config.get(flag)]
    if not off:
        return "pass", "all four public access block settings are on", ""
    flags = ",".join(f"{flag}=true" for flag in PUBLIC_ACCESS_FLAGS)
    fix = f"aws s3api put-public-access-block --bucket {bucket} --public-access-block-configuration {flags}"
    return "fail", f"public access block settings off: {', '.join(off)}", fix


def _partition(region: str | None) -> str:
    if (region or "").startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if (region or "").startswith("us-gov-") else "aws"


def tls_only_statement(bucket: str, partition: str = "aws") -> dict[str, Any]:
    """The bucket policy statement that refuses every request not made over TLS."""
    arn = f"arn:{partition}:s3:::{bucket}"
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _denies_plain_http(statement: dict[str, Any], bucket: str, partition: str) -> bool:
    """Deny, for everyone, every action on the bucket and its objects when aws:SecureTransport is false,
    and on no other condition."""
    if statement.get("Effect") != "Deny" or {"NotAction", "NotResource", "NotPrincipal"} & set(statement):
        return False
    principal = statement.get("Principal")
    if "*" not in _as_list(principal.get("AWS") if isinstance(principal, dict) else principal):
        return False
    if not any(str(action).lower() in ("s3:*", "*") for action in _as_list(statement.get("Action"))):
        return False
    arn = f"arn:{partition}:s3:::{bucket}"
    patterns = [str(r) for r in _as_list(statement.get("Resource"))]
    if not all(any(fnmatchcase(t, p) for p in patterns) for t in (arn, f"{arn}/any/object")):
        return False
    return _only_insecure_transport(statement.get("Condition"))


def _only_insecure_transport(conditions: Any) -> bool:
    """Whether a Condition block holds when, and only when, the request is not made over TLS.

    The keys of a Condition are ANDed: any other key (aws:SourceVpce, aws:PrincipalArn...) narrows the
    Deny to the requests that also match it, and plain HTTP from everywhere else is accepted. So every
    operator must be Bool or BoolIfExists (the same here: S3 always sets aws:SecureTransport) and
    every key aws:SecureTransport with the value false."""
    if not isinstance(conditions, dict) or not conditions:
        return False
    for operator, tests in conditions.items():
        if operator not in ("Bool", "BoolIfExists") or not isinstance(tests, dict) or not tests:
            return False
        for key, value in tests.items():
            # Values of one key are ORed: "true" among them would deny TLS requests too, which is no
            # TLS-only policy but a lockout, so it does not count either.
            if key.lower() != "aws:securetransport" or {str(v).lower() for v in _as_list(value)} != {"false"}:
                return False
    return True


def _tls_only(s3: Any, bucket: str) -> Finding:
    from botocore.exceptions import ClientError

    partition = _partition(s3.meta.region_name)
    statement = tls_only_statement(bucket, partition)
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as exc:
        _unless_absent(exc, "NoSuchBucketPolicy")
        document = json.dumps({"Version": "2012-10-17", "Statement": [statement]}, separators=(",", ":"))
        fix = f"aws s3api put-bucket-policy --bucket {bucket} --policy '{document}'"
        return "fail", "no bucket policy: requests over plain HTTP are accepted", fix
    if any(_denies_plain_http(s, bucket, partition) for s in _as_list(policy.get("Statement", []))):
        return "pass", "the bucket policy denies every request made without TLS", ""
    fix = (
        "add this statement to the policy's Statement list (aws s3api get-bucket-policy, edit, "
        f"aws s3api put-bucket-policy): {json.dumps(statement, separators=(',', ':'))}"
    )
    return "fail", "the bucket policy does not deny requests made without TLS (aws:SecureTransport)", fix


def _versioning(s3: Any, bucket: str) -> Finding:
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status == "Enabled":
        return "pass", "versioning is enabled", ""
    state = "is suspended" if status == "Suspended" else "was never enabled"
    fix = f"aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled"
    return "warn", f"versioning {state}: an overwritten or deleted object cannot be recovered", fix


# name, the permission that reads it, the check
_BUCKET_CHECKS: tuple[tuple[str, str, Callable[[Any, str], Finding]], ...] = (
    ("default_encryption", "s3:GetEncryptionConfiguration", _encryption),
    ("public_access_block", "s3:GetBucketPublicAccessBlock", _public_access_block),
    ("tls_only_policy", "s3:GetBucketPolicy", _tls_only),
    ("versioning", "s3:GetBucketVersioning", _versioning),
)


# -- local directories -------------------------------------------------------------------------------
def _umask() -> int | None:
    """The process umask, read without changing it (os.umask would race with other threads)."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        return None
    return None


def _directory(directory: Path) -> Finding:
    if directory.is_dir():
        return "pass", "exists", ""
    if directory.exists():
        return "fail", "exists but is not a directory", "point the spec at a directory"
    ancestor = next((p for p in directory.absolute().parents if p.exists()), Path("/"))
    if not os.access(ancestor, os.W_OK | os.X_OK):
        fix = f"create it first: mkdir -p -m 750 {directory}"
        return "fail", f"does not exist, and {ancestor} is not writable by this user", fix
    return "pass", f"does not exist yet; can be created under {ancestor}", ""


def _permissions(directory: Path, create_mode: int) -> Finding:
    if not directory.is_dir():
        umask = _umask()
        if umask is None:
            if create_mode & 0o007:
                return "pass", "would be created with the process umask (unknown here)", ""
            return "pass", f"would be created with mode {create_mode:04o}: closed to other users", ""
        mode = create_mode & ~umask
        if mode & 0o007:
            fix = f"run with umask 027, or create it first: mkdir -p -m 750 {directory}"
            return (
                "warn",
                f"would be created with mode {mode:04o} (umask {umask:04o}): open to other users",
                fix,
            )
        return "pass", f"would be created with mode {mode:04o}: closed to other users", ""
    mode = stat.S_IMODE(directory.stat().st_mode)
    fix = f"chmod o-rwx {directory}"
    if mode & stat.S_IWOTH:
        return "fail", f"mode {mode:04o}: every user can write (replace) files here", fix
    if mode & (stat.S_IROTH | stat.S_IXOTH):
        return "fail", f"mode {mode:04o}: every user can list or read files here", fix
    return "pass", f"mode {mode:04o}: closed to other users", ""


def audit_directory(directory: Path, *, create_mode: int = UMASK_MODE) -> list[Check]:
    """The directory exists or can be created, and other users can neither read nor write it.

    `create_mode` is the mode Vaultline's mkdir asks for when the directory is missing (see `audit`)."""
    location = str(directory)
    found = _directory(directory)
    checks = [Check(location, "directory", *found)]
    if found[0] == "pass":
        checks.append(Check(location, "permissions", *_permissions(directory, create_mode)))
    return checks
