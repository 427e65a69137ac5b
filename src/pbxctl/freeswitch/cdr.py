"""FreeSWITCH's CDR (mod_cdr_csv, pbxctl's template) read into the books: mod_callcenter
keeps no history of its own, and what it did is in the `cc_*` channel variables of each
leg's CDR line. The books tables are the same as Asterisk's (books/tables.py), so the
queue, agent and call-log reports work unchanged.

What the recording says (tests/fixtures/esl/freeswitch-1.10.12-cdr-cc.csv, FreeSWITCH
1.10.12, mod_cdr_csv with `legs: ab`): one line per leg, written when the leg ends.
- The member row (`cc_side=member`): the caller's leg that ran `callcenter`: a stint.
  `cc_cause` is lowercase `answered` or `cancel` with `cc_cancel_reason` BREAK_OUT
  (abandoned), TIMEOUT (timed_out), NO_AGENT_TIMEOUT (exit_empty);
  `cc_queue_joined_epoch`, `cc_queue_answered_epoch`, `cc_queue_canceled_epoch`; `cc_agent`
  who answered. No `cc_cause` (the queue was unloaded or FreeSWITCH stopped): `lost`.
- Agent rows (`cc_side=agent`) with `cc_queue_joined_epoch`: the legs mod_callcenter
  originated to an agent, one offer (a loopback contact gives two rows per offer, `-a`
  and `-b`, and a third, bridged row for the phone it reached): a ring, by hangup cause
  (LOSE_RACE and ORIGINATOR_CANCEL: canceled; ALLOTTED_TIMEOUT, NO_ANSWER, CALL_REJECTED,
  USER_BUSY, ...: no_answer) unless it is the answering agent's offer (answered).
- Every row of a call carries `cc_member_uuid`; agent rows come before the member row
  when their legs ended first. Rows of an offer that ends after the member row (a phone
  bridged to the caller) add nothing the member row does not say.

pbxctl's template is the recorded one with `${pbxctl_entry}` (the entry number the
generated dialplan sets) appended; lines without it are read too.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import Callable, Iterable

from pbxctl.books.calls import AgentLeg, AgentRing, Call, QueueStint
from pbxctl.freeswitch import wire

FIELDS = (
    "uuid", "bleg_uuid", "direction", "channel_name", "caller_id_name", "caller_id_number", "destination_number",
    "context", "start_epoch", "answer_epoch", "end_epoch", "duration", "billsec", "hangup_cause", "cc_queue",
    "cc_agent", "cc_side", "cc_member_uuid", "cc_member_session_uuid", "cc_queue_joined_epoch",
    "cc_queue_answered_epoch", "cc_queue_terminated_epoch", "cc_queue_canceled_epoch", "cc_cause",
    "cc_cancel_reason", "cc_agent_bridged", "cc_agent_found", "cc_agent_type", "cc_member_pre_answer_uuid",
    "last_app", "last_arg", "pbxctl_entry",
)
RECORDED_FIELDS = len(FIELDS) - 1  # the recorded template has no pbxctl_entry
# The mod_cdr_csv template pbxctl reads (README: "FreeSWITCH: the books from the CDR").
TEMPLATE = ",".join(f'"${{{name}}}"' for name in FIELDS)

CANCEL_OUTCOMES = {"BREAK_OUT": "abandoned", "TIMEOUT": "timed_out", "NO_AGENT_TIMEOUT": "exit_empty"}
CANCELED_RINGS = frozenset({"LOSE_RACE", "ORIGINATOR_CANCEL"})


class BadRecord(ValueError):
    """A CDR line that is not one of pbxctl's template: the reason, for books_rejects."""


@dataclass(frozen=True)
class CdrRecord:
    values: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.values.get(name, "")

    def epoch(self, name: str) -> int:
        """An epoch column; 0 when empty or 0."""
        value = self.values.get(name, "")
        return int(value) if value.isdigit() else 0


def parse_line(raw: bytes) -> CdrRecord:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRecord(f"not UTF-8 (byte 0x{raw[exc.start]:02x})") from None
    if "\x00" in text:
        raise BadRecord("NUL byte")
    rows = list(csv.reader([text.rstrip("\r\n")], escapechar="\\"))
    values = rows[0] if rows else []
    if len(values) not in (RECORDED_FIELDS, len(FIELDS)):
        raise BadRecord(f"{len(values)} fields, pbxctl's CDR template has {len(FIELDS)}")
    record = CdrRecord(dict(zip(FIELDS, values)))
    for name in ("start_epoch", "end_epoch"):
        if not record[name].isdigit():
            raise BadRecord(f"{name} {record[name]!r} is not a number")
    return record


def ring_outcome(row: CdrRecord, answered_by: str) -> str:
    if row["cc_agent"] == answered_by and row.epoch("answer_epoch") and row["hangup_cause"] not in CANCELED_RINGS:
        return "answered"
    return "canceled" if row["hangup_cause"] in CANCELED_RINGS else "no_answer"


def build_call(member: CdrRecord, offers: Iterable[CdrRecord], queue_of: Callable[[str], str],
               agent_of: Callable[[str], str], wrapup_of: Callable[[str], int | None]) -> Call:
    """One caller's stay in one mod_callcenter queue, from its member row and the rows of
    the agent legs offered to it."""
    joined = member.epoch("cc_queue_joined_epoch") or member.epoch("start_epoch")
    ended = member.epoch("end_epoch")
    cause = member["cc_cause"]
    stint = QueueStint(queue=queue_of(member["cc_queue"]), entered_at=joined, ended_at=ended,
                       caller_number=member["caller_id_number"])
    answered_by = ""
    if cause == "answered":
        answered_by = member["cc_agent"]
        answered_at = member.epoch("cc_queue_answered_epoch") or joined
        stint.outcome, stint.answered_at, stint.wait_seconds = "answered", answered_at, answered_at - joined
        stint.member, stint.agent = answered_by, agent_of(answered_by)
        talk_end = member.epoch("cc_queue_terminated_epoch") or ended
        stint.leg = AgentLeg(answered_by, agent_of(answered_by), answered_at, talk_end, max(0, talk_end - answered_at),
                             "", wrapup_of(agent_of(answered_by)))
    elif cause == "cancel":
        left = member.epoch("cc_queue_canceled_epoch") or ended
        stint.outcome = CANCEL_OUTCOMES.get(member["cc_cancel_reason"], "lost")
        stint.ended_at, stint.wait_seconds = left, max(0, left - joined)
    else:
        stint.wait_seconds = max(0, ended - joined)  # outcome stays "lost": the log has no end for it
    seen: set[tuple[str, int]] = set()
    for row in sorted(offers, key=lambda r: (r.epoch("start_epoch"), r["cc_agent"], r["uuid"])):
        key = (row["cc_agent"], row.epoch("start_epoch"))
        if key in seen:  # the other loopback leg of the same offer
            continue
        seen.add(key)
        outcome = ring_outcome(row, answered_by)
        at = row.epoch("answer_epoch") if outcome == "answered" else row.epoch("end_epoch")
        stint.rings.append(AgentRing(row["cc_agent"], agent_of(row["cc_agent"]), at, outcome,
                                     float(max(0, at - row.epoch("start_epoch")))))
    if answered_by and not any(r.outcome == "answered" for r in stint.rings):
        # the answering offer's row comes after the member row (a phone bridged to the caller)
        stint.rings.append(AgentRing(answered_by, agent_of(answered_by), stint.answered_at or joined, "answered", 0.0))
    return Call(member["uuid"], min(joined, member.epoch("start_epoch") or joined), ended,
                caller_number=member["caller_id_number"], caller_name=member["caller_id_name"],
                entry=member["pbxctl_entry"] or None, stints=[stint])


@dataclass
class CdrAssembler:
    """Rows in file order -> finished calls. Offer rows wait for their member row (by
    cc_member_uuid); `pending_since` is the line of the oldest one still waiting, so a
    follower that restarts reads again from there."""

    queue_of: Callable[[str], str]
    agent_of: Callable[[str], str]
    wrapup_of: Callable[[str], int | None]
    _offers: dict[str, list[tuple[int, CdrRecord]]] = field(default_factory=dict)

    def feed(self, record: CdrRecord, line_no: int) -> list[Call]:
        side = record["cc_side"]
        if side == "agent" and record["cc_queue_joined_epoch"] and record["cc_member_uuid"]:
            self._offers.setdefault(record["cc_member_uuid"], []).append((line_no, record))
        elif side == "member" and record["cc_queue"]:
            offers = [r for _, r in self._offers.pop(record["cc_member_uuid"], [])]
            return [build_call(record, offers, self.queue_of, self.agent_of, self.wrapup_of)]
        return []

    def pending_since(self) -> int | None:
        lines = [n for rows in self._offers.values() for n, _ in rows]
        return min(lines) if lines else None

    def forget_before(self, line_no: int) -> None:
        """Offers older than this line belong to calls whose member row never came (e.g. a
        `hupall`): kept no longer."""
        for key in list(self._offers):
            self._offers[key] = [(n, r) for n, r in self._offers[key] if n >= line_no]
            if not self._offers[key]:
                del self._offers[key]


def queue_mapping(domain: str) -> Callable[[str], str]:
    """mod_callcenter's queue name -> the site's queue (another domain's name kept whole).
    Agents need no mapping: pbxctl names each mod_callcenter agent after its key."""

    def queue_of(name: str) -> str:
        return wire.site_queue(name, domain) or name

    return queue_of
