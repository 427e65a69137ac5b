"""Which agents the automatic callbacks may ring (asterisk/callback_dialer.free_agents):
available members of queues nobody is waiting in, longest since their last call first."""

from __future__ import annotations

from pathlib import Path

from pbxctl.asterisk.callback_dialer import free_agents
from pbxctl.domain.queue_view import CallerView, MemberView, QueueCounters, QueueView
from pbxctl.site.load import load_site

SITE = Path(__file__).parents[1] / "conf" / "example.yaml"


def member(interface: str, state: str, last_call: float = 0.0) -> MemberView:
    return MemberView(interface, interface, interface, 0, "static", state == "paused", "", state == "busy", 1, 0,
                      last_call, 0, state, 0.0, None)


def view(name: str, members: list[MemberView], waiting: int = 0, talking: int = 0) -> QueueView:
    callers = [CallerView(f"u{i}", f"Local/c{i}", "+4791234567", "", i + 1, 0.0, name) for i in range(waiting)]
    callers += [CallerView(f"t{i}", f"Local/t{i}", "+4791234567", "", 0, 0.0, name) for i in range(talking)]
    return QueueView(name, "ringall", 20, callers, members, QueueCounters())


def test_free_agents_are_available_members_of_queues_without_waiting_callers():
    loaded = load_site(SITE)
    views = {
        "support": view("support", [member("PJSIP/1005", "available", 200.0), member("PJSIP/1003", "available", 100.0),
                                    member("PJSIP/1006", "busy"), member("PJSIP/1004", "paused"),
                                    member("PJSIP/9999", "available")]),
        "sales_east": view("sales_east", [member("PJSIP/1001", "available")], waiting=1),
        "sales_west": view("sales_west", [member("PJSIP/1002", "available")], talking=1),
    }
    free = free_agents(loaded, views, ["support", "sales_east", "sales_west"])
    # mina (1005) called last: ingrid first; the operator's own member 9999 is no agent of the
    # site; sales_east has a caller waiting, sales_west only one already talking
    assert free == {"support": ["ingrid", "mina"], "sales_west": ["ola"]}
