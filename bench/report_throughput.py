"""The report's targets table and its throughput and CPU sections (``report.md``, from one run's summary)."""

from __future__ import annotations

from typing import Any

LABELS = {
    "ceiling": "ceiling: aiokafka consume-decode-encode-produce",
    "textbook": "textbook: per-event Faust agent, RocksDB table",
    "peer": "peer: Quix Streams, State on RocksDB + changelog",
    "leadscore": "leadscore: the real worker, 1 process",
    "leadscore_json_source": "leadscore: 1 process, the input as JSON (a declared Segment source)",
    "leadscore_two_workers": "leadscore: 2 worker processes, one group",
    "leadscore_without_accounts": "leadscore: 1 process, b2b without its `account:` section",
    "leadscore_accounts": "leadscore: 1 process, b2b with the account roll-up (to the N-th event)",
}


def fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def seconds_text(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.1f}"


def _us(seconds_per_event: float | None) -> str:
    return "n/a" if seconds_per_event is None else f"{seconds_per_event * 1e6:,.1f}"


def target_lines(latest: dict[str, Any]) -> list[str]:
    """The targets of issue 15: threshold, measured, met, and the figures each was computed from."""
    lines = ["## Targets (issue 15)", ""]
    if latest["mode"] != "full":
        what = {"quick": "a smoke test on 20,000 events, recovery scaled down"}.get(
            latest["mode"], f"{latest['events']:,} events, or steps skipped"
        )
        lines += [
            f"**A {latest['mode']} run** ({what}): the targets are judged on one full `make bench` on a fresh clone, "
            "not on these figures.",
            "",
        ]
    lines += ["| target | threshold | measured | met | from |", "|---|---|---|---|---|"]
    for verdict in latest["targets"].values():
        met = {True: "yes", False: "**no**", None: "n/a"}[verdict["met"]]
        basis = verdict.get("basis", "")
        lines.append(f"| {verdict['label']} | {verdict['target']} | {fmt(verdict['value'])} | {met} | {basis} |")
    return lines


def throughput_lines(latest: dict[str, Any]) -> list[str]:
    lines = ["## Throughput (same input topic, same events)", ""]
    lines += ["| contestant | events/s | seconds | output records | of which score changes | broker CPU (s) |"]
    lines += ["|---|---|---|---|---|---|"]
    for key, label in LABELS.items():
        step = latest["throughput"].get(key)
        if step:
            outputs, changes = fmt(step.get("outputs")), fmt(step.get("score_changes"))
            cpu = seconds_text(step.get("broker_cpu_s"))
            lines.append(f"| {label} | {step['eps']:,.0f} | {step['seconds']:.1f} | {outputs} | {changes} | {cpu} |")
    lines += [
        "",
        "Output records: textbook and peer count every record they emit (score changes, threshold crossings, "
        "latest scores); leadscore's score changes are its `leadscore_score_changes_total`. Broker CPU: user + "
        "system seconds the broker's process used during the whole step (start-up and group joins included), on "
        "the same cores as the contestant.",
    ]
    steps = latest["throughput"].items()
    emitted = {key: step["score_changes"] for key, step in steps if step.get("score_changes") is not None}
    if len(emitted) > 1:
        same = "the same number of" if len(set(emitted.values())) == 1 else "**different** numbers of"
        counts = ", ".join(f"{key} {value:,}" for key, value in emitted.items())
        lines += ["", f"Contestants that score emitted {same} score changes ({counts}): a check that they score alike."]
    return [*lines, "", *cpu_lines(latest)]


def cpu_lines(latest: dict[str, Any]) -> list[str]:
    """CPU seconds per event over each contestant's throughput window, its own processes' and the broker's."""
    lines = [
        "## CPU per event (same window as the events/s)",
        "",
        "| contestant | events in window | CPU (s) | cores busy | CPU µs per event | broker CPU (s) | broker CPU µs "
        "per event | of which not idle | CPU of the whole step (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, label in LABELS.items():
        step = latest["throughput"].get(key) or {}
        cpu = step.get("cpu")
        if not cpu:
            continue
        busy = cpu["cpu_s"] / cpu["seconds"] if cpu["cpu_s"] is not None and cpu["seconds"] else None
        lines.append(
            f"| {label} | {cpu['events']:,} | {seconds_text(cpu['cpu_s'])} | {fmt(busy)} | "
            f"{_us(cpu['cpu_s_per_event'])} | {seconds_text(cpu['broker_cpu_s'])} | "
            f"{_us(cpu['broker_cpu_s_per_event'])} | {_net(latest, key)} | {seconds_text(step.get('cpu_total_s'))} |"
        )
    lines += [
        "",
        f"From this run: leadscore / peer = {_ratio(latest, 'ratio_vs_peer')} in events/s and "
        f"{_ratio(latest, 'cpu_ratio_vs_peer')} in CPU per event ({_ratio(latest, 'cpu_with_broker_ratio_vs_peer')} "
        f"counting what each made the broker do, its not-idle CPU); / ceiling = {_ratio(latest, 'ratio_vs_ceiling')} "
        f"and {_ratio(latest, 'cpu_ratio_vs_ceiling')}; / textbook = {_ratio(latest, 'ratio_vs_textbook')} and "
        f"{_ratio(latest, 'cpu_ratio_vs_textbook')}. Two workers / one = {_ratio(latest, 'two_worker_ratio')} in "
        f"events/s and {_ratio(latest, 'two_worker_cpu_ratio')} in CPU per event (scaling efficiency: 1 is "
        "perfect; the broker and both workers share the same cores, and each worker keeps a standby copy of the "
        "other's partitions, as deployed).",
        "",
        *json_source_lines(latest),
        *accounts_lines(latest),
        "CPU: user + system seconds of the contestant's own processes and their children (`/proc/PID/stat`), read at "
        "the first and the N-th input of its window (the ceiling: its event loop's thread, in-process), so the "
        "events and the CPU are counted over the same window; the broker's read at the same moments. Cores busy: "
        "CPU seconds over window seconds. Whole step: the processes' CPU from spawn to stop (start-up and group "
        f"join included). Not idle: less the broker's idle CPU ({_idle(latest)}) over the window's length.",
    ]
    return lines


def json_source_lines(latest: dict[str, Any]) -> list[str]:
    """The JSON source against the native Avro input (same events, same run), and what reading a record costs."""
    step = latest["throughput"].get("leadscore_json_source")
    if not step:
        return []
    produced = step.get("input") or {}
    read = produced.get("read_us") or {}
    outcomes = step.get("source_records") or {}
    mapped = ", ".join(f"{fmt(count)} {outcome}" for outcome, count in sorted(outcomes.items())) or "n/a"
    extra = latest.get("json_source_extra_cpu_us_per_event")
    return [
        f"JSON source / native Avro, from this run: **{_ratio(latest, 'json_source_ratio')}** in events/s and "
        f"**{_ratio(latest, 'json_source_cpu_ratio')}** in CPU per event "
        f"({'n/a' if extra is None else f'{extra:+,.1f}'} µs per event; "
        f"{_ratio(latest, 'json_source_cpu_with_broker_ratio')} counting what each made the broker do). The same "
        f"generated events as Segment track calls (`{produced.get('sources_file', 'bench/sources-segment.yaml')}`, "
        f"topic `{produced.get('topic', 'n/a')}`), {fmt(produced.get('json_mean_bytes'))} bytes per record against "
        f"{fmt(produced.get('avro_mean_bytes'))} of Avro; the worker's records by outcome: {mapped}. In-process, "
        f"CPU µs per record (best of 5 passes over {fmt(read.get('records'))}): `Source.read` "
        f"{_one(read.get('json_source_read'))} (of which `orjson.loads` {_one(read.get('json_loads'))}) against "
        f"`AvroCodec.decode_event` {_one(read.get('avro_decode_event'))}.",
        "",
    ]


def accounts_lines(latest: dict[str, Any]) -> list[str]:
    """The account roll-up end to end (step ``accounts``): one worker under b2b with and without its ``account:``
    section, the accounts run counted to the N-th event and to the last member update consumed."""
    with_, without = (
        latest["throughput"].get("leadscore_accounts"),
        latest["throughput"].get("leadscore_without_accounts"),
    )
    if not with_ or not without:
        return []
    rolled = with_.get("roll_up") or {}
    outcomes = ", ".join(f"{fmt(n)} {outcome}" for outcome, n in sorted((rolled.get("outcomes") or {}).items()))
    return [
        "Account roll-up end to end, from this run (step `accounts`: one worker each on the same input topic, b2b "
        f"without its `account:` section, then with it): **{fmt(latest.get('leadscore_without_accounts_eps'))}** "
        f"events/s at {_one(latest.get('without_accounts_cpu_us_per_event'))} CPU µs per event without; with, to "
        f"the N-th event consumed **{fmt(latest.get('leadscore_accounts_eps'))}** events/s at "
        f"{_one(latest.get('accounts_cpu_us_per_event'))} µs (**{_ratio(latest, 'accounts_ratio')}** in events/s, "
        f"**{_ratio(latest, 'accounts_cpu_ratio')}** in CPU per event, "
        f"{_signed(latest, 'accounts_extra_cpu_us_per_event')} µs); to the moment the account agent had consumed "
        "every member update the lead side sent "
        f"({fmt(rolled.get('member_updates_sent'))}: {outcomes or 'n/a'}; {fmt(rolled.get('consumed_by_nth_event'))} "
        f"by the N-th event, then {_one(rolled.get('catch_up_s'))} s of catch-up) "
        f"**{fmt(latest.get('leadscore_accounts_rolled_up_eps'))}** events/s at "
        f"{_one(latest.get('accounts_rolled_up_cpu_us_per_event'))} µs "
        f"(**{_ratio(latest, 'accounts_rolled_up_ratio')}** and **{_ratio(latest, 'accounts_rolled_up_cpu_ratio')}**, "
        f"{_signed(latest, 'accounts_rolled_up_extra_cpu_us_per_event')} µs). The input has no profiles: leads map "
        "to accounts by their events' `account_id` only.",
        "",
    ]


def _signed(latest: dict[str, Any], key: str) -> str:
    value = latest.get(key)
    return "n/a" if value is None else f"{value:+,.1f}"


def _one(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def _ratio(latest: dict[str, Any], key: str) -> str:
    value = latest.get(key)
    return "n/a" if value is None else f"{value:,.3f}"


def _net(latest: dict[str, Any], key: str) -> str:
    value = (latest.get("broker_net_cpu_us_per_event") or {}).get(key)
    return "n/a" if value is None else f"{value:,.1f}"


def _idle(latest: dict[str, Any]) -> str:
    idle = latest.get("broker_idle") or {}
    if idle.get("cpu_s_per_s") is None:
        return "not measured"
    return (
        f"{idle['cpu_s_per_s']:.3f} CPU s per second: the quieter of two {idle['seconds']:.0f} s readings with no "
        "client, before and after the contestants"
    )
