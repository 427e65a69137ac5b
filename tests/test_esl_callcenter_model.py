"""The double's mod_callcenter model answers `callcenter_config` as the recordings do:
every command of the recorded agent/tier/queue sessions is replayed against the model,
loaded from the recorded configuration, and its reply compared with the recorded one
(byte for byte; list tables by header, trailer and the columns the model keeps)."""

from __future__ import annotations

import shutil

import pytest

from esl_double.callcenter import Callcenter
from esl_double.transcript import FIXTURES, read_transcript
from pbxctl.freeswitch.callcenter_lists import parse_table

RECORDINGS = (
    "freeswitch-1.10.12-cc-tier-changes.txt",
    "freeswitch-1.10.12-cc-agent-status-changes.txt",
    "freeswitch-1.10.12-reload.txt",
)
# What a list row must show as recorded; the rest (counters, times, uuids, tier states
# left by earlier calls) comes from calls the model does not run.
KEPT = {
    "queue": ("name", "strategy", "moh_sound", "time_base_score", "tier_rules_apply", "max_wait_time",
              "max_wait_time_with_no_agent", "max_wait_time_with_no_agent_time_reached"),
    "agent": ("name", "type", "contact", "max_no_answer", "wrap_up_time", "reject_delay_time", "busy_delay_time",
              "no_answer_delay_time"),
    "tier": ("queue", "agent", "level", "position"),
}  # fmt: skip
NOT_MODELLED = ("agent get ", "queue list members", "queue count", "queue list agents", "queue list tiers", "reload ")


def api_exchanges(name: str) -> list[tuple[str, str]]:
    out, pending = [], None
    for e in read_transcript(name):
        if not e.sent_by_freeswitch and e.data.startswith(b"api "):
            pending = e.data.decode().strip()[4:]
        elif e.sent_by_freeswitch and pending and e.data.startswith(b"Content-Type: api/response"):
            out.append((pending, e.data.split(b"\n\n", 1)[1].decode()))
            pending = None
    return out


@pytest.fixture
def model(tmp_path):
    (tmp_path / "autoload_configs").mkdir()
    shutil.copy(FIXTURES / "config" / "callcenter.conf.xml", tmp_path / "autoload_configs" / "callcenter.conf.xml")
    cc = Callcenter(tmp_path)
    assert cc.api("reloadxml") == "+OK [Success]\n"
    for queue in ("q_ringall@esltest", "q_lia@esltest", "q_timeout@esltest", "q_noagent@esltest"):
        assert cc.api(f"callcenter_config queue load {queue}") == "+OK\n"
    return cc


@pytest.mark.parametrize("recording", RECORDINGS)
def test_model_replies_as_recorded(model, recording):
    compared = 0
    for cmd, recorded in api_exchanges(recording):
        if not cmd.startswith("callcenter_config") or cmd.removeprefix("callcenter_config ").startswith(NOT_MODELLED):
            continue
        got = model.api(cmd)
        what = cmd.split()[1]
        if cmd.endswith(" list") or (what == "agent" and " list " in cmd):
            assert got.split("\n")[0] == recorded.split("\n")[0], cmd
            assert got.endswith("+OK\n") and recorded.endswith("+OK\n")
            keep = KEPT[what]
            rows = lambda body: sorted(tuple(r[k] for k in keep) for r in parse_table(body))  # noqa: E731
            assert rows(got) == rows(recorded), cmd
        else:
            assert got == recorded, cmd
        compared += 1
    assert compared >= 5
