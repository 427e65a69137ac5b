"""conf/grafana/pbxctl-queues.json: importable, and only asks for metrics pbxctl exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import pytest

DASHBOARD = Path(__file__).resolve().parents[1] / "conf" / "grafana" / "pbxctl-queues.json"

# What the controller exports: metric -> its labels.
METRICS = {
    "pbxctl_queue_callers_waiting": {"queue"},
    "pbxctl_queue_longest_wait_seconds": {"queue"},
    "pbxctl_queue_agents": {"queue", "state"},
    "pbxctl_queue_calls_total": {"queue", "outcome"},
    "pbxctl_queue_service_level_ratio": {"queue"},
    "pbxctl_agent_state": {"agent", "state"},
    "pbxctl_ami_connected": set(),
    "pbxctl_ami_reconnects_total": set(),
    "pbxctl_sla_alert_active": {"queue", "rule"},
}
LABELS = set().union(*METRICS.values())
LABEL_VALUES = {
    "state": {"available", "ringing", "busy", "wrapup", "paused", "unavailable"},
    "outcome": {"answered", "abandoned", "timed_out", "exit_empty", "join_refused", "other"},
}
FUNCTIONS = {
    "sum", "min", "max", "avg", "count", "topk", "bottomk", "rate", "irate", "increase", "delta",
    "vector", "scalar", "clamp_min", "clamp_max", "abs", "round", "label_values", "time",
    "max_over_time", "min_over_time", "avg_over_time", "sum_over_time", "changes", "resets",
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def load() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows
    return out


def expressions(dashboard: dict[str, Any]) -> list[str]:
    exprs = [value for key, value in walk(dashboard["panels"]) if key == "expr"]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def check_expr(expr: str) -> tuple[set[str], list[str]]:
    """Metric names an expression uses, and every problem found with it."""
    problems: list[str] = []
    used: set[str] = set()
    text = expr.replace("$queue", "QUEUEVAR")

    # Grafana's label_values(metric, label): the label must be one of the metric's
    for metric, label in re.findall(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*(\w+)\s*\)", text):
        if label not in METRICS.get(metric, set()):
            problems.append(f"label_values: {metric} has no label {label!r}")
    text = re.sub(r"label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*,\s*\w+\s*\)", r"\1", text)

    # label matchers: {label op "value", ...} belong to the metric just before them
    for metric, block in re.findall(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^{}]*)\}", text):
        for label, op, value in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"', block):
            if metric in METRICS and label not in METRICS[metric]:
                problems.append(f"{metric} has no label {label!r}")
            if label in LABEL_VALUES and op in ("=", "!="):
                if value not in LABEL_VALUES[label]:
                    problems.append(f"{label}={value!r} is never exported")
            if label in LABEL_VALUES and op in ("=~", "!~"):
                unknown = set(value.split("|")) - LABEL_VALUES[label]
                if unknown:
                    problems.append(f"{label}=~ names values never exported: {sorted(unknown)}")
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors [5m]

    # by (...) / without (...) name labels
    for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", text):
        for label in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", clause):
            if label not in LABELS:
                problems.append(f"grouping by unknown label {label!r}")
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)

    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group()
        follows = text[match.end():].lstrip()[:1]
        if word in KEYWORDS or word == "QUEUEVAR":
            continue
        if follows == "(":
            if word not in FUNCTIONS:
                problems.append(f"unexpected function {word!r}")
        elif word in METRICS:
            used.add(word)
        else:
            problems.append(f"unknown metric {word!r}")
    return used, problems


def test_every_expression_uses_only_exported_metrics_and_labels():
    dashboard = load()
    exprs = expressions(dashboard)
    assert exprs
    used: set[str] = set()
    problems: list[str] = []
    for expr in exprs:
        names, found = check_expr(expr)
        if not names:
            found.append("no pbxctl metric")
        used |= names
        problems.extend(f"{expr}: {p}" for p in found)
    assert problems == []
    assert used == set(METRICS)  # and every exported metric is shown somewhere


@pytest.mark.parametrize(
    "expr",
    [
        "pbxctl_queue_waiting{queue=~\"$queue\"}",  # not an exported name
        "sum by (extension) (pbxctl_agent_state)",
        "label_values(pbxctl_queue_callers_waiting, state)",
        "pbxctl_queue_agents{agent=\"x\"}",
        "pbxctl_queue_calls_total{outcome=\"timeout\"}",
        "histogram_quantile(0.9, pbxctl_queue_longest_wait_seconds)",
    ],
)
def test_the_checker_catches_mistakes(expr):
    _, problems = check_expr(expr)
    assert problems


def test_importable_dashboard_shape():
    dashboard = load()
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] and dashboard["title"]
    [ds_input] = dashboard["__inputs"]
    assert (ds_input["name"], ds_input["type"], ds_input["pluginId"]) == ("DS_PROMETHEUS", "datasource", "prometheus")
    for key, value in walk(dashboard["panels"]):
        if key == "datasource":
            assert value == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    queue = variables["queue"]
    assert queue["type"] == "query"
    assert queue["datasource"]["uid"] == "${DS_PROMETHEUS}"
    query = queue["query"]["query"] if isinstance(queue["query"], dict) else queue["query"]
    assert query == "label_values(pbxctl_queue_callers_waiting, queue)"

    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel.get("targets", []):
            # legend templates may only name labels that exist
            assert set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", ""))) <= LABELS


def test_the_panels_asked_for_are_there():
    dashboard = load()
    by_title = {p["title"]: p for p in panels(dashboard)}
    expected = {
        "Callers waiting": "pbxctl_queue_callers_waiting",
        "Longest wait": "pbxctl_queue_longest_wait_seconds",
        "Agents by state: $queue": "pbxctl_queue_agents",
        "Calls per minute by outcome (5 m rate)": "pbxctl_queue_calls_total",
        "Service level today": "pbxctl_queue_service_level_ratio",
        "AMI connected": "pbxctl_ami_connected",
        "Active SLA alerts": "pbxctl_sla_alert_active",
    }
    for title, metric in expected.items():
        assert title in by_title, title
        assert any(metric in t["expr"] for t in by_title[title]["targets"]), title
    agents = by_title["Agents by state: $queue"]
    assert agents["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"] == "normal"
    rates = [t["expr"] for t in by_title["Calls per minute by outcome (5 m rate)"]["targets"]]
    for outcome in ("answered", "abandoned", "timed_out"):
        assert any(f'outcome="{outcome}"' in e and "rate(" in e and "[5m]" in e for e in rates), outcome
