"""Parquet Modular Encryption with keys from a Vaultline key provider (pyarrow's CryptoFactory).

Each sensitivity class (pii, phi, pci …) gets its own master key reference; its columns are encrypted
with data keys (DEKs) that are wrapped by per-file key-encryption keys (KEKs, double wrapping), the
KEKs wrapped by the provider (`kms_client.py`). The footer is encrypted (or, with `plaintext_footer`,
signed) under the footer key. Pages are AES-GCM (`AES_GCM_V1`) with 256-bit DEKs. docs/encryption.md
has the format and what a reader without keys sees.

Key material: internal by default, external on request (`EncryptionPlan.external_key_material`).
- Internal: the wrapped keys live in the file's footer. The file is self-contained, so the output path
  (temp name → fsync → rename; on S3 a temporary key copied server-side to the final one; one
  SHA-256) works unchanged. Master key rotation never
  strands it: the wrapped KEK carries its master key version, and old versions still unwrap. What it
  cannot do is re-wrap in place: moving a file onto the current master version means rewriting it
  (`rewrap` says so).
- External: pyarrow writes `_KEY_MATERIAL_FOR_<file name>.json` beside the file (`key_material_path`).
  `rewrap` re-wraps it with the current master key versions without touching the Parquet bytes
  (`CryptoFactory.rotate_master_keys`). The price: two objects per output, no single atomic rename or
  copy, and a caller renaming a temp file must move the key-material file to the new name too (first:
  a file never shows without it); a file separated from it is unreadable.

Readers: `read_table` first learns, from the footer's column crypto metadata, which master key
protects each column, and unwraps each key before pyarrow touches the column (pyarrow 26 aborts the
process when a column-metadata unwrap fails). A refused key becomes `ColumnKeyUnavailable` naming the
columns, their key reference and the columns that can be read; a failure after every key unwrapped is
corruption (`EncryptedDataCorrupt`). pyarrow exposes neither the column crypto metadata nor the
encrypted footer's raw bytes, so `parquet_footer.py` reads the Thrift footer itself; an encrypted
footer is first decrypted by pyarrow with the footer key and re-serialised (`FileMetaData.__reduce__`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pyarrow.parquet.encryption as pe

from vaultline.errors import (
    KeyringError,
    OutputError,
    SourceError,
    TerminalError,
    VaultlineError,
    without_values,
)
from vaultline.keys.provider import KeyRef
from vaultline.keys.secret import SecretBytes
from vaultline.storage import locations
from vaultline.storage.kms_client import (
    KeyMaterialCorrupt,
    KeyWrapper,
    MasterKeyRefused,
    kms_client_factory,
    unwrap_master_wrapped,
)
from vaultline.storage.parquet_footer import (  # key_material_path and the errors are public here too
    KEY_MATERIAL_PREFIX,
    EncryptedDataCorrupt,
    Footer,
    KeyMaterial,
    key_material_path,
    parse_thrift,
    read_footer,
)

__all__ = [
    "KEY_MATERIAL_PREFIX",
    "ColumnEncryption",
    "ColumnKeyUnavailable",
    "EncryptedDataCorrupt",
    "EncryptionInfo",
    "EncryptionPlan",
    "FooterKeyUnavailable",
    "RewrapUnsupported",
    "describe",
    "key_material_path",
    "open_writer",
    "read_table",
    "rewrap",
    "write_table",
]

ALGORITHM = "AES_GCM_V1"
_DATA_KEY_BITS = 256
_SEPARATORS = (":", ";", ",")  # pyarrow passes column keys as "key: col, col; key: col"


# -- errors -----------------------------------------------------------------------------------------
class ColumnKeyUnavailable(KeyringError):
    """Columns whose master key the caller's provider refused; `readable` lists the ones it can read.
    `fixes` maps a key reference to its provider's hint (enable the key, grant kms:Decrypt...)."""

    def __init__(
        self,
        path: str,
        refused: dict[str, tuple[str, str]],
        readable: Iterable[str],
        *,
        fixes: Mapping[str, str | None] | None = None,
    ) -> None:
        self.path = path
        self.columns = {column: ref for column, (ref, _) in refused.items()}
        self.readable = tuple(readable)
        by_key: dict[str, list[str]] = {}
        reasons: dict[str, str] = {}
        for column, (ref, reason) in refused.items():
            by_key.setdefault(ref, []).append(column)
            reasons[ref] = reason
        parts = [
            f"column(s) {', '.join(repr(c) for c in cols)} need key '{ref}' ({reasons[ref]})"
            for ref, cols in by_key.items()
        ]
        readable_text = ", ".join(self.readable) if self.readable else "none"
        super().__init__(
            f"cannot decrypt {len(refused)} column(s): {'; '.join(parts)}",
            where=path,
            # shown to CLI users and to Python callers alike
            hint=f"{_fixes(by_key, fixes or {})}, or read only the columns you may read "
            f"(`--columns a,b` on the CLI, `columns=` in Python): {readable_text}",
        )


def _fixes(refs: Iterable[str], fixes: Mapping[str, str | None]) -> str:
    """Each provider's own fix, once; a plain request for access where the provider gave none."""
    unhinted = [ref for ref in refs if not fixes.get(ref)]
    hinted = dict.fromkeys(hint for ref in refs if (hint := fixes.get(ref)))
    asks = [f"ask for access to {', '.join(repr(r) for r in unhinted)}"] if unhinted else []
    return "; ".join([*hinted, *asks])


class FooterKeyUnavailable(KeyringError):
    """The file's footer is encrypted under a key the caller's provider refused: nothing is readable."""


class RewrapUnsupported(TerminalError):
    """The file's key material cannot be re-wrapped without rewriting the file."""


# -- the plan ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EncryptionPlan:
    """Which master key protects which columns. `column_keys` maps a key reference to its columns
    (built by the caller from sensitivity classes: e.g. `{"phi_key": [...], "pii_key": [...]}`); a
    struct, list or map column name covers all its leaves. Unlisted columns stay plaintext."""

    footer_key: str
    column_keys: dict[str, list[str]]
    plaintext_footer: bool = False
    external_key_material: bool = False

    def __post_init__(self) -> None:
        if not any(self.column_keys.values()):
            raise OutputError(
                "the encryption plan names no column to encrypt (pyarrow cannot encrypt only a footer)",
                hint="list the sensitive columns under their key, or write plain Parquet",
            )
        seen: dict[str, str] = {}
        for ref in (self.footer_key, *self.column_keys):
            KeyRef.parse(ref)
        for ref, columns in self.column_keys.items():
            for column in columns:
                if column != column.strip() or any(sep in column for sep in _SEPARATORS) or not column:
                    raise OutputError(
                        f"column name {column!r} cannot be encrypted: pyarrow's column-key list "
                        "splits on ':', ';' and ',' and trims spaces",
                        hint="rename the column before writing it encrypted",
                    )
                if column in seen:  # pyarrow refuses a column listed twice, even under one key
                    raise OutputError(
                        f"column '{column}' is listed twice (under '{seen[column]}' and '{ref}')",
                        hint="give each column exactly one sensitivity class / key",
                    )
                seen[column] = ref


# -- writing ----------------------------------------------------------------------------------------
DICTIONARY_PAGE_BYTES = 8 << 20
"""Dictionary pages up to 8 MiB, not Parquet's 1 MiB: keyed tokens of 64 hex characters that repeat
(one per customer) overflowed 1 MiB within a row group and fell back to plain encoding. The fraud
example's output at 2 M rows: 379 MB -> 197 MB, written as fast (less to encrypt, write and hash)."""


def open_writer(
    path: str | Path,
    schema: pa.Schema,
    plan: EncryptionPlan,
    provider: KeyWrapper,
    *,
    compression: str = "snappy",
    filesystem: Any = None,
    dictionary: bool | list[str] = True,
) -> pq.ParquetWriter:
    """A ParquetWriter encrypting per `plan`; write record batches or tables, then `close()` it.

    `dictionary`: the columns to dictionary-encode (all by default). With external key material
    the `_KEY_MATERIAL_FOR_` file is written now, before any data.
    """
    fs, target = _resolve(path, filesystem)
    config = pe.EncryptionConfiguration(
        footer_key=plan.footer_key,
        column_keys=_leaf_column_keys(plan, schema, str(path)),
        encryption_algorithm=ALGORITHM,
        plaintext_footer=plan.plaintext_footer,
        double_wrapping=True,
        internal_key_material=not plan.external_key_material,
        data_key_length_bits=_DATA_KEY_BITS,
    )
    # A fresh factory per file: its KEK cache would otherwise hand the next file a KEK wrapped under
    # the master key version current when the cache was filled, outliving a rotation.
    factory = pe.CryptoFactory(kms_client_factory(provider))
    # pyarrow refuses a filesystem without a path, and wants a path only for external key material.
    sidecar_at = (target, fs) if plan.external_key_material else (None, None)
    try:
        properties = factory.file_encryption_properties(pe.KmsConnectionConfig(), config, *sidecar_at)
        # Min/max statistics of an encrypted column are values (the oldest birth date is someone's) and
        # a plaintext footer would show them: only plain columns get statistics. Also 25% faster.
        encrypted = {column for columns in plan.column_keys.values() for column in columns}
        statistics = [name for name in schema.names if name not in encrypted]
        return pq.ParquetWriter(
            target, schema, filesystem=fs, compression=compression, encryption_properties=properties,
            write_statistics=statistics, use_dictionary=dictionary,
            dictionary_pagesize_limit=DICTIONARY_PAGE_BYTES,
        )  # fmt: skip
    except VaultlineError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise OutputError(
            f"cannot open the encrypted Parquet writer ({type(exc).__name__}: {without_values(str(exc))})",
            where=str(path),
            hint="check that the directory exists and is writable",
        ) from None


def write_table(
    table: pa.Table,
    path: str | Path,
    plan: EncryptionPlan,
    provider: KeyWrapper,
    *,
    compression: str = "snappy",
    filesystem: Any = None,
    row_group_size: int | None = None,
) -> None:
    """Write `table` encrypted per `plan` (one file; plus its key-material file when external)."""
    with open_writer(
        path, table.schema, plan, provider, compression=compression, filesystem=filesystem
    ) as writer:
        writer.write_table(table, row_group_size=row_group_size)


def _leaf_column_keys(plan: EncryptionPlan, schema: pa.Schema, where: str) -> dict[str, list[str]]:
    leaves = _arrow_leaf_paths(schema)
    resolved: dict[str, list[str]] = {}
    for ref, columns in plan.column_keys.items():
        for column in columns:
            matched = [leaf for leaf in leaves if leaf == column or leaf.startswith(column + ".")]
            if not matched:
                raise OutputError(
                    f"column '{column}' (key '{ref}') is not in the table's schema",
                    where=where,
                    hint=f"columns: {', '.join(schema.names)}",
                )
            resolved.setdefault(ref, []).extend(matched)
    return resolved


def _arrow_leaf_paths(schema: pa.Schema) -> list[str]:
    """Parquet column paths of an Arrow schema (pyarrow's compliant nested naming)."""

    def walk(prefix: str, typ: pa.DataType) -> list[str]:
        if pa.types.is_struct(typ):
            return [
                p
                for i in range(typ.num_fields)
                for p in walk(f"{prefix}.{typ.field(i).name}", typ.field(i).type)
            ]
        if pa.types.is_map(typ):
            return walk(f"{prefix}.key_value.key", typ.key_type) + walk(
                f"{prefix}.key_value.value", typ.item_type
            )
        if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
            return walk(f"{prefix}.list.element", typ.value_type)
        return [prefix]

    return [leaf for f in schema for leaf in walk(f.name, f.type)]


# -- locations --------------------------------------------------------------------------------------
def _resolve(path: str | Path, filesystem: Any) -> tuple[pafs.FileSystem, str]:
    """A pyarrow FileSystem and the path inside it: CryptoFactory takes only pyarrow filesystems."""
    text = str(path)
    if isinstance(filesystem, pafs.FileSystem):
        return filesystem, text.removeprefix("s3://")
    if filesystem is None and not locations.is_remote(text):
        return pafs.LocalFileSystem(), os.path.abspath(text)
    fs = filesystem if filesystem is not None else locations.filesystem(text)
    stripped: str = fs._strip_protocol(text)
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        return pafs.LocalFileSystem(), stripped
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), stripped


@dataclass(frozen=True)
class ColumnEncryption:
    """One Parquet column (leaf path): its key reference (None = plaintext) and master key version."""

    column: str
    key_ref: str | None
    key_version: int | None = None


@dataclass(frozen=True)
class EncryptionInfo:
    """Value-free facts about an encrypted (or plain) Parquet file. `columns` is None when the footer
    is encrypted and no provider holding the footer key was given (`note` says why)."""

    path: str
    encrypted: bool
    algorithm: str | None = None
    plaintext_footer: bool = True
    footer_key: str | None = None
    footer_key_version: int | None = None
    key_material: str | None = None  # "internal" | "external"
    double_wrapping: bool | None = None
    columns: tuple[ColumnEncryption, ...] | None = None
    note: str | None = None

    def keys(self) -> dict[str, list[str]]:
        """Key reference → the columns it protects."""
        out: dict[str, list[str]] = {}
        for column in self.columns or ():
            if column.key_ref is not None:
                out.setdefault(column.key_ref, []).append(column.column)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "encrypted": self.encrypted,
            "algorithm": self.algorithm,
            "plaintext_footer": self.plaintext_footer,
            "footer_key": self.footer_key,
            "footer_key_version": self.footer_key_version,
            "key_material": self.key_material,
            "double_wrapping": self.double_wrapping,
            "columns": None
            if self.columns is None
            else [{"column": c.column, "key": c.key_ref, "key_version": c.key_version} for c in self.columns],
            "note": self.note,
        }


# -- keys the caller holds --------------------------------------------------------------------------
class _CheckedKeys:
    """The caller's provider, unwrapping each master-wrapped key once: checked before pyarrow needs it,
    then served to pyarrow's KMS client from memory (one provider call per key, refusals remembered)."""

    def __init__(self, provider: KeyWrapper, where: str) -> None:
        self._provider = provider
        self._where = where
        self._unwrapped: dict[tuple[str, bytes], SecretBytes] = {}
        self._refused: dict[tuple[str, bytes], KeyringError] = {}

    def wrap_key(self, ref: KeyRef, key: bytes) -> bytes:
        return self._provider.wrap_key(ref, key)

    def unwrap_data_key(self, name: str, wrapped: bytes) -> SecretBytes:
        memo = (name, wrapped)
        if memo in self._refused:
            raise self._refused[memo]
        if memo not in self._unwrapped:
            try:
                self._unwrapped[memo] = self._provider.unwrap_data_key(name, wrapped)
            except KeyringError as exc:
                self._refused[memo] = exc
                raise
        return self._unwrapped[memo]

    def refusal(self, material: KeyMaterial) -> MasterKeyRefused | None:
        """None when the provider unwraps this key, else its refusal (a value-free reason and hint)."""
        try:
            unwrap_master_wrapped(self, material.wrapped, material.master_key_id)
        except MasterKeyRefused as exc:
            return exc
        except KeyMaterialCorrupt as exc:
            raise KeyMaterialCorrupt(exc.message, where=self._where, hint=exc.hint) from None
        return None


def _decryption_properties(footer: Footer, keys: KeyWrapper) -> Any:
    factory = pe.CryptoFactory(kms_client_factory(keys))
    return factory.file_decryption_properties(
        pe.KmsConnectionConfig(), pe.DecryptionConfiguration(), footer.path, footer.fs
    )


def _decrypt_footer(footer: Footer, keys: _CheckedKeys) -> None:
    """Let pyarrow decrypt an encrypted footer, then read its re-serialised Thrift (column crypto
    metadata included; pyarrow decrypts no column metadata for this)."""
    assert footer.footer_material is not None
    with footer.fs.open_input_file(footer.path) as handle:
        try:
            metadata = pq.ParquetFile(handle, decryption_properties=_decryption_properties(footer, keys))
            serialized = metadata.metadata.__reduce__()[1][0]
        except VaultlineError:
            raise
        except (OSError, pa.ArrowException) as exc:
            raise _corrupt(footer.where, exc) from None
    footer.metadata, _ = parse_thrift(bytes(serialized), footer.where)


_CRYPTO_FAILURES = ("decrypt", "base64", "deserializing", "signature")


def _corrupt(where: str, exc: BaseException) -> SourceError:
    """Classify a pyarrow failure met after every key unwrapped: integrity or plain I/O."""
    text = str(exc)
    if any(marker in text.lower() for marker in _CRYPTO_FAILURES):
        # pyarrow's decryption messages carry no values, but they say nothing useful either.
        return EncryptedDataCorrupt(
            f"decryption failed ({type(exc).__name__}) although every key unwrapped: the file or its "
            "key material was altered, truncated or mixed with another file's",
            where=where,
            hint="restore the file (and any _KEY_MATERIAL_FOR_ file) from its source, or rewrite it",
        )
    return SourceError(
        f"the file cannot be read ({type(exc).__name__}: {without_values(str(exc))})",
        where=where,
        hint="check that the path is reachable and complete",
    )


# -- describe ---------------------------------------------------------------------------------------
def describe(
    path: str | Path, filesystem: Any = None, *, provider: KeyWrapper | None = None
) -> EncryptionInfo:
    """Which columns are encrypted with which key reference, footer key and mode, algorithm.

    Needs no key for a plaintext footer. An encrypted footer hides even the column names: pass a
    `provider` that holds the footer key to list them (only the footer key is unwrapped).
    """
    fs, target = _resolve(path, filesystem)
    where = str(path)
    footer = read_footer(fs, target, where)
    note = None
    if footer.encrypted_footer and provider is not None:
        keys = _CheckedKeys(provider, where)
        assert footer.footer_material is not None
        if keys.refusal(footer.footer_material) is None:
            _decrypt_footer(footer, keys)
        else:
            note = (
                f"the footer is encrypted and footer key '{footer.footer_material.master_key_id}' was refused"
            )
    elif footer.encrypted_footer:
        note = "the footer is encrypted: pass a provider holding the footer key to list the columns"
    columns = footer.columns() if footer.metadata is not None else None
    if footer.metadata is not None and columns is None:
        note = "the file has no row groups, so no column data to protect"
    materials = [m for _, m in columns or () if m is not None]
    any_material = footer.footer_material or (materials[0] if materials else None)
    return EncryptionInfo(
        path=where,
        encrypted=footer.algorithm is not None,
        algorithm=footer.algorithm,
        plaintext_footer=not footer.encrypted_footer,
        footer_key=footer.footer_material.master_key_id if footer.footer_material else None,
        footer_key_version=footer.footer_material.version if footer.footer_material else None,
        key_material=None if any_material is None else ("external" if any_material.external else "internal"),
        double_wrapping=None if any_material is None else any_material.double_wrapping,
        columns=None
        if columns is None
        else tuple(
            ColumnEncryption(name, m.master_key_id if m else None, m.version if m else None)
            for name, m in columns
        ),
        note=note,
    )


# -- reading ----------------------------------------------------------------------------------------
def read_table(
    path: str | Path,
    provider: KeyWrapper,
    *,
    columns: list[str] | None = None,
    filesystem: Any = None,
) -> pa.Table:
    """Read and decrypt `columns` (all by default) with the keys `provider` can unwrap.

    Raises FooterKeyUnavailable (encrypted footer, footer key refused), ColumnKeyUnavailable (a needed
    column's key refused; lists the readable columns) or EncryptedDataCorrupt; never a pyarrow trace.
    """
    fs, target = _resolve(path, filesystem)
    where = str(path)
    footer = read_footer(fs, target, where)
    if footer.algorithm is None:  # a plain Parquet file: nothing to decrypt
        return _read(footer, columns, None)
    keys = _CheckedKeys(provider, where)
    footer_refusal = keys.refusal(footer.footer_material) if footer.footer_material else None
    if footer.encrypted_footer:
        if footer_refusal is not None:
            assert footer.footer_material is not None
            raise FooterKeyUnavailable(
                f"the footer is encrypted with key '{footer.footer_material.label}', which the key "
                f"provider refused ({footer_refusal.reason}); without it not even the column names can "
                "be read",
                where=where,
                hint=footer_refusal.provider_hint
                or f"ask for access to '{footer.footer_material.master_key_id}'",
            )
        _decrypt_footer(footer, keys)
    # a file without rows has no column chunks, so no key material: nothing to decrypt, names to check
    layout = footer.columns() or [(name, None) for name in footer.leaf_names()]
    wanted = _wanted(layout, columns, where)
    refused: dict[str, tuple[str, str]] = {}
    fixes: dict[str, str | None] = {}
    for name, material in layout:
        if material is None:
            continue
        key, refusal = material.master_key_id, keys.refusal(material)
        reason = refusal.reason if refusal else ""
        if refusal is None and footer_refusal is not None:
            # A plaintext footer is signed; pyarrow verifies the signature before any decryption.
            assert footer.footer_material is not None
            key = footer.footer_material.master_key_id  # the one to ask for: the column's own is granted
            refusal = footer_refusal
            reason = f"it also needs footer key '{key}', which was refused: {footer_refusal.reason}"
        if refusal is not None:
            refused[name] = (key, reason)
            fixes[key] = refusal.provider_hint
    blocked = {name: refused[name] for name in wanted if name in refused}
    if blocked:
        readable = [name for name, _ in layout if name not in refused]
        raise ColumnKeyUnavailable(where, blocked, readable, fixes=fixes)
    if footer_refusal is not None:
        # Plaintext footer, footer key refused, only plaintext columns wanted: read them as any legacy
        # reader would (the footer's signature cannot be checked without the footer key).
        return _read(footer, columns, None)
    return _read(footer, columns, _decryption_properties(footer, keys))


def _wanted(layout: list[tuple[str, KeyMaterial | None]], columns: list[str] | None, where: str) -> list[str]:
    names = [name for name, _ in layout]
    if columns is None:
        return names
    wanted: list[str] = []
    for column in columns:
        matched = [n for n in names if n == column or n.startswith(column + ".")]
        if not matched and names:
            raise SourceError(
                f"column '{column}' is not in the file", where=where, hint=f"columns: {', '.join(names)}"
            )
        wanted += matched
    return wanted


def _read(footer: Footer, columns: list[str] | None, properties: Any) -> pa.Table:
    try:
        table: pa.Table = pq.read_table(
            footer.path, columns=columns, filesystem=footer.fs, decryption_properties=properties
        )
    except VaultlineError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise _corrupt(footer.where, exc) from None
    return table


# -- rewrap -----------------------------------------------------------------------------------------
def rewrap(path: str | Path, provider: KeyWrapper, *, filesystem: Any = None) -> EncryptionInfo:
    """Re-wrap a file's keys with the current version of each master key, without touching the data.

    Only external key material can be re-wrapped in place (its `_KEY_MATERIAL_FOR_` file is replaced);
    internal key material raises RewrapUnsupported. References pinned to a version (`pii_key@2`)
    stay on that version. Returns the file's description afterwards.
    """
    fs, target = _resolve(path, filesystem)
    where = str(path)
    footer = read_footer(fs, target, where)
    if footer.footer_material is None:
        raise RewrapUnsupported("the file is not encrypted: there are no keys to re-wrap", where=where)
    if not footer.footer_material.external:
        raise RewrapUnsupported(
            "the file keeps its key material inside its footer (internal key material); re-wrapping "
            "it means rewriting the file",
            where=where,
            hint="nothing is stranded: the old master key version still unwraps it. To move it onto the "
            "current version, rewrite it (read_table, then write_table to a new path), or write future "
            "files with external_key_material=True",
        )
    keys = _CheckedKeys(provider, where)
    for material in (footer.sidecar_material(ref) for ref in footer.sidecar()):
        refusal = keys.refusal(material)
        if refusal is not None:
            raise MasterKeyRefused(
                material.master_key_id,
                f"{refusal.reason} (re-wrapping needs every key of {where})",
                action="re-wrap",
                hint=refusal.provider_hint,
            )
    factory = pe.CryptoFactory(kms_client_factory(keys))
    try:
        factory.rotate_master_keys(
            pe.KmsConnectionConfig(), target, fs, double_wrapping=footer.footer_material.double_wrapping
        )
    except VaultlineError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise _corrupt(where, exc) from None
    return describe(path, filesystem, provider=provider)
