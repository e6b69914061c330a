"""Reading the YAML files people write (model files, sources files): safe tags only, no aliases, no duplicate keys,
and one-line errors that name the file and the line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from scoring.errors import LeadscoreError


class StrictYamlLoader(yaml.SafeLoader):
    """YAML for hand-written files: safe tags only, no aliases (a 1 kB file of nested aliases expands to a billion
    nodes), and no duplicate keys (``points: 5, points: 500`` would silently mean 500)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed here", mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def read_yaml_file(path: Path, what: str, error: type[LeadscoreError]) -> tuple[bytes, Any]:
    """``(the file's bytes, its parsed YAML)``; raises ``error`` naming ``path`` (and the line) when it cannot."""
    try:
        content = path.read_bytes()
        return content, yaml.load(content.decode("utf-8"), Loader=StrictYamlLoader)  # a SafeLoader subclass
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        detail = f": {problem}" if problem and ("duplicate" in problem or "alias" in problem) else ""
        raise error(f"{path}: not valid YAML{where}{detail}") from None


def describe_validation_error(error: ValidationError, raw: Any, source: str, friendly: Mapping[str, str]) -> str:
    """The first error as ``source: rules[3] (id 'demo').points: expected a number`` (``friendly``: plainer words
    for pydantic's error types)."""
    first = error.errors()[0]
    message = friendly.get(first["type"], first["msg"].removeprefix("Value error, "))
    return f"{source}: {location(first['loc'], raw)}: {message}"


def location(loc: Sequence[int | str], raw: Any) -> str:
    """Render a pydantic location as ``rules[3] (id 'demo').points``, naming the item by its ``id`` or ``name``."""
    text = ""
    node = raw
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict):
                for key in ("id", "name"):
                    if key in node:
                        text += f" ({key} {node[key]!r})"
                        break
        else:
            text += f".{part}" if text else part
            node = node.get(part) if isinstance(node, dict) else None
    return text or "(top level)"
