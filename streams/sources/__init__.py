"""Declared sources: the input topics a platform team already has (JSON, CloudEvents, Confluent-framed Avro with
the writer's schema from the registry, or leadscore's own Avro), read and mapped to lead events and profiles by a
sources file, so that no translator service stands between their bus and the scores (ADR 035).

:mod:`~streams.sources.spec` validates the file, :mod:`~streams.sources.fields` reads values out of a record,
:mod:`~streams.sources.mapping` turns a record into an event or a profile, :mod:`~streams.sources.formats` turns a
Kafka record's bytes and headers into a record, and :mod:`~streams.sources.source` puts them together for the worker
and for ``leadscore sources check``.
"""
