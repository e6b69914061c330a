"""Events made up to match a rule's condition, and conditions in words: what ``scoring.path`` proposes to a person.

:func:`witness` gives the fields of one event that makes a condition true (or None when it cannot make one up,
e.g. a condition on a field events do not carry); :func:`describe` says a condition in a line of text.
A witness carries only what the condition needs, so other conditioned rules of the same event type usually do not
match it; when they do, the engine counts them, and so does the path search (it asks the rules, not the witness).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from scoring.model.conditions import All, AnyOf, Compare, Condition, Fields, Not, always

if TYPE_CHECKING:  # the regular-expression parser, as scoring.model.conditions reads it
    import sre_constants as re_constants
    import sre_parse as re_parser
else:
    from re import _constants as re_constants
    from re import _parser as re_parser

#: Fields an event can carry besides ``properties.<name>`` (``type`` is the rule's event type, never made up).
EVENT_FIELDS = ("source", "account_id")

_WORDS = {
    "equals": "is",
    "not_equals": "is not",
    "contains": "contains",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "matches": "matches",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "in": "is one of",
    "in_list": "is one of",
}


def witness(condition: Condition, event_type: str) -> dict[str, str] | None:
    """Fields (``properties.<name>``, ``source``, ``account_id``) of an event of ``event_type`` that makes
    ``condition`` true, checked against the condition itself; None when none could be made up."""
    made = {} if condition is always else _true(condition)
    if made is None or any(not (key.startswith("properties.") or key in EVENT_FIELDS) for key in made):
        return None
    fields: dict[str, str | None] = {"type": event_type, "source": None, "account_id": None, **made}
    return made if condition(fields) else None


def _merge(parts: list[dict[str, str] | None]) -> dict[str, str] | None:
    merged: dict[str, str] = {}
    for part in parts:
        if part is None or any(merged.get(key, value) != value for key, value in part.items()):
            return None
        merged.update(part)
    return merged


def _true(condition: Condition) -> dict[str, str] | None:
    """Fields that make ``condition`` true (not yet checked)."""
    if isinstance(condition, All):
        return _merge([_true(part) for part in condition.parts])
    if isinstance(condition, AnyOf):
        return next((made for part in condition.parts if (made := _true(part)) is not None and part(made)), None)
    if isinstance(condition, Not):
        return _false(condition.part)
    if isinstance(condition, Compare):
        value = _value(condition)
        return None if value is None else ({condition.field: value} if value else {})
    return None


def _false(condition: Condition) -> dict[str, str] | None:
    """Fields that make ``condition`` false (not yet checked)."""
    if isinstance(condition, All):
        return next((made for part in condition.parts if (made := _false(part)) is not None), None)
    if isinstance(condition, AnyOf):
        return _merge([_false(part) for part in condition.parts])
    if isinstance(condition, Not):
        return _true(condition.part)
    if isinstance(condition, Compare):
        if not condition({}):
            return {}  # the field left out
        if condition.operator == "not_equals":
            return {condition.field: str(condition.operand)}
        if condition.operator == "exists":
            return {condition.field: "yes"}
    return None


def _value(compare: Compare) -> str | None:
    """A field value that satisfies one comparison ('' for: leave the field out)."""
    op, operand = compare.operator, compare.operand
    if op == "exists":
        return "yes" if operand else ""
    if op == "not_equals":
        return ""
    if op in ("in", "in_list"):
        return str(min(operand))
    if op == "matches":
        return _example(operand)
    if op in ("gt", "gte", "lt", "lte"):
        number = operand + (1 if op == "gt" else -1 if op == "lt" else 0)
        return str(int(number)) if float(number).is_integer() else repr(number)
    return str(operand)


def _example(pattern: re.Pattern[str]) -> str | None:
    """A short text ``pattern`` finds (None when the pattern is beyond this small generator)."""
    try:
        text = _text(re_parser.parse(pattern.pattern, pattern.flags))
    except _Unsupported:
        return None
    return text if pattern.search(text) else None


class _Unsupported(Exception):
    pass


def _text(parsed: Any) -> str:
    out = []
    for op, argument in parsed:
        if op is re_constants.LITERAL:
            out.append(chr(argument))
        elif op is re_constants.ANY or op is re_constants.NOT_LITERAL:
            out.append("a" if argument != ord("a") else "b")
        elif op is re_constants.IN:
            out.append(_one_of(argument))
        elif op is re_constants.BRANCH:
            out.append(_text(argument[1][0]))
        elif op is re_constants.SUBPATTERN:
            out.append(_text(argument[-1]))
        elif op in (re_constants.MAX_REPEAT, re_constants.MIN_REPEAT, re_constants.POSSESSIVE_REPEAT):
            out.append(_text(argument[2]) * argument[0])
        elif op is not re_constants.AT:
            raise _Unsupported(op)
    return "".join(out)


def _one_of(items: Any) -> str:
    for op, argument in items:
        if op is re_constants.LITERAL:
            return chr(argument)
        if op is re_constants.RANGE:
            return chr(argument[0])
        if op is re_constants.CATEGORY:
            return {re_constants.CATEGORY_DIGIT: "0", re_constants.CATEGORY_SPACE: " "}.get(argument, "a")
        raise _Unsupported(op)
    raise _Unsupported("empty set")


def describe(condition: Condition) -> str:
    """``condition`` in words: ``properties.path starts with /pricing``."""
    if isinstance(condition, All):
        return " and ".join(describe(part) for part in condition.parts)
    if isinstance(condition, AnyOf):
        return "(" + " or ".join(describe(part) for part in condition.parts) + ")"
    if isinstance(condition, Not):
        return f"not ({describe(condition.part)})"
    if isinstance(condition, Compare):
        if condition.operator == "exists":
            return f"{condition.field} {'is set' if condition.operand else 'is not set'}"
        operand = condition.operand
        if isinstance(operand, re.Pattern):
            shown = operand.pattern
        elif isinstance(operand, frozenset):
            shown = ", ".join(sorted(operand))
        elif isinstance(operand, float) and operand.is_integer():
            shown = str(int(operand))
        else:
            shown = str(operand)
        return f"{condition.field} {_WORDS[condition.operator]} {shown}"
    return "any event"


def fields_of(made: Fields) -> tuple[dict[str, str], str | None, str | None]:
    """A witness split into an event's ``properties``, ``source`` and ``account_id``."""
    properties = {key.removeprefix("properties."): str(v) for key, v in made.items() if key.startswith("properties.")}
    source, account = made.get("source"), made.get("account_id")
    return properties, None if source is None else str(source), None if account is None else str(account)
