"""Agent login/logout/pause decisions and the reconcile step, without a PBX; and their
mapping to Asterisk (interfaces, penalties, AMI actions)."""

from __future__ import annotations

import pytest

from helpers.site_files import copy_example
from pbxctl.asterisk.member_actions import agent_by_caller, ami_action, describe, live_members
from pbxctl.domain.agent_membership import (
    AddMember,
    AgentCommandError,
    LiveMember,
    PauseMember,
    RemoveMember,
    Wanted,
    check_request,
    plan_request,
    reconcile,
)
from pbxctl.site.load import load_site


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return load_site(copy_example(tmp_path_factory.mktemp("site"))).site


def test_unknown_agent_and_queue_are_named(site):
    with pytest.raises(AgentCommandError, match=r"unknown agent 'nobody' \(known: erik, ingrid, kari"):
        check_request(site, "nobody", None)
    with pytest.raises(AgentCommandError, match=r"unknown queue 'sales' \(known: sales_east, sales_west, support\)"):
        check_request(site, "lars", "sales")
    with pytest.raises(AgentCommandError, match=r"'lars' is not a member of queue 'sales_east' \(its queues: support\)"):
        check_request(site, "lars", "sales_east")


def test_dynamic_login_then_logout(site):
    rows = plan_request(site, {}, "lars", "login")
    assert rows == [Wanted("lars", "support", True)]
    wanted = {("lars", "support"): rows[0]}
    assert plan_request(site, wanted, "lars", "login") == []  # already in: nothing to do
    assert plan_request(site, wanted, "lars", "logout") == [Wanted("lars", "support", False)]


def test_static_agents_pause_but_do_not_log_in_or_out(site):
    with pytest.raises(AgentCommandError, match="static member .* pause them instead"):
        plan_request(site, {}, "kari", "logout")
    rows = plan_request(site, {}, "kari", "pause", reason="lunch")
    assert rows == [Wanted("kari", "sales_east", True, True, "lunch"), Wanted("kari", "sales_west", True, True, "lunch")]
    only = plan_request(site, {}, "kari", "pause", queue="sales_west", reason="training")
    assert only == [Wanted("kari", "sales_west", True, True, "training")]


def test_pause_needs_a_login(site):
    with pytest.raises(AgentCommandError, match="'lars' is not logged in to any queue"):
        plan_request(site, {}, "lars", "pause")


def test_toggles(site):
    assert plan_request(site, {}, "lars", "login_toggle") == [Wanted("lars", "support", True)]
    wanted = {("lars", "support"): Wanted("lars", "support", True)}
    assert plan_request(site, wanted, "lars", "login_toggle") == [Wanted("lars", "support", False)]
    assert plan_request(site, wanted, "lars", "pause_toggle") == [Wanted("lars", "support", True, True, "")]
    paused = {("lars", "support"): Wanted("lars", "support", True, True, "break")}
    assert plan_request(site, paused, "lars", "pause_toggle") == [Wanted("lars", "support", True, False, "")]
    # A logout forgets the pause; the next login starts unpaused.
    assert plan_request(site, paused, "lars", "logout") == [Wanted("lars", "support", False)]


def test_reconcile_re_adds_logged_in_dynamic_agents_after_a_restart(site):
    wanted = {("lars", "support"): Wanted("lars", "support", True, True, "lunch")}
    live = {"support": {"ola": LiveMember("ola", "static", False)}}  # lars missing
    ops = reconcile(site, wanted, live)
    assert [op for op in ops if isinstance(op, AddMember)] == [AddMember("lars", "support", 1, True, "lunch")]
    # On Asterisk: the agent's device as interface and state interface, the priority as penalty.
    assert ami_action(site, ops[0]) == {
        "Action": "QueueAdd", "Queue": "support", "Interface": "PJSIP/1004", "Penalty": "1", "Paused": "true",
        "MemberName": "Lars Johansen", "StateInterface": "PJSIP/1004", "Reason": "lunch",
    }
    assert describe(site, ops[0]) == "PJSIP/1004 logged in to support (paused)"


def test_reconcile_removes_logged_out_dynamic_members_and_fixes_pauses(site):
    wanted = {
        ("lars", "support"): Wanted("lars", "support", False),
        ("kari", "sales_east"): Wanted("kari", "sales_east", True, True, "lunch"),
    }
    live = {
        "support": {"lars": LiveMember("lars", "dynamic", False)},
        "sales_east": {"kari": LiveMember("kari", "static", False)},
        "sales_west": {"kari": LiveMember("kari", "static", False)},
    }
    ops = reconcile(site, wanted, live)
    assert RemoveMember("lars", "support") in ops
    assert PauseMember("kari", "sales_east", True, "lunch") in ops
    assert len(ops) == 2  # kari in sales_west: nothing wanted, nothing done
    assert ami_action(site, RemoveMember("lars", "support")) == {
        "Action": "QueueRemove", "Queue": "support", "Interface": "PJSIP/1004"}
    assert ami_action(site, PauseMember("kari", "sales_east", True, "lunch")) == {
        "Action": "QueuePause", "Queue": "sales_east", "Interface": "PJSIP/1001", "Paused": "true", "Reason": "lunch"}


def test_reconcile_leaves_foreign_members_alone(site):
    # QueueStatus lists a member that is no agent of the site: it never reaches the plan.
    status = [
        {"Event": "QueueParams", "Queue": "support"},
        {"Event": "QueueMember", "Queue": "support", "Location": "PJSIP/9999", "Membership": "dynamic", "Paused": "1"},
        {"Event": "QueueMember", "Queue": "support", "Location": "PJSIP/1004", "Membership": "dynamic", "Paused": "1",
         "PausedReason": "lunch"},
    ]
    live = live_members(site, status)
    assert live == {"support": {"lars": LiveMember("lars", "dynamic", True, "lunch")}}
    assert reconcile(site, {}, {"support": {}}) == []


def test_feature_code_caller_is_found_by_extension_or_device(site):
    assert agent_by_caller(site, "1004", "PJSIP/anything-00000001") == "lars"
    assert agent_by_caller(site, "", "PJSIP/1002-0000002a") == "ola"
    assert agent_by_caller(site, "5555", "PJSIP/5555-00000001") is None
