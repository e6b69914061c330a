"""Model files as text that reads like the hand-written examples (``scoring/examples/b2b.yaml``).

Rules are written one flow mapping per line when they fit in the line length, else one key per line with the
condition as a flow mapping; each rule may carry comment lines above it, each section a header. Strings are written
plain when YAML reads them back as the same string, double-quoted with YAML escapes otherwise.
The text loads back (``scoring.load_model``) to exactly the values given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

LINE_LENGTH = 118
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*|\d+(\.\d+)?(ms|s|m|h|d|w)")
_RESERVED = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})
_TOP_ORDER = (
    "id",
    "version",
    "change_note",
    "author",
    "description",
    "lists",
    "segment",
    "engagement",
    "fit",
    "combined",
    "grades",
    "lateness",
)
_SECTION = {"engagement": "engagement: behaviour", "fit": "fit: profile"}


def scalar(value: Any) -> str:
    """One YAML scalar that reads back as ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write {value} in a model file")
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.casefold() not in _RESERVED:
        return text
    return '"' + "".join(_escape(char) for char in text) + '"'


def _escape(char: str) -> str:
    """One character inside a YAML double-quoted string: printable ASCII as is, everything else escaped."""
    if char in '"\\':
        return "\\" + char
    code = ord(char)
    if 0x20 <= code < 0x7F:
        return char
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def flow(value: Any) -> str:
    """A value in YAML flow style: ``{field: properties.origin, equals: paid_search}``."""
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{scalar(key)}: {flow(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(flow(item) for item in value) + "]"
    return scalar(value)


def _wrapped(prefix: str, items: Sequence[str]) -> list[str]:
    """``prefix[a, b, c]``, continued on lines aligned after the bracket when it is too long for one line."""
    lines: list[str] = []
    line = prefix + "["
    for index, item in enumerate(items):
        piece = item + ("," if index < len(items) - 1 else "]")
        if len(line) + len(piece) + 1 > LINE_LENGTH and not line.endswith("["):
            lines.append(line.rstrip())
            line = " " * (len(prefix) + 1)
        line += piece + ("" if index == len(items) - 1 else " ")
    if not items:
        line += "]"
    lines.append(line)
    return lines


def _comments(lines: Sequence[str], indent: str) -> list[str]:
    return [f"{indent}# {line}".rstrip() for line in lines]


def _rule(rule: Mapping[str, Any]) -> list[str]:
    one_line = f"  - {flow(rule)}"
    if len(one_line) <= LINE_LENGTH:
        return [one_line]
    lines = []
    for index, (key, value) in enumerate(rule.items()):
        lead = "  - " if index == 0 else "    "
        lines.append(f"{lead}{scalar(key)}: {flow(value)}")
    return lines


def _section(key: str, value: Any) -> list[str]:
    """``key: {flow}``, or, when too long for a line, a block of one ``name: {flow}`` line per entry (a list of
    mappings one item a line): the ``account:`` section, for example."""
    one_line = f"{key}: {flow(value)}"
    if len(one_line) <= LINE_LENGTH or not isinstance(value, Mapping):
        return [one_line]
    lines = [f"{key}:"]
    for name, item in value.items():
        line = f"  {scalar(name)}: {flow(item)}"
        if len(line) > LINE_LENGTH and isinstance(item, list):
            lines.append(f"  {scalar(name)}:")
            lines.extend(f"    - {flow(entry)}" for entry in item)
        else:
            lines.append(line)
    return lines


def model_yaml(
    model: Mapping[str, Any],
    header: Sequence[str] = (),
    rule_comments: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The text of a model file for ``model`` (parsed-YAML form), with ``header`` comment lines on top and
    ``rule_comments[rule_id]`` above each rule."""
    notes = rule_comments or {}
    lines = _comments(header, "")
    for key in [*_TOP_ORDER, *(k for k in model if k not in _TOP_ORDER and k not in ("rules", "levels"))]:
        if key not in model:
            continue
        value = model[key]
        if key == "lists" and value:
            lines.append("lists:")
            for name, items in value.items():
                lines.extend(_wrapped(f"  {scalar(name)}: ", [flow(item) for item in items]))
        elif key == "grades":
            lines.append("grades:")
            lines.extend(f"  - {flow(grade)}" for grade in value)
        else:
            lines.extend(_section(key, value))
    lines.append("rules:")
    dimension = None
    for rule in model["rules"]:
        if rule.get("dimension", "engagement") != dimension:
            dimension = rule.get("dimension", "engagement")
            title = f"# --- {_SECTION.get(str(dimension), str(dimension))} "
            lines.append(f"  {title}{'-' * max(3, LINE_LENGTH - 2 - len(title))}")
        lines.extend(_comments(notes.get(rule["id"], ()), "  "))
        lines.extend(_rule(rule))
    if model.get("levels"):
        lines.append("levels:")
        lines.extend(f"  - {flow(level)}" for level in model["levels"])
    return "\n".join(lines) + "\n"
