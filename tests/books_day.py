"""A hand-made day of books (Europe/Oslo, Tuesday 2026-11-10, UTC+1) written straight into
the books' tables, with the report rows it stands for. Each call is one case the reports
must count right; the tests derive what they expect from these cases."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from pbxctl.books.assembler import AgentEvent
from pbxctl.books.calls import AgentLeg, AgentRing, Call, PbxctlEvent, QueueStint, Transfer
from pbxctl.books.quarter_sums import Thresholds
from pbxctl.books.site_view import thresholds_of
from pbxctl.books.store import write_batch
from pbxctl.domain.callbacks import QueueRules
from pbxctl.domain.phone_numbers import NumberingPlan
from pbxctl.site.load import load_site
from pbxctl.storage.callback_feed import feed_from_books, record_ivr_request
from pbxctl.storage.db import new_engine
from sqlmodel import Session

OSLO = ZoneInfo("Europe/Oslo")
NODE = "pbx1"


def at(day: int, hhmm: str, seconds: int = 0) -> int:
    h, m = (int(x) for x in hhmm.split(":"))
    return int(dt.datetime(2026, 11, day, h, m, seconds, tzinfo=OSLO).timestamp())


@dataclass
class Case:
    callid: str
    number: str
    entry: str | None
    stints: list[dict]                       # queue, entered (epoch), outcome, wait, agent, exit_to
    legs: list[dict] = field(default_factory=list)    # agent, queue, connected, talk, wrapup
    rings: list[dict] = field(default_factory=list)   # agent, queue, at, ring, outcome
    transfers: list[dict] = field(default_factory=list)
    pbxctl: list[dict] = field(default_factory=list)  # event, at, data, queue, agent


def stint(queue, entered, outcome, wait, agent=None, exit_to=None) -> dict:
    return dict(queue=queue, entered=entered, outcome=outcome, wait=wait, agent=agent, exit_to=exit_to)


CASES = [
    # answered within support's SL (20 s) by alice, 60 s talk, 10 s wrap-up
    Case("c1", "4722000001", "22334455",
         [stint("support", at(10, "09:00"), "answered", 5, "alice")],
         legs=[dict(agent="alice", queue="support", connected=at(10, "09:00", 5), talk=60, wrapup=10)],
         rings=[dict(agent="alice", queue="support", at=at(10, "09:00", 5), ring=5, outcome="answered")]),
    # answered after the SL by bob; alice rang first and did not answer
    Case("c2", "4722000002", "22334455",
         [stint("support", at(10, "09:10"), "answered", 25, "bob")],
         legs=[dict(agent="bob", queue="support", connected=at(10, "09:10", 25), talk=100, wrapup=10)],
         rings=[dict(agent="alice", queue="support", at=at(10, "09:10", 15), ring=15, outcome="no_answer"),
                dict(agent="bob", queue="support", at=at(10, "09:10", 25), ring=10, outcome="answered")],
         transfers=[dict(at=at(10, "09:12"), kind="blind", queue="support", agent="bob", target="2000@from-internal")]),
    # abandoned after 3 s: a short abandon, left out of the SL
    Case("c3", "4722000003", "22334455", [stint("support", at(10, "09:20"), "abandoned", 3)]),
    # abandoned after 40 s
    Case("c4", "4722000004", "22334455", [stint("support", at(10, "09:30"), "abandoned", 40)]),
    # timed out of support after 60 s, overflowed into sales, answered there by alice after 10 s
    Case("c5", "4722000005", "22334466",
         [stint("support", at(10, "10:00"), "timed_out", 60, exit_to="queue:sales"),
          stint("sales", at(10, "10:01"), "answered", 10, "alice")],
         legs=[dict(agent="alice", queue="sales", connected=at(10, "10:01", 10), talk=30, wrapup=15)],
         rings=[dict(agent="alice", queue="sales", at=at(10, "10:01", 10), ring=4, outcome="answered")],
         pbxctl=[dict(event="PBXCTLIVR", at=at(10, "09:59", 50), data="main|menu|2|support", queue="", agent="")]),
    # left support when it emptied, to voicemail; asked for a callback
    Case("c6", "4722000006", "22334455",
         [stint("support", at(10, "11:00"), "exit_empty", 8, exit_to="voicemail:100")],
         pbxctl=[dict(event="PBXCTLCALLBACK", at=at(10, "11:00", 9), data="4722000006", queue="support", agent="")]),
    # refused at support's door, sent to sales, abandoned there after 12 s
    Case("c7", "4722000007", None,
         [stint("support", at(10, "11:30"), "refused", 0, exit_to="queue:sales"),
          stint("sales", at(10, "11:30", 1), "abandoned", 12)]),
    # answered by bob in sales after 2 s; he asks for help, then makes a three-way
    Case("c8", "4722000008", "22334466",
         [stint("sales", at(10, "14:00"), "answered", 2, "bob")],
         legs=[dict(agent="bob", queue="sales", connected=at(10, "14:00", 2), talk=50, wrapup=15)],
         rings=[dict(agent="bob", queue="sales", at=at(10, "14:00", 2), ring=2, outcome="answered")],
         pbxctl=[dict(event="PBXCTLHELP", at=at(10, "14:00", 20), data="", queue="sales", agent="bob"),
                 dict(event="PBXCTLCONF", at=at(10, "14:00", 30), data="2001", queue="sales", agent="bob")]),
    # bob's next call 5 s after c8 ended: c8's 15 s wrap-up is cut to 5 s
    Case("c9", "4722000009", "22334455",
         [stint("sales", at(10, "14:00", 57), "answered", 0, "bob")],
         legs=[dict(agent="bob", queue="sales", connected=at(10, "14:00", 57), talk=20, wrapup=15)],
         rings=[dict(agent="bob", queue="sales", at=at(10, "14:00", 57), ring=1, outcome="answered")]),
    # the next day: outside a one-day window
    Case("c10", "4722000010", "22334455", [stint("support", at(11, "08:00"), "answered", 2, "alice")],
         legs=[dict(agent="alice", queue="support", connected=at(11, "08:00", 2), talk=10, wrapup=10)]),
]


# alice: logged in to support 08:00-12:00 and sales 08:30-16:00, lunch 10:30-10:45 (support)
# and 10:40-10:50 (sales), a 5-minute pause without reason at 13:00 in every queue;
# bob: logged in to sales from 22:00 the day before to 02:00.
AGENT_EVENTS = [
    (at(9, "22:00"), "sales", "ADDMEMBER", "bob", "MANAGER"),
    (at(10, "02:00"), "sales", "REMOVEMEMBER", "bob", "MANAGER"),
    (at(10, "08:00"), "support", "ADDMEMBER", "alice", "MANAGER"),
    (at(10, "08:30"), "sales", "ADDMEMBER", "alice", "MANAGER"),
    (at(10, "10:30"), "support", "PAUSE", "alice", "lunch"),
    (at(10, "10:40"), "sales", "PAUSE", "alice", "lunch"),
    (at(10, "10:45"), "support", "UNPAUSE", "alice", ""),
    (at(10, "10:50"), "sales", "UNPAUSE", "alice", ""),
    (at(10, "12:00"), "support", "REMOVEMEMBER", "alice", "MANAGER"),
    (at(10, "13:00"), "NONE", "PAUSEALL", "alice", ""),
    (at(10, "13:05"), "NONE", "UNPAUSEALL", "alice", ""),
    (at(10, "16:00"), "sales", "REMOVEMEMBER", "alice", "MANAGER"),
]


# Callbacks of the day (written by `write_callbacks`, the list fed from these books): the
# abandoned c3 (support, 09:20) is called back by alice, dialled 09:49:30, answered 09:49:40;
# c4 (support, 09:30) is tried at 09:59:35 (no answer) and 10:19:50 (busy): its last attempt
# (attempts: 2), unanswered; the abandoned c7 (sales, 11:30:01) waits; c6 asked the IVR for
# one at 11:00:09 (support) and waits.
CALLBACK_RULES = {"support": QueueRules(attempts=2), "sales": QueueRules(attempts=2)}
CALLBACK_RESULTS = [  # callid, when the callback call ended, data (entry 1 is c3's, 2 c4's)
    ("c3", at(10, "09:50"), "1|ANSWER|30|20|||cb-1"),
    ("c4", at(10, "10:00"), "2|NOANSWER|25|0|||cb-2"),
    ("c4", at(10, "10:20"), "2|BUSY|10|0|||cb-3"),
]


def write_callbacks(engine) -> None:
    """The callback list of the day, as the service makes it: fed from the books (the
    abandoned stints, then the dialplan's PBXCTLCBRESULT lines, written as the ingestor
    writes a line about a call that ended earlier) and the IVR's request."""
    pieces = []
    for callid, when, data in CALLBACK_RESULTS:
        piece = Call(callid, when, when)
        piece.pbxctl_events.append(PbxctlEvent(when, "PBXCTLCBRESULT", data, "support", "alice"))
        pieces.append(piece)
    end_of_day = dt.datetime.fromtimestamp(at(10, "23:00"), dt.timezone.utc)
    feed_from_books(engine, NODE, CALLBACK_RULES, NumberingPlan("47"), end_of_day)  # entries 1 (c3), 2 (c4), 3 (c7)
    with engine.begin() as conn:
        write_batch(conn, NODE, pieces, [], [], None)
    with Session(engine) as session:
        record_ivr_request(session, NODE, "support", "+4722000006", dt.datetime.fromtimestamp(at(10, "11:00", 9), dt.timezone.utc),
                           "c6", end_of_day)
        session.commit()
    feed_from_books(engine, NODE, CALLBACK_RULES, NumberingPlan("47"), end_of_day)


SITE = Path(__file__).parent / "sites" / "books.yaml"


def site_thresholds() -> Thresholds:
    """The thresholds of tests/sites/books.yaml, as its ingestor would count the quarter-hour sums."""
    return thresholds_of(load_site(SITE).site)


def write_books(url: str, cases: list[Case] = CASES, callbacks: bool = True, thresholds: Thresholds | None = None):
    """The cases as the ingestor writes them (`store.write_batch`): what the store derives
    when writing (a stint's entry, a leg's wrap-up cut at the agent's next call, the
    quarter-hour sums, with the site's thresholds unless told others) is derived here too."""
    engine = new_engine(url)
    events = [AgentEvent(when, queue, agent, agent, event, reason) for when, queue, event, agent, reason in AGENT_EVENTS]
    calls = []
    for c in cases:
        first = min(s["entered"] for s in c.stints)
        last = max(s["entered"] + s["wait"] + sum(g["talk"] for g in c.legs) for s in c.stints)
        call = Call(c.callid, first, last, c.number, f"Caller {c.callid}", c.entry)
        for s in c.stints:
            answered = s["entered"] + s["wait"] if s["outcome"] == "answered" else None
            call.stints.append(QueueStint(
                s["queue"], s["entered"], s["entered"] + s["wait"], s["outcome"], wait_seconds=s["wait"],
                answered_at=answered, member=s["agent"], agent=s["agent"], exit_to=s["exit_to"]))
        stint_of = {s.queue: s for s in call.stints}
        for g in c.legs:
            stint_of[g["queue"]].leg = AgentLeg(g["agent"], g["agent"], g["connected"], g["connected"] + g["talk"],
                                                g["talk"], "caller", g["wrapup"])
        for r in c.rings:
            stint_of[r["queue"]].rings.append(AgentRing(r["agent"], r["agent"], r["at"], r["outcome"], r["ring"]))
        for t in c.transfers:
            call.transfers.append(Transfer(t["at"], t["kind"], t["queue"], "", t["agent"], t["target"]))
        for e in c.pbxctl:
            call.pbxctl_events.append(PbxctlEvent(e["at"], e["event"], e["data"], e["queue"], e["agent"]))
        calls.append(call)
    with engine.begin() as conn:
        write_batch(conn, NODE, calls, events, [], None, thresholds=thresholds or site_thresholds())
    if callbacks:
        write_callbacks(engine)
    return engine
