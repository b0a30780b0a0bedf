"""Signed checkpoints: an Ed25519 signature over the state of the chain, each embedding the previous one's.

A checkpoint says "entries `first_seq`..`last_seq` exist and the last one hashes to `last_hash`", lists
the SHA-256 of every segment it closes, and carries the previous checkpoint's signature, so checkpoints
form a chain of their own: removing, swapping or altering one breaks the next. The signature covers the
canonical JSON of every other field.
"""

from __future__ import annotations

import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from vaultline.audit.entries import canonical_json, now_text
from vaultline.audit.key_material import fingerprint

_REASON = re.compile(r"^[a-z][a-z0-9-]{0,63}$")


class SegmentDigest(BaseModel):
    """A closed segment as its checkpoint saw it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment: int
    sha256: str
    first_seq: int
    last_seq: int


class Checkpoint(BaseModel):
    """One signed checkpoint file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: int
    reason: str = Field(pattern=_REASON.pattern)
    first_seq: int
    """The first entry this checkpoint covers: the previous checkpoint's `last_seq` + 1."""
    last_seq: int
    last_hash: str
    segments: tuple[SegmentDigest, ...] = ()
    """Segments closed by this checkpoint (at most one: the segment being closed)."""
    closed_segments_through: int
    """Every segment up to this number is closed (0: none yet)."""
    time: str
    public_key: str
    """Fingerprint of the signing key (SHA-256 of its raw bytes)."""
    previous_signature: str
    signature: str = ""

    def signed_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json", exclude={"signature"}))

    def to_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json")) + b"\n"

    @classmethod
    def parse(cls, data: bytes) -> Checkpoint:
        """The checkpoint in `data` (raises ValueError when it is not one)."""
        return cls.model_validate_json(data)

    def signature_valid(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(bytes.fromhex(self.signature), self.signed_bytes())
        except (InvalidSignature, ValueError):
            return False
        return True


def is_reason(reason: str) -> bool:
    return bool(_REASON.match(reason))


def sign(
    key: Ed25519PrivateKey,
    *,
    number: int,
    reason: str,
    first_seq: int,
    last_seq: int,
    last_hash: str,
    segments: tuple[SegmentDigest, ...],
    closed_segments_through: int,
    previous: Checkpoint | None,
) -> Checkpoint:
    """A new checkpoint signed with `key`, chained to `previous`."""
    unsigned = Checkpoint(
        number=number,
        reason=reason,
        first_seq=first_seq,
        last_seq=last_seq,
        last_hash=last_hash,
        segments=segments,
        closed_segments_through=closed_segments_through,
        time=now_text(),
        public_key=fingerprint(key.public_key()),
        previous_signature=previous.signature if previous else "",
    )
    signature = key.sign(unsigned.signed_bytes()).hex()
    return unsigned.model_copy(update={"signature": signature})
