"""The Asterisk include files generated from a site.

Golden files: tests/golden/asterisk/ holds the three files generated from
conf/example.yaml. After an intended change, regenerate them with
    PBXCTL_UPDATE_GOLDEN=1 python -m pytest tests/test_render_asterisk.py
and read the diff before committing it.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from pbxctl.render.asterisk import (
    EXTENSIONS_FILE,
    FEATURES_FILE,
    QUEUERULES_FILE,
    QUEUES_FILE,
    escalation_steps,
    generate_asterisk,
)
from pbxctl.site.load import load_site

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "conf" / "example.yaml"
GOLDEN = Path(__file__).parent / "golden" / "asterisk"
FILES = (EXTENSIONS_FILE, QUEUES_FILE, QUEUERULES_FILE, FEATURES_FILE)

# A site that uses every element type and every kind of destination, for the structural
# checks below (the example does not transfer or dial extensions).
RICH_SITE = """\
site: rich
numbering: {country_code: "47"}
pbx:
  backend: asterisk
  fallback: ivr:night
  asterisk:
    outbound_context: trunk-out
    internal_context: phones
    voicemail_context: vm
agents:
  a0: {name: Agent Zero, extension: "2000"}
  a1: {name: Agent One, extension: "2001"}
  a2: {name: Agent Two, extension: "2002", login: dynamic}
  a3: {name: Agent Three, extension: "2003", device: {asterisk: PJSIP/desk3}}
  a4: {name: Agent Four, extension: "2004", wrapup: 7}
queues:
  esc:
    strategy: escalating
    escalation_step: 45
    members:
      - {agent: a0, priority: 0}
      - {agent: a1, priority: 1}
      - {agent: a2, priority: 2}
      - {agent: a4, priority: 3}
    max_wait: 300
    overflow: transfer:+4722334455
  everyone:
    strategy: ring_all
    members:
      - {agent: a0, priority: 0}
      - {agent: a1, priority: 2}
      - {agent: a3, priority: 5}
      - {agent: a2, priority: 1}
    exit_when_empty: true
    overflow: extension:*98
  tiers:
    strategy: ring_all_priority
    members:
      - {agent: a3, priority: 0}
      - {agent: a4, priority: 4}
    max_wait: 60
    overflow: hangup
    when_empty: queue:esc
    waiting: ringing
hours:
  office:
    timezone: Europe/Oslo
    week:
      mon-fri: {open: ["08:00-16:00"]}
lists:
  vip: {numbers: ["+4722334455"]}
  blocked: {numbers: ["+4781549300"]}
routing_lists:
  codes:
    entries:
      "0001-0499": queue:esc
      "0500": ivr:night
entries:
  "+4721000000": {ivr: day, name: Main}
  "21000001": {ivr: day, fallback: voicemail:300}
  "300": {ivr: night, fallback: extension:2000}
ivrs:
  day:
    start: screen
    elements:
      screen: {type: block, list: blocked, next: vip_check, blocked: bye}
      vip_check: {type: vip, list: vip, vip: prio_queue, normal: hours}
      prio_queue: {type: queue, queue: esc, priority: 5, next: after_queue}
      after_queue: {type: voicemail, mailbox: "100", greeting: busy}
      hours: {type: hours, hours: office, branches: {open: menu, closed: ivr:night}}
      menu:
        type: menu
        prompt: custom/menu
        options:
          "1": codes
          "2": queue:everyone
          "3": callback
          "4": operator
          "5": to_night
          "6": voicemail:200
          "7": extension:2001
          "8": transfer:+4798765432
          "#": bye
        invalid: queue:tiers
        no_input: hangup
      codes:
        type: advanced_menu
        prompt: custom/codes
        routing_list: codes
        max_digits: 4
        invalid: queue:esc
        no_input: queue:esc
      callback: {type: callback, queue: tiers, ask_number: true, prompt: custom/number, next: bye}
      operator: {type: transfer, number: "+4722000000"}
      to_night: {type: goto_ivr, ivr: night}
      bye: {type: hangup, prompt: goodbye}
  night:
    start: closed
    elements:
      closed: {type: play, prompt: custom/closed, next: leave_message}
      leave_message: {type: voicemail, mailbox: "999", greeting: none}
"""


def generate(path: Path) -> dict[str, str]:
    return generate_asterisk(load_site(path))


def copy_example(dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE, dest_dir / EXAMPLE.name)
    shutil.copy(EXAMPLE.parent / "postcodes.csv", dest_dir / "postcodes.csv")
    return dest_dir / EXAMPLE.name


@pytest.fixture(scope="module")
def example() -> dict[str, str]:
    return generate(EXAMPLE)


@pytest.fixture
def rich(tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "rich.yaml"
    path.write_text(RICH_SITE)
    return generate(path)


# --- golden files -----------------------------------------------------------------------


def test_golden_files(example: dict[str, str]):
    assert set(example) == set(FILES)
    if os.environ.get("PBXCTL_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for name, text in example.items():
            (GOLDEN / name).write_bytes(text.encode("utf-8"))
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(FILES)
    for name in FILES:
        assert example[name] == (GOLDEN / name).read_bytes().decode("utf-8"), (
            f"{name} differs from tests/golden/asterisk/{name}; if intended, rerun with PBXCTL_UPDATE_GOLDEN=1"
        )


def test_byte_identical_across_runs(example: dict[str, str]):
    again = generate(EXAMPLE)
    assert {k: v.encode() for k, v in again.items()} == {k: v.encode() for k, v in example.items()}


def test_independent_of_where_the_yaml_is_loaded_from(example: dict[str, str], tmp_path: Path, monkeypatch):
    elsewhere = copy_example(tmp_path / "some" / "other" / "checkout")
    monkeypatch.chdir(elsewhere.parent)
    relative = generate(Path(EXAMPLE.name))
    absolute = generate(elsewhere)
    assert absolute == example
    assert relative == example
    for text in absolute.values():
        assert str(tmp_path) not in text
        assert str(REPO) not in text


def test_header_names_file_digest_and_site(example: dict[str, str]):
    import hashlib

    digest = hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()[:16]
    for text in example.values():
        assert text.splitlines()[:2] == [
            f"; Generated by pbxctl from example.yaml (sha256 {digest}), site 'oslo'.",
            "; Do not edit: `pbxctl apply` replaces this file. Change the site YAML instead.",
        ]


def test_no_template_leftovers(example: dict[str, str], rich: dict[str, str]):
    for text in [*example.values(), *rich.values()]:
        assert "{{" not in text and "{%" not in text and "{#" not in text
        assert "None" not in text
        assert "\t" not in text
        assert text.endswith("\n") and not text.endswith("\n\n\n")


# --- queues -----------------------------------------------------------------------------


def sections(conf: str) -> dict[str, list[str]]:
    """[name] -> its non-comment, non-blank lines."""
    out: dict[str, list[str]] = {}
    current = None
    for line in conf.splitlines():
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            current = m.group(1)
            out[current] = []
        elif current is not None and line.strip() and not line.startswith(";"):
            out[current].append(line)
    return out


def members(conf: str, queue: str) -> list[str]:
    return [line for line in sections(conf)[queue] if line.startswith("member => ")]


def test_example_escalating_queue_rules(example: dict[str, str]):
    rules = sections(example[QUEUERULES_FILE])
    assert rules == {"pbxctl-support": ["penaltychange => 30,1,,r1", "penaltychange => 60,2,,r2"]}
    support = sections(example[QUEUES_FILE])["support"]
    assert "strategy = ringall" in support
    assert "defaultrule = pbxctl-support" in support
    assert "defaultrule = pbxctl-sales_east" not in example[QUEUES_FILE]


def test_escalating_rules_reach_the_highest_priority_even_of_dynamic_agents(rich: dict[str, str], tmp_path: Path):
    # a2 (priority 2) logs in dynamically; a4 has priority 3.
    assert sections(rich[QUEUERULES_FILE]) == {
        "pbxctl-esc": ["penaltychange => 45,1,,r1", "penaltychange => 90,2,,r2", "penaltychange => 135,3,,r3"]
    }
    path = tmp_path / "rich.yaml"
    path.write_text(RICH_SITE)
    steps = escalation_steps(load_site(path).site.queues["esc"])
    assert [(s.after, s.max_penalty, s.raise_to) for s in steps] == [(45, 1, 1), (90, 2, 2), (135, 3, 3)]


def queue_run_lines(extensions: str, queue: str) -> list[str]:
    """The lines of `exten => QUEUE` in [pbxctl-queue-run], up to the next exten."""
    lines = sections(extensions)["pbxctl-queue-run"]
    start = lines.index(next(line for line in lines if line.startswith(f"exten => {queue},1,")))
    out = [lines[start]]
    for line in lines[start + 1 :]:
        if line.startswith("exten => "):
            break
        out.append(line)
    return out


def test_only_escalating_queues_start_at_max_penalty_zero(example: dict[str, str], rich: dict[str, str]):
    for generated, escalating, others in ((example, "support", ["sales_east", "sales_west"]), (rich, "esc", ["everyone", "tiers"])):
        run = queue_run_lines(generated[EXTENSIONS_FILE], escalating)
        assert " same => n,Set(QUEUE_MAX_PENALTY=0)" in run
        assert run.index(" same => n,Set(QUEUE_MAX_PENALTY=0)") < next(i for i, l in enumerate(run) if ",Queue(" in l)
        for name in others:
            assert not any("QUEUE_MAX_PENALTY" in line for line in queue_run_lines(generated[EXTENSIONS_FILE], name))
        assert generated[EXTENSIONS_FILE].count("Set(QUEUE_MAX_PENALTY=0)") == 1


def test_ring_all_forces_penalty_zero(rich: dict[str, str]):
    assert members(rich[QUEUES_FILE], "everyone") == [
        "member => PJSIP/2000,0,Agent Zero,PJSIP/2000",
        "member => PJSIP/2001,0,Agent One,PJSIP/2001",
        "member => PJSIP/desk3,0,Agent Three,PJSIP/desk3",
    ]
    assert "strategy = ringall" in sections(rich[QUEUES_FILE])["everyone"]


def test_priorities_become_penalties(example: dict[str, str], rich: dict[str, str]):
    assert members(example[QUEUES_FILE], "sales_west") == [
        "member => PJSIP/1002,0,Ola Hansen,PJSIP/1002",
        "member => PJSIP/1001,1,Kari Nordmann,PJSIP/1001",
    ]
    assert members(rich[QUEUES_FILE], "tiers") == [
        "member => PJSIP/desk3,0,Agent Three,PJSIP/desk3",
        "member => PJSIP/2004,4,Agent Four,PJSIP/2004,no,7",
    ]
    assert members(rich[QUEUES_FILE], "esc") == [
        "member => PJSIP/2000,0,Agent Zero,PJSIP/2000",
        "member => PJSIP/2001,1,Agent One,PJSIP/2001",
        "member => PJSIP/2004,3,Agent Four,PJSIP/2004,no,7",
    ]


def test_static_members_written_dynamic_not(example: dict[str, str], rich: dict[str, str]):
    # lars (1004) logs in dynamically: a support member in the YAML, no member line.
    assert members(example[QUEUES_FILE], "support") == [
        "member => PJSIP/1003,0,Ingrid Berg,PJSIP/1003",
        "member => PJSIP/1005,0,Mina Ali,PJSIP/1005,no,20",
        "member => PJSIP/1006,2,Erik Solberg,PJSIP/1006",
    ]
    assert "1004" not in example[QUEUES_FILE]
    assert "Lars" not in example[QUEUES_FILE]
    assert "2002" not in rich[QUEUES_FILE]
    assert "Agent Two" not in rich[QUEUES_FILE]


def test_queue_settings(rich: dict[str, str]):
    everyone = sections(rich[QUEUES_FILE])["everyone"]
    assert "joinempty = yes" in everyone
    assert "leavewhenempty = paused,invalid,unavailable" in everyone
    tiers = queue_run_lines(rich[EXTENSIONS_FILE], "tiers")
    # the 7th argument: the Gosub run on the agent's leg before bridging (in-call codes)
    assert " same => n,Queue(tiers,tr,,,60,,pbxctl-agent-leg)" in tiers
    everyone_run = queue_run_lines(rich[EXTENSIONS_FILE], "everyone")
    assert " same => n,Queue(everyone,t,,,,,pbxctl-agent-leg)" in everyone_run


# --- dialplan targets -------------------------------------------------------------------


def defined_extensions(conf: str) -> dict[str, set[str]]:
    """context -> extension names (and patterns) defined with `exten => NAME,`."""
    out: dict[str, set[str]] = {}
    current = None
    for line in conf.splitlines():
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            current = m.group(1)
            assert current not in out, f"context [{current}] defined twice"
            out[current] = set()
            continue
        m = re.match(r"exten => ([^,]+),", line)
        if m:
            assert current is not None
            out[current].add(m.group(1))
    return out


def pattern_regex(pattern: str) -> re.Pattern:
    """An Asterisk extension pattern (_X, N, Z, [..], '.', '!') as a regex."""
    assert pattern.startswith("_")
    out, i = "", 1
    while i < len(pattern):
        c = pattern[i]
        if c == "[":
            j = pattern.index("]", i)
            body = pattern[i + 1 : j]
            out += "[" + "".join(ch if ch == "-" else re.escape(ch) for ch in body) + "]"
            i = j
        else:
            out += {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}.get(c.upper(), re.escape(c))
        i += 1
    return re.compile(out)


def resolves(defined: dict[str, set[str]], context: str, exten: str) -> bool:
    names = defined.get(context, set())
    if exten in names:
        return True
    return any(n.startswith("_") and pattern_regex(n).fullmatch(exten) for n in names)


def test_pattern_regex():
    assert pattern_regex("_[0-9]!").fullmatch("200")
    assert not pattern_regex("_[0-9]!").fullmatch("+47")
    assert pattern_regex("_[+0-9]!").fullmatch("+4722334455")
    assert pattern_regex("_[0-9*#]!").fullmatch("*98")
    assert not pattern_regex("_[0-9*#]!").fullmatch("s")
    assert pattern_regex("_NXX.").fullmatch("2001")
    assert not pattern_regex("_NXX.").fullmatch("200")


def literal_targets(conf: str, app: str) -> list[tuple[str, str, str]]:
    """(context, exten, line) of every App(context,exten,1...) call without variables."""
    out = []
    for line in conf.splitlines():
        for m in re.finditer(rf"(?<![A-Za-z]){app}\(([^()]*)(\(|\))", line):
            args = m.group(1).split(",")
            if "$" in m.group(1):
                continue
            if len(args) == 3:
                assert args[2] == "1", line
                out.append((args[0], args[1], line))
            else:
                assert app == "Goto" and len(args) == 1, line  # a label in the same extension
    return out


def dynamic_gotos(conf: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"(?<![A-Za-z])Goto\(([^()]*\$[^()]*)\)", conf)]


@pytest.mark.parametrize("site", ["example", "rich"])
def test_every_goto_target_is_defined(site: str, example: dict[str, str], rich: dict[str, str]):
    generated = {"example": example, "rich": rich}[site]
    conf = generated[EXTENSIONS_FILE]
    defined = defined_extensions(conf)
    assert all(ctx.startswith("pbxctl-") for ctx in defined)
    # the generic contexts only hold patterns (or s), so a routing list may name any number
    assert defined["pbxctl-voicemail"] == {"_[0-9]!"}
    assert defined["pbxctl-transfer"] == {"_[+0-9]!"}
    assert defined["pbxctl-extension"] == {"_[0-9*#]!"}
    assert defined["pbxctl-hangup"] == {"s"}
    targets = literal_targets(conf, "Goto") + literal_targets(conf, "Gosub")
    assert len(targets) > 20
    unresolved = [line for ctx, exten, line in targets if not resolves(defined, ctx, exten)]
    assert unresolved == []
    # What is left is decided at run time: the FastAGI answer, and the hand-offs to the
    # contexts outside pbxctl that the site names.
    ast = load_site(EXAMPLE).site.pbx.asterisk if site == "example" else None
    outbound = ast.outbound_context if ast else "trunk-out"
    internal = ast.internal_context if ast else "phones"
    # ${PBXCTL_RESULT} jumps to a label of [pbxctl-agent-code] and the other code contexts: one
    # for each answer of the service. A transfer with return that nobody takes goes back to
    # the caller's queue (PBXCTL_QUEUE, set before Queue()).
    assert sorted(set(dynamic_gotos(conf))) == sorted(
        {"${PBXCTL_NEXT}", "${PBXCTL_RESULT}", f"{outbound},${{EXTEN}},1", f"{internal},${{EXTEN}},1",
         "pbxctl-queue,${PBXCTL_QUEUE},1"}
        # keep my place: a caller the service could not record goes back into the same queue
        | ({"pbxctl-queue-exit,${PBXCTL_QUEUE},1"}
           if "[pbxctl-keep-place]" in conf else set())
    )
    code_context = conf.split("[pbxctl-agent-code]", 1)[1].split("\n[", 1)[0]
    labels = set(re.findall(r"same => n\(([a-z_]+)\)", code_context))
    assert labels == {"logged_in", "logged_out", "paused", "unpaused", "not_an_agent", "refused"}
    # No answer (the service down, erring, or holding the call past its hold: T) is an
    # extension of its own, which no answer of the service can name by accident.
    assert defined["pbxctl-agent-code"] == {"s", "failed", "T"}


def test_every_element_and_entry_has_an_extension(rich: dict[str, str], tmp_path: Path):
    path = tmp_path / "rich.yaml"
    path.write_text(RICH_SITE)
    site = load_site(path).site
    defined = defined_extensions(rich[EXTENSIONS_FILE])
    for ivr_name, ivr in site.ivrs.items():
        assert defined[f"pbxctl-ivr-{ivr_name}"] == set(ivr.elements)
    assert defined["pbxctl-entries"] == set(site.entries)
    # the decide service falls back to pbxctl-fallback,ENTRY or pbxctl-fallback,default
    assert defined["pbxctl-fallback"] == set(site.entries) | {"default"}
    for context in ("pbxctl-queue", "pbxctl-queue-run", "pbxctl-queue-exit"):
        assert defined[context] == set(site.queues)


def test_rich_site_targets(rich: dict[str, str]):
    conf = rich[EXTENSIONS_FILE]
    fallback = sections(conf)["pbxctl-fallback"]
    assert fallback == [
        "exten => +4721000000,1,Goto(pbxctl-ivr-night,closed,1)",
        "exten => 21000001,1,Goto(pbxctl-voicemail,300,1)",
        "exten => 300,1,Goto(pbxctl-extension,2000,1)",
        "exten => default,1,Goto(pbxctl-ivr-night,closed,1)",
    ]
    day = sections(conf)["pbxctl-ivr-day"]
    # `next` is an element of this IVR: the books say the caller went back into ivr:day
    assert " same => n,Gosub(pbxctl-queue-run,esc,1(5,ivr:day))" in day
    assert " same => n,Goto(pbxctl-ivr-day,after_queue,1)" in day
    assert " same => n,VoiceMail(100@vm,b)" in day
    assert " same => n,Goto(pbxctl-transfer,+4722000000,1)" in day
    assert " same => n,Goto(pbxctl-ivr-night,closed,1)" in day
    # '#' is a menu key here, so Read() gets no terminator
    assert " same => n(ask),Read(PBXCTL_INPUT,custom/menu,1,t(),1,5)" in day
    assert " same => n(ask),Read(PBXCTL_INPUT,custom/codes,4,,1,5)" in day
    assert " same => n,Read(PBXCTL_INPUT,custom/number,20,,1,10)" in day
    night = sections(conf)["pbxctl-ivr-night"]
    assert " same => n,VoiceMail(999@vm,s)" in night
    exits = sections(conf)["pbxctl-queue-exit"]
    assert " same => n(overflow),Goto(pbxctl-transfer,+4722334455,1)" in exits
    assert " same => n(overflow),Goto(pbxctl-extension,*98,1)" in exits
    assert " same => n(overflow),Goto(pbxctl-hangup,s,1)" in exits
    assert " same => n,Goto(pbxctl-queue,esc,1)" in exits  # tiers: when_empty queue:esc


def test_targets_the_decide_service_can_answer_are_defined(rich: dict[str, str], tmp_path: Path):
    """[pbxctl-decide] jumps to whatever the FastAGI service puts in PBXCTL_NEXT: the
    step_target of an element's next step or a routing-list destination. Each must exist."""
    from pbxctl.render.asterisk_targets import destination_target, step_target
    from pbxctl.site.checks import element_steps

    path = tmp_path / "rich.yaml"
    path.write_text(RICH_SITE)
    loaded = load_site(path)
    assert not [w for w in loaded.warnings if "unreachable" in w.message]
    site = loaded.site
    defined = defined_extensions(rich[EXTENSIONS_FILE])
    answers = [step_target(site, ivr_name, step) for ivr_name, ivr in site.ivrs.items() for el in ivr.elements.values() for _, step in element_steps(el)]
    answers += [destination_target(site, dest) for dest in site.routing_lists["codes"].entries.values()]
    assert len(answers) > 20
    unresolved = [t for t in answers if not resolves(defined, *t.split(",")[:2]) or not t.endswith(",1")]
    assert unresolved == []


PENALTY_VARS = re.compile(r"Set\((QUEUE_(?:MAX|MIN|RAISE)_PENALTY)=([^)]*)\)")


def run_queue(lines: list[str], channel: dict[str, str]) -> dict[str, str]:
    """Walk one [pbxctl-queue-run] extension: the penalty variables set on the channel when
    Queue() reads them. Plain Set() variables outlive the Gosub (they are not LOCAL())."""
    at_queue: dict[str, str] = {}
    for line in lines:
        m = PENALTY_VARS.search(line)
        if m:
            channel[m.group(1)] = m.group(2)
        if ",Queue(" in line:
            at_queue = {k: v for k, v in channel.items() if v != ""}
    return at_queue


def test_escalating_penalty_limit_does_not_leak_into_the_next_queue(tmp_path: Path):
    path = tmp_path / "leak.yaml"
    path.write_text(
        """\
site: leak
numbering: {country_code: "47"}
pbx: {backend: asterisk}
agents:
  a0: {name: Agent Zero, extension: "2000"}
  a1: {name: Agent One, extension: "2001"}
queues:
  first:
    strategy: escalating
    escalation_step: 30
    members: [{agent: a0, priority: 0}, {agent: a1, priority: 1}]
    max_wait: 20
    overflow: queue:second
  second:
    strategy: round_robin
    members: [{agent: a0, priority: 0}, {agent: a1, priority: 1}]
"""
    )
    conf = generate(path)[EXTENSIONS_FILE]
    assert " same => n(overflow),Goto(pbxctl-queue,second,1)" in sections(conf)["pbxctl-queue-exit"]
    channel: dict[str, str] = {}
    assert run_queue(queue_run_lines(conf, "first"), channel) == {"QUEUE_MAX_PENALTY": "0", "QUEUE_RAISE_PENALTY": "0"}
    # The caller times out after 20 s (before the first 30 s rule step) and overflows into
    # `second`, a round_robin queue where a1 (penalty 1) should be rung when a0 is busy.
    assert run_queue(queue_run_lines(conf, "second"), channel) == {}


def test_conference_ends_with_the_caller_only_when_configured(tmp_path: Path):
    """The caller is ConfBridge's marked user; `ends_with_caller` makes the agent and the
    third party end_marked, so they are hung up when the caller leaves."""
    from helpers.site_files import copy_example

    site = copy_example(tmp_path)
    plain = generate_asterisk(load_site(site))[EXTENSIONS_FILE]
    room = plain.split("[pbxctl-conference-room]", 1)[1].split("\n[", 1)[0]
    assert "CONFBRIDGE(user,marked)=yes" in room and "end_marked" not in room
    site.write_text(site.read_text().replace("ends_with_caller: false", "ends_with_caller: true"))
    ending = generate_asterisk(load_site(site))[EXTENSIONS_FILE]
    room = ending.split("[pbxctl-conference-room]", 1)[1].split("\n[", 1)[0]
    assert room.count("Set(CONFBRIDGE(user,end_marked)=yes)") == 2   # the agent's and the third party's
    caller_part = room.split("exten => _a-.", 1)[0]
    assert "end_marked" not in caller_part


def test_in_call_codes_are_set_on_the_agents_leg_only(example: dict[str, str]):
    conf = example[EXTENSIONS_FILE]
    leg = conf.split("[pbxctl-agent-leg]", 1)[1].split("\n[", 1)[0]
    assert "Set(DYNAMIC_FEATURES=pbxctl_help#pbxctl_xfer_return)" in leg
    assert "Set(FEATUREMAP(blindxfer)=##)" in leg and "Set(FEATUREMAP(atxfer)=*2)" in leg
    assert "Set(FEATURE(atxferthreeway)=*3)" in leg
    # every Queue() runs it on the member's channel (7th argument); nothing sets it on callers
    queue_lines = [line for line in conf.splitlines() if ",Queue(" in line]
    # (a queue with a keep-place key, and the placeholder, add the position argument)
    assert queue_lines and all(re.search(r",,pbxctl-agent-leg(,,\$\{PBXCTL_REJOIN_AT\})?\)$", line) for line in queue_lines)
    assert conf.count("DYNAMIC_FEATURES") == 1
    features = example["features_pbxctl.conf"]
    assert "[applicationmap](+)" in features
    assert "pbxctl_help => *9,self,Gosub(pbxctl-help,s,1)" in features
