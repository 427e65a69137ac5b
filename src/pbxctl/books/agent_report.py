"""The agent report: per agent, time logged in and paused, calls rung, answered and
missed, ring time before answering, handling time, transfers, conferences, help requests.

Pure: a function of the rows (report_rows.py) and the window. Login and pause time are
the union of the agent's spans over all its queues (logged in to three queues for an
hour is an hour), clipped to the window; calls are counted when they rang / were answered
inside the window. A call that visits two queues and is answered by the same agent twice
(a transfer back) counts two answered calls for that agent: each is work done.
"""

from __future__ import annotations

from collections import defaultdict

from pbxctl.books.report_rows import AgentLeg, AgentSpan, CallEvent, RingAttempt
from pbxctl.books.report_window import ReportWindow

AGENT_DEFINITIONS = {
    "login_time": "seconds logged in to at least one queue (union over queues), within the window; a static "
    "member (login: static) is logged in to its queues from the window's start, or from the PBX's start "
    "(QUEUESTART) in the window when the books hold none before it, to the window's end",
    "pause_by_reason": "seconds paused per reason (\"\" = no reason given), union over queues",
    "rung": "times the agent's phone was offered a queue caller",
    "not_answered": "offers the agent did not take (rang out, RINGNOANSWER, or taken by another member)",
    "avg_ring_before_answer": "seconds the phone rang before the agent answered, answered offers only",
    "avg_handling": "talk + wrap-up seconds per handled call",
}


def _union_seconds(spans: list[tuple[int, int]]) -> int:
    total = 0
    current_start = current_end = None
    for start, end in sorted(spans):
        if current_end is None or start > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_end is not None:
        total += current_end - current_start
    return total


def _clip(span: AgentSpan, start: int, end: int) -> tuple[int, int] | None:
    a, b = max(span.start, start), min(span.end, end)
    return (a, b) if a < b else None


def _avg(total: float, n: int) -> float | None:
    return round(total / n, 1) if n else None


def agent_report(
    agents: list[str],
    window: ReportWindow,
    spans: list[AgentSpan],
    rings: list[RingAttempt],
    legs: list[AgentLeg],
    events: list[CallEvent],
    queues: list[str] | None = None,
) -> dict:
    start, end = window.start_epoch, window.end_epoch
    wanted_queues = set(queues) if queues else None
    in_window = window.contains

    def queue_ok(queue: str | None) -> bool:
        return wanted_queues is None or queue in wanted_queues

    logged: dict[str, list] = defaultdict(list)
    paused: dict[tuple[str, str], list] = defaultdict(list)
    for span in spans:
        if not queue_ok(span.queue) and span.queue is not None:
            continue
        clipped = _clip(span, start, end)
        if clipped is None:
            continue
        if span.reason is None:
            logged[span.agent].append(clipped)
        else:
            paused[(span.agent, span.reason)].append(clipped)

    rows = []
    for agent in agents:
        mine = [r for r in rings if r.agent == agent and queue_ok(r.queue) and in_window(r.at)]
        answered = [r for r in mine if r.answered]
        handled = [g for g in legs if g.agent == agent and queue_ok(g.queue) and in_window(g.answered_at)]
        done = [e for e in events if e.agent == agent and in_window(e.at)]
        pauses = {reason: _union_seconds(v) for (a, reason), v in sorted(paused.items()) if a == agent}
        rows.append(
            {
                "agent": agent,
                "login_time": _union_seconds(logged.get(agent, [])),
                "pause_time": sum(pauses.values()),
                "pause_by_reason": pauses,
                "rung": len(mine),
                "answered": len(answered),
                "not_answered": len(mine) - len(answered),
                "avg_ring_before_answer": _avg(sum(r.ring for r in answered), len(answered)),
                "handled": len(handled),
                "talk_time": round(sum(g.talk for g in handled), 1),
                "avg_talk": _avg(sum(g.talk for g in handled), len(handled)),
                "avg_wrapup": _avg(sum(g.wrapup for g in handled), len(handled)),
                "avg_handling": _avg(sum(g.talk + g.wrapup for g in handled), len(handled)),
                "transfers": sum(1 for e in done if e.kind.startswith("transfer")),
                "conferences": sum(1 for e in done if e.kind == "conference"),
                "help_requests": sum(1 for e in done if e.kind == "help"),
            }
        )
    return {
        "report": "agents",
        "window": window.describe(),
        "queues": sorted(wanted_queues) if wanted_queues else None,
        "definitions": AGENT_DEFINITIONS,
        "rows": rows,
    }
