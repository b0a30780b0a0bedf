"""Which key encrypts which output column: the spec's `encryption` block and the classification.

A column's class is, in order: its hand assignment (`encryption.columns`), else the sensitivity of the
entity the sources' classification found in the source column of the same name (when
`encryption.classified`). A class with a key in `column_keys` encrypts its columns with that key;
the others stay plain (they are readable with the footer key alone). Clinical codes and other
sensitive-but-not-identifying columns are encrypted too: their class is still `phi`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vaultline.errors import SpecError, SpecIssue
from vaultline.spec.models import Encryption


@dataclass(frozen=True)
class ColumnKeys:
    """The encryption of one output file: value-free, recorded in the catalog."""

    footer_key: str
    column_keys: dict[str, list[str]] = field(default_factory=dict)
    """key reference -> columns it encrypts."""
    classes: dict[str, str] = field(default_factory=dict)
    """column -> sensitivity class, for every encrypted column."""
    plaintext_footer: bool = False
    external_key_material: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "algorithm": "AES_GCM_V1",
            "double_wrapping": True,
            "footer_key": self.footer_key,
            "plaintext_footer": self.plaintext_footer,
            "column_keys": self.column_keys,
            "classes": self.classes,
            "key_material": "external" if self.external_key_material else "internal",
        }


def column_keys(
    encryption: Encryption, columns: list[str], detected: dict[str, str], *, output: str
) -> ColumnKeys | None:
    """The keys of an output with `columns`; `detected` maps column -> sensitivity class found by
    classification. None when the output is not encrypted."""
    if not encryption.enabled:
        return None
    classes: dict[str, str] = {}
    if encryption.classified:
        classes.update({c: detected[c] for c in columns if detected.get(c) not in (None, "none")})
    for sensitivity, assigned in encryption.columns.items():
        unknown = [c for c in assigned if c not in columns]
        if unknown:
            raise SpecError(
                [
                    SpecIssue(
                        f"outputs.{output}.encryption.columns.{sensitivity}",
                        f"names column(s) the output does not have: {', '.join(unknown)}",
                        hint="list columns of the output (see `columns_out` in a run report)",
                    )
                ],
                file="<spec>",
            )
        classes.update(dict.fromkeys(assigned, sensitivity))
    keyed: dict[str, list[str]] = {}
    encrypted: dict[str, str] = {}
    keys = {str(k): v for k, v in encryption.column_keys.items()}
    for column, class_name in classes.items():
        key = keys.get(class_name)
        if key is not None:
            keyed.setdefault(key, []).append(column)
            encrypted[column] = class_name
    external = encryption.key_material == "external"
    return ColumnKeys(encryption.footer_key, keyed, encrypted, encryption.plaintext_footer, external)
