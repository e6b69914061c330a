"""Lead profiles (explicit attributes for fit) as the scoring core sees them, and the fields conditions read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scoring.errors import InvalidEventError
from scoring.events import check_ids_and_time
from scoring.model.conditions import FieldValue

PROFILE_FIELDS = ("email", "company", "company_size", "industry", "title", "seniority", "department", "country")


@dataclass(frozen=True, slots=True)
class LeadProfile:
    """The full current profile of a lead (not a patch), as of ``updated_at_ms`` (event time)."""

    lead_id: str
    updated_at_ms: int
    email: str | None = None
    company: str | None = None
    company_size: int | None = None
    industry: str | None = None
    title: str | None = None
    seniority: str | None = None
    department: str | None = None
    country: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


def profile_fields(profile: LeadProfile) -> dict[str, FieldValue]:
    """Fields for fit rules and segments: the attributes, ``email_domain``, and ``attributes.<name>``."""
    fields: dict[str, FieldValue] = {name: getattr(profile, name) for name in PROFILE_FIELDS}
    fields["lead_id"] = profile.lead_id
    email = profile.email or ""
    fields["email_domain"] = email.rpartition("@")[2].strip().lower() if "@" in email else None
    for name, value in profile.attributes.items():
        fields[f"attributes.{name}"] = value
    return fields


def check_profile(profile: LeadProfile) -> None:
    """Raise :class:`InvalidEventError` when ``profile`` cannot be used."""
    check_ids_and_time({"lead_id": profile.lead_id}, "updated_at", profile.updated_at_ms)
    if profile.company_size is not None and profile.company_size < 0:
        raise InvalidEventError(f"company_size {profile.company_size} is negative")
