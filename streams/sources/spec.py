"""The structure of a sources file, as pydantic validates it; errors name the file, the source and the field.

A sources file lists input topics, each with its format and a mapping from its records to lead events and/or lead
profiles::

    version: 1
    sources:
      - name: segment                  # in metrics, dead letters and the event's ``source`` (unless mapped)
        topic: web-analytics
        format: json                   # leadscore | avro | json | cloudevents
        skip: {field: type, in: [page, screen, group, alias]}  # records to ignore (counted), a condition
        events:
          when: {field: type, equals: track}
          lead_id: [userId, anonymousId]   # a path, or several: the first one present
          event_id: messageId
          type: {path: event, map: {Email Link Clicked: email_click}, unmapped: skip}
          occurred_at: {path: timestamp, format: iso8601}
          properties: {path: properties.url}
        profiles:
          when: {field: type, equals: identify}
          ...

A field is a path (``context.page.url``; a number indexes a list), a list of paths (the first present), or a
mapping with one of ``path``, ``const`` or ``template`` (``"crm-{Id}-{ChangeEventHeader.commitNumber}"``) and the
transforms ``default``, ``lowercase``, ``map`` with ``unmapped`` (keep, skip or error), and, for times, ``format``
(iso8601, epoch_ms, epoch_s, epoch_us, or a ``strptime`` pattern) with ``timezone`` for times without one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from scoring.model.spec import reject_duplicates
from scoring.model.yamlfile import describe_validation_error, read_yaml_file
from streams.errors import SourcesError

_IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Scalar = str | int | float | bool
TIME_FORMATS = ("iso8601", "epoch_ms", "epoch_s", "epoch_us")
_FRIENDLY = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (check the spelling)",
    "string_type": "expected text",
    "string_pattern_mismatch": "must be letters, digits, '_', '.' or '-' (at most 64)",
    "too_short": "must not be empty",
}


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _shorthand(value: Any) -> Any:
    """``userId`` and ``[userId, anonymousId]`` are short for ``{path: ...}``."""
    return {"path": value} if isinstance(value, str | list) else value


class FieldSpec(_Spec):
    path: str | list[str] | None = None
    const: Scalar | None = None
    template: str | None = None
    default: Scalar | None = None
    lowercase: bool = False
    map: dict[str, str] | None = None
    unmapped: Literal["keep", "skip", "error"] = "keep"
    format: str | None = None
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _one_origin(self) -> FieldSpec:
        origins = [name for name in ("path", "const", "template") if getattr(self, name) is not None]
        if len(origins) != 1:
            raise ValueError("give exactly one of path, const or template")
        if isinstance(self.path, list) and not self.path:
            raise ValueError("path: give at least one path")
        if self.format is not None and self.format not in TIME_FORMATS and "%" not in self.format:
            raise ValueError(
                f"format: expected one of {', '.join(TIME_FORMATS)} or a strptime pattern such as %Y-%m-%d"
            )
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as UTC or Europe/Berlin)") from None
        return value


Mapped = Annotated[FieldSpec, BeforeValidator(_shorthand)]


class EventMapping(_Spec):
    """How a record becomes a ``LeadEvent``."""

    when: Any = None
    lead_id: Mapped
    anonymous_id: Mapped | None = None  # the lead id when lead_id is absent (scored under it)
    event_id: Mapped
    type: Mapped
    occurred_at: Mapped
    source: Mapped | None = None  # default: the source's name
    account_id: Mapped | None = None
    properties: dict[str, Mapped] = Field(default_factory=dict)
    properties_from: Mapped | None = None  # an object whose scalar entries become properties


class ProfileMapping(_Spec):
    """How a record becomes a ``LeadProfile`` (the full current profile: fields not mapped or absent are null)."""

    when: Any = None
    lead_id: Mapped
    anonymous_id: Mapped | None = None
    updated_at: Mapped
    email: Mapped | None = None
    company: Mapped | None = None
    company_size: Mapped | None = None
    industry: Mapped | None = None
    title: Mapped | None = None
    seniority: Mapped | None = None
    department: Mapped | None = None
    country: Mapped | None = None
    attributes: dict[str, Mapped] = Field(default_factory=dict)
    attributes_from: Mapped | None = None


class SourceSpec(_Spec):
    name: str = Field(pattern=_IDENTIFIER)
    topic: str = Field(min_length=1, max_length=249)
    format: Literal["leadscore", "avro", "json", "cloudevents"]
    skip: Any = None
    events: EventMapping | None = None
    profiles: ProfileMapping | None = None

    @model_validator(mode="after")
    def _mapping_fits_format(self) -> SourceSpec:
        mapped = self.events is not None or self.profiles is not None
        if self.format == "leadscore" and (mapped or self.skip is not None):
            raise ValueError("format leadscore is read as leadscore's own contract: no events, profiles or skip")
        if self.format != "leadscore" and not mapped:
            raise ValueError(f"format {self.format} needs an events or a profiles mapping")
        if self.events is not None and self.profiles is not None and self.events.when is None:
            raise ValueError(
                "with both events and profiles, events needs 'when' (records it does not take are profiles)"
            )
        return self


class SourcesSpec(_Spec):
    version: Literal[1]
    lists: dict[str, list[str]] = Field(default_factory=dict)  # named lists for in_list conditions
    sources: list[SourceSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> SourcesSpec:
        reject_duplicates("source name", (source.name for source in self.sources))
        reject_duplicates("source topic", (source.topic for source in self.sources))
        return self


def parse_sources(raw: Any, source: str = "<sources>") -> SourcesSpec:
    """Validate already-parsed YAML; raises :class:`SourcesError` naming ``source``, the source and the field."""
    if not isinstance(raw, dict):
        raise SourcesError(f"{source}: expected a mapping with version and sources")
    try:
        return SourcesSpec.model_validate(raw)
    except ValidationError as exc:
        raise SourcesError(describe_validation_error(exc, raw, source, _FRIENDLY)) from None


def read_sources_spec(path: Path) -> SourcesSpec:
    """Read and validate one sources file."""
    _, raw = read_yaml_file(path, "sources file", SourcesError)
    return parse_sources(raw, source=path.name)
