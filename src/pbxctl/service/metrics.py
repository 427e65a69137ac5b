"""Prometheus metrics of a running backend (its Runtime): gauges read from the live state
at scrape time (never stale, nothing to keep in step), counters counted as queue calls end."""

from __future__ import annotations

from typing import Callable

from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY, CollectorRegistry
from sqlalchemy.engine import Engine

from pbxctl.service.runtime import Runtime
from pbxctl.service.status_view import AGENT_STATES, agent_documents, member_state_counts, service_level_ratio
from pbxctl.site.load import LoadedSite
from pbxctl.site.supervision_model import BARGE_MODES

OUTCOMES = ("answered", "abandoned", "timed_out", "exit_empty", "join_refused", "other")

QUEUE_CALLS = Counter(
    "pbxctl_queue_calls", "Queue calls that ended, by outcome.", ["queue", "outcome"]
)


def count_call_ended(call) -> None:
    outcome = call.outcome if call.outcome in OUTCOMES else "other"
    QUEUE_CALLS.labels(call.queue, outcome).inc()


class RuntimeCollector:
    """Yields the gauges of a Runtime at each scrape."""

    def __init__(self, runtime: Runtime, now: Callable[[], float]):
        self.runtime = runtime
        self.now = now

    def describe(self):
        return []

    def collect(self):
        rt = self.runtime
        ctl = rt.controller
        site = rt.site().site
        now = self.now()
        views = {n: v for n, v in ctl.queues(now).items() if n in site.queues}
        waiting = GaugeMetricFamily("pbxctl_queue_callers_waiting", "Callers waiting in the queue.", labels=["queue"])
        longest = GaugeMetricFamily(
            "pbxctl_queue_longest_wait_seconds", "Wait of the longest-waiting caller.", labels=["queue"]
        )
        agents = GaugeMetricFamily("pbxctl_queue_agents", "Queue members by state.", labels=["queue", "state"])
        level = GaugeMetricFamily(
            "pbxctl_queue_service_level_ratio",
            "Calls answered within the service level / calls offered, today.",
            labels=["queue"],
        )
        for name, view in views.items():
            waiting.add_metric([name], len(view.callers))
            longest.add_metric([name], max((now - c.joined_at for c in view.callers), default=0.0))
            for state, n in member_state_counts(view).items():
                agents.add_metric([name, state], n)
            ratio = service_level_ratio(view.counters)
            if ratio is not None:
                level.add_metric([name], ratio)
        agent_state = GaugeMetricFamily("pbxctl_agent_state", "1 for the agent's current state.", labels=["agent", "state"])
        for doc in agent_documents(site, views, ctl.wanted, now, rt.agents_by_member(site)):
            for state in (*AGENT_STATES, "logged_out"):
                agent_state.add_metric([doc["agent"], state], 1.0 if doc["state"] == state else 0.0)
        connected = GaugeMetricFamily("pbxctl_ami_connected", "1 while the AMI link is up.")
        connected.add_metric([], 1.0 if rt.link.up else 0.0)
        reconnects = CounterMetricFamily("pbxctl_ami_reconnects", "AMI reconnection attempts after a failure.")
        reconnects.add_metric([], rt.link.reconnects)
        events = CounterMetricFamily("pbxctl_ami_events", "AMI events received.")
        events.add_metric([], ctl.events_seen)
        yield from (waiting, longest, agents, level, agent_state, connected, reconnects, events)
        calls = rt.supervision.listing()
        live = GaugeMetricFamily("pbxctl_live_calls", "Queue calls in progress.", labels=["queue"])
        helping = GaugeMetricFamily("pbxctl_help_requests_open", "Live calls whose agent asked for help.", labels=["queue"])
        listened = GaugeMetricFamily("pbxctl_barge_sessions", "Supervisors listening in, by mode.", labels=["mode"])
        for name in site.queues:
            live.add_metric([name], sum(1 for c in calls if c["queue"] == name))
            helping.add_metric([name], sum(1 for c in calls if c["queue"] == name and c["help_requested"]))
        for mode in BARGE_MODES:
            listened.add_metric([mode], sum(1 for c in calls for lis in c["listeners"] if lis["mode"] == mode))
        asked = CounterMetricFamily("pbxctl_help_requests", "Help requests from agents during calls.", labels=["queue"])
        for name, n in sorted(rt.supervision.help_requests_total().items()):
            asked.add_metric([name], n)
        yield from (live, helping, listened, asked)
        active = GaugeMetricFamily("pbxctl_sla_alert_active", "1 while an SLA rule is alerting.", labels=["queue", "rule"])
        for (queue, rule), on in rt.sla_alerts_active().items():
            active.add_metric([queue, rule], 1.0 if on else 0.0)
        yield active


class CallbackCollector:
    """The callback list's gauges and counters, read from the database at each scrape (so
    they survive a restart and count what the CLI did too)."""

    def __init__(self, site: Callable[[], LoadedSite], engine: Engine):
        self.site = site
        self.engine = engine

    def describe(self):
        return []

    def collect(self):
        from pbxctl.storage.callback_list import counts

        site = self.site().site
        waiting, totals = counts(self.engine)
        pending = GaugeMetricFamily("pbxctl_callbacks_open", "Callbacks still on the list (open, in progress, "
                                    "unanswered).", labels=["queue"])
        for queue in sorted(set(site.callbacks.queues) | set(waiting)):
            pending.add_metric([queue], waiting.get(queue, 0))
        done = CounterMetricFamily("pbxctl_callbacks", "Callback attempts by result, and entries closed.",
                                   labels=["queue", "outcome"])
        for (queue, outcome), n in sorted(totals.items()):
            done.add_metric([queue, outcome], n)
        yield from (pending, done)


def register_runtime(runtime: Runtime, now: Callable[[], float], registry: CollectorRegistry = REGISTRY) -> RuntimeCollector:
    collector = RuntimeCollector(runtime, now)
    registry.register(collector)
    if runtime.books is not None:
        registry.register(CallbackCollector(runtime.site, runtime.books))
    runtime.controller.on_call_ended(count_call_ended)
    return collector
