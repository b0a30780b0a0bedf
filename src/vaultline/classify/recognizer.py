"""What a recognizer is: class-level data (entity, candidate pattern, name keywords) plus one hook.

A recognizer decides, for one sampled value, whether it is an instance of its entity:
1. `candidate`, a regular expression the whole trimmed value must match, is applied to every sampled
   value at once in Polars (Rust `regex` syntax: no look-around, `\\p{L}` allowed);
2. `validate(value)` then runs on each *distinct* candidate, and is where checksums and
   well-kept libraries (python-stdnum, phonenumbers, email-validator, `ipaddress`) decide.

The column name is context, the way Macie uses keywords near a finding: `keywords` are words that
support the entity when they appear in the column name. A recognizer with `needs_context` (its
values alone are ambiguous: 5-digit ZIPs, bare 9-digit SSNs, account numbers, dates of birth) only
flags a column whose name supports it. `docs/classify.md` explains how the fractions combine.
"""

from __future__ import annotations

from typing import ClassVar


class Recognizer:
    entity: ClassVar[str]
    """An entity name from `classify.entities.ENTITIES`."""
    candidate: ClassVar[str]
    """Regular expression (Rust syntax) the whole trimmed value must match to be validated."""
    keywords: ClassVar[tuple[str, ...]] = ()
    """Column-name words (lowercase) that support the entity."""
    column_names: ClassVar[tuple[str, ...]] = ()
    """Whole column names (run together, lowercase) that support the entity although as words they
    are too generic to be keywords: a column named `name` holds names; `product_name` does not."""
    needs_context: ClassVar[bool] = False
    """Flag a column only when its name carries one of `keywords`."""
    validator: ClassVar[str] = "pattern"
    """What decides a candidate, as shown in the evidence (a library function, a checksum)."""

    def validate(self, value: str) -> bool:
        """Whether a candidate value (trimmed) really is the entity."""
        return True
