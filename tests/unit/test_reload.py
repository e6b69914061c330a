"""The model reloader compares the files with the models actually running (ADR 015)."""

from __future__ import annotations

import asyncio

from scoring import Engine, load_models
from streams.worker.metrics import Metrics
from streams.worker.processor import Processor
from streams.worker.reload import ModelReloader
from tests.conftest import SIMPLE_MODEL


async def test_a_file_changed_between_loading_and_watching_is_reloaded(tmp_path, codec):
    path = tmp_path / "model.yaml"
    path.write_text(SIMPLE_MODEL.read_text())
    running = load_models([path])
    path.write_text(SIMPLE_MODEL.read_text().replace("points: 30}", "points: 35}"))  # edited before the watch starts
    processor = Processor(Engine(running), codec, Metrics(), 1, "rerouted")
    reloader = ModelReloader([path], processor, Metrics(), asyncio.Lock(), running)
    assert await reloader.check() is True
    assert processor.engine.models[0].by_id["demo-request"].points == 35
    assert await reloader.check() is False  # nothing changed since
