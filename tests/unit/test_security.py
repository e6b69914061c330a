import ssl

import faust

from streams.kafka.security import faust_credentials, kafka_python_config
from streams.settings import load_settings


def test_plaintext_by_default():
    settings = load_settings()
    assert faust_credentials(settings) is None
    assert kafka_python_config(settings) == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_reaches_both_clients(monkeypatch):
    monkeypatch.setenv("LEADSCORE_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("LEADSCORE_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("LEADSCORE_SASL_USERNAME", "leadscore")
    monkeypatch.setenv("LEADSCORE_SASL_PASSWORD", "hunter2")
    settings = load_settings()
    credentials = faust_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password, credentials.mechanism.value) == (
        "leadscore",
        "hunter2",
        "SCRAM-SHA-512",
    )
    assert isinstance(credentials.ssl_context, ssl.SSLContext) and credentials.ssl_context.check_hostname
    config = kafka_python_config(settings)
    assert config["security_protocol"] == "SASL_SSL"
    assert (config["sasl_mechanism"], config["sasl_plain_username"], config["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "leadscore",
        "hunter2",
    )


def test_secrets_stay_out_of_reprs_and_the_environment_round_trips(monkeypatch):
    settings = load_settings(
        security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password="p4ss", api_token="t0ken"
    )
    assert "p4ss" not in repr(settings) and "t0ken" not in repr(settings) and "p4ss" not in str(settings)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    again = load_settings()
    assert again.sasl_password.get_secret_value() == "p4ss" and again.api_token.get_secret_value() == "t0ken"
    assert faust_credentials(again).ssl_context is None
