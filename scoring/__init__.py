"""leadscore's pure scoring domain: models, rules, conditions, decay, thresholds and explanations.

Nothing here does I/O or reads the clock; time arrives as event time in Unix milliseconds.
"""

from scoring.engine import Engine, LateEventError
from scoring.errors import InvalidEventError, LeadscoreError, ModelError
from scoring.events import KNOWN_EVENT_TYPES, LeadEvent, check_event, event_fields
from scoring.examples import example_model_path
from scoring.model.compile import Level, Rule, ScoringModel, load_model, load_models, parse_model
from scoring.outputs import (
    Cause,
    Contribution,
    Direction,
    ModelSnapshot,
    ScoreChange,
    ThresholdCrossing,
    Update,
    derived_id,
    event_digest,
)
from scoring.profiles import LeadProfile, check_profile, profile_fields
from scoring.state import LeadState, StateFormatError

__all__ = [
    "KNOWN_EVENT_TYPES",
    "Cause",
    "Contribution",
    "Direction",
    "Engine",
    "InvalidEventError",
    "LateEventError",
    "LeadEvent",
    "LeadProfile",
    "LeadState",
    "LeadscoreError",
    "Level",
    "ModelError",
    "ModelSnapshot",
    "Rule",
    "ScoreChange",
    "ScoringModel",
    "StateFormatError",
    "ThresholdCrossing",
    "Update",
    "check_event",
    "check_profile",
    "derived_id",
    "event_digest",
    "event_fields",
    "example_model_path",
    "load_model",
    "load_models",
    "parse_model",
    "profile_fields",
]
