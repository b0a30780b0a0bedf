"""encode: hierarchical category mapping (category, risk_level, parent, any extra attributes).

The mapping comes inline or from a CSV/JSON/YAML file (local or `s3://`); it must contain the
`unknown_key` entry, used for codes not in the mapping. Each attribute becomes a column
(`<column>_<attribute>` unless renamed in `outputs`). Attributes listed in `ordinal` become ordered
categoricals, usable as anomaly features. Unknown counts are reported per run.

Example (the fraud design's merchant_mapping)::

    - encode:
        column: mcc
        mapping:
          "5411": {category: grocery, risk_level: low, parent: retail}
          "5812": {category: restaurant, risk_level: medium, parent: dining}
          unknown: {category: other, risk_level: high, parent: uncategorized}
        outputs: {category: merchant_category, risk_level: merchant_risk, parent: merchant_parent}
        ordinal: {risk_level: [low, medium, high]}
"""

from __future__ import annotations

from pydantic import Field, model_validator

from vaultline.transforms.base import ColumnFlow, ColumnName, StepParams, TransformSpec

Attributes = dict[str, str | int | float | bool]


class Params(StepParams):
    column: ColumnName
    mapping: dict[str, Attributes] | None = None
    """Code -> attributes, inline."""
    mapping_file: str | None = None
    """A CSV (first column = code), JSON or YAML file with the mapping; local path or s3:// URL."""
    unknown_key: str = "unknown"
    """The mapping entry used for codes that are missing or null."""
    outputs: dict[str, ColumnName] = Field(default_factory=dict)
    """Attribute -> output column name."""
    ordinal: dict[str, list[str]] = Field(default_factory=dict)
    """Attribute -> its values in order, making the column an ordered categorical."""

    @model_validator(mode="after")
    def _one_source(self) -> Params:
        if (self.mapping is None) == (self.mapping_file is None):
            raise ValueError("give exactly one of mapping or mapping_file")
        outputs = list(self.outputs.values())
        if len(set(outputs)) != len(outputs):
            raise ValueError("two attributes in outputs have the same column name")
        for attribute, order in self.ordinal.items():
            if not order or len(set(order)) != len(order):
                raise ValueError(f"ordinal '{attribute}' needs a non-empty list of distinct values")
        if self.mapping is not None:
            validate_mapping(self.mapping, self.unknown_key)
            validate_attributes(self.mapping, self.outputs, self.ordinal)
        return self

    def output_column(self, attribute: str) -> str:
        return self.outputs.get(attribute, f"{self.column}_{attribute}")

    def input_columns(self) -> list[str]:
        return [self.column]

    def output_columns(self) -> list[str]:
        if self.mapping is None:
            return list(self.outputs.values())
        return [self.output_column(a) for a in attribute_names(self.mapping)]

    def column_lineage(self) -> list[ColumnFlow]:
        return [ColumnFlow(column, self.column, description="mapping") for column in self.output_columns()]


def attribute_names(mapping: dict[str, Attributes]) -> list[str]:
    return list(dict.fromkeys(attr for attrs in mapping.values() for attr in attrs))


def validate_mapping(mapping: dict[str, Attributes], unknown_key: str) -> None:
    """Raise ValueError unless the mapping has the unknown entry and every entry the same attributes."""
    if unknown_key not in mapping:
        raise ValueError(f"the mapping has no '{unknown_key}' entry for unknown codes")
    names = set(attribute_names(mapping))
    if not names:
        raise ValueError("the mapping entries have no attributes to output")
    for code, attrs in mapping.items():
        missing = names - set(attrs)
        if missing:
            raise ValueError(f"mapping entry '{code}' lacks attribute(s) {sorted(missing)}")
        for name, value in attrs.items():
            if isinstance(value, int) and not -(2**63) <= value < 2**63:  # output columns are Int64
                raise ValueError(
                    f"attribute '{name}' of entry '{code}' is an integer beyond 64 bits: quote it to keep it "
                    "as text"
                )


def validate_attributes(
    mapping: dict[str, Attributes], outputs: dict[str, str], ordinal: dict[str, list[str]]
) -> None:
    """Raise ValueError unless `outputs` and `ordinal` name real attributes and list every ordinal value."""
    names = attribute_names(mapping)
    for label, attributes in (("outputs", outputs), ("ordinal", ordinal)):
        unknown = [a for a in attributes if a not in names]
        if unknown:
            raise ValueError(f"{label} names attribute(s) {unknown} the mapping does not have ({names})")
    for attribute, order in ordinal.items():
        values = [attrs[attribute] for attrs in mapping.values()]
        if any(not isinstance(value, str) or value not in order for value in values):
            raise ValueError(f"every value of ordinal attribute '{attribute}' must be in its ordinal list")


SPEC = TransformSpec("encode", Params, "hierarchical category mapping with unknown fallback")
