"""The books' tables: facts read from the PBX's own logs (queue_log, CDR), never from live
events. /work/coord/books-schema.md (and the README's "Books") describe every column.

Conventions that hold for every table:
- `node` is the PBX node whose logs the row came from (`storage.node`, default the host
  name): several nodes share one database and never collide.
- Times are integer Unix seconds (UTC), as queue_log writes them: cheap to compare and
  group in SQLite and PostgreSQL alike; the reports turn them into local time.
- The primary key is the row's natural key, made of what the log line itself says. Writing
  the same line twice, or two ingestors writing the same node's line at once, gives one
  row (INSERT ... ON CONFLICT DO NOTHING): nothing is counted twice.
- `agent` is the site's agent key when the ingestor knew the site and recognised the
  member (by name, interface or key), else the member text as logged; `member` is always
  the text as logged.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, text
from sqlmodel import Field, SQLModel


class BooksCall(SQLModel, table=True):
    """One caller's call as app_queue saw it: everything sharing the caller channel's
    uniqueid (queue_log's callid). Its stints, rings, legs and transfers hang off it."""

    __tablename__ = "books_calls"

    node: str = Field(primary_key=True)
    callid: str = Field(primary_key=True)
    linkedid: str | None = Field(default=None, index=True)  # from the CDR, when ingested
    started_at: int = Field(sa_type=BigInteger, index=True)  # first line of the call
    ended_at: int = Field(sa_type=BigInteger)  # last line of the call seen so far
    caller_number: str = ""  # the caller's own number (before a queue's prefix/suffix)
    caller_name: str = ""  # the caller's own name (before a queue's display_name)
    entry: str | None = None  # entry number dialled (PBXCTLENTRY)


class BooksQueueStint(SQLModel, table=True):
    """One stay of a caller in one queue: ENTERQUEUE (or, for a refused join, pbxctl's
    PBXCTLEXIT line) to the line that ended it. A caller who overflows from A into B has
    two stints of the same callid; one re-queued after a transfer with return, too."""

    __tablename__ = "books_queue_stints"

    node: str = Field(primary_key=True)
    callid: str = Field(primary_key=True)
    queue: str = Field(primary_key=True)
    entered_at: int = Field(sa_type=BigInteger, primary_key=True)
    ended_at: int = Field(sa_type=BigInteger, index=True)
    # answered | abandoned | timed_out | exit_empty | exit_key | refused | lost
    outcome: str = Field(index=True)
    # answered: caller | agent | blind_transfer | attended_transfer | transfer_with_return | lost
    ended_by: str | None = None
    wait_seconds: int = 0  # in the queue before the answer / the exit (Asterisk's own figure)
    answered_at: int | None = Field(sa_type=BigInteger, default=None)
    agent: str | None = Field(default=None, index=True)  # who answered
    member: str | None = None
    position: int | None = None  # position when entering (ENTERQUEUE)
    exit_position: int | None = None  # position when leaving unanswered
    exit_key: str | None = None  # EXITWITHKEY
    exit_status: str | None = None  # QUEUESTATUS the dialplan saw (PBXCTLEXIT)
    exit_to: str | None = None  # where pbxctl's dialplan sent the caller next (PBXCTLEXIT)
    caller_number: str = ""  # as the queue showed it to agents (with prefix/suffix)
    # The call's entry number (books_calls.entry) kept on the stint: the queue report's
    # entry paths then need no join to books_calls (migration 0004).
    entry: str | None = None


class BooksAgentRing(SQLModel, table=True):
    """One offer of a caller to a member: rang and answered (CONNECT), rang out
    (RINGNOANSWER) or stopped because someone else answered / the caller left
    (RINGCANCELED)."""

    __tablename__ = "books_agent_rings"

    node: str = Field(primary_key=True)
    callid: str = Field(primary_key=True)
    member: str = Field(primary_key=True)
    at: int = Field(sa_type=BigInteger, primary_key=True)  # when the ringing ended
    outcome: str = Field(primary_key=True)  # answered | no_answer | canceled
    queue: str = Field(index=True)
    entered_at: int = Field(sa_type=BigInteger)  # the stint's key
    agent: str = Field(index=True)
    ring_seconds: float = 0.0


class BooksAgentLeg(SQLModel, table=True):
    """An agent talking with a queue caller: CONNECT to COMPLETECALLER/COMPLETEAGENT or a
    transfer. wrapup_seconds is the wrap-up in force for that queue/agent (stock app_queue
    logs none; pbxctl takes it from the site, NULL without one); wrapup_cut_seconds is
    that wrap-up cut short by the agent's next call (what the reports count), kept up to
    date by the ingestor as the agent's later legs arrive (`store.write_legs`)."""

    __tablename__ = "books_agent_legs"
    # The agent's legs in time order: the ingestor finds a leg's neighbours by it (0004).
    __table_args__ = (Index("ix_books_agent_legs_agent_connected", "node", "agent", "connected_at"),)

    node: str = Field(primary_key=True)
    callid: str = Field(primary_key=True)
    member: str = Field(primary_key=True)
    connected_at: int = Field(sa_type=BigInteger, primary_key=True)
    queue: str = Field(index=True)
    entered_at: int = Field(sa_type=BigInteger)  # the stint's key
    agent: str = Field(index=True)
    ended_at: int = Field(sa_type=BigInteger)
    talk_seconds: int = 0
    ended_by: str = ""  # caller | agent | blind_transfer | attended_transfer | transfer_with_return | lost
    wrapup_seconds: int | None = None
    wrapup_cut_seconds: int | None = None  # NULL when wrapup_seconds is


class BooksTransfer(SQLModel, table=True):
    """A caller handed on by an agent: blind or attended (app_queue's lines) or with return
    (pbxctl's PBXCTLXFER lines, which say whether the target answered or the call came back)."""

    __tablename__ = "books_transfers"

    node: str = Field(primary_key=True)
    callid: str = Field(primary_key=True)
    at: int = Field(sa_type=BigInteger, primary_key=True)
    kind: str = Field(primary_key=True)  # blind | attended | with_return | returned
    queue: str = ""
    agent: str = ""
    member: str = ""
    target: str = ""  # blind: exten@context; attended: how Asterisk bridged (BRIDGE/APP/LINK:data)
    wait_seconds: int = 0  # the caller's wait before the answer
    talk_seconds: int = 0  # talk before the transfer


class BooksAgentEvent(SQLModel, table=True):
    """A member's state change as logged: ADDMEMBER, REMOVEMEMBER, PAUSE, UNPAUSE,
    PAUSEALL, UNPAUSEALL, AGENTLOGIN, AGENTLOGOFF. Login and pause intervals are paired
    from these by `books.agent_time` (a session may span days and report windows)."""

    __tablename__ = "books_agent_events"

    node: str = Field(primary_key=True)
    at: int = Field(sa_type=BigInteger, primary_key=True)
    queue: str = Field(primary_key=True)  # NONE for PAUSEALL/UNPAUSEALL
    member: str = Field(primary_key=True)
    event: str = Field(primary_key=True)
    agent: str = Field(index=True)
    reason: str = ""  # pause reason; ADDMEMBER/REMOVEMEMBER: who did it (MANAGER, CLI, ...)


class BooksPbxctlEvent(SQLModel, table=True):
    """pbxctl's own queue_log lines (PBXCTL*): entry, caller, IVR decisions, queue exits,
    callbacks, help requests, three-way parties, transfers with return. Kept whole; the
    call builder also folds the ones it understands into calls and stints."""

    __tablename__ = "books_pbxctl_events"
    # The reports count callback requests; only those lines are in this index (migration 0003).
    __table_args__ = (
        Index("ix_books_pbxctl_events_callbacks", "at", sqlite_where=text("event = 'PBXCTLCALLBACK'"),
              postgresql_where=text("event = 'PBXCTLCALLBACK'")),
        # The callback list reads the callback results (PBXCTLCBRESULT) from here (0006).
        Index("ix_books_pbxctl_events_cbresults", "at", sqlite_where=text("event = 'PBXCTLCBRESULT'"),
              postgresql_where=text("event = 'PBXCTLCBRESULT'")),
    )

    node: str = Field(primary_key=True)
    callid: str = Field(primary_key=True)
    at: int = Field(sa_type=BigInteger, primary_key=True)
    event: str = Field(primary_key=True)
    data: str = Field(primary_key=True)  # data fields joined by |
    queue: str = ""
    agent: str = ""


class BooksCdr(SQLModel, table=True):
    """One CDR record from a cdr_custom file in pbxctl's format (or cdr_csv's Master.csv,
    which lacks linkedid and sequence)."""

    __tablename__ = "books_cdr"

    node: str = Field(primary_key=True)
    uniqueid: str = Field(primary_key=True)
    record_key: str = Field(primary_key=True)  # CDR(sequence), or a digest of the record for Master.csv
    linkedid: str | None = Field(default=None, index=True)
    start_at: int = Field(sa_type=BigInteger, index=True)
    answer_at: int | None = Field(sa_type=BigInteger, default=None)
    end_at: int = Field(sa_type=BigInteger)
    duration: int = 0
    billsec: int = 0
    disposition: str = ""
    src: str = ""
    dst: str = ""
    dcontext: str = ""
    clid: str = ""
    channel: str = ""
    dstchannel: str = ""
    lastapp: str = ""
    lastdata: str = ""
    accountcode: str = ""
    userfield: str = ""


class BooksCheckpoint(SQLModel, table=True):
    """How far a node's ingestor has read a log: survives restarts, rename and
    copytruncate rotation."""

    __tablename__ = "books_checkpoints"

    node: str = Field(primary_key=True)
    source: str = Field(primary_key=True)  # queue_log | cdr
    path: str
    inode: int = Field(sa_type=BigInteger)
    read_offset: int = Field(sa_type=BigInteger)  # bytes read and stored
    read_line_no: int  # lines before read_offset (for FILE:LINE in messages)
    replay_offset: int = Field(sa_type=BigInteger)  # first byte of the oldest call still open: re-read from here after a restart
    replay_line_no: int
    head: str  # hex digest of the file's first bytes: tells a new file with a reused inode
    updated_at: int = Field(sa_type=BigInteger)


class BooksReject(SQLModel, table=True):
    """A log line that could not be read as a fact (corrupt, truncated, not UTF-8, an
    unknown verb, a field that is not a number...): kept with the reason, so nothing is
    lost silently and the reports can say how many lines were skipped and why."""

    __tablename__ = "books_rejects"

    node: str = Field(primary_key=True)
    source: str = Field(primary_key=True)  # queue_log | cdr
    file: str = Field(primary_key=True)  # file name as given
    line_no: int = Field(primary_key=True)
    digest: str = Field(primary_key=True)  # of the raw bytes: the same line number in another file version
    reason: str
    text: str  # the raw bytes, undecodable ones as \\xNN
    at: int | None = Field(sa_type=BigInteger, default=None)  # the line's time when it could be read


class BooksQueueQuarter(SQLModel, table=True):
    """The stints that entered one queue in one quarter hour, summed up by how they ended
    and where they came from: what the queue report counts, kept by the ingestor as it
    writes the stints (`books/quarter_sums.py`, migration 0007), so a month's report reads
    sums instead of every stint. Every real timezone's UTC offset is a whole number of
    quarter hours, so a quarter lies in one local hour and day.

    `in_sl` and `short` depend on thresholds from the site (the queue's service_level,
    reports.short_abandon): the row says which ones it was counted with, and a report
    asking for other thresholds reads the stints instead."""

    __tablename__ = "books_queue_quarters"
    __table_args__ = {"sqlite_with_rowid": False}  # the report reads quarters in key order

    quarter: int = Field(sa_type=BigInteger, primary_key=True)  # UTC Unix time the quarter hour starts
    queue: str = Field(primary_key=True)
    node: str = Field(primary_key=True)
    outcome: str = Field(primary_key=True)
    exit_to: str = Field(primary_key=True)  # the stints' exit_to, '' for none
    entry: str = Field(primary_key=True)  # the stints' entry number, '' for none
    sl_seconds: int = Field(primary_key=True)  # in_sl counts wait <= this
    short_seconds: int = Field(primary_key=True)  # short counts abandoned with wait < this
    stints: int = 0
    in_sl: int = 0
    short: int = 0
    wait_sum: int = Field(sa_type=BigInteger, default=0)
    wait_max: int = 0  # of the quarter's stints (exact over a queue's quarter, see quarter_sums)
    # Stints by wait, the bins of queue_tally.WAIT_BINS: < 10, < 20, < 30, < 60, < 120, < 300 s, longer.
    wait_bin0: int = 0
    wait_bin1: int = 0
    wait_bin2: int = 0
    wait_bin3: int = 0
    wait_bin4: int = 0
    wait_bin5: int = 0
    wait_bin6: int = 0


class BooksLegQuarter(SQLModel, table=True):
    """The agent legs of the stints that entered one queue in one quarter hour: how many,
    their talk and their wrap-up as cut at the agent's next call (lowered here when a
    leg's cut is lowered). Kept by the ingestor with BooksQueueQuarter."""

    __tablename__ = "books_leg_quarters"
    __table_args__ = {"sqlite_with_rowid": False}

    quarter: int = Field(sa_type=BigInteger, primary_key=True)  # of the stint's entered_at
    queue: str = Field(primary_key=True)
    node: str = Field(primary_key=True)
    legs: int = 0
    talk_sum: int = Field(sa_type=BigInteger, default=0)
    wrapup_sum: int = Field(sa_type=BigInteger, default=0)


BOOKS_TABLES = [
    BooksCall,
    BooksQueueStint,
    BooksAgentRing,
    BooksAgentLeg,
    BooksTransfer,
    BooksAgentEvent,
    BooksPbxctlEvent,
    BooksCdr,
    BooksCheckpoint,
    BooksReject,
    BooksQueueQuarter,
    BooksLegQuarter,
]
