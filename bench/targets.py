"""What a run is judged on: the targets of issue 15, each with the figure measured, whether it is met, and the
figures behind it (``basis``), so the report's table says what a ratio was computed from.

Ratios come from one run. CPU per event is user + system CPU seconds of a contestant's own processes over its
throughput window (ADR 032): the figure that holds on a noisy, shared machine, where events/s do not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The size recovery is judged at; smaller runs (--quick) are scaled down and not judged.
RECOVERY_LEADS = 1_000_000


@dataclass(frozen=True)
class Target:
    key: str  # the summary figure judged
    op: str  # ">=" or "<="
    threshold: float
    label: str
    basis: Callable[[dict[str, Any]], str]  # the figures behind the value, from the summary


def _both(a: str, b: str, unit: str, scale: Callable[[Any], str] | None = None) -> Callable[[dict[str, Any]], str]:
    show = scale or _count

    def basis(summary: dict[str, Any]) -> str:
        return f"{show(_get(summary, a))} / {show(_get(summary, b))} {unit}"

    return basis


def _get(summary: dict[str, Any], path: str) -> Any:
    """``cpu_us_per_event.peer``: a figure in a nested dict of the summary; None where any part is missing."""
    value: Any = summary
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _count(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def _us(value: Any) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def _recovery_basis(summary: dict[str, Any]) -> str:
    leads, compared = summary.get("recovery_leads"), summary.get("recovery_keys_compared")
    if leads is None:
        return "no recovery measured"
    keys = "a sample compared, not every key" if compared is None else f"{compared:,} keys compared"
    exact = {True: "exact", False: "**not exact**", None: "exactness unknown"}[summary.get("recovery_exact")]
    scaled = f"; scaled down, judged at {RECOVERY_LEADS:,}" if leads < RECOVERY_LEADS else ""
    return f"{leads:,} leads, {keys}: {exact}{scaled}"


def _two_workers_basis(summary: dict[str, Any]) -> str:
    cpu = _both("cpu_us_per_event.leadscore_two_workers", "cpu_us_per_event.leadscore", "CPU µs/event", _us)(summary)
    return f"{cpu}; events/s two / one = {_ratio_text(summary.get('two_worker_ratio'))}"


def _ratio_text(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _plain(key: str, unit: str, scale: Callable[[Any], str] = _count) -> Callable[[dict[str, Any]], str]:
    return lambda summary: f"{scale(summary.get(key))} {unit}"


TARGETS = (
    Target(
        "engine_eps", ">=", 100_000, "engine alone, b2b model, one core (events/s)", _plain("engine_eps", "events/s")
    ),
    Target(
        "ratio_vs_peer", ">=", 1.5, "leadscore / Quix peer, events/s", _both("leadscore_eps", "peer_eps", "events/s")
    ),
    Target(
        "cpu_ratio_vs_peer",
        "<=",
        0.5,
        "leadscore / Quix peer, CPU s per event",
        _both("cpu_us_per_event.leadscore", "cpu_us_per_event.peer", "CPU µs/event", _us),
    ),
    Target(
        "ratio_vs_ceiling",
        ">=",
        0.5,
        "leadscore / aiokafka ceiling, events/s",
        _both("leadscore_eps", "ceiling_eps", "events/s"),
    ),
    Target(
        "ratio_vs_textbook",
        ">=",
        6.0,
        "leadscore / textbook Faust agent, events/s",
        _both("leadscore_eps", "textbook_eps", "events/s"),
    ),
    Target(
        "recovery_leads_per_s", ">=", 100_000, "recovery at 1,000,000 leads, every key exact (leads/s)", _recovery_basis
    ),
    Target(
        "latency_p99_ms",
        "<=",
        100.0,
        "p99 event-to-score-change latency at half the measured maximum (ms)",
        lambda summary: f"at {_count(summary.get('latency_rate_eps'))} events/s in",
    ),
    Target("two_worker_cpu_ratio", "<=", 1.1, "two workers / one, CPU s per event (within 10 %)", _two_workers_basis),
    Target("bytes_per_lead", "<=", 1024, "on disk per lead (bytes)", _plain("recovery_leads", "leads recovered")),
    Target("rss_bytes_per_lead", "<=", 1024, "RSS per lead (bytes)", _plain("recovery_leads", "leads recovered")),
)


def _met(target: Target, value: Any, summary: dict[str, Any]) -> bool | None:
    if value is None:
        return None
    met = bool(value >= target.threshold if target.op == ">=" else value <= target.threshold)
    if target.key != "recovery_leads_per_s":
        return met
    leads = summary.get("recovery_leads") or 0
    if leads < RECOVERY_LEADS:
        return None  # scaled down (--quick): not the size judged
    every_key = (summary.get("recovery_keys_compared") or 0) >= leads
    return met and summary.get("recovery_exact") is True and every_key


def verdicts(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{key: {label, target, value, met, basis}}`` in the issue's order; ``met`` None when not measured (or, for
    recovery, measured below the size judged)."""
    values = {**summary, "latency_p99_ms": (summary.get("latency_ms") or {}).get("p99")}
    judged = {}
    for target in TARGETS:
        value = values.get(target.key)
        judged[target.key] = {
            "label": target.label,
            "target": f"{target.op} {target.threshold:,g}",
            "value": value,
            "met": _met(target, value, summary),
            "basis": target.basis(values),
        }
    return judged
