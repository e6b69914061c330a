"""One connection to a secured cluster before the real clients start: TLS handshake and SASL authentication.

The Kafka clients retry a refused login or an untrusted certificate until their bootstrap timeout, log it on every
attempt and end with "unable to bootstrap". :func:`check_access` opens one connection to a bootstrap server with
aiokafka's own connection code (TLS, ApiVersions, SASL) and turns a definite refusal into one
:class:`~streams.errors.BrokerAccessError` line that names the setting to fix, before any client is built. A
server that does not answer is left to the clients (they wait for it, and a worker may start before its brokers).
PLAINTEXT has nothing to check. Passwords never appear in a message.
"""

from __future__ import annotations

import asyncio
import ssl
from concurrent.futures import ThreadPoolExecutor

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed, UnsupportedSaslMechanismError

from streams.errors import BrokerAccessError
from streams.kafka.security import aiokafka_security
from streams.settings import Settings

NAME_MISMATCH = {62, 64}  # OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH


def _first_server(settings: Settings) -> tuple[str, int]:
    server = settings.bootstrap_servers.split(",")[0].strip()
    host, _, port = server.rpartition(":")
    return (host.strip("[]") or server), int(port) if port.isdigit() else 9092


def _tls_message(settings: Settings, server: str, error: ssl.SSLError) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = error.verify_message.rstrip(".")
        if error.verify_code in NAME_MISMATCH:
            return (
                f"TLS: the certificate of {server} does not name that host ({reason}): connect by a name it has, "
                "or set LEADSCORE_SSL_CHECK_HOSTNAME=false (avoid)"
            )
        trusted_by = (
            f"LEADSCORE_SSL_CAFILE ({settings.ssl_cafile})" if settings.ssl_cafile else "the system's CA certificates"
        )
        return (
            f"TLS: the certificate of {server} is not trusted by {trusted_by}: {reason}; set "
            "LEADSCORE_SSL_CAFILE to the CA that signed the brokers' certificates"
        )
    return f"TLS: the handshake with {server} failed: {error.reason or error}"


def _refusal(settings: Settings, server: str, error: BaseException) -> str | None:
    """The one line for a definite refusal; None when the cause is not one (nothing listens, a timeout)."""
    mechanism, user = settings.sasl_mechanism, settings.sasl_username
    if isinstance(error, ssl.SSLError):
        return _tls_message(settings, server, error)
    if isinstance(error, SaslAuthenticationFailed):
        return (
            f"authentication failed for user {user} on {server}: wrong username or password (SASL {mechanism}; "
            "check LEADSCORE_SASL_USERNAME and LEADSCORE_SASL_PASSWORD)"
        )
    if isinstance(error, UnsupportedSaslMechanismError):
        return f"{server} does not accept SASL {mechanism}: set LEADSCORE_SASL_MECHANISM to a mechanism it enables"
    if isinstance(error, KafkaConnectionError) and "closed" in str(error) and "SSL" not in settings.security_protocol:
        return (
            f"{server} closed the connection during the {settings.security_protocol} handshake: does it expect TLS "
            "(LEADSCORE_SECURITY_PROTOCOL=SASL_SSL or SSL)?"
        )
    return None


async def verify_access(settings: Settings, timeout_s: float = 10.0) -> None:
    """Connect once to the first bootstrap server as ``settings`` say; raise :class:`BrokerAccessError` if the
    broker refuses the TLS handshake or the SASL login. Returns quietly when it cannot tell (nobody answers)."""
    if settings.security_protocol == "PLAINTEXT":
        return
    host, port = _first_server(settings)
    server = f"{host}:{port}"
    security = aiokafka_security(settings)  # a CA file that cannot be read is a SettingsError, raised here
    try:
        connection = await asyncio.wait_for(
            create_conn(host, port, client_id=f"{settings.app_id}-access-check", **security), timeout_s
        )
    except (
        OSError,
        TimeoutError,
        KafkaConnectionError,
        SaslAuthenticationFailed,
        UnsupportedSaslMechanismError,
    ) as exc:
        message = _refusal(settings, server, exc)
        if message is not None:
            raise BrokerAccessError(message) from None
        return
    connection.close()


def check_access(settings: Settings, timeout_s: float = 10.0) -> None:
    """:func:`verify_access` from synchronous code, on a thread of its own: this thread's event loop (Faust's,
    later) is neither used nor replaced."""
    if settings.security_protocol == "PLAINTEXT":
        return
    with ThreadPoolExecutor(1, thread_name_prefix="leadscore-access-check") as pool:
        pool.submit(asyncio.run, verify_access(settings, timeout_s)).result()
