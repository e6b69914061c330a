"""Basic auth and TLS to the Schema Registry (ADR 021), against ``tests/registry_server.py`` with certificates the
test makes itself: what works, and that what fails says so in one line without the secret."""

from __future__ import annotations

import logging

import pytest

from streams.errors import SchemaRegistryError, SchemaRegistryUnavailableError, SettingsError
from streams.kafka.topics import schema_registry
from streams.settings import load_settings
from tests.certificates import make_certificates, server_context
from tests.registry_server import RegistryServer

SECRET = "s3cret-Passw0rd"


def settings_for(url: str, **overrides: object):
    return load_settings(schema_registry_url=url, schema_registry_retry_backoff_ms=1, **overrides)


async def test_basic_auth_with_the_right_credentials_registers():
    with RegistryServer(user_info=f"svc:{SECRET}") as server:
        registry = schema_registry(settings_for(server.url, schema_registry_user_info=f"svc:{SECRET}"))
        await registry.start()
        assert registry.by_name("LeadEvent").schema_id == server.subjects()["lead-events-value"][0]
        await registry.close()


@pytest.mark.parametrize("user_info", ["svc:wrong-Passw0rd", None])
async def test_refused_credentials_are_one_line_without_the_secret(caplog, user_info):
    caplog.set_level(logging.DEBUG)
    with RegistryServer(user_info=f"svc:{SECRET}") as server:
        settings = settings_for(server.url, schema_registry_user_info=user_info)
        registry = schema_registry(settings)
        with pytest.raises(SchemaRegistryUnavailableError) as caught:
            await registry.start()
        await registry.close()
        assert len(server.requests()) == 1  # a refusal is not retried
    message = str(caught.value)
    assert message == (
        f"Schema Registry {server.url} refused the credentials (HTTP 401): check LEADSCORE_SCHEMA_REGISTRY_USER_INFO,"
        " then start again"
    )
    for text in (message, repr(caught.value), caplog.text, repr(settings), str(settings)):
        assert "wrong-Passw0rd" not in text and SECRET not in text


def test_the_user_info_is_a_secret_and_reproduced_for_child_processes():
    settings = load_settings(schema_registry_url="http://r:8081", schema_registry_user_info=f"svc:{SECRET}")
    assert SECRET not in repr(settings) and SECRET not in settings.model_dump_json()
    assert settings.to_env()["LEADSCORE_SCHEMA_REGISTRY_USER_INFO"] == f"svc:{SECRET}"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"schema_registry_url": f"https://svc:{SECRET}@r:8081"}, "LEADSCORE_SCHEMA_REGISTRY_URL: put the credentials"),
        ({"schema_registry_user_info": SECRET}, "LEADSCORE_SCHEMA_REGISTRY_USER_INFO: must be user:password"),
        ({"schema_registry_ssl_keyfile": "k.pem"}, "needs LEADSCORE_SCHEMA_REGISTRY_SSL_CERTFILE"),
    ],
)
def test_bad_registry_settings_are_named_without_their_value(overrides, expected):
    with pytest.raises(SettingsError, match=expected) as caught:
        load_settings(**overrides)
    assert SECRET not in str(caught.value)


async def test_tls_with_our_ca_and_a_client_certificate(tmp_path):
    certificates = make_certificates(tmp_path)
    with RegistryServer(tls=server_context(certificates, require_client_cert=True)) as server:
        assert server.url.startswith("https://127.0.0.1:")
        registry = schema_registry(
            settings_for(
                server.url,
                schema_registry_ssl_cafile=certificates.ca,
                schema_registry_ssl_certfile=certificates.client_cert,
                schema_registry_ssl_keyfile=certificates.client_key,
            )
        )
        await registry.start()
        assert "lead-events-value" in server.subjects()
        await registry.close()


async def test_a_registry_certificate_we_cannot_verify_is_one_line_naming_the_ca_setting(tmp_path):
    certificates = make_certificates(tmp_path)
    with RegistryServer(tls=server_context(certificates)) as server:
        registry = schema_registry(settings_for(server.url, schema_registry_retries=0))  # certifi's CAs only
        with pytest.raises(SchemaRegistryUnavailableError) as caught:
            await registry.start()
        await registry.close()
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"Schema Registry {server.url} did not answer after 1 attempt")
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert "check LEADSCORE_SCHEMA_REGISTRY_SSL_CAFILE, _SSL_CERTFILE and _SSL_KEYFILE" in message


async def test_a_registry_that_requires_a_client_certificate_refuses_one_without(tmp_path):
    certificates = make_certificates(tmp_path)
    with RegistryServer(tls=server_context(certificates, require_client_cert=True)) as server:
        settings = settings_for(server.url, schema_registry_retries=0, schema_registry_ssl_cafile=certificates.ca)
        registry = schema_registry(settings)
        with pytest.raises(SchemaRegistryUnavailableError, match=f"Schema Registry {server.url} did not answer"):
            await registry.start()
        await registry.close()
        assert server.subjects() == {}


def test_an_unreadable_ca_file_is_named_when_the_worker_is_built(tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(SchemaRegistryError, match="cannot set up the Schema Registry client for https://r:8081"):
        schema_registry(settings_for("https://r:8081", schema_registry_ssl_cafile=missing))
