"""Connecting to a secured cluster: SASL and TLS settings, passed through to Faust (aiokafka), kafka-python and
confluent-kafka (librdkafka)."""

from __future__ import annotations

import ssl

import faust
from faust.types.auth import CredentialsT

from streams.errors import SettingsError
from streams.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """The client's TLS context; a CA, certificate or key file that cannot be read raises :class:`SettingsError`."""
    try:
        context = ssl.create_default_context(cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
    except OSError as exc:  # ssl.SSLError is an OSError: a file that is not PEM certificates
        raise SettingsError(f"LEADSCORE_SSL_CAFILE={settings.ssl_cafile}: {_reason(exc)}") from None
    if settings.ssl_certfile is not None:
        try:
            context.load_cert_chain(
                str(settings.ssl_certfile), str(settings.ssl_keyfile) if settings.ssl_keyfile else None
            )
        except OSError as exc:
            raise SettingsError(
                f"LEADSCORE_SSL_CERTFILE={settings.ssl_certfile} / LEADSCORE_SSL_KEYFILE={settings.ssl_keyfile}: "
                f"{_reason(exc)}"
            ) from None
    context.check_hostname = settings.ssl_check_hostname
    return context


def _reason(error: OSError) -> str:
    if isinstance(error, ssl.SSLError):
        return f"not usable as PEM ({error.reason or error})"
    return error.strerror or str(error)


KafkaPythonConfig = dict[str, str | bool | None]
AIOKafkaConfig = dict[str, str | bool | ssl.SSLContext | None]


def faust_credentials(settings: Settings) -> CredentialsT | None:
    """``broker_credentials`` for ``faust.App``; None for PLAINTEXT."""
    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    password = settings.sasl_password.get_secret_value() if settings.sasl_password else None
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=password,
        mechanism=settings.sasl_mechanism,
        ssl_context=ssl_context(settings) if protocol == "SASL_SSL" else None,
    )


def kafka_python_config(settings: Settings) -> KafkaPythonConfig:
    """Keyword arguments for kafka-python clients (admin, the generator's producer, the demo's consumer)."""
    config: KafkaPythonConfig = {"security_protocol": settings.security_protocol}
    if settings.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        config["sasl_mechanism"] = settings.sasl_mechanism
        config["sasl_plain_username"] = settings.sasl_username
        config["sasl_plain_password"] = settings.sasl_password.get_secret_value() if settings.sasl_password else None
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        config["ssl_check_hostname"] = settings.ssl_check_hostname
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(settings, name) is not None:
                config[name] = str(getattr(settings, name))
    return config


def aiokafka_security(settings: Settings) -> AIOKafkaConfig:
    """Keyword arguments for aiokafka clients: kafka-python's, with the TLS files as one SSL context."""
    config: AIOKafkaConfig = dict(kafka_python_config(settings))
    if "ssl_cafile" in config or settings.security_protocol in ("SSL", "SASL_SSL"):
        config = {k: v for k, v in config.items() if not k.startswith("ssl_")}
        config["ssl_context"] = ssl_context(settings)
    return config


LibrdkafkaConfig = dict[str, str]


def librdkafka_config(settings: Settings) -> LibrdkafkaConfig:
    """The same settings for confluent-kafka (librdkafka) clients: the benchmark's producers and consumers."""
    protocol = settings.security_protocol
    config: LibrdkafkaConfig = {"security.protocol": protocol}
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        config["sasl.mechanism"] = settings.sasl_mechanism
        if settings.sasl_username is not None:
            config["sasl.username"] = settings.sasl_username
        if settings.sasl_password is not None:
            config["sasl.password"] = settings.sasl_password.get_secret_value()
    if protocol in ("SSL", "SASL_SSL"):
        config["ssl.endpoint.identification.algorithm"] = "https" if settings.ssl_check_hostname else "none"
        files = {"ssl.ca.location": settings.ssl_cafile, "ssl.certificate.location": settings.ssl_certfile}
        files["ssl.key.location"] = settings.ssl_keyfile
        config.update({name: str(path) for name, path in files.items() if path is not None})
    return config
