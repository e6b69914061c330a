"""The model every contestant scores: the shipped b2b example model without its ``account:`` section.

The textbook agent and the Quix Streams peer score leads with leadscore's own ``Processor`` and have no account
agent, so a leadscore worker under the shipped file, which also rolls members up into accounts (issue 16), would
do work they skip. Every contestant (engine alone, ceiling aside, leadscore, two workers, textbook, peer, latency,
profile, recovery) scores this model; the ``accounts`` step measures what the section adds end to end
(``bench/accounts_e2e.py``) and ``bench/accounts.py`` in-process. Imports only ``scoring`` and PyYAML: the peer's
virtualenv loads it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scoring import ScoringModel, example_model_path, parse_model

FILE_NAME = "b2b-without-account.yaml"


def lead_model_raw() -> dict[str, Any]:
    """The shipped b2b model file's content, parsed, less its ``account:`` section."""
    raw: dict[str, Any] = yaml.safe_load(example_model_path("b2b").read_text(encoding="utf-8"))
    raw.pop("account")  # KeyError: the shipped file has no account section any more, so nothing is left out
    return raw


def lead_model() -> ScoringModel:
    """The contestants' model, compiled (for those that score in their own process)."""
    return parse_model(lead_model_raw(), source=f"b2b.yaml without account: ({FILE_NAME})")


def lead_model_file(directory: Path) -> Path:
    """The contestants' model as a file in ``directory``, for the workers' ``model_paths``."""
    path = directory / FILE_NAME
    path.write_text(yaml.safe_dump(lead_model_raw(), sort_keys=False), encoding="utf-8")
    return path
