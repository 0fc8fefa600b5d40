"""The shipped Grafana dashboard and Prometheus alert rules ask only for metrics the service exports, and the
scrape jobs the example configuration defines, whose targets are where the shipped nginx and collector listen; the
list of exported names is the service's own."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

from service.runtime import collector, metrics

CONFIG = Path(__file__).resolve().parent.parent / "config"
NAME = re.compile(r"\bsuishoupai_[a-z0-9_]+")
JOB = re.compile(r'job=~?"([^"]+)"')
SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def exported() -> frozenset[str]:
    """Every metric name the web, the workers and the collector export."""
    return metrics.EXPORTED | collector.EXPORTED


def family_of(name: str) -> str:
    """The family a sample's name belongs to (a histogram's _bucket, _count and _sum are its own)."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in exported():
            return name.removesuffix(suffix)
    return name


def dashboard_queries() -> list[str]:
    """Every query of every panel of the dashboard."""
    dashboard = json.loads((CONFIG / "grafana" / "dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load((CONFIG / "prometheus" / "alerts.yml").read_text())["groups"]
            for rule in group["rules"]]


def scrape_jobs() -> set[str]:
    config = yaml.safe_load((CONFIG / "prometheus" / "prometheus.yml").read_text())
    return {job["job_name"] for job in config["scrape_configs"]}


def test_the_dashboard_asks_only_for_exported_metrics_and_shows_each():
    queries = dashboard_queries()
    assert len(queries) >= 15
    used = {family_of(name) for query in queries for name in NAME.findall(query)}
    assert used - exported() == set()
    assert exported() - used == set()  # nothing exported goes unseen
    assert {job for query in queries for job in JOB.findall(query)} <= {"suishoupai-.*"} | scrape_jobs()


def test_the_alerts_ask_only_for_exported_metrics_and_scrape_jobs():
    rules = alert_rules()
    expressions = [rule["expr"] for rule in rules]
    used = {family_of(name) for expression in expressions for name in NAME.findall(expression)}
    assert used and used - exported() == set()
    for needed in ("suishoupai_queue_oldest_job_age_seconds", "suishoupai_rq_workers_alive",
                   "suishoupai_http_requests_total", "suishoupai_photo_disk_free_bytes"):
        assert needed in used
    assert {job for expression in expressions for job in JOB.findall(expression)} <= scrape_jobs()
    assert all(rule["annotations"]["summary"] for rule in rules)


def test_the_list_of_exported_names_is_what_the_registry_and_the_collector_hold(settings, tmp_path):
    settings = replace(settings, backup_dir=tmp_path / "backups")  # the host that takes backups reads them too
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    in_process = {f"{family.name}_total" if family.type == "counter" else family.name
                  for family in REGISTRY.collect() if family.name.startswith(metrics.PREFIX)}
    assert in_process == metrics.EXPORTED
    read = {family.name for family in collector.ServiceCollector(settings).collect()}
    assert read == collector.EXPORTED


def test_the_example_scrape_targets_are_where_the_shipped_nginx_and_collector_settings_listen():
    jobs = {job["job_name"]: [target for group in job["static_configs"] for target in group["targets"]]
            for job in yaml.safe_load((CONFIG / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]}
    # the web through nginx's second server, the one that routes /metrics (never gunicorn's loopback PORT)
    nginx = (CONFIG / "nginx.conf").read_text()
    metrics_server = nginx[nginx.rindex("server {"):]  # the last one: the public server comes first
    listen = re.search(r"^\s*listen\s+([\d.]+:\d+);", metrics_server, re.MULTILINE).group(1)
    assert "proxy_pass http://gunicorn" in metrics_server and "deny all;" in metrics_server
    assert jobs["suishoupai-web"][0] == listen
    assert {target.split(":")[1] for target in jobs["suishoupai-web"]} == {listen.split(":")[1]}
    # the collector at the example settings' METRICS_BIND:METRICS_PORT
    example = dict(line.split("=", 1) for line in (CONFIG / "systemd" / "suishoupai.env.example").read_text()
                   .splitlines() if line and not line.startswith("#"))
    assert jobs["suishoupai-collector"][0] == f"{example['METRICS_BIND']}:{example['METRICS_PORT']}"
