"""Agents' wanted queue membership: who is logged in where, paused or not, and why.

This is pbxctl's memory of what agents asked for (CLI, API or desk-phone code). The
controller re-applies it to Asterisk after every reconnect, so a restarted Asterisk gets
its logged-in agents back. One row per (agent, queue).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

from pbxctl.domain.agent_membership import Wanted


class AgentMembership(SQLModel, table=True):
    __tablename__ = "agent_memberships"

    agent: str = Field(primary_key=True)
    queue: str = Field(primary_key=True)
    logged_in: bool = False
    paused: bool = False
    reason: str = ""
    changed_at: dt.datetime
    source: str = ""  # cli | phone | asterisk (seen in an event) | api


def load_memberships(engine: Engine) -> list[AgentMembership]:
    with Session(engine) as session:
        return list(session.exec(select(AgentMembership)))


def save_memberships(engine: Engine, rows: list[AgentMembership]) -> None:
    """Upsert rows in one transaction: all or nothing."""
    with Session(engine) as session:
        for row in rows:
            session.merge(row)
        session.commit()


def wanted_memberships(engine: Engine) -> dict[tuple[str, str], Wanted]:
    """What pbxctl was last asked for, per (agent, queue): re-applied after every resync."""
    return {
        (r.agent, r.queue): Wanted(r.agent, r.queue, r.logged_in, r.paused, r.reason)
        for r in load_memberships(engine)
    }
