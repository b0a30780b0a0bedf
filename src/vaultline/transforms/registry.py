"""Every transform, in one explicit tuple: adding one means adding its module here."""

from __future__ import annotations

from vaultline.transforms import (
    anomaly,
    bin,
    clean,
    derive,
    drop,
    encode,
    encrypt_deterministic,
    expect,
    format_preserving,
    generalize,
    hash,
    k_anonymity,
    mask,
    redact,
    tokenize,
)
from vaultline.transforms.base import TransformSpec

TRANSFORMS: tuple[TransformSpec, ...] = (
    clean.SPEC,
    tokenize.SPEC,
    encrypt_deterministic.SPEC,
    format_preserving.SPEC,
    hash.SPEC,
    mask.SPEC,
    redact.SPEC,
    drop.SPEC,
    generalize.SPEC,
    bin.SPEC,
    encode.SPEC,
    derive.SPEC,
    anomaly.SPEC,
    k_anonymity.SPEC,
    expect.SPEC,
)

BY_NAME: dict[str, TransformSpec] = {spec.name: spec for spec in TRANSFORMS}
