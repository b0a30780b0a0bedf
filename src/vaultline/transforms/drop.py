"""drop: remove columns from the flow entirely.

Example::

    - drop: {columns: [ssn, first_name, last_name]}
"""

from __future__ import annotations

from typing import ClassVar

from vaultline.transforms.base import Protection, ProtectParams, TransformSpec


class Params(ProtectParams):
    protection: ClassVar[Protection] = Protection.DROP

    def output_columns(self) -> list[str]:
        return []


SPEC = TransformSpec("drop", Params, "remove columns")
