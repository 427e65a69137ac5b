"""The books' rows as plain tuples, made from finished calls, agent events and rejected
lines, and the two records a batch carries with them (a rejected line, the checkpoint).
No database here: `books import`'s reader process makes these rows and sends them to the
process that writes them (books.ingest), and it imports neither SQLAlchemy nor the site
model (books.store writes them)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, NamedTuple

from pbxctl.books.assembler import AgentEvent
from pbxctl.books.calls import Call


@dataclass(slots=True)
class Reject:
    source: str
    file: str
    line_no: int
    reason: str
    raw: bytes
    text: str
    at: int | None = None

    def message(self) -> str:
        return f"{self.file}:{self.line_no}: {self.reason}"


@dataclass(slots=True)
class Checkpoint:
    source: str
    path: str
    inode: int
    offset: int
    line_no: int
    replay_offset: int
    replay_line_no: int
    head: str


def call_rows(node: str, calls: Iterable[Call]) -> dict[str, list[tuple]]:
    """The rows of these calls, in the tables' column orders; stints without their entry
    and legs without their cut wrap-up (both depend on what the books already hold)."""
    stints: list[tuple] = []
    rings: list[tuple] = []
    legs: list[tuple] = []
    transfers: list[tuple] = []
    pbxctl: list[tuple] = []
    merged: dict[str, list] = {}
    for call in calls:
        callid = call.callid
        row = merged.get(callid)
        if row is None:
            merged[callid] = [node, callid, None, call.started_at, call.ended_at, call.caller_number,
                              call.caller_name, call.entry]
        else:  # the same call finished twice in one batch (it came back after settling)
            row[3] = min(row[3], call.started_at)
            row[4] = max(row[4], call.ended_at)
            row[5] = row[5] or call.caller_number
            row[6] = row[6] or call.caller_name
            row[7] = row[7] or call.entry
        for st in call.stints:
            queue, entered = st.queue, st.entered_at
            stints.append((
                node, callid, queue, entered, st.ended_at, st.outcome, st.ended_by, st.wait_seconds, st.answered_at,
                st.agent, st.member, st.position, st.exit_position, st.exit_key, st.exit_status, st.exit_to,
                st.caller_number,
            ))
            for ring in st.rings:
                rings.append((node, callid, ring.member, ring.at, ring.outcome, queue, entered, ring.agent,
                              ring.ring_seconds))
            if (leg := st.leg) is not None:
                legs.append((node, callid, leg.member, leg.connected_at, queue, entered, leg.agent, leg.ended_at,
                             leg.talk_seconds, leg.ended_by, leg.wrapup_seconds))
        for t in call.transfers:
            transfers.append((node, callid, t.at, t.kind, t.queue, t.agent, t.member, t.target, t.wait_seconds,
                              t.talk_seconds))
        for e in call.pbxctl_events:
            pbxctl.append((node, callid, e.at, e.event, e.data, e.queue, e.agent))
    return {"calls": [tuple(row) for row in merged.values()], "stints": stints, "rings": rings, "legs": legs,
            "transfers": transfers, "pbxctl": pbxctl}


def agent_event_rows(node: str, events: Iterable[AgentEvent]) -> list[tuple]:
    return [(node, e.at, e.queue, e.member, e.event, e.agent, e.reason) for e in events]


def reject_rows(node: str, rejects: Iterable[Reject]) -> list[tuple]:
    return [
        (node, r.source, r.file, r.line_no, hashlib.blake2b(r.raw, digest_size=8).hexdigest(), r.reason, r.text, r.at)
        for r in rejects
    ]


class BatchRows(NamedTuple):
    """One batch's rows: `calls` is call_rows' tables (calls, stints, rings, legs,
    transfers, pbxctl), then the agent events' and the rejected lines' rows. A plain
    tuple of it (`tuple(batch)`) goes through `marshal`."""

    calls: dict[str, list[tuple]]
    agent_events: list[tuple]
    rejects: list[tuple]

    @classmethod
    def of(cls, node: str, calls: Iterable[Call], agent_events: Iterable[AgentEvent],
           rejects: Iterable[Reject]) -> BatchRows:
        return cls(call_rows(node, calls), agent_event_rows(node, agent_events), reject_rows(node, rejects))

    def sizes(self) -> tuple[int, int, int]:
        """(calls, agent events, rejected lines): what a failure message counts."""
        return len(self.calls["calls"]), len(self.agent_events), len(self.rejects)
