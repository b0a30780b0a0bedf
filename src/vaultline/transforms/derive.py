"""derive: time since the entity's previous event, velocity, and safe column arithmetic.

- `time_since_previous`: seconds (or `unit`) since the same entity's previous event; the first
  event of an entity gets `first_value` (default null);
- `velocity`: number of the entity's events in the trailing `window` (e.g. `1h`, `24h`, `7d`),
  the current one included;
- `arithmetic`: an expression over columns and numbers with `+ - * / // % **`, parentheses and the
  functions `abs log log10 exp sqrt round floor ceil`. It is parsed into a small tree here; no
  user text is ever evaluated. `//` and `%` follow Python's signs (floor division, a remainder with
  the divisor's sign) but on floats compute `floor(x / y)` and `x - floor(x / y) * y` in floating
  point, so with non-integer operands they can differ from Python's exact result by one step of `y`
  (`1.0 // 0.1` is 10, not 9): use them on whole numbers.

Example::

    - derive:
        columns:
          time_delta: {kind: time_since_previous, entity: customer_id, time: timestamp}
          velocity: {kind: velocity, entity: customer_id, time: timestamp, window: 1h}
          amount_cents: {kind: arithmetic, expression: "round(amount * 100)"}
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from vaultline.durations import duration_seconds
from vaultline.input_model import InputModel
from vaultline.transforms.base import ColumnFlow, ColumnName, StepParams, TransformSpec

FUNCTIONS = ("abs", "log", "log10", "exp", "sqrt", "round", "floor", "ceil")
_OPERATORS: dict[type[ast.AST], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
}  # fmt: skip
_UNITS = {"ms": 0.001, "s": 1, "seconds": 1, "m": 60, "minutes": 60, "h": 3600, "hours": 3600, "d": 86400}


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class BinaryOp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Negate:
    operand: Node


@dataclass(frozen=True)
class Call:
    function: str
    argument: Node


Node = Column | Number | BinaryOp | Negate | Call


def parse_expression(text: str) -> Node:
    """Parse arithmetic into a Node tree; anything else (attributes, calls to other names...) is refused."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"not a valid expression: {exc.msg}") from None
    return _convert(tree)


def _convert(node: ast.AST) -> Node:
    if isinstance(node, ast.Name):
        return Column(node.id)
    number = node.value if isinstance(node, ast.Constant) else None
    if isinstance(number, int | float) and not isinstance(number, bool):
        try:
            value = float(number)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value):
            raise ValueError("numbers in an expression must be finite")
        return Number(value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return BinaryOp(_OPERATORS[type(node.op)], _convert(node.left), _convert(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _convert(node.operand)
        return Negate(inner) if isinstance(node.op, ast.USub) else inner
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in FUNCTIONS
        and len(node.args) == 1
        and not node.keywords
    ):
        return Call(node.func.id, _convert(node.args[0]))
    raise ValueError(
        f"{_what(node)} (column {getattr(node, 'col_offset', 0) + 1} of the expression) is not allowed: "
        f"use columns, numbers, + - * / // % ** and {', '.join(FUNCTIONS)}"
    )


def _what(node: ast.AST) -> str:
    """The construct, never its text: an expression may quote a value."""
    if isinstance(node, ast.Constant):
        return f"a {type(node.value).__name__} constant"
    if isinstance(node, ast.Call):
        return "a call of an unknown function" if isinstance(node.func, ast.Name) else "a call"
    return f"'{type(node).__name__}'"


def columns_of(node: Node) -> list[str]:
    if isinstance(node, Column):
        return [node.name]
    if isinstance(node, BinaryOp):
        return columns_of(node.left) + columns_of(node.right)
    if isinstance(node, Negate):
        return columns_of(node.operand)
    if isinstance(node, Call):
        return columns_of(node.argument)
    return []


class _Derivation(InputModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeSincePrevious(_Derivation):
    kind: Literal["time_since_previous"]
    entity: ColumnName
    time: ColumnName
    unit: Literal["ms", "s", "seconds", "m", "minutes", "h", "hours", "d"] = "s"
    first_value: float | None = None

    @property
    def seconds_per_unit(self) -> float:
        return float(_UNITS[self.unit])


class Velocity(_Derivation):
    kind: Literal["velocity"]
    entity: ColumnName
    time: ColumnName
    window: str = "1h"
    """Trailing window: a number and s, m, h or d."""

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        if not duration_seconds(value):
            raise ValueError("window must be a number followed by s, m, h or d, e.g. 1h")
        return value

    @property
    def window_seconds(self) -> int:
        seconds = duration_seconds(self.window)
        assert seconds, "validated by _window"
        return seconds


class Arithmetic(_Derivation):
    kind: Literal["arithmetic"]
    expression: str = Field(min_length=1, max_length=500)

    @field_validator("expression")
    @classmethod
    def _parses(cls, value: str) -> str:
        parse_expression(value)
        return value

    @property
    def tree(self) -> Node:
        return parse_expression(self.expression)


Derivation = Annotated[TimeSincePrevious | Velocity | Arithmetic, Field(discriminator="kind")]


class Params(StepParams):
    columns: dict[ColumnName, Derivation] = Field(min_length=1)
    """Output column -> how to derive it."""

    def input_columns(self) -> list[str]:
        cols: list[str] = []
        for d in self.columns.values():
            cols += columns_of(d.tree) if isinstance(d, Arithmetic) else [d.entity, d.time]
        return list(dict.fromkeys(cols))

    def output_columns(self) -> list[str]:
        return list(self.columns)

    def needs_all_rows(self) -> bool:
        return any(not isinstance(d, Arithmetic) for d in self.columns.values())

    def column_lineage(self) -> list[ColumnFlow]:
        flows: list[ColumnFlow] = []
        for target, d in self.columns.items():
            if isinstance(d, Arithmetic):
                sources = dict.fromkeys(columns_of(d.tree))
                flows += [ColumnFlow(target, column, description=d.kind) for column in sources]
            else:
                # the time column is measured (or counted), per entity: a window partitioned by it
                flows += [
                    ColumnFlow(
                        target,
                        d.time,
                        "AGGREGATION" if isinstance(d, Velocity) else "TRANSFORMATION",
                        description=d.kind,
                    ),
                    ColumnFlow(target, d.entity, "WINDOW", description=f"{d.kind} per entity"),
                ]
        return flows


SPEC = TransformSpec("derive", Params, "time deltas, velocity, safe arithmetic")
