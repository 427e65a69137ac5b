"""Validation of what the generated FreeSWITCH files cannot mean as the YAML says."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from helpers.site_files import copy_example
from pbxctl.site.load import load_site
from pbxctl.site.problems import SiteInvalid


def write(tmp_path: Path, body: str, backend: str = "freeswitch") -> Path:
    path = tmp_path / "site.yaml"
    head = f"""\
        site: t
        numbering: {{country_code: "47"}}
        pbx: {{backend: {backend}}}
        agents:
          a: {{name: A, extension: "101"}}
          b: {{name: B, extension: "102", wrapup: 7}}
        """
    path.write_text(textwrap.dedent(head) + textwrap.dedent(body), encoding="utf-8")
    return path


def messages(problems) -> list[str]:
    return [f"{p.path}: {p.message}" for p in problems]


def test_the_freeswitch_example_validates(tmp_path):
    loaded = load_site(copy_example(tmp_path, "example-freeswitch.yaml"))
    assert loaded.site.pbx.backend == "freeswitch"
    # the one warning left is honest: pbxctl cannot see FreeSWITCH's directory
    assert [p.path for p in loaded.warnings] == ["queues.sales_west.overflow"]
    assert "mailbox (100, 200)" in loaded.warnings[0].message


def test_the_asterisk_example_is_refused_for_freeswitch_with_reasons(tmp_path):
    site = copy_example(tmp_path)
    site.write_text(site.read_text().replace("backend: asterisk", "backend: freeswitch"))
    with pytest.raises(SiteInvalid) as info:
        load_site(site)
    text = "\n".join(messages(info.value.problems))
    assert "queues.sales_east.waiting: 'music_then_ringing' is not available on freeswitch" in text
    assert "queues.support.announce.prompt: 'queue-periodic-announce' is an Asterisk sound name" in text
    assert "queues.support.announce.hold_time: mod_callcenter cannot announce the caller's hold time" in text
    assert "queues.sales_west.announce.position: mod_callcenter cannot announce the caller's position" in text


def test_per_agent_wrapup_and_retry_are_warned_with_the_rule(tmp_path):
    loaded = load_site(
        write(
            tmp_path,
            """\
            queues:
              q1: {strategy: ring_all, wrapup: 5, retry: 3, members: [{agent: a}, {agent: b}]}
              q2: {strategy: ring_all, wrapup: 20, retry: 8, members: [{agent: a}, {agent: b}]}
            """,
        )
    )
    text = messages(loaded.warnings)
    assert "agents.a: mod_callcenter keeps one wrap-up per agent: a gets the longest, 20 s (q1 5 s, q2 20 s); set agents.a.wrapup to choose" in text
    assert not any(m.startswith("agents.b: mod_callcenter keeps one wrap-up") for m in text)  # b has its own
    assert "agents.b: mod_callcenter keeps the retry delay per agent: b waits the longest, 8 s, after a missed offer in any queue (q1 3 s, q2 8 s)" in text


def test_nothing_of_this_on_asterisk(tmp_path):
    loaded = load_site(
        write(
            tmp_path,
            """\
            queues:
              q1: {strategy: ring_all, wrapup: 5, announce: {prompt: queue-periodic-announce, interval: 30, position: true}, members: [{agent: a}]}
              q2: {strategy: ring_all, wrapup: 20, overflow: "voicemail:300", max_wait: 30, members: [{agent: a}]}
            """,
            backend="asterisk",
        )
    )
    assert loaded.warnings == []


def test_freeswitch_prompt_path_is_accepted(tmp_path):
    loaded = load_site(
        write(tmp_path, "queues:\n  q: {strategy: ring_all, announce: {prompt: custom/wait.wav, interval: 30}, members: [{agent: a}]}\n")
    )
    assert loaded.warnings == []
