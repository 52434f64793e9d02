"""deploy/prometheus with Debian's promtool (installed with apt when missing): the scrape config and
alert rules are valid, and the rule unit tests (alerts_test.yml) pass."""

from __future__ import annotations

import os
import shutil
import subprocess

from tests.helpers import ROOT, service_unavailable

PROMETHEUS = ROOT / "deploy" / "prometheus"


def promtool() -> str:
    found = shutil.which("promtool")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "prometheus"], env=env, capture_output=True, timeout=900)
        found = shutil.which("promtool")
    if not found:
        service_unavailable("promtool is not installed and apt-get could not install it")
    return found


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)


def test_promtool_accepts_the_scrape_config_and_its_rule_file():
    result = run("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout + result.stderr


def test_promtool_accepts_the_alert_rules():
    result = run("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_alert_fires_on_its_failure_and_not_on_a_healthy_pipeline():
    result = run("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_rule_test():
    import yaml

    alerts = {rule["alert"] for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
              for rule in group["rules"]}
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert alerts == fired
    assert alerts >= {"CollectorDown", "WebsocketDisconnected", "FeedSilent", "ConsumerLagGrowing",
                      "DeadLettersRising", "CassandraWritesSlow"}
