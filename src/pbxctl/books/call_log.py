"""The call log: each customer call with its sub-calls as a tree, searchable.

call
├─ stint 1 queue support: timed_out after 30 s -> queue:sales
│  ├─ rang alice 15 s (no answer)
├─ stint 2 queue sales: answered by bob after 4 s, talk 62 s
│  ├─ rang bob 4 s (answered)
│  ├─ transfer_blind by bob -> queue:billing
├─ callback_attempt by alice -> the callback call's uniqueid (answered, ...)
...

Pure: a function of the rows and the search; times in the output are local to the
window's timezone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pbxctl.books.report_rows import AgentLeg, Books, Call, CallEvent, Stint
from pbxctl.books.report_window import ReportWindow


# Events shown under the call rather than a stint: a callback attempt (its target the
# callback call's uniqueid) comes after the customer's stay in the queue.
CALL_LEVEL = frozenset({"callback_attempt"})


@dataclass(frozen=True)
class CallSearch:
    number: str | None = None     # part of the caller's number or name, or the entry number
    agent: str | None = None
    queue: str | None = None


def _local(at: int | None, tz: str) -> str | None:
    if at is None:
        return None
    return dt.datetime.fromtimestamp(at, ZoneInfo(tz)).isoformat(timespec="seconds")


def _stint_node(s: Stint, seq: int, tz: str, rings: list, legs: list, events: list) -> dict:
    children = [
        {"kind": "ring", "agent": r.agent, "at": _local(r.at, tz), "ring": r.ring, "answered": r.answered}
        for r in rings
    ]
    children += [
        _talk_node(g, tz) for g in legs
    ]
    children += [_event_node(e, tz) for e in events]
    children.sort(key=lambda c: c["at"] or "")
    return {
        "kind": "stint",
        "seq": seq,
        "queue": s.queue,
        "at": _local(s.entered_at, tz),
        "outcome": s.outcome,
        "wait": s.wait,
        "agent": s.agent,
        "exit_to": s.exit_to,
        "children": children,
    }


def _event_node(e: CallEvent, tz: str) -> dict:
    return {"kind": e.kind, "agent": e.agent, "at": _local(e.at, tz), "queue": e.queue, "target": e.target,
            "detail": e.detail}


def _talk_node(g: AgentLeg, tz: str) -> dict:
    return {"kind": "talk", "agent": g.agent, "at": _local(g.answered_at, tz), "talk": g.talk, "wrapup": g.wrapup}


def _matches(call: Call, stints: list[Stint], agents: set[str], search: CallSearch) -> bool:
    if search.number:
        needle = search.number.lstrip("+")
        if not any(needle in (v or "") for v in (call.caller_number, call.caller_name, call.entry_number)):
            return False
    if search.queue and not any(s.queue == search.queue for s in stints):
        return False
    if search.agent and search.agent not in agents:
        return False
    return True


def call_log(books: Books, window: ReportWindow, search: CallSearch = CallSearch()) -> dict:
    by_call: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for kind in ("stints", "rings", "legs", "events"):
        for row in getattr(books, kind):
            by_call[row.call_id][kind].append(row)
    tz = window.tz
    out = []
    for call in sorted(books.calls, key=lambda c: (c.started_at, c.call_id)):
        if not window.contains(call.started_at):
            continue
        parts = by_call.get(call.call_id, {})
        stints = sorted(parts.get("stints", []), key=lambda s: (s.entered_at, s.queue))
        rings, legs, events = parts.get("rings", []), parts.get("legs", []), parts.get("events", [])
        agents = {r.agent for r in rings} | {g.agent for g in legs} | {s.agent for s in stints if s.agent}
        agents |= {e.agent for e in events if e.agent}
        if not _matches(call, stints, agents, search):
            continue
        children = []
        # A callback is a call of its own, linked: beside the stints, not inside one.
        placed: set[int] = {id(e) for e in events if e.kind in CALL_LEVEL}
        for i, s in enumerate(stints):
            until = stints[i + 1].entered_at if i + 1 < len(stints) else 2**62
            mine = [e for e in events if s.entered_at <= e.at < until and id(e) not in placed]
            placed |= {id(e) for e in mine}
            children.append(
                _stint_node(
                    s, i + 1, tz,
                    [r for r in rings if r.queue == s.queue and s.entered_at <= r.at < until],
                    [g for g in legs if g.queue == s.queue and s.entered_at <= g.answered_at < until],
                    mine,
                )
            )
        children += [_event_node(e, tz) for e in events if id(e) not in placed or e.kind in CALL_LEVEL]
        children += [_talk_node(g, tz) for g in legs if g.queue is None]
        out.append(
            {
                "call_id": call.call_id,
                "started_at": _local(call.started_at, tz),
                "ended_at": _local(call.ended_at, tz),
                "caller_number": call.caller_number,
                "caller_name": call.caller_name,
                "entry_number": call.entry_number,
                "ivr_path": call.ivr_path,
                "node": call.node,
                "outcome": _call_outcome(stints),
                "children": children,
            }
        )
    return {
        "report": "calls",
        "window": window.describe(),
        "search": {"number": search.number, "agent": search.agent, "queue": search.queue},
        "calls": out,
    }


def _call_outcome(stints: list[Stint]) -> str:
    """The customer's view: answered if any queue answered, else how the last stint ended."""
    if any(s.outcome == "answered" for s in stints):
        return "answered"
    return stints[-1].outcome if stints else "no_queue"


def flatten(log: dict) -> list[dict]:
    """One line per node, depth-first, for tables and CSV: the tree as indented rows."""
    lines: list[dict] = []

    def walk(node: dict, depth: int, call_id: str) -> None:
        lines.append({"call_id": call_id, "depth": depth, **{k: v for k, v in node.items() if k != "children"}})
        for child in node.get("children", []):
            walk(child, depth + 1, call_id)

    for call in log["calls"]:
        walk({"kind": "call", **call}, 0, call["call_id"])
    return lines
