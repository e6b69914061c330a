"""``leadscore sources check`` on the shipped example mappings and samples: what each record becomes, through the
worker's own decoding, mapping and input checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.cli.main import app

EXAMPLES = Path(__file__).parents[2] / "streams" / "sources" / "examples"
EXPECTED = {
    "segment": ["profile", "event", "event", "event", "event", "skipped", "skipped", "dead letter", "dead letter"],
    "snowplow": ["event", "event", "event", "skipped", "skipped", "dead letter"],
    "cloudevents": ["event", "event", "event", "dead letter", "dead letter"],
    "crm-avro": ["profile", "profile", "skipped"],
}


def check(name: str, *extra: str):
    sample = EXAMPLES / "samples" / f"{name}.jsonl"
    args = ["sources", "check", str(EXAMPLES / f"{name}.yaml"), "--sample", str(sample), *extra]
    return CliRunner().invoke(app, args)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_shipped_sample_becomes_what_its_mapping_says(name):
    extra = ["--schema", str(EXAMPLES / "crm-contact-change.avsc")] if name == "crm-avro" else []
    result = check(name, "--json", *extra)
    assert result.exit_code == 0, result.output
    outcomes = [json.loads(line) for line in result.output.splitlines()]
    assert [o["kind"] for o in outcomes] == EXPECTED[name]
    assert [o["line"] for o in outcomes] == list(range(1, len(EXPECTED[name]) + 1))


def test_the_table_reads_at_80_columns_and_strict_fails_on_dead_letters():
    result = CliRunner().invoke(
        app,
        ["sources", "check", str(EXAMPLES / "segment.yaml"), "-s", str(EXAMPLES / "samples" / "segment.jsonl")],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0
    assert all(len(line) <= 80 for line in result.output.splitlines())
    assert "events.occurred_at: 'last tuesday'" in result.output.replace("\n", " ").replace("  ", " ")
    assert "9 records: 4 event, 1 profile, 2 skipped, 2 dead letter" in result.output
    assert check("segment", "--strict").exit_code == 1


def test_event_types_are_checked_against_the_models_given(tmp_path):
    sources = tmp_path / "crm.yaml"
    sources.write_text(
        "version: 1\nsources:\n  - name: crm\n    topic: crm-activities\n    format: json\n    events:\n"
        "      {lead_id: who, event_id: id, type: {const: meeting_booked}, occurred_at: at}\n"
    )
    sample = tmp_path / "sample.jsonl"
    sample.write_text('{"who": "lead-1", "id": "a1", "at": "2024-05-06T09:00:00Z"}\n')
    model = tmp_path / "meetings.yaml"
    model.write_text(
        "id: meetings\nversion: 1\nchange_note: test\nrules:\n  - {id: meeting, event: meeting_booked, points: 30}\n"
    )

    def kinds(*extra: str) -> list[tuple[str, str]]:
        result = CliRunner().invoke(app, ["sources", "check", str(sources), "-s", str(sample), "--json", *extra])
        return [(o["kind"], o["detail"]) for o in map(json.loads, result.output.splitlines())]

    assert kinds() == [("dead letter", "InvalidEventError: unknown event type 'meeting_booked'")]
    assert kinds("-m", str(model)) == [("event", "id a1")]


def test_bad_input_is_one_line(tmp_path):
    missing = CliRunner().invoke(app, ["sources", "check", str(EXAMPLES / "segment.yaml"), "-s", "nowhere.jsonl"])
    assert missing.exit_code == 2
    assert missing.output.strip().splitlines() == [
        "error: nowhere.jsonl: cannot read the sample file ([Errno 2] No such file or directory: 'nowhere.jsonl')"
    ]
    both = tmp_path / "both.yaml"
    both.write_text(
        "version: 1\nsources:\n"
        "  - {name: a, topic: ta, format: leadscore}\n"
        "  - {name: b, topic: tb, format: leadscore}\n"
    )
    result = CliRunner().invoke(app, ["sources", "check", str(both), "-s", str(EXAMPLES / "samples" / "segment.jsonl")])
    assert result.exit_code == 2
    assert "say which source the sample is for with --source NAME (one of: a, b)" in result.output
