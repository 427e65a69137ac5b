"""The live status document (`pbxctl status --json`, GET /api/status): queues and agents
as the controller sees them, in plain JSON types. Pure: built from a state snapshot."""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from pbxctl.domain.agent_membership import Wanted, agent_queues, current
from pbxctl.site import model as m

AGENT_STATES = ("available", "ringing", "busy", "wrapup", "paused", "unavailable")
# An agent in several queues shows its most telling state.
_PRECEDENCE = ("busy", "ringing", "wrapup", "available", "paused", "unavailable")


def _iso(epoch: float | None) -> str | None:
    if not epoch:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="seconds")


def service_level_ratio(counters) -> float | None:
    """Answered within the queue's service level / calls offered that ended (answered,
    abandoned, timed out, left empty, other; not join_refused). None before the first call
    of the day."""
    offered = counters.answered + counters.abandoned + counters.timed_out + counters.exit_empty + counters.other
    return counters.answered_within_sl / offered if offered else None


def member_state_counts(view) -> dict[str, int]:
    """Members of one queue by state (every state present, zero or not)."""
    counts = dict.fromkeys(AGENT_STATES, 0)
    for mv in view.members:
        counts[mv.state] = counts.get(mv.state, 0) + 1
    return counts


def _caller(c, now: float) -> dict[str, Any]:
    return {
        "position": c.position,
        "caller": c.caller_id,
        "name": c.caller_name,
        "uniqueid": c.uniqueid,
        "channel": c.channel,
        "wait_s": round(max(0.0, now - c.joined_at), 1),
    }


def queue_document(site: m.Site, view, now: float) -> dict[str, Any]:
    callers = sorted(view.callers, key=lambda c: c.position)
    counts = member_state_counts(view)
    c = view.counters
    ratio = service_level_ratio(c)
    configured = site.queues.get(view.name)
    return {
        "name": view.name,
        "display_name": configured.display_name if configured else None,
        "strategy": configured.strategy.value if configured else view.strategy,
        "waiting": len(callers),
        "longest_wait_s": round(max((now - x.joined_at for x in callers), default=0.0), 1),
        "callers": [_caller(x, now) for x in callers],
        "agents": {"logged_in": len(view.members), **counts},
        "service_level_s": view.service_level,
        "today": {
            "day": str(c.day),
            "answered": c.answered,
            "abandoned": c.abandoned,
            "timed_out": c.timed_out,
            "exit_empty": c.exit_empty,
            "join_refused": c.join_refused,
            "other": c.other,
            "answered_within_sl": c.answered_within_sl,
            "service_level_pct": None if ratio is None else round(100 * ratio, 1),
        },
    }


def agent_documents(
    site: m.Site,
    views: Mapping[str, Any],
    wanted: Mapping[tuple[str, str], Wanted],
    now: float,
    agents_by_member: Mapping[str, str],
) -> list[dict]:
    """`agents_by_member`: member (a view member's `interface`) -> agent, from the backend."""
    by_iface = agents_by_member
    members: dict[str, list[tuple[str, Any]]] = {}
    for view in views.values():
        for mv in view.members:
            agent = by_iface.get(mv.interface)
            if agent is not None:
                members.setdefault(agent, []).append((view.name, mv))
    out = []
    for name in sorted(site.agents):
        a = site.agents[name]
        live = members.get(name, [])
        if live:
            state = min((mv.state for _, mv in live), key=lambda s: _PRECEDENCE.index(s) if s in _PRECEDENCE else 99)
            since = max(mv.state_since for _, mv in live if mv.state == state)
        else:
            state, since = "logged_out", 0.0
        call = next((mv.current_call for _, mv in live if mv.current_call is not None), None)
        reasons = sorted({mv.pause_reason for _, mv in live if mv.paused and mv.pause_reason})
        queues = []
        for qname in sorted(agent_queues(site, name)):
            mv = next((v for q, v in live if q == qname), None)
            w = current(site, wanted, name, qname)
            queues.append(
                {
                    "queue": qname,
                    "wanted": "in" if w.logged_in else "out",
                    "member": mv is not None,
                    "state": mv.state if mv else "logged_out",
                    "paused": bool(mv and mv.paused),
                    "reason": (mv.pause_reason if mv else "") or "",
                    "penalty": mv.penalty if mv else None,
                    "membership": mv.membership if mv else None,
                }
            )
        out.append(
            {
                "agent": name,
                "name": a.name,
                "extension": a.extension,
                "login": a.login,
                "state": state,
                "state_since": _iso(since),
                "time_in_state_s": round(now - since, 1) if since else None,
                "pause_reason": ", ".join(reasons),
                "current_call": _call_text(call),
                "queues": queues,
            }
        )
    return out


def _call_text(call) -> str | None:
    """The caller a member talks to (a live view's CallerView), as shown."""
    if call is None:
        return None
    return call.caller_id or call.uniqueid


def status_document(
    site: m.Site, views: Mapping[str, Any], wanted, ami: Mapping[str, Any], now: float, agents_by_member: Mapping[str, str]
) -> dict[str, Any]:
    # The site's queues only: Asterisk may hold queues of the operator's own.
    names = [n for n in site.queues if n in views]
    return {
        "site": site.site,
        "at": _iso(now),
        "ami": dict(ami),
        "queues": [queue_document(site, views[n], now) for n in names],
        "agents": agent_documents(site, views, wanted, now, agents_by_member),
    }
