"""deploy/docker-compose.yml, checked without a Docker engine: structure, files, ports, wiring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.ops.conftest import DEPLOY, checks
from tests.ops.test_manifests import setting_variables

COMPOSE = DEPLOY / "docker-compose.yml"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())  # resolves the x-worker anchors and merges
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def workers() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in services().items() if name.startswith("worker-")}


def test_the_services_are_there() -> None:
    assert set(services()) == {"kafka", "topics", "worker-1", "worker-2", "prometheus", "grafana"}
    kafka = services()["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert services()["topics"]["entrypoint"][:3] == ["leadscore", "topics", "create"]
    for worker in workers().values():
        assert worker["depends_on"]["topics"]["condition"] == "service_completed_successfully"


def test_images_are_pinned() -> None:
    for name, service in services().items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def test_bind_mounted_files_exist() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in compose()["volumes"], f"{name}: named volume {source} is not declared"
        build = service.get("build")
        if build:
            assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()


def test_host_ports_do_not_collide() -> None:
    published = [port.split(":")[0] for service in services().values() for port in service.get("ports", [])]
    assert len(published) == len(set(published)), published


def test_workers_are_distinct_and_configured_with_real_settings() -> None:
    advertised = set()
    for name, worker in workers().items():
        env = worker["environment"]
        assert set(env) <= setting_variables(), set(env) - setting_variables()
        assert env["LEADSCORE_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["LEADSCORE_WEB_ADVERTISED_URL"] == f"http://{worker['hostname']}:{env['LEADSCORE_WEB_PORT']}"
        assert worker["hostname"] == name
        advertised.add(env["LEADSCORE_WEB_ADVERTISED_URL"])
    assert len(advertised) == len(workers()) == 2
    volumes = [volume for worker in workers().values() for volume in worker["volumes"]]
    assert len(set(volumes)) == len(volumes)  # each worker its own RocksDB volume


def test_prometheus_scrapes_every_worker_and_loads_the_alerts() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["job_name"] == "leadscore"  # what the alerts and the dashboard select
    expected = {f"{w['hostname']}:{w['environment']['LEADSCORE_WEB_PORT']}" for w in workers().values()}
    assert set(job["static_configs"][0]["targets"]) == expected
    mounts = dict(volume.split(":")[:2] for volume in services()["prometheus"]["volumes"])
    assert mounts["./prometheus/alerts.yml"] in config["rule_files"]


def test_grafana_gets_the_data_source_and_the_dashboard() -> None:
    grafana = services()["grafana"]
    mounts = dict(volume.split(":")[:2] for volume in grafana["volumes"])
    provisioning = DEPLOY / "grafana" / "provisioning"
    [source] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "leadscore.yml").read_text())["providers"]
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    home = Path(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert (DEPLOY / "grafana" / "dashboards" / home.name).is_file() and str(home.parent) == provider["options"]["path"]


def test_dashboard_covers_what_the_issue_asks_for() -> None:
    dashboard = json.loads(checks.DASHBOARD.read_text())
    assert dashboard["uid"] == "leadscore"
    queries = " ".join(expr for _, expr in checks.dashboard_queries())
    for needed in (
        "sum by (type) (rate(leadscore_events_scored_total",  # throughput by event type
        "histogram_quantile(0.99, sum by (le) (rate(leadscore_event_to_emit_seconds_bucket",  # end-to-end latency
        "max by (topic, partition) (leadscore_consumer_lag_records",  # lag per partition
        "sum by (model) (rate(leadscore_score_changes_total",  # score changes
        "sum by (model, level, direction) (rate(leadscore_threshold_crossings_total",  # crossings by level
        "sum by (topic, error_type) (rate(leadscore_dead_letters_total",  # dead letters by reason
        "leadscore_leads_in_state",  # leads in state
        "leadscore_recovery_remaining_records",  # recovery progress
    ):
        assert needed in queries, needed
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
