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


def test_to_env_reproduces_the_schema_registry_settings(monkeypatch, tmp_path):
    settings = load_settings(
        schema_registry_url="https://r1:8081,https://r2:8081",
        schema_registry_user_info="svc:pass:with:colons",
        schema_registry_ssl_cafile=tmp_path / "ca.pem",
        schema_registry_ssl_certfile=tmp_path / "client.pem",
        schema_registry_ssl_keyfile=tmp_path / "client.key",
        schema_registry_timeout_s=3.5,
        schema_registry_retries=2,
        schema_registry_retry_backoff_ms=50,
        schema_registry_unknown_id_ttl_s=30,
        schema_registry_file=tmp_path / "registry.json",
    )
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings


def test_every_setting_has_its_variable_in_to_env(tmp_path):
    """A field forgotten in to_env would silently take its default in child processes."""
    settings = load_settings(
        web_advertised_url="http://w:1",
        api_token="t",
        sasl_username="u",
        sasl_password="p",
        ssl_cafile=tmp_path / "a",
        ssl_certfile=tmp_path / "b",
        ssl_keyfile=tmp_path / "c",
        schema_registry_url="http://r:8081",
        schema_registry_user_info="u:p",
        schema_registry_ssl_cafile=tmp_path / "d",
        schema_registry_ssl_certfile=tmp_path / "e",
        schema_registry_ssl_keyfile=tmp_path / "f",
        schema_registry_file=tmp_path / "g",
        sources_path=tmp_path / "h",
    )
    fields = {f"LEADSCORE_{name.upper()}" for name in Settings.model_fields if name != "topics"}
    assert fields <= set(settings.to_env())
