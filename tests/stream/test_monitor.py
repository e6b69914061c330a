"""Faust's Prometheus sensor with cached label lookups records exactly what Faust's own does (worker/monitor.py)."""

from __future__ import annotations

import hashlib
import inspect
from types import SimpleNamespace

from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from streams.worker.monitor import FAUST_SOURCES_SHA256, CachedLabelsMonitor


def test_faust_s_sensor_methods_are_the_ones_the_cached_monitor_mirrors():
    """If this fails, Faust changed what its Prometheus sensor records per message, or how it clears them on a
    rebalance: mirror the change in CachedLabelsMonitor, then update FAUST_SOURCES_SHA256."""
    methods = (
        PrometheusMonitor.on_message_in,
        PrometheusMonitor.track_tp_end_offset,
        PrometheusMonitor._clear_partition_related_metrics,
    )
    source = "".join(inspect.getsource(method) for method in methods)
    assert hashlib.sha256(source.encode()).hexdigest() == FAUST_SOURCES_SHA256


def test_the_cached_monitor_exposes_the_same_metrics_as_faust_s():
    exposed = []
    for monitor_class in (PrometheusMonitor, CachedLabelsMonitor):
        registry = CollectorRegistry()
        monitor = monitor_class(metrics=FaustMetrics.create(registry, "faust"))
        for offset in range(60):
            tp = TP("lead-events" if offset % 3 else "lead-profiles", offset % 4)
            monitor.on_message_in(tp, offset, SimpleNamespace())
            monitor.track_tp_end_offset(tp, offset + 100)
            if offset == 29:  # a rebalance: Faust removes the labelled children, new messages make new ones
                monitor._clear_partition_related_metrics()  # what on_rebalance_start and _end do
        samples = b"\n".join(line for line in generate_latest(registry).splitlines() if b"_created" not in line)
        exposed.append((samples, monitor.messages_received_total, dict(monitor.tp_read_offsets)))
    assert exposed[0] == exposed[1]
    assert b'faust_messages_received_per_topics_partition{partition="1",topic="lead-events"} 53.0' in exposed[1][0]
