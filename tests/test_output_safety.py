"""The rules for text that reaches a generated file, one by one: what the model refuses
(and how it says so), and what the generators' last step does with a value that got past
the model anyway (escaped or refused, never written raw, and never half a set of files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_validation import VALID_SITE, lines_of, problems_of, valid_site_with, write_site

from pbxctl.apply.files import ApplyError, FileChange, write_changes
from pbxctl.render.asterisk import generate_asterisk
from pbxctl.render.freeswitch import AGENTS_PATH, DIALPLAN_PATH, generate_freeswitch
from pbxctl.render.safe_output import UnsafeOutput, check_asterisk_file, check_xml_file
from pbxctl.site.load import load_site


def _loaded(tmp_path: Path, text: str = VALID_SITE):
    return load_site(write_site(tmp_path, text))


def _with_agent_name(loaded, name: str):
    """The site with an agent name the model would refuse (model_copy skips validation):
    what the last step sees if a check is ever missing."""
    agent = loaded.site.agents["kari"].model_copy(update={"name": name})
    site = loaded.site.model_copy(update={"agents": {"kari": agent}})
    loaded.site = site
    return loaded


@pytest.mark.parametrize(
    "value, message",
    [
        ("Kari\x01", "control character U+0001 is not allowed"),
        ("Kari\x00", "control character U+0000 is not allowed"),
        ("Kari\u202e", "bidirectional control character U+202E is not allowed"),
        ("Kari\u200b", "invisible formatting character U+200B is not allowed"),
        ("\ufeffKari", "invisible formatting character U+FEFF is not allowed"),
        ("Kari\u2028x", "line separator U+2028 is not allowed"),
        ("Kari\u2029x", "paragraph separator U+2029 is not allowed"),
        ("Kari\ue000", "private-use character U+E000 is not allowed"),
        ("Kari\uffff", "unassigned code point U+FFFF is not allowed"),
    ],
)
def test_a_name_with_an_invisible_character_is_refused_naming_key_and_character(tmp_path, value, message):
    escaped = value.encode("unicode_escape").decode().replace("\\x", "\\u00")
    path = valid_site_with(tmp_path, "name: Kari Nordmann", f'name: "{escaped}"')
    assert lines_of(path) == [f"{path}:7 agents.kari.name: {message}"]


def test_a_lone_surrogate_is_refused_where_the_yaml_reader_meets_it(tmp_path):
    path = valid_site_with(tmp_path, "name: Kari Nordmann", 'name: "Kari\\ud800"')
    assert lines_of(path) == [f"{path}:7: YAML syntax error: while parsing a quoted scalar found invalid Unicode character escape code"]


def test_a_model_built_without_the_yaml_reader_refuses_a_lone_surrogate():
    from pbxctl.site.model import Agent

    with pytest.raises(ValueError, match="lone surrogate U\\+D800 is not allowed"):
        Agent.model_validate({"name": "Kari\ud800", "extension": "1001"})


def test_a_key_with_a_control_character_is_shown_escaped_in_the_problem(tmp_path):
    path = valid_site_with(tmp_path, "  kari: {name", '  "ka\\x1bri": {name')
    lines = lines_of(path)
    assert f'{path}:7 agents["ka\\x1bri"]: control character U+001B is not allowed' in lines
    assert all(line.isprintable() for line in lines)


def test_descriptions_take_visible_text_and_refuse_invisible(tmp_path):
    ok = valid_site_with(tmp_path, "  main:\n", '  main:\n    description: "Oslo; <b> & $${x} -- it\'s"\n')
    load_site(ok)
    bad = valid_site_with(tmp_path, "  main:\n", '  main:\n    description: "Oslo\\tmain"\n')
    assert [p.message for p in problems_of(bad)] == [
        "contains a tab, which would break or inject into the generated configuration"
    ]


def test_shown_text_has_a_length_limit(tmp_path):
    path = valid_site_with(tmp_path, "name: Kari Nordmann", f"name: {'x' * 201}")
    assert lines_of(path) == [f"{path}:7 agents.kari.name: is 201 characters long; at most 200"]


def test_an_hours_branch_for_a_category_the_hours_do_not_have_is_an_error(tmp_path):
    path = valid_site_with(tmp_path, "branches: {open: support_queue, closed: hangup}",
                           "branches: {opne: support_queue, closed: hangup}")
    assert [(p.path, p.severity, p.message) for p in problems_of(path) if p.path.endswith("opne")] == [
        ("ivrs.main.elements.office_hours.branches.opne", "error",
         "hours 'office' has no category 'opne' (did you mean 'open'?); it has: closed, open")
    ]


@pytest.mark.parametrize(
    "setting, message",
    [
        ('contact_template: "user/{{extension}}"', "has a brace that is not part of {extension}"),
        ('contact_template: "user/{extension"', "has a brace that is not part of {extension}"),
        ('contact_template: "user/{extension}{a=b}"', "must come first"),
        ('contact_template: "user/{ext}"', "unknown placeholder {ext}"),
        ('voicemail_domain: "${domain}"', "'${...}' is a per-call channel variable"),
        ('voicemail_domain: "$${domain}x"', "is not a domain name or a global variable"),
        ('outbound: {host: "::1"}', "the dialplan's socket application takes HOST:PORT"),
    ],
)
def test_template_like_freeswitch_values_are_refused_with_the_reason(tmp_path, setting, message):
    path = valid_site_with(tmp_path, "  backend: asterisk\n", f"  backend: freeswitch\n  freeswitch: {{{setting}}}\n")
    assert any(message in p.message for p in problems_of(path)), lines_of(path)


def test_freeswitch_values_the_generator_writes_as_meant_are_accepted(tmp_path):
    path = valid_site_with(
        tmp_path, "  backend: asterisk\n",
        '  backend: freeswitch\n  freeswitch: {contact_template: "{call_timeout=20}user/{extension}@pbx",'
        ' voicemail_domain: example.com}\n',
    )
    files = generate_freeswitch(load_site(path))
    assert 'contact="{call_timeout=20}user/1001@pbx"' in files[AGENTS_PATH]


@pytest.mark.parametrize("host", ["127.0.0.1:4573", "::1:x", "fe80::1%eth0", "a..b", "-a.example", "[::1]"])
def test_a_fastagi_host_that_is_not_a_host_is_refused(tmp_path, host):
    path = valid_site_with(tmp_path, "  backend: asterisk\n", f'  backend: asterisk\n  asterisk: {{fastagi: {{host: "{host}"}}}}\n')
    [problem] = problems_of(path)
    assert problem.path == "pbx.asterisk.fastagi.host"


def test_an_ipv6_fastagi_host_is_written_in_brackets(tmp_path):
    path = valid_site_with(tmp_path, "  backend: asterisk\n", '  backend: asterisk\n  asterisk: {fastagi: {host: "::1", port: 4600}}\n')
    text = generate_asterisk(load_site(path))["extensions_pbxctl.conf"]
    assert "AGI(agi://[::1]:4600/decide," in text and "agi://::1" not in text


# --- the last step --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Kari\n[evil]", "Kari\x00", "Kari\u202e", "Kari\ud800"])
def test_the_asterisk_generator_refuses_what_validation_missed_and_names_the_file(tmp_path, name):
    loaded = _with_agent_name(_loaded(tmp_path), name)
    with pytest.raises(UnsafeOutput, match=r"^queues_pbxctl.conf: refused to write"):
        generate_asterisk(loaded)


def test_the_asterisk_generator_escapes_a_semicolon_that_validation_missed(tmp_path):
    loaded = _with_agent_name(_loaded(tmp_path), "Kari;-- Nordmann")
    text = generate_asterisk(loaded)["queues_pbxctl.conf"]
    assert "member => PJSIP/1001,0,Kari\\;-- Nordmann,PJSIP/1001" in text


@pytest.mark.parametrize("name", ["Kari\x01", "Kari\ud800", "Kari\u2028", "<X-PRE-PROCESS cmd=\"set\"/>"])
def test_the_freeswitch_generator_writes_a_comment_escaped_and_refuses_an_attribute(tmp_path, name):
    fs_site = VALID_SITE.replace("backend: asterisk", "backend: freeswitch")
    loaded = _with_agent_name(_loaded(tmp_path, fs_site), name)
    # The agent's name is only shown, in a comment: written escaped.
    text = generate_freeswitch(loaded)[AGENTS_PATH]
    assert name not in text
    assert "<!-- Kari" in text or "<!-- \\x3cX-PRE-PROCESS" in text
    # A queue's display name is set as a channel variable (an attribute): refused, or
    # escaped where XML can escape it.
    (tmp_path / "q").mkdir()
    loaded = _loaded(tmp_path / "q", fs_site)
    queue = loaded.site.queues["support"].model_copy(update={"display_name": name})
    loaded.site = loaded.site.model_copy(update={"queues": {"support": queue}})
    if name.startswith("<"):
        assert "&lt;X-PRE-PROCESS" in generate_freeswitch(loaded)[DIALPLAN_PATH]
    else:
        with pytest.raises(UnsafeOutput, match=rf"^{DIALPLAN_PATH}: refused to write"):
            generate_freeswitch(loaded)


def test_the_file_checks_refuse_what_the_pbx_would_read_differently():
    with pytest.raises(UnsafeOutput, match="x.conf:2: "):
        check_asterisk_file("x.conf", "[a]\nexten => s,1,NoOp(\x00)\n")
    with pytest.raises(UnsafeOutput, match="would comment out the lines after it"):
        check_asterisk_file("x.conf", "[a]\nexten => s,1,NoOp(a);--\n")
    check_asterisk_file("x.conf", "[a]\nexten => s,1,Log(NOTICE,a\\;--b)\n")
    with pytest.raises(UnsafeOutput, match="which Asterisk would skip"):
        check_asterisk_file("x.conf", "[a]\n; " + "x" * 9000 + "\n")
    with pytest.raises(UnsafeOutput, match="not well-formed"):
        check_xml_file("x.xml", "<a><b></a>")


def test_nothing_is_written_when_one_file_cannot_be_written(tmp_path):
    changes = [FileChange(tmp_path / "a.conf", None, "fine\n", "generated"),
               FileChange(tmp_path / "b.conf", None, "bad \ud800\n", "generated")]
    with pytest.raises(ApplyError, match="U\\+D800 cannot be written as UTF-8; nothing was written"):
        write_changes(changes, tmp_path / "backup", None)
    assert list(tmp_path.iterdir()) == []
