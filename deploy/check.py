"""Checks of the deployment kit with the real tools, run by ``make lint`` (``make lint-ops``).

- ``hadolint`` on ``deploy/Dockerfile`` (fails on every finding, style included);
- ``kubernetes-validate --strict`` on every manifest in ``deploy/k8s/``, offline, against the oldest and the newest
  Kubernetes version we support; the only kinds it may skip are the CRDs and kustomize's file, checked here instead:
  the PrometheusRule's rules with ``promtool check rules``, the ServiceMonitor against the Service it selects, the
  kustomization against the files in the directory;
- ``promtool check rules`` on ``deploy/prometheus/alerts.yml``, ``promtool test rules`` on its unit tests
  (``alerts.test.yml``: each alert fires when it should and stays silent beside it; every alert must have one), and
  ``promtool check config`` on the Compose scrape configuration;
- every query of the Grafana dashboard parsed by Prometheus's own parser (as a recording rule, ``promtool check
  rules``), after replacing Grafana's variables.

Run it from anywhere: ``.venv/bin/python deploy/check.py``. Exit status 0 when everything passes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent
K8S = DEPLOY / "k8s"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "leadscore.json"
K8S_VERSIONS = ("1.29.0", "1.37.0")  # oldest and newest we support; kubernetes-validate ships both schema sets
CUSTOM_KINDS = {"PrometheusRule", "ServiceMonitor", "Kustomization"}  # no schema in kubernetes-validate
TEMPLATES = {"secret.example.yaml"}  # validated, but not applied by kustomization.yaml
# Grafana's variables, replaced by values Prometheus accepts (the live test uses the same ones).
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$instance": ".*"}


class CheckFailed(Exception):
    """A check found a problem; the message says which file and what."""


def tool(name: str) -> str:
    """A tool from this virtualenv (the ``ops`` extra) or, failing that, from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        hint = "make ops-tools (Debian's prometheus package)" if name in ("promtool", "prometheus") else "make install"
        raise CheckFailed(f"{name} is not installed: run {hint}")
    return found


def run(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        raise CheckFailed(f"{' '.join(command)} exited {result.returncode}:\n{output}")
    return output


def substitute_grafana_variables(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace("${" + name[1:] + "}", value).replace(name, value)
    return expr


def dashboard_queries(path: Path | None = None) -> list[tuple[str, str]]:
    """``(panel title, PromQL)`` for every target of every panel, Grafana variables replaced."""
    dashboard = json.loads((path or DASHBOARD).read_text())

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for item in items:
            yield item
            yield from panels(item.get("panels", []))

    return [
        (panel["title"], substitute_grafana_variables(target["expr"]))
        for panel in panels(dashboard["panels"])
        for target in panel.get("targets", [])
    ]


def dashboard_variable_selectors(path: Path | None = None) -> list[tuple[str, str, str]]:
    """``(variable, selector, label)`` of every ``label_values(selector, label)`` template variable."""
    found = []
    for variable in json.loads((path or DASHBOARD).read_text())["templating"]["list"]:
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", text.strip())
        if match:
            found.append((variable["name"], match.group(1), match.group(2)))
    return found


def alert_rules(path: Path | None = None) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load((path or ALERTS).read_text())["groups"] for rule in group["rules"]]


def k8s_documents() -> dict[str, list[dict[str, Any]]]:
    return {
        path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc] for path in sorted(K8S.glob("*.yaml"))
    }


def check_dockerfile() -> str:
    run([tool("hadolint"), "--failure-threshold", "style", str(DEPLOY / "Dockerfile")])
    return "hadolint: deploy/Dockerfile clean"


def check_manifests() -> str:
    files = sorted(str(path) for path in K8S.glob("*.yaml"))
    for version in K8S_VERSIONS:
        output = run([tool("kubernetes-validate"), "--strict", "--kubernetes-version", version, *files])
        for line in output.splitlines():
            if line.startswith("INFO") and " passed for resource " in line:
                continue
            kind = re.search(r"Couldn't find schema for kind (\w+) ", line)
            if line.startswith("WARN") and kind and kind.group(1) in CUSTOM_KINDS:
                continue
            raise CheckFailed(f"kubernetes-validate {version}: {line}")
    documents = k8s_documents()
    kinds = {doc["kind"] for docs in documents.values() for doc in docs}
    missing = {"StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap", "Secret", *CUSTOM_KINDS} - kinds
    if missing:
        raise CheckFailed(f"deploy/k8s has no {sorted(missing)}")
    return f"kubernetes-validate --strict {', '.join(K8S_VERSIONS)}: {len(files)} files"


def check_custom_resources() -> str:
    documents = k8s_documents()
    by_kind = {doc["kind"]: doc for docs in documents.values() for doc in docs}
    # Kustomization: every manifest but the templates is applied, and nothing else.
    kustomization = by_kind["Kustomization"]
    listed = set(kustomization["resources"])
    expected = set(documents) - TEMPLATES - {"kustomization.yaml"}
    if listed != expected:
        raise CheckFailed(f"kustomization.yaml resources {sorted(listed)} != manifests {sorted(expected)}")
    # ServiceMonitor: selects the Service, through a port the Service has.
    monitor, service = by_kind["ServiceMonitor"], by_kind["Service"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    if not selector.items() <= service["metadata"]["labels"].items():
        raise CheckFailed(f"ServiceMonitor selector {selector} does not match the Service's labels")
    ports = {port["name"] for port in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        if endpoint["port"] not in ports or endpoint.get("path") != "/metrics":
            raise CheckFailed(f"ServiceMonitor endpoint {endpoint} does not scrape /metrics on a Service port {ports}")
    # PrometheusRule: its rules pass promtool.
    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "prometheusrule-spec.yml"
        rules.write_text(yaml.safe_dump({"groups": by_kind["PrometheusRule"]["spec"]["groups"]}))
        run([tool("promtool"), "check", "rules", str(rules)])
    return "PrometheusRule (promtool), ServiceMonitor and kustomization consistent"


def check_prometheus() -> str:
    run([tool("promtool"), "check", "rules", str(ALERTS)])
    tests = yaml.safe_load(ALERT_TESTS.read_text())
    tested = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])}
    untested = {rule["alert"] for rule in alert_rules()} - tested
    if untested:
        raise CheckFailed(f"{ALERT_TESTS.name} has no test for {sorted(untested)}")
    with tempfile.TemporaryDirectory() as tmp:  # the tests name alerts.yml beside them
        shutil.copy(ALERTS, Path(tmp) / "alerts.yml")
        shutil.copy(ALERT_TESTS, Path(tmp) / "alerts.test.yml")
        run([tool("promtool"), "test", "rules", str(Path(tmp) / "alerts.test.yml")])
    with tempfile.TemporaryDirectory() as tmp:
        config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
        shutil.copy(ALERTS, Path(tmp) / "alerts.yml")
        config["rule_files"] = ["alerts.yml"]  # mounted at /etc/prometheus in Compose; here beside the config
        (Path(tmp) / "prometheus.yml").write_text(yaml.safe_dump(config))
        run([tool("promtool"), "check", "config", str(Path(tmp) / "prometheus.yml")])
    return f"promtool check/test rules: {len(alert_rules())} alerts; promtool check config: Compose scrape config"


def check_dashboard() -> str:
    queries = dashboard_queries()
    selectors = [selector for _, selector, _ in dashboard_variable_selectors()]
    rules = [{"record": f"leadscore:dashboard_query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]
    rules += [{"record": f"leadscore:dashboard_variable_{i}", "expr": expr} for i, expr in enumerate(selectors)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dashboard-queries.yml"
        path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
        run([tool("promtool"), "check", "rules", str(path)])
    return f"dashboard: {len(queries)} queries and {len(selectors)} variable selectors parsed by promtool"


CHECKS = (check_dockerfile, check_manifests, check_custom_resources, check_prometheus, check_dashboard)


def main() -> int:
    failed = 0
    for check in CHECKS:
        try:
            print(f"ok    {check()}")
        except CheckFailed as exc:
            failed += 1
            print(f"FAIL  {check.__name__}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
