"""Model files: the YAML spec (``spec``), its compiled, immutable form the engine runs (``compile``), the safe
condition language of rules (``conditions``), writing a model back as commented YAML (``writer``) and what one
version changes against another (``diff``)."""

from scoring.model.compile import Level, Rule, ScoringModel, load_model, load_models, parse_model

__all__ = ["Level", "Rule", "ScoringModel", "load_model", "load_models", "parse_model"]
