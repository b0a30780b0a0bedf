"""drop: remove columns from the flow entirely.

Example::

    - drop: {columns: [ssn, first_name, last_name]}
"""

from __future__ import annotations

from typing import ClassVar

from vaultline.transforms.base import ColumnFlow, Protection, ProtectParams, TransformSpec


class Params(ProtectParams):
    protection: ClassVar[Protection] = Protection.DROP

    def output_columns(self) -> list[str]:
        return []

    def column_lineage(self) -> list[ColumnFlow]:
        return []

    def removed_columns(self) -> list[str]:
        return list(self.columns)


SPEC = TransformSpec("drop", Params, "remove columns")
