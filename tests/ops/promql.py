"""Just enough PromQL reading for the tests: the series selectors an expression reads.

An alert such as ``up{job="leadscore"} == 0`` is normally empty, so "the query returned data" proves nothing about
it. Every selector inside it, run alone, must return data instead: a misspelt metric or label returns nothing.
"""

from __future__ import annotations

import re

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_SELECTOR_WITH_LABELS = re.compile(rf"({_NAME})?\s*\{{[^}}]*\}}")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_RANGE = re.compile(r"\[[^\]]*\]")
_OFFSET = re.compile(r"\boffset\s+-?[0-9a-z]+")
_NUMBER = re.compile(r"(?<![a-zA-Z_:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "Inf", "NaN"}


def selectors(expr: str) -> list[str]:
    """The series selectors of ``expr`` in order of appearance, without duplicates (ranges and offsets dropped)."""
    text = _GROUPING.sub(" ", expr)
    found: list[tuple[int, str]] = []

    def keep(match: re.Match[str]) -> str:
        found.append((match.start(), re.sub(r"\s+", "", match.group(0))))
        return " " * len(match.group(0))

    text = _SELECTOR_WITH_LABELS.sub(keep, text)
    for pattern in (_STRING, _RANGE, _OFFSET, _NUMBER):
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    for match in re.finditer(_NAME, text):
        follows = text[match.end() :].lstrip()
        if match.group(0) not in _KEYWORDS and not follows.startswith("("):
            found.append((match.start(), match.group(0)))
    return list(dict.fromkeys(selector for _, selector in sorted(found)))


def metric_name(selector: str) -> str:
    return selector.split("{", 1)[0]
