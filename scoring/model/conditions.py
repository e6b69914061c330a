"""A small, safe condition language for rules and segments. No ``eval``: conditions are parsed into a tree of
plain objects at load time and evaluated against a flat mapping of fields.

YAML forms (``field`` is a dotted name such as ``properties.path``, ``email_domain`` or ``attributes.budget``)::

    {field: properties.path, starts_with: /pricing}
    {field: industry, in: [finance, banking]}
    {field: email_domain, in_list: free_mail}          # a named list of the model
    {field: company_size, gte: 2000}
    {field: title, matches: "financial (advisor|adviser)"}
    {field: account_id, exists: true}
    {all: [...]}  {any: [...]}  {not: {...}}

String comparisons ignore case unless the condition says ``case_sensitive: true``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # typeshed describes re's parser under its old names (deprecated aliases of the same modules)
    import sre_constants as re_constants
    import sre_parse as re_parser
else:  # the parser and its opcodes (CPython 3.11+), without the old names' DeprecationWarning
    from re import _constants as re_constants
    from re import _parser as re_parser

FieldValue = str | int | float | None
Fields = Mapping[str, FieldValue]
Lists = Mapping[str, frozenset[str]]

STRING_OPERATORS = ("equals", "not_equals", "contains", "starts_with", "ends_with", "matches")
NUMBER_OPERATORS = ("gt", "gte", "lt", "lte")
LIST_OPERATORS = ("in", "in_list")
OPERATORS = (*STRING_OPERATORS, *NUMBER_OPERATORS, *LIST_OPERATORS, "exists")
MAX_REGEX_LENGTH = 200


class Condition(Protocol):
    def __call__(self, fields: Fields) -> bool: ...


class ConditionError(ValueError):
    """A condition in a model file is malformed. ``path`` locates it inside the condition, e.g. ``all[1].gte``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message

    def at(self, where: str) -> str:
        """The message located inside the file: ``where`` (e.g. ``b2b.yaml: rules[2] (id 'x').when``) + the path."""
        return f"{_join(where, self.path) if self.path else where}: {self.message}"


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path and not part.startswith("[") else f"{path}{part}"


def _text(value: FieldValue, case_sensitive: bool) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else _format_number(value)
    return text if case_sensitive else text.casefold()


def _format_number(value: float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _number(value: FieldValue) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class Compare:
    field: str
    operator: str
    operand: Any
    case_sensitive: bool = False

    def __call__(self, fields: Fields) -> bool:
        value = fields.get(self.field)
        op = self.operator
        if op == "exists":
            return (value is not None and value != "") is self.operand
        if op in _NUMERIC:
            number = _number(value)
            return number is not None and bool(_NUMERIC[op](number, self.operand))
        text = _text(value, self.case_sensitive)
        if text is None:
            return op == "not_equals"
        if op == "matches":
            return self.operand.search(text) is not None
        return bool(_TEXTUAL[op](text, self.operand))


_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}
_TEXTUAL: dict[str, Callable[[str, Any], bool]] = {
    "equals": operator.eq,
    "not_equals": operator.ne,
    "contains": operator.contains,
    "starts_with": str.startswith,
    "ends_with": str.endswith,
    "in": lambda text, options: text in options,
    "in_list": lambda text, options: text in options,
}


@dataclass(frozen=True, slots=True)
class All:
    parts: tuple[Condition, ...]

    def __call__(self, fields: Fields) -> bool:
        return all(part(fields) for part in self.parts)


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Condition, ...]

    def __call__(self, fields: Fields) -> bool:
        return any(part(fields) for part in self.parts)


@dataclass(frozen=True, slots=True)
class Not:
    part: Condition

    def __call__(self, fields: Fields) -> bool:
        return not self.part(fields)


def always(fields: Fields) -> bool:
    """The condition of a rule without ``when``."""
    return True


def parse_condition(raw: Any, lists: Lists, path: str = "") -> Condition:
    """Parse YAML data into a condition; raise :class:`ConditionError` naming the path of the fault."""
    where = path
    if not isinstance(raw, Mapping):
        raise ConditionError(where, "expected a mapping such as {field: ..., equals: ...}")
    for combinator in ("all", "any"):
        if combinator in raw:
            _only(raw, {combinator}, where)
            items = raw[combinator]
            if not isinstance(items, Sequence) or isinstance(items, str) or not items:
                raise ConditionError(_join(where, combinator), "expected a non-empty list of conditions")
            parts = tuple(
                parse_condition(item, lists, _join(where, f"{combinator}[{n}]")) for n, item in enumerate(items)
            )
            return All(parts) if combinator == "all" else AnyOf(parts)
    if "not" in raw:
        _only(raw, {"not"}, where)
        return Not(parse_condition(raw["not"], lists, _join(where, "not")))
    return _parse_compare(raw, lists, where)


def _only(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = set(raw) - allowed
    if extra:
        raise ConditionError(where, f"unexpected key(s) {sorted(extra)} next to {sorted(allowed)}")


def _parse_compare(raw: Mapping[str, Any], lists: Lists, where: str) -> Condition:
    field = raw.get("field")
    if not isinstance(field, str) or not field:
        raise ConditionError(_join(where, "field"), "required: the name of a field such as properties.path")
    case_sensitive = raw.get("case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise ConditionError(_join(where, "case_sensitive"), "expected true or false")
    operators = [key for key in raw if key not in ("field", "case_sensitive")]
    if len(operators) != 1 or operators[0] not in OPERATORS:
        raise ConditionError(where, f"expected exactly one operator of {', '.join(OPERATORS)}; got {operators}")
    op = operators[0]
    operand = raw[op]
    at = _join(where, op)
    fold = (lambda text: text) if case_sensitive else str.casefold
    if op == "exists":
        if not isinstance(operand, bool):
            raise ConditionError(at, "expected true or false")
        return Compare(field, op, operand)
    if op in NUMBER_OPERATORS:
        if isinstance(operand, bool) or not isinstance(operand, int | float) or not math.isfinite(operand):
            raise ConditionError(at, "expected a number")
        return Compare(field, op, float(operand))
    if op == "in":
        if not isinstance(operand, Sequence) or isinstance(operand, str) or not operand:
            raise ConditionError(at, "expected a non-empty list")
        return Compare(field, op, frozenset(fold(_scalar_text(item, at)) for item in operand), case_sensitive)
    if op == "in_list":
        if operand not in lists:
            known = ", ".join(sorted(lists)) or "none defined"
            raise ConditionError(at, f"no list named {operand!r} in the file's lists ({known})")
        return Compare(field, op, frozenset(fold(item) for item in lists[operand]), case_sensitive)
    text = _scalar_text(operand, at)
    if op == "matches":
        if len(text) > MAX_REGEX_LENGTH:
            raise ConditionError(at, f"regular expression longer than {MAX_REGEX_LENGTH} characters")
        try:
            pattern = re.compile(text, 0 if case_sensitive else re.IGNORECASE)
        except re.error as exc:
            raise ConditionError(at, f"invalid regular expression ({exc})") from None
        if _nested_repetition(re_parser.parse(text)):
            raise ConditionError(
                at,
                "regular expression repeats a group that itself repeats, like (a+)+: such patterns can take minutes "
                "on a short input (catastrophic backtracking); write it without the outer repetition",
            )
        return Compare(field, op, pattern, case_sensitive)
    return Compare(field, op, fold(text), case_sensitive)


_REPEATS = {re_constants.MAX_REPEAT, re_constants.MIN_REPEAT, re_constants.POSSESSIVE_REPEAT}


def _nested_repetition(parsed: Any, inside_repeat: bool = False) -> bool:
    """Whether a parsed pattern has an unbounded repetition inside another repetition (star height above one), the
    shape behind exponential backtracking in Python's ``re``. Input never runs patterns; models are checked once."""
    for op, argument in parsed:
        if op in _REPEATS:
            unbounded = argument[1] == re_constants.MAXREPEAT
            if (unbounded and inside_repeat) or _nested_repetition(argument[2], inside_repeat or unbounded):
                return True
        elif any(_nested_repetition(child, inside_repeat) for child in _children(op, argument)):
            return True
    return False


def _children(op: Any, argument: Any) -> list[Any]:
    if op is re_constants.SUBPATTERN:
        return [argument[-1]]
    if op is re_constants.BRANCH:
        return list(argument[1])
    if op in (re_constants.ASSERT, re_constants.ASSERT_NOT):
        return [argument[1]]
    return []


def _scalar_text(value: Any, at: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConditionError(at, "expected text or a number")
    return value if isinstance(value, str) else _format_number(value)
