"""The Kubernetes manifests, the Dockerfile and the alert rules agree with the code and with each other."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from scoring import example_model_path, load_model
from streams.settings import Settings, TopicNames
from tests.ops.conftest import DEPLOY, ROOT, checks

OPERATIONS = ROOT / "docs" / "operations.md"


def setting_variables() -> set[str]:
    """Every LEADSCORE_* variable the worker reads (Settings ignores unknown ones, so a typo would go unnoticed)."""
    names = {f"LEADSCORE_{name.upper()}" for name in Settings.model_fields if name != "topics"}
    return names | {f"LEADSCORE_TOPIC_{name.upper()}" for name in TopicNames.model_fields}


def all_documents() -> list[dict[str, Any]]:
    return [doc for docs in checks.k8s_documents().values() for doc in docs]


def documents() -> dict[str, dict[str, Any]]:
    """One document per kind (there are two ConfigMaps and two Secrets: use all_documents for those)."""
    return {doc["kind"]: doc for doc in all_documents() if doc["kind"] not in ("ConfigMap", "Secret")}


def worker_container() -> dict[str, Any]:
    container: dict[str, Any] = documents()["StatefulSet"]["spec"]["template"]["spec"]["containers"][0]
    return container


def config() -> dict[str, str]:
    maps = {doc["metadata"]["name"]: doc for doc in all_documents() if doc["kind"] == "ConfigMap"}
    data: dict[str, str] = maps["leadscore-config"]["data"]
    return data


def test_prometheus_rule_is_the_alerts_file() -> None:
    alerts = yaml.safe_load(checks.ALERTS.read_text())
    assert documents()["PrometheusRule"]["spec"]["groups"] == alerts["groups"]


def test_models_config_map_is_the_shipped_example_and_valid(tmp_path: Path) -> None:
    models = {doc["metadata"]["name"]: doc for doc in all_documents() if doc["kind"] == "ConfigMap"}
    text = models["leadscore-models"]["data"]["b2b.yaml"]
    assert text == example_model_path("b2b").read_text()
    (tmp_path / "b2b.yaml").write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "validate-model", str(tmp_path / "b2b.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.startswith("ok"), result.stdout + result.stderr
    mounted = next(m for m in worker_container()["volumeMounts"] if m["name"] == "models")["mountPath"]
    assert config()["LEADSCORE_MODEL_PATHS"] == f"{mounted}/b2b.yaml"
    assert load_model(tmp_path / "b2b.yaml").id == "b2b"


def test_every_configured_variable_is_a_setting() -> None:
    known = setting_variables()
    configured = set(config())
    env = {item["name"] for item in worker_container()["env"]} - {"POD_NAME", "POD_NAMESPACE"}
    commented = set(re.findall(r"#\s*(LEADSCORE_[A-Z_]+):", (DEPLOY / "k8s" / "configmap.yaml").read_text()))
    secrets = yaml.safe_load_all((DEPLOY / "k8s" / "secret.example.yaml").read_text())
    secret_keys = {key for doc in secrets for key in doc["stringData"]}
    secret_vars = {key for key in secret_keys if key.startswith("LEADSCORE_")}
    assert (configured | env | commented | secret_vars) - known == set()
    assert {"LEADSCORE_SASL_PASSWORD", "LEADSCORE_API_TOKEN"} <= secret_vars
    assert not {"LEADSCORE_SASL_PASSWORD", "LEADSCORE_API_TOKEN"} & configured  # secrets never in the ConfigMap


def test_worker_probes_port_state_and_identity() -> None:
    statefulset, service = documents()["StatefulSet"], documents()["Service"]
    container = worker_container()
    port = int(config()["LEADSCORE_WEB_PORT"])
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["resources"]["requests"]["memory"] and container["resources"]["requests"]["cpu"]
    # RocksDB on a persistent volume per pod, where LEADSCORE_DATA_DIR points.
    claim = statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]
    data_mount = next(m for m in container["volumeMounts"] if m["name"] == claim)
    assert data_mount["mountPath"] == config()["LEADSCORE_DATA_DIR"]
    assert config()["LEADSCORE_STORE"] == "rocksdb://"
    # Each worker advertises its own stable DNS name under the headless Service (request routing, ADR 010).
    assert service["spec"]["clusterIP"] == "None" and statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    advertised = next(item["value"] for item in container["env"] if item["name"] == "LEADSCORE_WEB_ADVERTISED_URL")
    assert advertised == f"http://$(POD_NAME).{service['metadata']['name']}.$(POD_NAMESPACE).svc.cluster.local:{port}"
    assert service["spec"]["selector"].items() <= statefulset["spec"]["template"]["metadata"]["labels"].items()
    assert documents()["PodDisruptionBudget"]["spec"]["selector"] == statefulset["spec"]["selector"]
    assert statefulset["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_dockerfile_runs_the_worker_as_non_root_with_state_on_a_volume() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert froms and all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+( AS \w+)?", base) for base in froms), froms
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert 'ENTRYPOINT ["leadscore", "worker"]' in text
    assert "HEALTHCHECK" in text and "/healthz" in text
    data_dir = re.search(r"LEADSCORE_DATA_DIR=(\S+)", text)
    assert data_dir and f'VOLUME ["{data_dir.group(1)}"]' in text
    assert re.search(r"^EXPOSE 6066", text, re.MULTILINE)
    assert set(re.findall(r"(LEADSCORE_[A-Z_]+)=", text)) <= setting_variables()


def test_every_alert_has_a_summary_a_severity_and_a_runbook_section() -> None:
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    }
    rules = checks.alert_rules()
    assert len(rules) >= 6
    for rule in rules:
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        page, anchor = rule["annotations"]["runbook_url"].split("#")
        assert page == "docs/operations.md" and anchor == rule["alert"].lower(), rule["alert"]
        assert anchor in headings, f"docs/operations.md has no section for {rule['alert']}"
