"""Schema evolution (ADR 012): every contract in ``schemas/`` stays compatible with every version of it ever committed.

Rules are Avro's own (``avro.compatibility``, the reference implementation's reader/writer rules):
- every schema is backward compatible: the current schema reads data written with any earlier version (the worker
  and consumers upgrade after producers have written old data);
- the schemas of the topics leadscore produces are also forward compatible: consumers still on an earlier version
  read what the upgraded worker writes.
Earlier versions: the released contracts kept in ``schemas/released/<version>/`` (always present), plus every
version in git history when the clone has it (a shallow clone or a source tarball checks the released ones only).
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from streams.kafka.topics import topic_specs
from streams.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
CONTRACTS = sorted(path.name for path in SCHEMAS.glob("*.avsc"))


def git(*args: str) -> str:
    result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"git {' '.join(args)} failed: {result.stderr.strip()} (the schema test needs the git history)")
    return result.stdout


RELEASED = SCHEMAS / "released"


@cache
def full_history() -> bool:
    shallow = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"], capture_output=True, text=True, check=False
    )
    return shallow.returncode == 0 and shallow.stdout.strip() == "false"


def released_versions(name: str) -> list[tuple[str, str]]:
    """``(release, text)`` of every released copy of ``schemas/<name>``."""
    return [(path.parent.name, path.read_text()) for path in sorted(RELEASED.glob(f"*/{name}"))]


def earlier_versions(relative: str) -> list[tuple[str, str]]:
    """``(where, text)`` of every released and every committed version of ``relative``."""
    versions = released_versions(Path(relative).name)
    if not full_history():
        return versions
    for commit in git("log", "--format=%H", "--", relative).split():
        shown = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{commit}:{relative}"], capture_output=True, text=True, check=False
        )
        if shown.returncode == 0:  # absent in a commit that deleted it
            versions.append((commit[:10], shown.stdout))
    return versions


def incompatibilities(reader: str, writer: str) -> list[str]:
    """Why data written with ``writer`` cannot be read with ``reader`` (empty: compatible), by Avro's rules."""
    checker = ReaderWriterCompatibilityChecker()  # type: ignore[no-untyped-call]
    result = checker.get_compatibility(avro.schema.parse(reader), avro.schema.parse(writer))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    return [f"{message} at {location}" for message, location in zip(result.messages, result.locations, strict=False)]


def produced_by_leadscore() -> set[str]:
    return {spec.schema for spec in topic_specs(load_settings()) if spec.role == "output"}


def test_every_contract_has_history() -> None:
    assert CONTRACTS, "no .avsc files found"
    registry = json.loads((SCHEMAS / "registry.json").read_text())["schemas"]
    assert sorted(registry.values()) == CONTRACTS
    for name in CONTRACTS:
        assert released_versions(name), f"schemas/{name} has no released copy in schemas/released/"


@pytest.mark.parametrize("name", CONTRACTS)
def test_current_schema_is_compatible_with_every_earlier_version(name: str) -> None:
    current = (SCHEMAS / name).read_text()
    record = json.loads(current)["name"]
    both_ways = record in produced_by_leadscore()
    problems = []
    for commit, earlier in earlier_versions(f"schemas/{name}"):
        problems += [f"{name}@{commit} backward: {why}" for why in incompatibilities(current, earlier)]
        if both_ways:
            problems += [f"{name}@{commit} forward: {why}" for why in incompatibilities(earlier, current)]
    assert not problems, "\n".join(problems)


def test_registry_ids_never_change() -> None:
    """A published id always names the same contract; an incompatible change gets a new id and a new file."""
    current = json.loads((SCHEMAS / "registry.json").read_text())["schemas"]
    for commit, text in earlier_versions("schemas/registry.json"):
        for schema_id, name in json.loads(text)["schemas"].items():
            now = current.get(schema_id)
            assert now == name, f"id {schema_id} named {name} in {commit}, now {now}"


def _with_fields(text: str, change) -> str:  # type: ignore[no-untyped-def]
    schema = json.loads(text)
    schema["fields"] = change(schema["fields"])
    return json.dumps(schema)


def test_a_new_field_without_default_is_caught() -> None:
    event = (SCHEMAS / "lead_event.avsc").read_text()
    with_default = _with_fields(event, lambda fields: [*fields, {"name": "channel", "type": "string", "default": ""}])
    without_default = _with_fields(event, lambda fields: [*fields, {"name": "channel", "type": "string"}])
    assert incompatibilities(with_default, event) == []
    problems = incompatibilities(without_default, event)
    assert problems and "channel" in problems[0]


def test_a_removed_required_field_breaks_consumers_of_outputs() -> None:
    changed = (SCHEMAS / "score_changed.avsc").read_text()
    without_model = _with_fields(changed, lambda fields: [f for f in fields if f["name"] != "model_id"])
    assert incompatibilities(without_model, changed) == []  # the new reader ignores the old field: backward ok
    assert incompatibilities(changed, without_model)  # consumers on the old schema miss it: forward broken
    assert "ScoreChanged" in produced_by_leadscore()


def test_a_changed_type_is_caught() -> None:
    event = (SCHEMAS / "lead_event.avsc").read_text()
    int_time = _with_fields(
        event, lambda fields: [{**f, "type": "int"} if f["name"] == "occurred_at" else f for f in fields]
    )
    assert incompatibilities(int_time, event)
