"""The benchmark's broker choice and what its report says of the broker and the latency floor (no broker run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.brokers import bench_broker_kind, broker_label, broker_meta
from bench.common import cpu_used
from streams.errors import EmbeddedBrokerError


def test_the_bench_runs_on_kafka_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADSCORE_TEST_BROKER", raising=False)
    assert bench_broker_kind() == "kafka"
    monkeypatch.setenv("LEADSCORE_TEST_BROKER", "tansu")
    assert bench_broker_kind() == "tansu"
    assert bench_broker_kind("kafka") == "kafka"  # --broker wins over the environment
    monkeypatch.setenv("LEADSCORE_TEST_BROKER", "redpanda")
    with pytest.raises(EmbeddedBrokerError, match="redpanda"):
        bench_broker_kind()


def test_brokers_are_named_with_their_version() -> None:
    assert broker_label("kafka") == "Apache Kafka 4.1.1"
    assert broker_label("tansu").startswith("Tansu ")
    assert not broker_label("tansu").startswith("Tansu v")
    assert broker_meta("kafka") == {"kind": "kafka", "label": "Apache Kafka 4.1.1", "version": "4.1.1"}
    assert broker_meta("external") == {"kind": "external", "label": "an external cluster", "version": "unknown"}
    with pytest.raises(ValueError, match="redpanda"):
        broker_label("redpanda")


def test_cpu_used_is_unknown_when_either_reading_is() -> None:
    assert cpu_used(1.0, 3.25) == 2.2
    assert cpu_used(None, 3.0) is None
    assert cpu_used(1.0, None) is None


def _figures(p50: float, p99: float) -> dict[str, float]:
    return {"p50": p50, "p95": (p50 + p99) / 2, "p99": p99, "max": p99 + 1}


def _floor(kind: str, p99: float) -> dict[str, Any]:
    return {
        "kind": kind,
        "broker": broker_label(kind),
        "fetch_max_wait_ms": 100 if kind == "kafka" else 20,
        "achieved_rate_eps": 1000,
        "inputs": 10_000,
        "received": 10_000,
        "received_ms": _figures(5.0, p99),
        "curve_ms": [5.0] * 100 + [p99],
        "broker_cpu_s": 3.5,
    }


def _results(kind: str) -> dict[str, Any]:
    latency = {
        "target_rate_eps": 1000,
        "achieved_rate_eps": 1000,
        "seconds": 10.0,
        "inputs": 10_000,
        "matched": 4000,
        "emission_ms": _figures(40.0, 180.0),
        "received_ms": _figures(45.0, 190.0),
        "input_visible_ms": _figures(6.0, 60.0),
        "curves_ms": {},
        "broker_cpu_s": 4.0,
    }
    meta = {"started": "now", "commit": "abc", "cpus": 2, "command": "python -m bench.run", "note": ""}
    return {
        "broker": broker_meta(kind),
        "events": 20_000,
        "leads": 10_000,
        "mode": "quick",
        "throughput": {},
        "errors": [],
        "meta": meta,
        "latency": latency,
        "latency_floor": {"kafka": _floor("kafka", 50.0), "tansu": _floor("tansu", 25.0)},
    }


@pytest.mark.parametrize(("kind", "added"), [("kafka", 130.0), ("tansu", 155.0)])
def test_the_worker_is_set_against_the_floor_of_its_own_broker(kind: str, added: float) -> None:
    latest = report.summarise(_results(kind))
    assert latest["latency_added_p99_ms"] == added
    assert latest["latency_floor_ms"]["kafka"]["p99"] == 50.0
    assert latest["latency_floor_ms"]["tansu"]["p99"] == 25.0


def test_the_report_names_the_broker_and_shows_both_floors(tmp_path: Path) -> None:
    report.write(_results("kafka"), tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "broker **Apache Kafka 4.1.1**" in text
    assert "floor, no worker, **Apache Kafka 4.1.1**" in text
    assert f"floor, no worker, **{broker_label('tansu')}**" in text
    assert "emission p99 180.0 - floor p99 50.0 = **130.0 ms**" in text


def test_runs_from_before_the_broker_was_recorded_were_on_tansu() -> None:
    results = _results("kafka")
    del results["broker"], results["latency_floor"]
    latest = report.summarise(results)
    assert latest["broker"]["kind"] == "tansu"
    assert latest["latency_added_p99_ms"] is None


def _cpu_step(eps: float, cpu_us: float) -> dict[str, Any]:
    events = 20_000
    cpu = {"events": events, "seconds": events / eps, "eps": eps, "cpu_s": cpu_us * events / 1e6}
    cpu |= {"cpu_s_per_event": cpu_us / 1e6, "broker_cpu_s": 0.5, "broker_cpu_s_per_event": 0.5 / events}
    return {"eps": eps, "seconds": events / eps, "events": events, "cpu": cpu, "cpu_total_s": 9.5}


def test_the_report_has_issue_15s_targets_and_cpu_per_event_beside_events_per_second(tmp_path: Path) -> None:
    results = _results("kafka")
    results["throughput"] = {"peer": _cpu_step(5000, 150.0), "leadscore": _cpu_step(10_000, 60.0)}
    results["broker_idle"] = {"seconds": 3.0, "cpu_s": 0.3, "cpu_s_per_s": 0.1}  # 0.2 s of leadscore's 2 s window
    report.write(results, tmp_path)
    text = (tmp_path / "report.md").read_text()
    table = text[text.index("## Targets") : text.index("## Throughput")]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "threshold" not in line]
    assert len(rows) == 10
    assert "**A quick run**" in table  # not the figures the targets are judged on
    assert "| leadscore / Quix peer, CPU s per event | <= 0.5 | 0.400 | yes | 60.0 / 150.0 CPU µs/event |" in rows
    assert "| leadscore / Quix peer, events/s | >= 1.5 | 2.000 | yes | 10,000 / 5,000 events/s |" in rows
    assert "| leadscore: the real worker, 1 process | 20,000 | 1.2 | 0.600 | 60.0 | 0.5 | 25.0 | 15.0 | 9.5 |" in text
    assert "leadscore / peer = 2.000 in events/s and 0.400 in CPU per event" in text
    # with the broker's not-idle CPU per event: leadscore 60 + 15, peer 150 + (0.5 - 0.1 * 4) / 20,000 s = 155
    assert "(0.484 counting what each made the broker do" in text
