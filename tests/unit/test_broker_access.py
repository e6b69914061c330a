"""The access check before the Kafka clients start (streams.kafka.access), against TLS servers made here (no Kafka:
the TLS handshake comes before any Kafka request), and the TLS files and librdkafka settings of streams.kafka.security.
The SASL refusals need a real broker: tests/integration/test_secured_cluster.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from streams.errors import BrokerAccessError, SettingsError
from streams.kafka.access import check_access, verify_access
from streams.kafka.security import librdkafka_config, ssl_context
from streams.settings import Settings, load_settings
from tests.certificates import Certificates, make_certificates, server_context


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path)


@asynccontextmanager
async def serving(certificates: Certificates, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """A TLS server on ``host`` (certificate for 127.0.0.1 and localhost) that closes every connection; its port."""

    async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(hang_up, host, 0, ssl=server_context(certificates))
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def tls_server(certificates: Certificates) -> AsyncIterator[int]:
    async with serving(certificates) as port:
        yield port


def secured(bootstrap: str, ca: Path | None, **overrides: object) -> Settings:
    values = {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "alice"}
    return load_settings(bootstrap_servers=bootstrap, ssl_cafile=ca, sasl_password="s3cret-pw", **values, **overrides)


async def test_an_untrusted_certificate_is_one_line_naming_the_ca_file(tls_server: int, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = make_certificates(tmp_path / "other")  # a CA that did not sign the server's certificate
    with pytest.raises(BrokerAccessError) as refused:
        await verify_access(secured(f"127.0.0.1:{tls_server}", other.ca))
    assert str(refused.value) == (
        f"TLS: the certificate of 127.0.0.1:{tls_server} is not trusted by LEADSCORE_SSL_CAFILE ({other.ca}): "
        "unable to get local issuer certificate; set LEADSCORE_SSL_CAFILE to the CA that signed the brokers' "
        "certificates"
    )


async def test_a_certificate_for_another_host_says_so(certificates: Certificates) -> None:
    async with serving(certificates, "127.0.0.2") as port:  # Linux routes all of 127/8 to the loopback device
        with pytest.raises(BrokerAccessError, match=r"^TLS: the certificate of 127\.0\.0\.2:\d+ does not name that"):
            await verify_access(secured(f"127.0.0.2:{port}", certificates.ca))


async def test_a_trusted_server_that_hangs_up_is_left_to_the_clients(tls_server: int, certificates: Certificates):
    await verify_access(secured(f"127.0.0.1:{tls_server}", certificates.ca))  # not a refusal: no error here


def test_nothing_listening_and_plaintext_are_not_refusals(certificates: Certificates) -> None:
    check_access(secured("127.0.0.1:1", certificates.ca))  # the clients wait for it, as before
    check_access(load_settings(bootstrap_servers="127.0.0.1:1"))  # PLAINTEXT: nothing to check, no connection


def test_tls_files_that_cannot_be_read_are_settings_errors(tmp_path: Path, certificates: Certificates) -> None:
    with pytest.raises(SettingsError, match=r"^LEADSCORE_SSL_CAFILE=/nonexistent/ca\.pem: No such file or directory$"):
        ssl_context(secured("127.0.0.1:9093", Path("/nonexistent/ca.pem")))
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(SettingsError, match=r"^LEADSCORE_SSL_CAFILE=.*notes\.txt: not usable as PEM"):
        ssl_context(secured("127.0.0.1:9093", not_pem))
    with pytest.raises(SettingsError, match=r"^LEADSCORE_SSL_CERTFILE=.*ca\.pem / LEADSCORE_SSL_KEYFILE=None: "):
        ssl_context(secured("127.0.0.1:9093", certificates.ca, ssl_certfile=certificates.ca))  # a CA has no key here


def test_librdkafka_gets_the_same_security(certificates: Certificates) -> None:
    assert librdkafka_config(load_settings()) == {"security.protocol": "PLAINTEXT"}
    assert librdkafka_config(secured("b:9093", certificates.ca)) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": "s3cret-pw",
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(certificates.ca),
    }
    mutual = load_settings(
        security_protocol="SSL",
        ssl_certfile=certificates.client_cert,
        ssl_keyfile=certificates.client_key,
        ssl_check_hostname=False,
    )
    assert librdkafka_config(mutual) == {
        "security.protocol": "SSL",
        "ssl.endpoint.identification.algorithm": "none",
        "ssl.certificate.location": str(certificates.client_cert),
        "ssl.key.location": str(certificates.client_key),
    }
