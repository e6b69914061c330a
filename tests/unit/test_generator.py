import json
from collections import Counter

import fastavro
from typer.testing import CliRunner

from schemas import SCHEMAS_DIR
from scoring import KNOWN_EVENT_TYPES, check_event
from streams.cli.main import app
from streams.datasets.synthetic import JourneyGenerator


def test_same_seed_same_events_and_different_seed_differs():
    first = list(JourneyGenerator(50, seed=3).events(500))
    assert first == list(JourneyGenerator(50, seed=3).events(500))
    assert first != list(JourneyGenerator(50, seed=4).events(500))


def test_events_are_valid_and_in_event_time_order():
    events = list(JourneyGenerator(200, seed=1).events(3000))
    for event in events:
        check_event(event, KNOWN_EVENT_TYPES)
    times = [e.occurred_at_ms for e in events]
    assert times == sorted(times)
    assert len({e.event_id for e in events}) == len(events)


def test_personas_behave_as_described():
    generator = JourneyGenerator(400, seed=2)
    by_persona: dict[str, Counter] = {}
    for event in generator.events(20000):
        by_persona.setdefault(generator.persona_of(event.lead_id), Counter())[event.type] += 1
    assert by_persona["engaged buyer"]["demo_request"] > 0
    assert by_persona["engaged buyer"]["page_view"] > 0
    assert set(by_persona["tire-kicker"]) == {"email_open"}
    assert by_persona["student"]["content_download"] > 0
    assert by_persona["student"]["demo_request"] == 0
    assert by_persona["churner"]["unsubscribe"] > 0


def test_generate_command_writes_schema_valid_json_lines():
    result = CliRunner().invoke(app, ["generate", "--leads", "20", "--events", "100", "--seed", "5"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 100
    schema = fastavro.parse_schema(json.loads((SCHEMAS_DIR / "lead_event.avsc").read_text()))
    records = [json.loads(line) for line in lines]
    assert all(fastavro.validate(record, schema) for record in records)
    assert len({r["lead_id"] for r in records}) <= 20
