"""``GET /leads/{id}`` for an id merged into another lead (ADR 044): the real app's web views, served in-process by
aiohttp's test server on the worker's own web application (one worker: it owns every partition, nothing is
forwarded). A merged id answers 308 to the survivor's URL with a JSON body that names it; an erased id is 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from scoring.identities.records import IdentityKind
from streams.devtools.testing import DAY_MS, T0, WorkerDriver, make_event
from tests.stream.test_identities_worker import B2B, Identities


@pytest.fixture
async def merged(tmp_path) -> AsyncIterator[tuple[Identities, TestClient]]:
    """anon-1 identified as lead-1; lead-9 erased."""
    worker = Identities(WorkerDriver(B2B, tmp_path / "worker", app_id="merged-api-test", partitions=4))
    visits = [make_event("anon-1", "page_view", T0, path="/pricing"), make_event("lead-1", "demo_request", T0 + 1)]
    await worker.events(*visits, make_event("lead-9", "demo_request", T0))
    await worker.send(IdentityKind.IDENTIFY, "anon-1", "lead-1", "identity-1", T0 + DAY_MS)
    await worker.driver.erase("lead-9")
    web = worker.built.app.web
    client = TestClient(TestServer(web.web_app))
    await client.start_server()
    try:
        yield worker, client
    finally:
        await client.close()


async def test_a_merged_id_redirects_to_its_survivor(merged):
    _, client = merged
    response = await client.get(f"/leads/anon-1?at={T0 + DAY_MS}", allow_redirects=False)
    assert response.status == 308
    assert response.headers["Location"] == f"/leads/lead-1?at={T0 + DAY_MS}"
    assert await response.json() == {
        "lead_id": "anon-1",
        "merged_into": "lead-1",
        "identity_id": "identity-1",
        "kind": "IDENTIFY",
        "location": f"/leads/lead-1?at={T0 + DAY_MS}",
    }
    followed = await client.get(f"/leads/anon-1?at={T0 + DAY_MS}")  # what a client that follows redirects sees
    assert followed.status == 200
    body = await followed.json()
    assert body["lead_id"] == "lead-1" and body["models"][0]["model_id"] == "b2b"
    path = await client.get("/leads/anon-1/path?to=SQL", allow_redirects=False)
    assert (path.status, path.headers["Location"]) == (308, "/leads/lead-1/path?to=SQL")
    page = await client.get("/ui/leads/anon-1", allow_redirects=False)
    assert (page.status, page.headers["Location"]) == (308, "/ui/leads/lead-1")


async def test_erased_and_unknown_ids_stay_not_found(merged):
    worker, client = merged
    assert worker.alias("lead-9").erased
    for lead_id in ["lead-9", "nobody"]:
        response = await client.get(f"/leads/{lead_id}", allow_redirects=False)
        assert response.status == 404, lead_id
        assert (await response.json())["error"] == f"no lead {lead_id!r}"
    assert (await client.get("/leads/lead-1")).status == 200
