"""Faust's Prometheus sensor, with the label lookups it makes for every consumed message cached.

Faust's :class:`~faust.sensors.prometheus.PrometheusMonitor` looks up two labelled children per message it sees
(``messages_received_per_topics`` and ``..._per_topics_partition``) and one per end offset it tracks: about 2.6 %
of a worker's profile samples on Kafka (issue 15), for label values from a handful of topics and partitions. Faust
removes those children at the start and the end of every rebalance; the cache is emptied with them.
:class:`CachedLabelsMonitor` records exactly what Faust's does (``faust_*`` metrics unchanged, the base
:class:`~faust.sensors.monitor.Monitor`'s own counters too) with those children cached. A test fails when Faust's
two methods change (:data:`FAUST_SOURCES_SHA256`): compare them with these before updating it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP, AppT, Message

#: sha256 of the sources of ``PrometheusMonitor.on_message_in``, ``.track_tp_end_offset`` and
#: ``._clear_partition_related_metrics`` (faust-streaming 0.15.3).
FAUST_SOURCES_SHA256 = "7050e0961d26580301136eece9eb5666f0e5fec1964634d9728a64e351254c72"


def _cached(labels: Callable[..., Any]) -> Callable[[str, int], Any]:
    return functools.lru_cache(maxsize=4096)(lambda topic, partition: labels(topic=topic, partition=partition))


class CachedLabelsMonitor(PrometheusMonitor):
    """:class:`PrometheusMonitor` with its per-message labelled children cached (see the module text)."""

    def __init__(self, metrics: FaustMetrics, **kwargs: Any) -> None:
        super().__init__(metrics=metrics, **kwargs)
        self._received_in = functools.lru_cache(maxsize=4096)(
            lambda topic: metrics.messages_received_per_topics.labels(topic=topic)
        )
        self._read_offset_of = _cached(metrics.messages_received_per_topics_partition.labels)
        self._end_offset_of = _cached(metrics.topic_partition_end_offset.labels)

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        Monitor.on_message_in(self, tp, offset, message)
        self._metrics.messages_received.inc()
        self._metrics.active_messages.inc()
        self._received_in(tp.topic).inc()
        self._read_offset_of(tp.topic, tp.partition).set(offset)

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        Monitor.track_tp_end_offset(self, tp, offset)
        self._end_offset_of(tp.topic, tp.partition).set(offset)

    def _clear_partition_related_metrics(self) -> None:
        """Faust removes the per-topic and per-partition children at the start and end of every rebalance: the
        cached ones go with them (a removed child still takes values, but is no longer exposed)."""
        super()._clear_partition_related_metrics()
        self._received_in.cache_clear()
        self._read_offset_of.cache_clear()  # type: ignore[attr-defined]  # an lru_cache
        self._end_offset_of.cache_clear()  # type: ignore[attr-defined]


def cache_monitor_labels(app: AppT) -> None:
    """Replace the Prometheus sensor :func:`faust.sensors.prometheus.setup_prometheus_sensors` gave ``app`` with a
    :class:`CachedLabelsMonitor` on the same metrics (before the app starts: it registers its monitor then)."""
    monitor = app.monitor
    if not isinstance(monitor, PrometheusMonitor):
        raise TypeError("cache_monitor_labels: call it right after setup_prometheus_sensors")
    app.monitor = CachedLabelsMonitor(metrics=monitor._metrics)
