"""``leadscore fit --bootstrap``: the history read back from the input topics gives the same model as the files."""

from __future__ import annotations

from typer.testing import CliRunner

from scoring import load_model
from streams.cli.main import app
from streams.kafka.clients import EventProducer
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.kafka.topics import create_topics
from streams.settings import load_settings
from tests.unit.synthetic_history import synthetic_history
from tests.unit.test_cli_fit import BASE

TOPICS = {"EVENTS": "fit-lead-events", "PROFILES": "fit-lead-profiles", "CONVERSIONS": "fit-lead-conversions"}


def test_fit_from_the_topics_matches_fit_from_files(broker, monkeypatch, tmp_path):
    for name, topic in TOPICS.items():
        monkeypatch.setenv(f"LEADSCORE_TOPIC_{name}", topic)
    settings = load_settings(bootstrap_servers=broker.bootstrap)
    create_topics(settings)
    history = synthetic_history(leads=300, days=90, seed=5)
    codec = AvroCodec(LocalSchemaRegistry())
    producer = EventProducer(broker.bootstrap, codec, TOPICS["CONVERSIONS"])
    events = EventProducer(broker.bootstrap, codec, TOPICS["EVENTS"])
    for event in history.events:
        events.send(event)
    for profile in history.profiles:
        events.send_profile(profile, TOPICS["PROFILES"])
    for conversion in history.conversions:
        producer.send_raw(conversion.lead_id.encode(), codec.encode_conversion(conversion))
    for client in (events, producer):
        client.flush()
        client.close()
    base = tmp_path / "small.yaml"
    base.write_text(BASE, encoding="utf-8")
    common = ["fit", "--base-model", str(base), "--window", "60d", "--observe-after", "14d", "--min-support", "20"]
    from_topics = CliRunner().invoke(app, [*common, "-b", broker.bootstrap, "--out", str(tmp_path / "topics.yaml")])
    assert from_topics.exit_code == 0, from_topics.output
    files = history.write(tmp_path)
    args = ["--events", str(files[0]), "--profiles", str(files[1]), "--conversions", str(files[2])]
    from_files = CliRunner().invoke(app, [*common, *args, "--out", str(tmp_path / "files.yaml")])
    assert from_files.exit_code == 0, from_files.output
    assert load_model(tmp_path / "topics.yaml").rules
    assert (tmp_path / "topics.yaml").read_text() == (tmp_path / "files.yaml").read_text()
