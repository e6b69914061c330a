"""A decoded record to a lead event or profile, by one source's mapping (compiled once, applied per record).

:meth:`RecordMapper.map` returns a :class:`~scoring.LeadEvent`, a :class:`~scoring.LeadProfile`, or a
:class:`Skipped` (the ``skip`` condition held, no mapping's ``when`` did, or a value was not in a map with
``unmapped: skip``); it raises :class:`~streams.errors.SourceMappingError` naming the step that failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scoring import LeadEvent, LeadProfile
from scoring.model.conditions import Condition, ConditionError, Lists, parse_condition
from streams.errors import SourceMappingError, SourcesError
from streams.sources.fields import FieldReader, RecordFields, Unmapped, compile_field, text
from streams.sources.spec import EventMapping, FieldSpec, ProfileMapping, SourceSpec

PROFILE_TEXT_FIELDS = ("email", "company", "industry", "title", "seniority", "department", "country")


@dataclass(frozen=True)
class Skipped:
    """A record the source ignores on purpose (counted, never dead-lettered), and why."""

    reason: str


Mapped = LeadEvent | LeadProfile | Skipped


@dataclass(frozen=True)
class TextMap:
    """``properties`` / ``attributes``: the scalar entries of an object (``properties_from``), then each named field,
    as text; absent values are left out."""

    whole: FieldReader | None
    named: dict[str, FieldReader]

    def read(self, record: Any) -> dict[str, str]:
        texts = {} if self.whole is None else self._whole(record, self.whole)
        for name, reader in self.named.items():
            value = reader.optional_text(record)
            if value is not None:
                texts[name] = value
        return texts

    @staticmethod
    def _whole(record: Any, reader: FieldReader) -> dict[str, str]:
        value = reader.read(record)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise SourceMappingError(f"{reader.where}: {reader.described} is not an object")
        return {str(k): text(v) for k, v in value.items() if v is not None and not isinstance(v, Mapping | list)}


def _text_map(whole: FieldSpec | None, named: Mapping[str, FieldSpec], where: str) -> TextMap:
    return TextMap(
        _optional(whole, f"{where}_from"),
        {name: compile_field(spec, f"{where}.{name}") for name, spec in named.items()},
    )


def _optional(spec: FieldSpec | None, where: str) -> FieldReader | None:
    return None if spec is None else compile_field(spec, where)


def _lead_id(lead: FieldReader, anonymous: FieldReader | None, record: Any) -> str:
    """The lead id, or the anonymous id when there is none yet (the event is scored under it)."""
    value = lead.optional_text(record)
    if value is None and anonymous is not None:
        value = anonymous.optional_text(record)
    if value is None:
        also = "" if anonymous is None else f" (nor at {anonymous.described})"
        raise SourceMappingError(f"{lead.where}: no value at {lead.described}{also}")
    return value


class EventReader:
    """One source's ``events`` mapping, compiled."""

    def __init__(self, spec: EventMapping, source_name: str) -> None:
        where = "events"
        self.lead_id = compile_field(spec.lead_id, f"{where}.lead_id")
        self.anonymous_id = _optional(spec.anonymous_id, f"{where}.anonymous_id")
        self.event_id = compile_field(spec.event_id, f"{where}.event_id")
        self.type = compile_field(spec.type, f"{where}.type")
        self.occurred_at = compile_field(spec.occurred_at, f"{where}.occurred_at")
        self.source = _optional(spec.source, f"{where}.source")
        self.source_name = source_name
        self.account_id = _optional(spec.account_id, f"{where}.account_id")
        self.properties = _text_map(spec.properties_from, spec.properties, f"{where}.properties")

    def read(self, record: Any) -> LeadEvent:
        return LeadEvent(
            event_id=self.event_id.required_text(record),
            lead_id=_lead_id(self.lead_id, self.anonymous_id, record),
            type=self.type.required_text(record),
            occurred_at_ms=self.occurred_at.time_ms(record),
            source=self.source_name if self.source is None else self.source.required_text(record),
            properties=self.properties.read(record),
            account_id=None if self.account_id is None else self.account_id.optional_text(record),
        )


class ProfileReader:
    """One source's ``profiles`` mapping, compiled."""

    def __init__(self, spec: ProfileMapping) -> None:
        where = "profiles"
        self.lead_id = compile_field(spec.lead_id, f"{where}.lead_id")
        self.anonymous_id = _optional(spec.anonymous_id, f"{where}.anonymous_id")
        self.updated_at = compile_field(spec.updated_at, f"{where}.updated_at")
        self.texts = {
            name: reader
            for name in PROFILE_TEXT_FIELDS
            if (reader := _optional(getattr(spec, name), f"{where}.{name}")) is not None
        }
        self.company_size = _optional(spec.company_size, f"{where}.company_size")
        self.attributes = _text_map(spec.attributes_from, spec.attributes, f"{where}.attributes")

    def read(self, record: Any) -> LeadProfile:
        return LeadProfile(
            lead_id=_lead_id(self.lead_id, self.anonymous_id, record),
            updated_at_ms=self.updated_at.time_ms(record),
            company_size=None if self.company_size is None else self.company_size.optional_int(record),
            attributes=self.attributes.read(record),
            **{name: reader.optional_text(record) for name, reader in self.texts.items()},
        )


class RecordMapper:
    """A source's ``skip``, ``events`` and ``profiles``, compiled; ``lists`` serve ``in_list`` conditions."""

    def __init__(self, spec: SourceSpec, lists: Lists) -> None:
        self.name = spec.name
        self.skip = _condition(spec.skip, lists, "skip")
        self.events = None if spec.events is None else EventReader(spec.events, spec.name)
        self.events_when = None if spec.events is None else _condition(spec.events.when, lists, "events.when")
        self.profiles = None if spec.profiles is None else ProfileReader(spec.profiles)
        self.profiles_when = None if spec.profiles is None else _condition(spec.profiles.when, lists, "profiles.when")

    def map(self, record: Any) -> Mapped:
        if not isinstance(record, Mapping):
            raise SourceMappingError(f"expected an object, got {type(record).__name__}")
        fields = RecordFields(record)
        if self.skip is not None and self.skip(fields):
            return Skipped("the skip condition holds")
        try:
            if self.events is not None and (self.events_when is None or self.events_when(fields)):
                return self.events.read(record)
            if self.profiles is not None and (self.profiles_when is None or self.profiles_when(fields)):
                return self.profiles.read(record)
        except Unmapped as unmapped:
            return Skipped(str(unmapped))
        return Skipped("no mapping's when holds")


def _condition(raw: Any, lists: Lists, where: str) -> Condition | None:
    if raw is None:
        return None
    try:
        return parse_condition(raw, lists)
    except ConditionError as exc:
        raise SourcesError(exc.at(where)) from None
