"""Reading one field out of a decoded record (JSON objects, CloudEvents, Avro records as dicts): paths, templates,
transforms and event times, compiled once per source from its :class:`~streams.sources.spec.FieldSpec`.

Every failure raises :class:`~streams.errors.SourceMappingError` with the step that failed, which becomes the dead
letter's reason: ``events.occurred_at: '2024-13-01' at timestamp is not an iso8601 time``.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from scoring.model.conditions import FieldValue
from streams.errors import SourceMappingError
from streams.sources.spec import FieldSpec

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_EPOCH_SCALE = {"epoch_s": 1000, "epoch_ms": 1, "epoch_us": 0.001}
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
MISSING: Any = object()  # a path that leads nowhere (distinct from an explicit null, which is also "absent")


class Unmapped(Exception):
    """A value not in a field's ``map`` with ``unmapped: skip``: the record is skipped, not dead-lettered."""


@functools.lru_cache(maxsize=4096)
def split_path(path: str) -> tuple[str | int, ...]:
    """``context.page.url`` -> ("context", "page", "url"); a number indexes a list (``contexts.0.data``)."""
    return tuple(int(part) if part.isdigit() else part for part in path.split("."))


def follow(record: Any, parts: tuple[str | int, ...]) -> Any:
    """The value at ``parts`` inside ``record``, or :data:`MISSING`."""
    node = record
    for part in parts:
        # decoded JSON and Avro are plain dicts: tested first, without the abstract-class check
        if type(node) is dict or isinstance(node, Mapping):
            node = node.get(part if isinstance(part, str) else str(part), MISSING)
        elif isinstance(node, list) and isinstance(part, int):
            node = node[part] if part < len(node) else MISSING
        else:
            return MISSING
        if node is MISSING:
            return MISSING
    return node


def text(value: Any) -> str:
    """A value as the text a LeadEvent carries: numbers without a trailing ``.0``, booleans in lower case,
    objects and lists as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode()


class RecordFields(Mapping[str, FieldValue]):
    """A record seen by a condition (``skip``, ``when``): a dotted name reads the value at that path; objects and
    lists read as absent, booleans as ``true``/``false``."""

    def __init__(self, record: Any) -> None:
        self.record = record

    def __getitem__(self, name: str) -> FieldValue:
        value = follow(self.record, split_path(name))
        if value is MISSING or value is None or isinstance(value, Mapping | list):
            raise KeyError(name)
        if isinstance(value, bool | datetime):
            return text(value)
        return value if isinstance(value, str | int | float) else text(value)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self.record) if isinstance(self.record, Mapping) else iter(())

    def __len__(self) -> int:
        return len(self.record) if isinstance(self.record, Mapping) else 0


@dataclass(frozen=True)
class FieldReader:
    """One compiled field: ``read(record)`` gives its value after the transforms, or None when absent."""

    where: str  # e.g. "events.type", for error messages
    origin: Callable[[Any], Any]
    described: str  # what the value was read from, e.g. "event" or "userId or anonymousId"
    spec: FieldSpec

    def read(self, record: Any) -> Any:
        value = self.origin(record)
        if value is MISSING or value is None or value == "":
            value = self.spec.default
        if value is None:
            return None
        spec = self.spec
        if spec.lowercase and isinstance(value, str):
            value = value.lower()
        if spec.map is not None:
            mapped = spec.map.get(text(value))
            if mapped is not None:
                return mapped
            if spec.unmapped == "skip":
                raise Unmapped(f"{self.where}: {text(value)!r} is not in the map")
            if spec.unmapped == "error":
                raise SourceMappingError(f"{self.where}: {text(value)!r} at {self.described} is not in the map")
        return value

    def required_text(self, record: Any) -> str:
        value = self.read(record)
        if value is None:
            raise SourceMappingError(f"{self.where}: no value at {self.described}")
        return text(value)

    def optional_text(self, record: Any) -> str | None:
        value = self.read(record)
        return None if value is None else text(value)

    def optional_int(self, record: Any) -> int | None:
        value = self.read(record)
        if value is None:
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise SourceMappingError(f"{self.where}: {text(value)!r} at {self.described} is not a number") from None
        if not math.isfinite(number) or not number.is_integer():
            raise SourceMappingError(f"{self.where}: {text(value)!r} at {self.described} is not a whole number")
        return int(number)

    def time_ms(self, record: Any) -> int:
        """The value as Unix milliseconds (UTC), read in the field's ``format``."""
        value = self.read(record)
        if value is None:
            raise SourceMappingError(f"{self.where}: no value at {self.described}")
        try:
            return _to_millis(value, self.spec.format, ZoneInfo(self.spec.timezone))
        except (ValueError, TypeError, OverflowError):
            fmt = self.spec.format or "iso8601"
            raise SourceMappingError(
                f"{self.where}: {text(value)[:80]!r} at {self.described} is not a time in format {fmt}"
            ) from None


def compile_field(spec: FieldSpec, where: str) -> FieldReader:
    """The reader of one field spec."""
    if spec.const is not None:
        constant = spec.const
        return FieldReader(where, lambda record: constant, "a constant", spec)
    if spec.template is not None:
        return FieldReader(where, _template(spec.template), f"template {spec.template!r}", spec)
    paths = [spec.path] if isinstance(spec.path, str) else list(spec.path or [])
    return FieldReader(where, _first_present([split_path(p) for p in paths]), " or ".join(paths), spec)


def _first_present(paths: list[tuple[str | int, ...]]) -> Callable[[Any], Any]:
    if len(paths) == 1:
        (only,) = paths
        return lambda record: follow(record, only)

    def first(record: Any) -> Any:
        for parts in paths:
            value = follow(record, parts)
            if value is not MISSING and value is not None and value != "":
                return value
        return MISSING

    return first


def _template(template: str) -> Callable[[Any], Any]:
    """``"crm-{Id}"``: each ``{path}`` replaced by the text at that path; any path absent makes the value absent."""
    names = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    parts = {name: split_path(name) for name in names}

    def render(record: Any) -> Any:
        values = {}
        for name, path in parts.items():
            value = follow(record, path)
            if value is MISSING or value is None or value == "":
                return MISSING
            values[name] = text(value)
        return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)

    return render


def _to_millis(value: Any, fmt: str | None, zone: ZoneInfo) -> int:
    if isinstance(value, datetime):  # an Avro timestamp-millis (or -micros) decoded by fastavro
        return _datetime_ms(value, zone)
    if fmt in _EPOCH_SCALE:
        number = float(value) if isinstance(value, str) else value
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise TypeError(value)
        return _scaled(number, fmt)
    if not isinstance(value, str):
        raise TypeError(value)  # a number needs format epoch_ms / epoch_s / epoch_us
    if fmt is None or fmt == "iso8601":
        return _datetime_ms(datetime.fromisoformat(value.strip()), zone)
    return _datetime_ms(datetime.strptime(value.strip(), fmt), zone)


def _scaled(number: float, fmt: str) -> int:
    """Epoch numbers to whole milliseconds, exactly for integers; fractions of a millisecond are dropped."""
    if isinstance(number, int):
        return {"epoch_s": number * 1000, "epoch_ms": number, "epoch_us": number // 1000}[fmt]
    if not math.isfinite(number):
        raise ValueError(number)
    return math.floor(round(number * _EPOCH_SCALE[fmt], 6))


def _datetime_ms(moment: datetime, zone: ZoneInfo) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return (moment - _EPOCH) // _MS
