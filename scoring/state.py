"""A lead's scores under every model, and its plain-data form for changelog-backed tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from scoring.engine import LeadScore, Outcome, score_event
from scoring.events import LeadEvent
from scoring.model import ScoringModel


@dataclass(frozen=True, slots=True)
class LeadState:
    """Everything leadscore keeps about one lead: one :class:`LeadScore` per model id."""

    lead_id: str
    scores: Mapping[str, LeadScore] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"lead_id": self.lead_id, "scores": {key: asdict(value) for key, value in self.scores.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LeadState:
        scores = {key: LeadScore(**value) for key, value in data["scores"].items()}
        return cls(lead_id=data["lead_id"], scores=scores)


def score_lead(
    models: Sequence[ScoringModel], state: LeadState | None, event: LeadEvent
) -> tuple[LeadState, tuple[Outcome, ...]]:
    """Apply ``event`` under every model; return the lead's new state and one outcome per model."""
    previous = state.scores if state is not None else {}
    outcomes = tuple(score_event(model, previous.get(model.id), event) for model in models)
    new_state = LeadState(lead_id=event.lead_id, scores={o.state.model_id: o.state for o in outcomes})
    return new_state, outcomes
