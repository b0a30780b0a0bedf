"""docs/spec.md is generated from the models: it must be current and list every transform."""

from __future__ import annotations

from pathlib import Path

from vaultline.spec.reference import render
from vaultline.transforms.registry import TRANSFORMS

DOC = Path(__file__).parents[2] / "docs" / "spec.md"


def test_spec_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "regenerate: python -m vaultline.spec.reference > docs/spec.md"
    )


def test_every_transform_documented() -> None:
    text = render()
    for spec in TRANSFORMS:
        assert f"### `{spec.name}`" in text
