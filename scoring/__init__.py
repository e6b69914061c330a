"""leadscore's pure scoring domain: models, rules, scores, thresholds and explanations.

Nothing here does I/O or reads the clock; time arrives as event time in Unix milliseconds.
"""

from scoring.engine import (
    Cause,
    Contribution,
    Direction,
    LeadScore,
    Outcome,
    ScoreChange,
    ThresholdCrossing,
    derived_id,
    level_for,
    score_event,
)
from scoring.errors import InvalidEventError, LeadscoreError, ModelError
from scoring.events import KNOWN_EVENT_TYPES, LeadEvent, check_event
from scoring.examples import example_model_path
from scoring.model import Level, Rule, ScoringModel, load_model, load_models, parse_model
from scoring.state import LeadState, score_lead

__all__ = [
    "KNOWN_EVENT_TYPES",
    "Cause",
    "Contribution",
    "Direction",
    "InvalidEventError",
    "LeadEvent",
    "LeadScore",
    "LeadState",
    "LeadscoreError",
    "Level",
    "ModelError",
    "Outcome",
    "Rule",
    "ScoreChange",
    "ScoringModel",
    "ThresholdCrossing",
    "check_event",
    "derived_id",
    "example_model_path",
    "level_for",
    "load_model",
    "load_models",
    "parse_model",
    "score_event",
    "score_lead",
]
