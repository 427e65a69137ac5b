"""Who may barge, what a supervisor's desk-phone code answers, and the site checks for
supervisors and codes: pure decisions, no PBX."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbxctl.asterisk.member_actions import supervisor_by_caller, supervisor_device
from pbxctl.domain.supervision import (
    SupervisionError,
    answer_code,
    check_mode,
    check_supervisor_extension,
    check_transfer_target,
    room_name,
)
from pbxctl.site.load import load_site

from helpers.site_files import copy_example

SITE = Path(__file__).parent / "sites" / "supervision.yaml"


@pytest.fixture
def site(tmp_path):
    (tmp_path / "s.yaml").write_text(SITE.read_text())
    (tmp_path / "sv-pin.txt").write_text("4321\n")
    return load_site(tmp_path / "s.yaml").site


def talking(*agents):
    return lambda agent: agent in agents


def test_supervisor_is_known_by_caller_number_or_by_phone(site):
    # Reading Asterisk channel names is the adapter's (asterisk/member_actions.py).
    assert supervisor_by_caller(site, "8101") == "s1"
    assert supervisor_by_caller(site, "", "PJSIP/8102-0000002a") == "s2"
    assert supervisor_by_caller(site, "", "Local/8101@pbxctl-sv-phones-00000003;2") == "s1"
    assert supervisor_by_caller(site, "7101", "PJSIP/7101-00000001") is None
    # a supervisor's own device, whatever its name says (device.asterisk)
    s2 = site.supervisors["s2"]
    s2 = s2.model_copy(update={"device": s2.device.model_copy(update={"asterisk": "PJSIP/desk-west"})})
    site = site.model_copy(update={"supervisors": {**site.supervisors, "s2": s2}})
    assert supervisor_by_caller(site, "", "PJSIP/desk-west-0000002b") == "s2"


@pytest.mark.parametrize(
    "caller, ext, pin, expected, agents, result",
    [
        ("8101", "7101", "", None, ("a1",), "ok"),
        ("7102", "7101", "", None, ("a1",), "not_allowed"),       # an agent, not a supervisor
        ("8102", "7101", "", "4321", ("a1",), "pin"),             # PIN configured, none typed yet
        ("8102", "7101", "1111", "4321", ("a1",), "wrong_pin"),
        ("8102", "7101", "4321", "4321", ("a1",), "ok"),
        ("8101", "5555", "", None, ("a1",), "not_an_agent"),
        ("8101", "7102", "", None, ("a1",), "no_call"),
    ],
)
def test_answer_code(site, caller, ext, pin, expected, agents, result):
    answer = answer_code(site, supervisor_by_caller(site, caller), ext, pin, expected, talking(*agents))
    assert answer.result == result
    if result == "ok":
        assert answer.agent == "a1"


def test_a_wrong_pin_is_refused_before_the_agent_is_looked_up(site):
    # No hint whether the extension is an agent's to someone who does not know the PIN.
    assert answer_code(site, "s2", "5555", "0000", "4321", talking()).result == "wrong_pin"


def test_cli_checks_say_what_is_wrong(site):
    with pytest.raises(SupervisionError, match=r"unknown mode 'shout' \(use listen, whisper, both\)"):
        check_mode("shout")
    with pytest.raises(SupervisionError, match=r"7101 is not a supervisor's extension \(supervisors: 8101 \(s1\), 8102 \(s2\)\)"):
        check_supervisor_extension(site, "7101")
    assert check_supervisor_extension(site, "8102") == "s2"
    assert check_transfer_target(" +4722334455 ") == "+4722334455"
    for bad in ("", "12a", "1 2", "Local/1@x", "1" * 33):
        with pytest.raises(SupervisionError, match="is not a number or extension"):
            check_transfer_target(bad)


def test_devices_and_rooms(site):
    assert supervisor_device(site, "s1") == "Local/8101@pbxctl-sv-phones/n"
    # A dot would read as a wildcard in the room's dialplan pattern.
    assert room_name("1764412345.42") == "pbxctl-1764412345-42"


# -- validation of the site file ----------------------------------------------------------


def problems_of(tmp_path, text: str) -> str:
    from pbxctl.site.problems import SiteInvalid

    path = tmp_path / "example.yaml"
    path.write_text(text)
    with pytest.raises(SiteInvalid) as caught:
        load_site(path)
    return str(caught.value)


def test_codes_that_shadow_each_other_are_errors(tmp_path):
    text = copy_example(tmp_path).read_text() + '\nfeature_codes: {agent_login: "*22"}\n'
    found = problems_of(tmp_path, text)
    assert "supervision.codes.listen: *222 and feature_codes.agent_login (*22) start alike: one would shadow the other" in found


def test_in_call_codes_must_not_overlap(tmp_path):
    text = copy_example(tmp_path).read_text().replace('transfer_with_return: "*4"}', 'transfer_with_return: "*9"}')
    assert "desk_phone.in_call.transfer_with_return: *9 is also desk_phone.in_call.help" in problems_of(tmp_path, text)


def test_supervisor_extension_and_help_ring_are_checked(tmp_path):
    text = copy_example(tmp_path).read_text()
    text = text.replace('anne: {name: Anne Lie, extension: "1100"}', 'anne: {name: Anne Lie, extension: "1001"}')
    text = text.replace("help: {ring: [anne], ring_time: 30}", "help: {ring: [anne, bob], ring_time: 30}")
    found = problems_of(tmp_path, text)
    assert "supervisors.anne.extension: extension 1001 is also agent 'kari''s" in found
    assert "supervision.help.ring[1]: unknown supervisor 'bob' (known: anne, per)" in found


def test_switch_keys_must_differ_and_notices_are_tones(tmp_path):
    text = copy_example(tmp_path).read_text().replace('keys: {listen: "4", whisper: "5", both: "6"}', 'keys: {listen: "4", whisper: "4", both: "6"}')
    assert "the three keys must differ (got 4, 4, 6)" in problems_of(tmp_path, text)
    text = copy_example(tmp_path).read_text().replace("whisper: tone, both: tone}", "whisper: custom/beep, both: tone}")
    assert "supervision.notify_agent.whisper" in problems_of(tmp_path, text)
