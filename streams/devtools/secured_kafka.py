"""Apache Kafka with a secured listener, for tests of leadscore against a secured cluster: SASL_SSL only.

Clients reach the broker only on ``127.0.0.1:PORT``, a ``SASL_SSL`` listener: TLS with the server certificate and
key given (PEM files, the key unencrypted PKCS #8, as ``tests/certificates.py`` makes them) and SCRAM-SHA-512
users created when the storage is formatted (``StorageTool format --add-scram``). The broker talks to itself
(inter-broker and controller listeners) in PLAINTEXT on two other loopback ports. :meth:`settings` gives a
worker's settings on the secured listener (security protocol, mechanism, user, password, CA file).

For tests only: the users' passwords are on the format tool's command line, where ``ps`` shows them for a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from pydantic import SecretStr

from streams.devtools.apache_kafka import ApacheKafkaBroker
from streams.devtools.processes import free_port
from streams.errors import EmbeddedBrokerError
from streams.kafka.security import kafka_python_config
from streams.settings import Settings, load_settings

MECHANISM = "SCRAM-SHA-512"
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


@dataclass(frozen=True)
class ServerTls:
    """The broker's TLS material, PEM files: the CA clients should trust, its certificate (chain) and its key."""

    ca: Path
    certificate: Path
    key: Path


def _pem_value(path: Path) -> str:
    """A PEM file as one line of a Java properties file (``\\n`` is a newline there), for the inline PEM settings
    ``ssl.keystore.certificate.chain`` and ``ssl.keystore.key``."""
    return path.read_text(encoding="ascii").strip().replace("\n", "\\n")


def _check_credential(kind: str, value: str) -> str:
    if not value or any(character in value for character in ",=[]\\\n"):
        raise EmbeddedBrokerError(f"a SCRAM {kind} for the test broker must be non-empty, without , = [ ] or \\")
    return value


def secured_listener_config(port: int, internal_port: int, controller_port: int, tls: ServerTls) -> dict[str, str]:
    """Broker settings: SASL_SSL (SCRAM-SHA-512) for clients, PLAINTEXT for itself, both on loopback."""
    return {
        "listeners": (
            f"SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal_port},CONTROLLER://127.0.0.1:{controller_port}"
        ),
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port},INTERNAL://127.0.0.1:{internal_port}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
        "sasl.enabled.mechanisms": MECHANISM,
        f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config": _SCRAM_LOGIN,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": _pem_value(tls.certificate),
        "ssl.keystore.key": _pem_value(tls.key),
        "ssl.client.auth": "none",
    }


class SecuredKafkaBroker(ApacheKafkaBroker):
    """An Apache Kafka broker whose only client listener is SASL_SSL with SCRAM-SHA-512 users.

    ``users`` maps user names to passwords; :meth:`settings` connects as ``user`` (default: the first one).
    ``bootstrap`` is the secured listener; nothing else is offered to clients. ``log_dir`` and ``extra_config`` as
    for :class:`ApacheKafkaBroker` (the users are created only when ``log_dir`` is formatted, at the first start).
    """

    def __init__(
        self,
        tls: ServerTls,
        users: Mapping[str, str],
        user: str | None = None,
        port: int | None = None,
        log_file: Path | None = None,
        log_dir: Path | None = None,
        extra_config: Mapping[str, str] | None = None,
    ) -> None:
        if not users:
            raise EmbeddedBrokerError("a secured test broker needs at least one SCRAM user")
        self.users = {_check_credential("user name", n): _check_credential("password", p) for n, p in users.items()}
        self.user = user or next(iter(self.users))
        if self.user not in self.users:
            raise EmbeddedBrokerError(f"{self.user!r} is not one of the broker's users")
        self.tls = tls
        super().__init__(port=port, log_file=log_file, log_dir=log_dir)
        self.internal_port = free_port()
        listeners = secured_listener_config(self.port, self.internal_port, self.controller_port, tls)
        self.extra_config = {**listeners, **(extra_config or {})}

    def start(self, timeout_s: float = 60.0) -> Self:
        try:
            super().start(timeout_s)
        except EmbeddedBrokerError as exc:  # the format tool's output may repeat its command line
            raise EmbeddedBrokerError(self._redacted(str(exc))) from None
        return self

    def _redacted(self, text: str) -> str:
        for password in self.users.values():
            text = text.replace(password, "**********")
        return text

    def _format_options(self) -> list[str]:
        options = []
        for name, password in self.users.items():
            options += ["--add-scram", f"{MECHANISM}=[name={name},password={password}]"]
        return options

    def _client_config(self) -> dict[str, object]:
        return dict(kafka_python_config(self.client_settings()))

    def security_settings(self, user: str | None = None, password: str | None = None) -> dict[str, object]:
        """leadscore's settings to connect as ``user`` (default :attr:`user`), with its password unless given."""
        name = user or self.user
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "sasl_username": name,
            "sasl_password": SecretStr(password if password is not None else self.users.get(name, "")),
            "ssl_cafile": self.tls.ca,
        }

    def client_settings(self, **overrides: object) -> Settings:
        """Settings for a client of this broker (topics not created): bootstrap and security, then ``overrides``."""
        return load_settings(**{"bootstrap_servers": self.bootstrap, **self.security_settings(), **overrides})

    def settings(self, app_id: str, data_dir: Path, **overrides: object) -> Settings:
        """A worker's settings on the secured listener, its topics created through it."""
        return super().settings(app_id, data_dir, **{**self.security_settings(), **overrides})
