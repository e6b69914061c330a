"""Two workers share the partitions; one is killed; the other takes its partitions over with exact state.

The second worker joins while the first one's changelog is long and growing, so it starts as a standby on it:
Faust once dropped changelog records a standby had fetched when it resumed flow, and the standby kept the hole
for good (ADR 026). After the kill every lead must carry its score over; none may be scored from nothing.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request

from kafka import KafkaProducer

from streams.devtools.processes import free_port, spawn_worker, stop_process
from tests.conftest import T0, make_event
from tests.integration.conftest import read_topics, wait_until

FIRST = 12_000  # leads scored before the second worker joins
TRICKLE = 6_000  # leads scored while it joins (the changelog keeps growing while its standbys start)


def _get(url: str) -> tuple[int, str, str | None]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode(), response.headers["X-Leadscore-Served-By"]
    except urllib.error.HTTPError as error:
        return error.code, "", None
    except OSError:
        return 0, "", None


def test_killed_worker_partitions_move_to_the_survivor_with_exact_scores(settings, codec, tmp_path):
    first = [f"lead-{n:05d}" for n in range(FIRST)]
    trickle = [f"late-{n:05d}" for n in range(TRICKLE)]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)

    def produce(leads: list[str], round_: int, pause_every: int = 0) -> None:
        for n, lead in enumerate(leads):
            event = make_event(lead, "email_open", T0 + round_ * 100_000 + n, event_id=f"{lead}-{round_}")
            producer.send(settings.topics.events, key=lead.encode(), value=codec.encode_event(event))
            if pause_every and n % pause_every == 0:
                time.sleep(0.05)
        producer.flush()

    ports = [settings.web_port, free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]

    def spawn(port: int):
        options = {"web_port": port, "data_dir": tmp_path / str(port), "standby_replicas": 1}
        return spawn_worker(settings.model_copy(update=options), log_file=tmp_path / f"{port}.log")

    def second_scores(records) -> dict[str, float]:
        return {v["lead_id"]: v["score"] for _, _, v in records if v["cause_event_id"].endswith("-2")}

    changes = settings.topics.score_changes
    workers = [spawn(ports[0])]
    try:
        assert wait_until(lambda: _get(f"{urls[0]}/readyz")[0] == 200, 90)
        produce(first, 1)
        read_topics(settings.bootstrap_servers, [changes], lambda rs: len(rs) >= FIRST, 120)
        background = threading.Thread(target=produce, args=(trickle, 1, 100))
        background.start()
        workers.append(spawn(ports[1]))
        background.join()

        def owners() -> set[str | None]:  # who serves a sample of leads (the query API routes to the owner)
            return {_get(f"{urls[0]}/leads/{lead}")[2] for lead in first[:40]}

        assert wait_until(lambda: owners() == set(urls), 60), owners()  # both workers own partitions
        time.sleep(3)  # the standbys catch up
        workers[0].kill()
        workers[0].wait(timeout=10)
        killed_at = time.monotonic()
        produce(first + trickle, 2)  # every lead once more: 2 points if its state survived, 1 if scored anew
        records = read_topics(
            settings.bootstrap_servers, [changes], lambda rs: len(second_scores(rs)) >= FIRST + TRICKLE, 180
        )
        takeover_s = time.monotonic() - killed_at
        _, body, _ = _get(f"{urls[1]}/leads/{first[0]}")
    finally:
        producer.close()
        for worker in workers:
            stop_process(worker, grace_s=15)
    scores = second_scores(records)
    assert len(scores) == FIRST + TRICKLE
    scored_anew = sorted(lead for lead, score in scores.items() if score != 2.0)
    assert not scored_anew, f"{len(scored_anew)} leads lost their state in the takeover, e.g. {scored_anew[:5]}"
    distinct = {value["change_id"] for _, _, value in records}
    assert len(distinct) == 2 * (FIRST + TRICKLE), "no event lost, none counted twice"
    assert json.loads(body)["models"][0]["score"] == 2.0  # the survivor serves the lead it took over
    assert takeover_s < 120
    assert all(_get(f"{url}/readyz")[0] == 0 for url in urls)  # both stopped
