"""Prometheus metrics of one worker, on a registry of its own (no global state, no import-time side effects)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase

Metric = TypeVar("Metric", bound=MetricWrapperBase)


class Metrics:
    """The counters a worker exposes on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events_consumed = Counter(
            "leadscore_events_consumed",
            "Input messages read, valid or not.",
            ["topic"],
            registry=self.registry,
        )
        self.score_changes = Counter(
            "leadscore_score_changes", "ScoreChanged events emitted.", ["model"], registry=self.registry
        )
        self.crossings = Counter(
            "leadscore_threshold_crossings",
            "ThresholdCrossed events emitted.",
            ["model", "level", "direction"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "leadscore_duplicate_events",
            "Re-delivered events recognised by their event id and not counted again.",
            ["topic"],
            registry=self.registry,
        )
        self.events_by_type = Counter(
            "leadscore_events_scored", "Valid events scored, by event type.", ["type"], registry=self.registry
        )
        self.decay_ticks = Counter(
            "leadscore_decay_ticks",
            "Leads re-evaluated because time alone was due to move them.",
            registry=self.registry,
        )
        self.leads_due = Gauge(
            "leadscore_leads_due",
            "Leads in this worker's due index (a level crossing by decay ahead).",
            registry=self.registry,
        )
        self.event_to_emit = Histogram(
            "leadscore_event_to_emit_seconds",
            "From an input's event time to the worker emitting its outputs (wall clock; large during replays).",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
            registry=self.registry,
        )
        self.processing = Histogram(
            "leadscore_message_processing_seconds",
            "Time to process one input message: decode, score, encode, send, write the state.",
            ["topic"],
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "leadscore_batch_size_messages",
            "Messages per fast-path batch (as many as arrived while the previous batch was processed).",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            "leadscore_batch_seconds",
            "Time to score one fast-path batch, send its outputs and state and wait for the broker's acks.",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.leads = Gauge("leadscore_leads_in_state", "Leads held in this worker's table.", registry=self.registry)
        self.recovery_remaining = Gauge(
            "leadscore_recovery_remaining_records",
            "Changelog records still to recover before this worker is ready (0 when ready).",
            registry=self.registry,
        )
        self.recovery_topped_up = Counter(
            "leadscore_recovery_topped_up_records",
            "Changelog records applied after Faust's recovery because the broker's high watermark ended it early.",
            registry=self.registry,
        )
        self.rerouted = Counter(
            "leadscore_rerouted_messages",
            "Inputs not keyed or partitioned by lead id, forwarded to the rerouting topic.",
            ["topic"],
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "leadscore_consumer_lag_records",
            "Input records on the broker not yet read by this worker, per owned partition (end offset - position).",
            ["topic", "partition"],
            registry=self.registry,
        )
        self.model_reloads = Counter(
            "leadscore_model_reloads",
            "Model reloads (SIGHUP or changed files), by outcome: ok, or failed (the running models stay).",
            ["outcome"],
            registry=self.registry,
        )
        self.model_info = Gauge(
            "leadscore_model_info",
            "The models this worker runs (value 1).",
            ["model", "version"],
            registry=self.registry,
        )
        self.conversions = Counter(
            "leadscore_conversions",
            "Outcomes joined to scores, by model, outcome and the lead's highest level at the outcome (none: below "
            "every level; unknown: the lead had no score yet).",
            ["model", "outcome", "level"],
            registry=self.registry,
        )
        self.worker_info = Gauge(
            "leadscore_worker_info",
            "This worker's application id and mode (live, or shadow: no crossings sent) (value 1).",
            ["app_id", "mode"],
            registry=self.registry,
        )
        self.erasures = Counter("leadscore_erasures", "Leads erased on request.", registry=self.registry)
        self.dead_letters = Counter(
            "leadscore_dead_letters",
            "Input messages sent to the dead-letter topic.",
            ["topic", "error_type"],
            registry=self.registry,
        )

        self.source_records = Counter(
            "leadscore_source_records",
            "Records of declared sources (ADR 035), by what they became: event, profile, skipped or dead_letter.",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.leads_routed = Counter(
            "leadscore_leads_routed",
            "Routing decisions (ADR 039), by model, route and action: ASSIGNED, RELEASED, or UNROUTED (dead-lettered: "
            "no route matched, or every owner was at capacity; route 'none' when nothing matched).",
            ["model", "route", "action"],
            registry=self.registry,
        )
        self.ignored_events = Counter(
            "leadscore_ignored_events",
            "Events a model's filters ignore (ADR 036), by reason: scanner_click, burst or user_agent (an event taken "
            "back by a later send or burst counts then).",
            ["model", "reason"],
            registry=self.registry,
        )
        self.member_updates_sent = Counter(
            "leadscore_member_updates_sent",
            "Member updates sent to the accounts (ADR 043), by model and cause: EVENT, PROFILE, MERGE, LEFT, ERASED.",
            ["model", "cause"],
            registry=self.registry,
        )
        self.leads_without_account = Counter(
            "leadscore_leads_without_account",
            "Scored inputs of leads that map to no account under a model with an account: section (not rolled up).",
            ["model"],
            registry=self.registry,
        )
        self.member_updates_consumed = Counter(
            "leadscore_member_updates_consumed",
            "Member updates the account agent read, by outcome: applied, duplicate or dead_letter.",
            ["outcome"],
            registry=self.registry,
        )
        self.account_score_changes = Counter(
            "leadscore_account_score_changes",
            "AccountScoreChanged events emitted, by model and cause (MEMBER, DECAY).",
            ["model", "cause"],
            registry=self.registry,
        )
        self.account_crossings = Counter(
            "leadscore_account_threshold_crossings",
            "AccountThresholdCrossed events emitted.",
            ["model", "level", "direction"],
            registry=self.registry,
        )
        self.accounts = Gauge(
            "leadscore_accounts_in_state", "Accounts held in this worker's account table.", registry=self.registry
        )
        self.accounts_due = Gauge(
            "leadscore_accounts_due",
            "Accounts in this worker's account due index (a level crossing by decay ahead).",
            registry=self.registry,
        )
        self.identities = Counter(
            "leadscore_identities",
            "lead-identities records (ADR 044), by kind and outcome: absorbed (sent to the survivor), merged (taken "
            "in there), duplicate, or the dead letter's rule (self_merge, merge_cycle, merge_into_erased, "
            "erased_identity, already_merged, identity: a bad id or time, decode).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.aliased_events = Counter(
            "leadscore_aliased_events",
            "Events and profiles of absorbed ids (ADR 044): forwarded to the survivor, or duplicate (counted before "
            "the merge).",
            ["outcome"],
            registry=self.registry,
        )

    def child(self, metric: Metric) -> Callable[..., Metric]:
        """``metric.labels`` with the children cached: label lookups run per event on the hot path. Only for label
        values from a small set (topics, models, levels, known event types, error types)."""
        return functools.lru_cache(maxsize=1024)(metric.labels)

    def exposition(self) -> bytes:
        """The metrics in Prometheus text format."""
        return generate_latest(self.registry)
