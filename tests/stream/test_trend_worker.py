"""The surging flag through the real worker (ADR 037): crossings on lead-thresholds, the end of a surge by the
worker's decay timer at the exact bucket boundary, the trend in lead-scores."""

from datetime import UTC, datetime
from pathlib import Path

from streams.devtools.testing import DAY_MS, T0, WorkerDriver, make_event

MODEL = """\
id: trended
version: 1
change_note: "a surge of demo requests"
rules:
  - {id: demo, event: demo_request, points: 10}
trend: {window: 7d, baseline: 28d, bucket: 1d, min_points: 15}
"""


async def test_a_surge_starts_on_an_event_and_the_decay_timer_ends_it(tmp_path: Path) -> None:
    model = tmp_path / "trended.yaml"
    model.write_text(MODEL, encoding="utf-8")
    driver = WorkerDriver(model)
    await driver.send(make_event("lead-1", "demo_request", T0), make_event("lead-1", "demo_request", T0 + 1))
    [up] = driver.values("thresholds")
    assert (up["level"], up["direction"], up["cause"], up["score"], up["threshold"]) == (
        "surging",
        "UP",
        "EVENT",
        20.0,
        15.0,
    )
    trend = driver.latest_scores()["lead-1"]["models"][0]["trend"]
    assert trend == {"recent": 20.0, "baseline": 0.0, "surging": True}

    await driver.advance_to(T0 + 30 * DAY_MS)
    _, down = driver.values("thresholds")
    stop = (T0 // DAY_MS + 7) * DAY_MS  # the bucket boundary where the day's gains leave the 7-day window
    assert (down["direction"], down["cause"], down["occurred_at"]) == (
        "DOWN",
        "DECAY",
        datetime.fromtimestamp(stop / 1000, UTC),
    )
    await driver.advance_to(T0 + 60 * DAY_MS)
    assert len(driver.values("thresholds")) == 2  # once
