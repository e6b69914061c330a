"""Testing your own scoring model, and a consumer of leadscore's outputs, with no broker (docs/testing.md)."""

from pathlib import Path
from typing import Any

from streams.devtools.testing import DAY_MS, T0, WorkerDriver, make_event

MY_MODEL = """\
id: trials
version: 1
change_note: "A demo and a trial request make an MQL; a quiet week or so takes it away."
engagement: {half_life: 7d, floor: 0}
rules:
  - {id: demo, event: demo_request, points: 30}
  - {id: trial, event: trial_request, points: 40}
levels:
  - {name: MQL, enter: 60, leave: 40}
"""


def sales_queue(crossings: list[dict[str, Any]]) -> set[str]:
    """The consumer under test: from lead-thresholds records, the leads sales should call now."""
    queue: set[str] = set()
    for crossing in crossings:
        if crossing["level"] == "MQL" and crossing["direction"] == "UP":
            queue.add(crossing["lead_id"])
        elif crossing["level"] == "MQL":
            queue.discard(crossing["lead_id"])
    return queue


async def test_my_model_and_the_sales_queue(tmp_path: Path) -> None:
    model = tmp_path / "trials.yaml"
    model.write_text(MY_MODEL, encoding="utf-8")
    driver = WorkerDriver(model)  # the real worker: engine, codec, routing, state; in memory

    await driver.send(
        make_event("lead-1", "demo_request", T0),
        make_event("lead-1", "trial_request", T0),
        make_event("lead-2", "demo_request", T0),
        make_event("lead-3", "trial_requets", T0),  # a typo: a dead letter, not an exception
    )
    assert {lead: scores["models"][0]["score"] for lead, scores in driver.latest_scores().items()} == {
        "lead-1": 70.0,
        "lead-2": 30.0,
    }
    assert [letter["error_type"] for letter in driver.values("dead_letters")] == ["InvalidEventError"]
    assert sales_queue(driver.values("thresholds")) == {"lead-1"}

    await driver.advance_to(T0 + 14 * DAY_MS)  # two quiet weeks: decay ticks, as the worker's timer sends them
    left = driver.values("thresholds")[-1]
    assert (left["lead_id"], left["direction"], left["cause"]) == ("lead-1", "DOWN", "DECAY")
    assert sales_queue(driver.values("thresholds")) == set()
