"""The lead page in a real browser (ADR 040): headless Chromium loads ``/ui/leads/{id}`` from a running worker on the
session's broker; the test checks the drawn elements in the DOM and inspects the screenshot it took.

``LEADSCORE_PAGE_SCREENSHOT=docs/images/lead-page.png`` also saves the screenshot there (the README's picture).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kafka import KafkaProducer
from pydantic import SecretStr

from scoring import Engine, LeadState, example_model_path, load_model
from streams.datasets.synthetic import JourneyGenerator
from streams.devtools.processes import spawn_worker, stop_process
from streams.kafka.codec import AvroCodec
from streams.settings import Settings
from streams.worker.stored import StoredLead
from streams.worker.ui.page import build_page
from tests.integration.conftest import new_settings, wait_until

TOKEN = "page-token-<&>"  # a token with characters a URL must escape
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOUR = 3_600_000


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("LEADSCORE_REQUIRE_BROWSER"):  # `make test` installs it (make browser-tools)
            pytest.fail("chromium is missing: run `make browser-tools` (Debian's chromium package)")
        pytest.skip(
            "no chromium (Debian package `chromium`, `make browser-tools`): the lead page is not tested in a browser"
        )
    return CHROMIUM


def journeys(settings: Settings, codec: AvroCodec) -> tuple[str, int, float]:
    """Send realistic journeys (profiles, then events); the lead to look at, the time to look at it, and its score
    then (worked out in-process with the same model): a lead holding a level it will drop below, with a crossing,
    and one to reach if there is such a lead (the page then shows its path)."""
    generator = JourneyGenerator(12, seed=20, mean_gap_ms=2 * HOUR)
    events = list(generator.events(120))
    engine = Engine([load_model(example_model_path("b2b"))])
    states: dict[str, LeadState] = {}
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    for lead_id in generator.lead_ids:
        profile = generator.profile(lead_id)
        states[lead_id] = engine.score_profile(None, profile).state
        producer.send(settings.topics.profiles, key=lead_id.encode(), value=codec.encode_profile(profile))
    for event in events:
        engine.score_event(states[event.lead_id], event)
        producer.send(settings.topics.events, key=event.lead_id.encode(), value=codec.encode_event(event))
    producer.flush()
    producer.close()
    at_ms = events[-1].occurred_at_ms + HOUR
    counts = {lead: sum(e.lead_id == lead for e in events) for lead in states}
    candidates = []
    for lead_id, state in states.items():
        [view] = build_page(engine, StoredLead(0, None, state), at_ms).models
        if view.drops and all(d.at_ms is not None for d in view.drops):
            candidates.append((view.path is not None, -counts[lead_id], lead_id, view.score))
    assert candidates, "no generated lead holds a level it drops below: change the seed"
    _, _, lead_id, score = max(candidates)
    return lead_id, at_ms, score


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get_content_type(), error.read().decode()
    except OSError:
        return 0, "", ""


def browse(binary: str, url: str, profile: Path, *flags: str) -> str:
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}", *flags, url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def test_the_lead_page_draws_the_lead_in_a_real_browser(broker, codec, tmp_path, chromium):
    settings = new_settings(
        broker, tmp_path / "state", model_paths=[example_model_path("b2b")], api_token=SecretStr(TOKEN)
    )
    lead_id, at_ms, score = journeys(settings, codec)
    quoted = urllib.request.quote(TOKEN, safe="")
    page_url = f"http://127.0.0.1:{settings.web_port}/ui/leads/{lead_id}?at={at_ms}&token={quoted}"
    worker = spawn_worker(settings, log_file=tmp_path / "worker.log")
    try:
        assert wait_until(lambda: f"score <b>{score:.2f}</b>" in fetch(page_url)[2], 120), fetch(page_url)
        status, content_type, _ = fetch(page_url)
        assert (status, content_type) == (200, "text/html")
        no_token = page_url.replace(f"&token={quoted}", "")
        assert fetch(no_token)[0] == 401 and fetch(page_url.replace(quoted, "wrong"))[0] == 401
        assert fetch(no_token, {"Authorization": f"Bearer {TOKEN}"})[0] == 200  # the API's rule holds too
        assert fetch(page_url.replace(lead_id, "nobody"))[0] == 404

        dom = browse(chromium, page_url, tmp_path / "profile-dom", "--dump-dom")
        shot = tmp_path / "lead-page.png"
        browse(chromium, page_url, tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1200,900")
    finally:
        stop_process(worker, grace_s=15)

    for series in ("score", "engagement", "fit"):
        assert len(re.findall(rf'<polyline class="series {series}" points="[\d. ,]+"', dom)) == 1, series
    assert 'class="projection"' in dom
    assert re.findall(r'<line class="level" data-level="(\w+)"', dom) == ["MQL", "SQL"]
    assert len(re.findall(r'class="crossing (?:up|down)"', dom)) >= 1
    assert len(re.findall(r'<path class="move"', dom)) >= 1 and "<title>" in dom
    assert re.search(r'<section class="drops">.*drops below (MQL|SQL) at 20\d\d-', dom, re.S)
    path = re.search(r'<section class="path">(.*?)</section>', dom, re.S)
    assert path and re.search(r"points to (MQL|SQL)</p><ol><li>\d+ x \w+ \(|every level held", path.group(1)), path
    assert f'<span class="lead-id">{lead_id}</span>' in dom

    image_module = pytest.importorskip("PIL.Image", reason="Pillow comes with the analysis extra")
    with image_module.open(shot) as image:
        assert image.size == (1200, 900)
        raw = image.convert("RGB").tobytes()
    pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    non_white = sum(1 for p in pixels if min(p) < 245) / len(pixels)
    assert 0.03 < non_white < 0.6, non_white  # drawn on, not a blank or solid page
    assert len(set(pixels)) > 50
    blue = sum(1 for r, g, b in pixels if b > 200 and r < 80 and 90 < g < 140)  # the score line, #1f6feb
    assert blue > 300, blue
    if target := os.environ.get("LEADSCORE_PAGE_SCREENSHOT"):
        shutil.copyfile(shot, target)
