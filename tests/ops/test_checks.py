"""deploy/check.py (make lint-ops) passes on the kit and fails on broken files, with the real tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ops.conftest import DEPLOY, checks, require_tool


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_tool("promtool")


def test_the_kit_passes_every_check() -> None:
    for check in checks.CHECKS:
        assert check()


def test_hadolint_rejects_a_root_image_on_a_floating_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "DEPLOY", tmp_path)
    (tmp_path / "Dockerfile").write_text('FROM python:latest\nRUN pip install leadscore\nENTRYPOINT ["leadscore"]\n')
    with pytest.raises(checks.CheckFailed, match="DL3007"):  # :latest
        checks.check_dockerfile()


def test_kubernetes_validate_rejects_a_misspelt_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in (DEPLOY / "k8s").glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    statefulset = tmp_path / "statefulset.yaml"
    statefulset.write_text(statefulset.read_text().replace("readinessProbe:", "readinesProbe:"))
    monkeypatch.setattr(checks, "K8S", tmp_path)
    with pytest.raises(checks.CheckFailed, match="readinesProbe"):
        checks.check_manifests()


def test_promtool_rejects_a_broken_alert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "alerts.yml"
    broken.write_text(checks.ALERTS.read_text().replace("== 0\n", "== \n", 1))
    monkeypatch.setattr(checks, "ALERTS", broken)
    with pytest.raises(checks.CheckFailed, match="promtool check rules"):
        checks.check_prometheus()


def test_promtool_rejects_a_broken_dashboard_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dashboard = json.loads(checks.DASHBOARD.read_text())
    dashboard["panels"][1]["targets"][0]["expr"] = "sum(rate(leadscore_events_scored_total[$__rate_interval])"
    broken = tmp_path / "leadscore.json"
    broken.write_text(json.dumps(dashboard))
    monkeypatch.setattr(checks, "DASHBOARD", broken)
    with pytest.raises(checks.CheckFailed, match="unclosed left parenthesis"):
        checks.check_dashboard()


def test_kustomization_must_list_every_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in (DEPLOY / "k8s").glob("*.yaml"):
        (tmp_path / path.name).write_text(path.read_text())
    kustomization = tmp_path / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - pdb.yaml\n", ""))
    monkeypatch.setattr(checks, "K8S", tmp_path)
    with pytest.raises(checks.CheckFailed, match="kustomization"):
        checks.check_custom_resources()


def test_promtool_rule_tests_catch_a_flipped_condition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flipped = tmp_path / "alerts.yml"
    flipped.write_text(checks.ALERTS.read_text().replace("[10m]) >= 0", "[10m]) <= 0"))
    assert flipped.read_text() != checks.ALERTS.read_text()
    monkeypatch.setattr(checks, "ALERTS", flipped)
    with pytest.raises(checks.CheckFailed, match="LeadscoreRecoveryStuck"):
        checks.check_prometheus()


def test_every_alert_needs_a_rule_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extended = tmp_path / "alerts.yml"
    rule = "      - alert: LeadscoreUntested\n        expr: vector(1)\n"
    extended.write_text(checks.ALERTS.read_text() + rule)
    monkeypatch.setattr(checks, "ALERTS", extended)
    with pytest.raises(checks.CheckFailed, match=r"no test for \['LeadscoreUntested'\]"):
        checks.check_prometheus()
