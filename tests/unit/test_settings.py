from pathlib import Path

import pytest

from streams.errors import SettingsError
from streams.settings import Settings, load_settings


def test_environment_with_prefix(monkeypatch):
    monkeypatch.setenv("LEADSCORE_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("LEADSCORE_MODEL_PATHS", "a.yaml:b.yaml")
    monkeypatch.setenv("LEADSCORE_TOPIC_EVENTS", "web-events")
    settings = load_settings()
    assert settings.broker_url == "kafka://k1:9092;kafka://k2:9092"
    assert settings.model_paths == [Path("a.yaml"), Path("b.yaml")]
    assert settings.topics.events == "web-events"


def test_invalid_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("LEADSCORE_PARTITIONS", "0")
    with pytest.raises(SettingsError, match="LEADSCORE_PARTITIONS"):
        load_settings()


def test_to_env_reproduces_the_settings(monkeypatch):
    settings = load_settings(bootstrap_servers="h:1", partitions=7, web_port=7000, model_paths="x.yaml")
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings


def test_settings_are_frozen():
    settings = load_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.partitions = 9


def test_a_shadow_worker_must_not_use_the_live_app_id():
    import pytest

    from streams.errors import SettingsError
    from streams.settings import load_settings

    with pytest.raises(SettingsError, match="a shadow worker needs its own LEADSCORE_APP_ID") as caught:
        load_settings(shadow=True)
    assert "Value error" not in str(caught.value)
    assert load_settings(shadow=True, app_id="leadscore-shadow").shadow
