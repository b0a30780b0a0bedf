"""Reading a Parquet footer without pyarrow's help: which master key protects which column.

pyarrow exposes neither the column crypto metadata nor the raw bytes of an encrypted footer, and it
aborts the process when asked for the metadata of a column it cannot decrypt. So the footer is read
here: a compact-protocol Thrift reader (just enough of it), the key material of the footer and of
each column (internal, or in the `_KEY_MATERIAL_FOR_` file beside the data file), nothing decrypted.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from vaultline.errors import SourceError
from vaultline.storage.kms_client import KeyMaterialCorrupt

KEY_MATERIAL_PREFIX = "_KEY_MATERIAL_FOR_"  # pyarrow's (and parquet-mr's) name for external key material
# Envelopes whose header carries the master key version (docs/keys.md); another provider's are opaque.
_VERSIONED_ENVELOPES = (b"VLK1", b"VLA1")


class EncryptedDataCorrupt(SourceError):
    """Every key unwrapped, yet decryption failed: the file or its key material was altered."""


def key_material_path(path: str | Path) -> str:
    """Where pyarrow keeps a file's external key material: `_KEY_MATERIAL_FOR_<name>.json` beside it."""
    text = str(path)
    head, _, name = text.rpartition("/")
    sidecar = f"{KEY_MATERIAL_PREFIX}{name}.json"
    return f"{head}/{sidecar}" if head else sidecar


# -- Thrift compact protocol (just enough to read Parquet footers) ----------------------------------
class ThriftReader:
    """A reader of Thrift compact-protocol structs into {field id: value} dicts (lists as lists)."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.pos = 0

    def varint(self) -> int:
        result = shift = 0
        while True:
            byte = self.buf[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, kind: int) -> Any:
        if kind in (1, 2):  # booleans live in the field header
            return kind == 1
        if kind == 3:
            self.pos += 1
            return self.buf[self.pos - 1]
        if kind in (4, 5, 6):
            return self.zigzag()
        if kind == 7:
            self.pos += 8
            return struct.unpack_from("<d", self.buf, self.pos - 8)[0]
        if kind == 8:
            size = self.varint()
            self.pos += size
            return self.buf[self.pos - size : self.pos]
        if kind in (9, 10):
            head = self.buf[self.pos]
            self.pos += 1
            size = head >> 4 if head >> 4 != 15 else self.varint()
            return [self.element(head & 0x0F) for _ in range(size)]
        if kind == 11:
            size = self.varint()
            if not size:
                return {}
            types = self.buf[self.pos]
            self.pos += 1
            return {self.value(types >> 4): self.value(types & 0x0F) for _ in range(size)}
        if kind == 12:
            return self.struct()
        raise ValueError(f"unknown Thrift type {kind}")

    def element(self, kind: int) -> Any:
        if kind in (1, 2):  # in a list a boolean takes a byte of its own
            self.pos += 1
            return self.buf[self.pos - 1] == 1
        return self.value(kind)

    def struct(self) -> dict[int, Any]:
        fields: dict[int, Any] = {}
        last = 0
        while True:
            head = self.buf[self.pos]
            self.pos += 1
            if head == 0:
                return fields
            last = last + (head >> 4) if head >> 4 else self.zigzag()
            fields[last] = self.value(head & 0x0F)


def parse_thrift(buf: bytes, where: str) -> tuple[dict[int, Any], int]:
    reader = ThriftReader(buf)
    try:
        return reader.struct(), reader.pos
    except (IndexError, ValueError, struct.error):
        raise EncryptedDataCorrupt(
            "the Parquet footer cannot be parsed", where=where, hint="the file is truncated or not Parquet"
        ) from None


# -- what a file says about its keys ----------------------------------------------------------------
@dataclass(frozen=True)
class KeyMaterial:
    """One Parquet key's material: which master key wraps it, and the master-wrapped text."""

    master_key_id: str
    wrapped: str  # the KEK (double wrapping) or DEK (single), wrapped by the provider, base64
    double_wrapping: bool
    external: bool

    @property
    def version(self) -> int | None:
        """The master key version in a Vaultline envelope (readable without any key): the local
        keyring's VLK1 or the aws-kms provider's VLA1, both magic + version (4 bytes, big-endian)."""
        try:
            blob = base64.b64decode(self.wrapped[:12])
        except (binascii.Error, ValueError):
            return None
        return (
            struct.unpack(">I", blob[4:8])[0] if blob[:4] in _VERSIONED_ENVELOPES and len(blob) >= 8 else None
        )

    @property
    def label(self) -> str:
        version = self.version
        return self.master_key_id if version is None else f"{self.master_key_id} (v{version})"


@dataclass
class Footer:
    """A file's footer as far as it can be read with the keys at hand."""

    fs: pafs.FileSystem
    path: str
    where: str
    encrypted_footer: bool
    algorithm: str | None
    footer_material: KeyMaterial | None
    metadata: dict[int, Any] | None  # FileMetaData; None while an encrypted footer is undecrypted
    _sidecar: dict[str, str] | None = field(default=None, repr=False)

    def material(self, key_metadata: bytes | str) -> KeyMaterial:
        """The material a column's (or the footer's) key metadata points at: inline or in the sidecar."""
        try:
            meta = json.loads(key_metadata)
            if meta.get("internalStorage", True) is False:
                return self.sidecar_material(str(meta["keyReference"]))
            return self._parse(meta, external=False)
        except (ValueError, KeyError, TypeError):
            raise self._corrupt_material() from None

    def sidecar_material(self, reference: str) -> KeyMaterial:
        try:
            return self._parse(json.loads(self.sidecar()[reference]), external=True)
        except (ValueError, KeyError, TypeError):
            raise self._corrupt_material() from None

    @staticmethod
    def _parse(meta: dict[str, Any], *, external: bool) -> KeyMaterial:
        double = bool(meta["doubleWrapping"])
        return KeyMaterial(
            master_key_id=str(meta["masterKeyID"]),
            wrapped=str(meta["wrappedKEK"] if double else meta["wrappedDEK"]),
            double_wrapping=double,
            external=external,
        )

    def _corrupt_material(self) -> KeyMaterialCorrupt:
        return KeyMaterialCorrupt(
            "the file's key material is not Parquet key material (PKMT1)",
            where=self.where,
            hint="the file or its _KEY_MATERIAL_FOR_ file was altered; restore it from its source",
        )

    def sidecar(self) -> dict[str, str]:
        if self._sidecar is None:
            sidecar = key_material_path(self.path)
            try:
                with self.fs.open_input_stream(sidecar) as handle:
                    self._sidecar = json.loads(handle.read())
            except FileNotFoundError:
                raise SourceError(
                    f"the file keeps its keys in {sidecar.rpartition('/')[2]}, which is missing",
                    where=self.where,
                    hint="move or copy the _KEY_MATERIAL_FOR_ file together with the Parquet file",
                ) from None
        assert self._sidecar is not None
        return self._sidecar

    def leaf_names(self) -> list[str]:
        """Every leaf column's dotted path, from the schema (which a file without rows has too)."""
        assert self.metadata is not None
        elements = self.metadata.get(2) or []
        names: list[str] = []

        def walk(index: int, prefix: tuple[str, ...]) -> int:
            element = elements[index]
            path = (*prefix, element[4].decode()) if index else prefix
            children = element.get(5) or 0
            if index and not children:
                names.append(".".join(path))
            index += 1
            for _ in range(children):
                index = walk(index, path)
            return index

        if elements:
            walk(0, ())
        return names

    def columns(self) -> list[tuple[str, KeyMaterial | None]] | None:
        """Each column's leaf path and key material (None = plaintext); None for a file without rows."""
        assert self.metadata is not None
        row_groups = self.metadata.get(4) or []
        if not row_groups:
            return None
        out: list[tuple[str, KeyMaterial | None]] = []
        for chunk in row_groups[0].get(1, []):
            crypto = chunk.get(8) or {}
            with_column_key = crypto.get(2)
            if with_column_key is not None:
                path = ".".join(p.decode() for p in with_column_key[1])
                out.append((path, self.material(with_column_key[2])))
            else:
                path = ".".join(p.decode() for p in chunk[3][3])
                out.append((path, self.footer_material if 1 in crypto else None))
        return out


def read_footer(fs: pafs.FileSystem, path: str, where: str) -> Footer:
    try:
        with fs.open_input_file(path) as handle:
            size = handle.size()
            if size < 12:
                raise EncryptedDataCorrupt("the file is too short to be Parquet", where=where)
            handle.seek(size - 8)
            tail = handle.read(8)
            (length,) = struct.unpack("<I", tail[:4])
            if tail[4:] not in (b"PAR1", b"PARE") or length > size - 12:
                raise EncryptedDataCorrupt(
                    "the file does not end like Parquet", where=where, hint="it is truncated or not Parquet"
                )
            handle.seek(size - 8 - length)
            raw = handle.read(length)
    except FileNotFoundError:
        raise SourceError("the file does not exist", where=where, hint="check the path") from None
    footer = Footer(fs, path, where, tail[4:] == b"PARE", None, None, None)
    if footer.encrypted_footer:
        crypto, _ = parse_thrift(raw, where)
        footer.algorithm = algorithm_name(crypto.get(1))
        footer.footer_material = footer.material(crypto[2]) if 2 in crypto else None
    else:
        footer.metadata, _ = parse_thrift(raw, where)
        footer.algorithm = algorithm_name(footer.metadata.get(8))
        signing = footer.metadata.get(9)
        footer.footer_material = footer.material(signing) if signing is not None else None
    return footer


def algorithm_name(union: dict[int, Any] | None) -> str | None:
    if not union:
        return None
    return {1: "AES_GCM_V1", 2: "AES_GCM_CTR_V1"}.get(next(iter(union)), "unknown")
