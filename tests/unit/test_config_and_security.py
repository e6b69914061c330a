"""Issue 6, items 6 and 7, the part that needs no broker: bad configuration and hostile model files.

* A broken model file makes ``leadscore worker`` (a real process, through the CLI) refuse to start with one line
  naming the file and the field, no traceback.
* Rule conditions and event properties are data, never code (side-effect sentinels prove nothing ran).

A running worker (the query API's token, secrets at DEBUG, model reload at runtime) is checked on the broker in
tests/reliability/test_secrets_and_reload.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scoring import Engine, ModelError, load_model, parse_model
from streams.settings import load_settings
from tests.conftest import T0, make_event

# --------------------------------------------------------------------------------------------------------------
# 1. A broken model file: the worker refuses to start, naming the file and the field
# --------------------------------------------------------------------------------------------------------------

VALID_HEAD = "id: broken\nversion: 1\nchange_note: test\n"

# name -> (file text or None for a missing file, substrings the one-line error must contain)
BROKEN_MODELS: dict[str, tuple[str | None, list[str]]] = {
    "wrong-type": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 1}\n  - {id: x, event: page_view, points: lots}\n",
        ["broken.yaml", "rules[1] (id 'x').points", "expected a number"],
    ),
    "version-not-a-number": (
        "id: broken\nversion: one\nchange_note: t\nrules:\n  - {id: a, event: page_view, points: 1}\n",
        ["broken.yaml", "version", "expected a whole number"],
    ),
    "misspelt-optional-field": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 1, half_lfe: 3d}\n",
        ["broken.yaml", "rules[0] (id 'a').half_lfe", "unknown field"],
    ),
    # Only pydantic's first error is reported: the missing field, not the misspelt one next to it
    "misspelt-required-field": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, pionts: 1}\n",
        ["broken.yaml", "rules[0] (id 'a').points", "required field is missing"],
    ),
    "unknown-operator": (
        VALID_HEAD
        + "rules:\n  - {id: a, event: page_view, points: 1, when: {field: properties.path, startswith: /p}}\n",
        ["broken.yaml", "rules[0] (id 'a').when", "expected exactly one operator", "startswith"],
    ),
    "duplicate-rule-id": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 1}\n  - {id: a, event: form_fill, points: 2}\n",
        ["broken.yaml", "duplicate rule id 'a'"],
    ),
    "regex-does-not-compile": (
        VALID_HEAD
        + "rules:\n  - {id: a, event: page_view, points: 1, when: {field: properties.path, matches: '(x'}}\n",
        ["broken.yaml", "rules[0] (id 'a').when.matches", "invalid regular expression"],
    ),
    "level-leave-above-enter": (
        VALID_HEAD
        + "rules:\n  - {id: a, event: page_view, points: 1}\nlevels:\n  - {name: MQL, enter: 50, leave: 60}\n",
        ["broken.yaml", "levels[0]", "leave must not be above enter"],
    ),
    "bad-duration": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 1, half_life: 3 days}\n",
        ["broken.yaml", "rules[0] (id 'a').half_life", "expected a duration"],
    ),
    "yaml-syntax-error": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 1\n  - {id: b}\n",
        ["broken.yaml", "not valid YAML at line"],
    ),
    "python-object-tag": (  # PyYAML's unsafe loader would run os.system here; safe_load must refuse the tag
        VALID_HEAD
        + "rules:\n  - {id: a, event: page_view, points: !!python/object/apply:os.system ['touch {sentinel}']}\n",
        ["broken.yaml", "not valid YAML at line 5"],
    ),
    "empty-file": ("", ["broken.yaml", "expected a mapping"]),
    "missing-file": (None, ["broken.yaml", "cannot read model file"]),
}


def _clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEADSCORE_")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def refused_workers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Start ``leadscore worker`` once per broken model, all at once (each pays Faust's import time), and collect
    exit code and output. The bootstrap address is unreachable: the model must be refused before any connection."""
    processes: dict[str, tuple[subprocess.Popen[str], Path, list[str]]] = {}
    for name, (text, _) in BROKEN_MODELS.items():
        folder = tmp_path_factory.mktemp(name)
        path = folder / "broken.yaml"
        sentinel = folder / "pwned"
        if text is not None:
            path.write_text(text.replace("{sentinel}", str(sentinel)), encoding="utf-8")
        settings = load_settings(
            model_paths=[path], bootstrap_servers="127.0.0.1:9", data_dir=folder / "state", web_port=9
        )
        command = [sys.executable, "-m", "streams.cli", "worker"]
        process = subprocess.Popen(
            command,
            env=_clean_env(**settings.to_env()),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        processes[name] = (process, sentinel, command)
    results = {}
    try:
        for name, (process, sentinel, command) in processes.items():
            out, err = process.communicate(timeout=60)
            results[name] = (subprocess.CompletedProcess(command, process.returncode, out, err), sentinel)
    finally:
        for process, _, _ in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


@pytest.mark.parametrize("breakage", list(BROKEN_MODELS))
def test_worker_refuses_a_broken_model_with_one_line_naming_file_and_field(breakage, refused_workers):
    done, sentinel = refused_workers[breakage]
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in done.stderr + done.stdout
    for expected in BROKEN_MODELS[breakage][1]:
        assert expected in lines[0], lines[0]
    assert not sentinel.exists(), "the YAML tag ran code"


def test_a_model_may_name_an_event_type_nobody_sends(tmp_path):
    """By design (scoring/events.py: "A model may add its own types by naming them in a rule") a misspelt event
    type is a new event type: the model loads and the rule silently never scores. Stated here; see the report."""
    path = tmp_path / "typo.yaml"
    path.write_text(VALID_HEAD + "rules:\n  - {id: demo, event: demo_reqest, points: 30}\n", encoding="utf-8")
    model = load_model(path)
    assert model.event_types == {"demo_reqest"}
    assert Engine([model]).known_event_types >= {"demo_request", "demo_reqest"}


def test_duplicate_keys_in_a_model_file_are_refused(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 5, points: 500}\n", encoding="utf-8")
    with pytest.raises(ModelError, match="duplicate"):
        load_model(path)


# --------------------------------------------------------------------------------------------------------------
# 4. Conditions and event properties are data, never code
# --------------------------------------------------------------------------------------------------------------

CODE_PAYLOADS = [
    "__import__('os').system('touch {sentinel}')",
    "{0.__class__.__mro__[1].__subclasses__}",
    "{event.__init__.__globals__}",
    "%(x)s %s %n",
    "!!python/object/apply:os.system ['touch {sentinel}']",
    "'; touch {sentinel}; '",
    "$(touch {sentinel})",
]


def _model_with(when: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "m",
        "version": 1,
        "change_note": "payloads",
        "rules": [{"id": "r", "event": "page_view", "points": 7, "when": when}],
    }


@pytest.mark.parametrize("payload", CODE_PAYLOADS)
def test_payloads_in_model_conditions_and_event_properties_are_plain_data(payload, tmp_path):
    """test_conditions.py covers parse_condition alone; this goes through the model file and the engine: the payload
    as a condition operand, as a field name, in a segment, and as an event property value and property name."""
    sentinel = tmp_path / "pwned"
    payload = payload.replace("{sentinel}", str(sentinel))
    models = [
        parse_model(_model_with({"field": "properties.path", "equals": payload})),
        parse_model(_model_with({"field": "properties.path", "contains": payload[3:9]})),
        parse_model(_model_with({"field": "properties.path", "in": [payload, "x"]})),
        parse_model(_model_with({"field": f"properties.{payload}", "exists": True})),
    ]
    segmented = {**_model_with({"field": "properties.path", "equals": payload}), "id": "seg"}
    segmented["segment"] = {"field": payload, "not_equals": payload}
    models.append(parse_model(segmented))
    for n, model in enumerate(models):
        engine = Engine([model])
        hit = make_event("lead-1", "page_view", T0, event_id=f"hit-{n}", path=payload, **{payload: "1"})
        miss = make_event("lead-1", "page_view", T0, event_id=f"miss-{n}", path="/pricing")
        assert engine.apply_event(None, hit).state.models[model.id].rules, f"payload did not match as text: {n}"
        assert not engine.apply_event(None, miss).state.models[model.id].rules
    assert not sentinel.exists()


def test_a_yaml_python_tag_inside_a_condition_is_refused_and_runs_nothing(tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "tag.yaml"
    path.write_text(
        VALID_HEAD + "rules:\n  - id: a\n    event: page_view\n    points: 1\n    when:\n"
        f"      field: !!python/object/apply:os.system ['touch {sentinel}']\n      equals: x\n"
        f"  - {{id: b, event: page_view, points: 1, when: {{field: x, equals: !!python/name:os.system ''}}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelError, match="not valid YAML at line"):
        load_model(path)
    assert not sentinel.exists()


def _alias_bomb(levels: int, fan_out: int = 10) -> str:
    """A "billion laughs" model: rule k's condition is ``any`` of fan_out aliases of rule k-1's. The YAML is small
    (aliases are shared references), but the condition tree parse_condition builds has fan_out**levels leaves."""
    lines = [VALID_HEAD + "rules:", "  - {id: r0, event: page_view, points: 1, when: &c0 {field: x, equals: y}}"]
    for k in range(1, levels + 1):
        refs = ", ".join([f"*c{k - 1}"] * fan_out)
        lines.append(f"  - {{id: r{k}, event: page_view, points: 1, when: &c{k} {{any: [{refs}]}}}}")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_in_a_model_is_refused(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(4), encoding="utf-8")
    assert len(path.read_bytes()) < 1500
    with pytest.raises(ModelError, match="aliases"):
        load_model(path)


def test_a_nested_quantifier_regex_is_refused_at_load():
    """Catastrophic backtracking: ``(a+)+$`` took 1.8 s on a 26-character property and doubles with each character."""
    for pattern in ["(a+)+$", "(a*)*b", "(x|y+)*z", "((ab)*)+"]:
        with pytest.raises(ModelError, match="repeats a group that itself repeats"):
            parse_model(_model_with({"field": "properties.q", "matches": pattern}))
    for pattern in ["financial (advisor|adviser)", "^[a-z]+@[a-z]+\\.com$", "(ab){2,5}", "x+y*z"]:
        parse_model(_model_with({"field": "properties.q", "matches": pattern}))
