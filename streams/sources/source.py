"""One declared source, ready to read: its topic, its format's decoder and its compiled mapping.

:meth:`Source.read` is what the worker (:meth:`streams.worker.processor.Processor.process_source`) and
``leadscore sources check`` call for each record: bytes and headers in, a lead event, a profile or a skip out, or a
:class:`~streams.errors.SourceMappingError` naming the step that failed (the dead letter's reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoring.errors import LeadscoreError
from streams.errors import SourceMappingError, SourcesError
from streams.kafka.codec import AvroCodec
from streams.sources.formats import Decoder, Headers, avro_decoder, decode_cloudevent, decode_json
from streams.sources.mapping import Mapped, RecordMapper
from streams.sources.spec import SourceSpec, SourcesSpec, read_sources_spec


@dataclass(frozen=True)
class Source:
    """A declared input topic: how to decode its records and what they become."""

    name: str
    topic: str
    format: str
    decode: Decoder | None  # None: leadscore's own Avro contracts, decoded by the codec
    mapper: RecordMapper | None
    codec: AvroCodec

    @property
    def reads_headers(self) -> bool:
        """Whether its records' Kafka headers matter (CloudEvents in binary mode): the worker passes them on."""
        return self.format == "cloudevents"

    def read(self, value: bytes | None, headers: Headers = ()) -> Mapped:
        """What one record becomes; raises :class:`SourceMappingError` with the step that failed."""
        if self.decode is None or self.mapper is None:
            return self._native(value)
        try:
            record = self.decode(value, headers)
        except SourceMappingError as exc:
            raise SourceMappingError(f"source {self.name}: {exc}") from None
        return self.map_record(record)

    def map_record(self, record: Any) -> Mapped:
        """What an already-decoded record becomes (``sources check`` maps sample records with this)."""
        assert self.mapper is not None
        try:
            return self.mapper.map(record)
        except SourceMappingError as exc:
            raise SourceMappingError(f"source {self.name}: {exc}") from None

    def _native(self, value: bytes | None) -> Mapped:
        try:
            name = self.codec.schema_name(value)
            if name == "LeadProfile":
                return self.codec.decode_profile(value)
            return self.codec.decode_event(value)
        except LeadscoreError as exc:
            raise SourceMappingError(f"source {self.name}: {exc}") from None


def build_sources(spec: SourcesSpec, codec: AvroCodec, file_name: str = "<sources>") -> dict[str, Source]:
    """The sources of a validated file, by topic; a bad condition raises :class:`SourcesError` naming it."""
    lists = {name: frozenset(values) for name, values in spec.lists.items()}
    sources = {}
    for index, source_spec in enumerate(spec.sources):
        try:
            source = _build(source_spec, codec, lists)
        except SourcesError as exc:
            raise SourcesError(f"{file_name}: sources[{index}] (name {source_spec.name!r}).{exc}") from None
        sources[source.topic] = source
    return sources


def _build(spec: SourceSpec, codec: AvroCodec, lists: dict[str, frozenset[str]]) -> Source:
    decoders: dict[str, Decoder | None] = {
        "leadscore": None,
        "json": decode_json,
        "cloudevents": decode_cloudevent,
        "avro": avro_decoder(codec),
    }
    mapper = None if spec.format == "leadscore" else RecordMapper(spec, lists)
    return Source(spec.name, spec.topic, spec.format, decoders[spec.format], mapper, codec)


def load_sources(path: Path, codec: AvroCodec) -> dict[str, Source]:
    """Read, validate and compile a sources file (``LEADSCORE_SOURCES_PATH``)."""
    return build_sources(read_sources_spec(path), codec, path.name)


def declared_topics(path: Path | None) -> tuple[str, ...]:
    """The topics a sources file declares (none without one), for ``leadscore topics create`` and test brokers."""
    return () if path is None else tuple(source.topic for source in read_sources_spec(path).sources)
