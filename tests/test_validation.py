"""Validation of site files: every problem as `FILE:LINE key.path: message`.

The broken corpus lives in tests/broken/ (one small site file per kind of mistake, each
starting with a comment saying what is wrong); the expected lines below name the real
line numbers of those files. Cases that need a CSV next to the YAML, or a variation of
the minimal valid site, are written to tmp_path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pbxctl.site.load import LoadedSite, load_site
from pbxctl.site.problems import Problem, SiteInvalid

HERE = Path(__file__).parent
BROKEN = HERE / "broken"
EXAMPLE = HERE.parent / "conf" / "example.yaml"

# The smallest site that validates with neither errors nor warnings. Variations of it are
# written to tmp_path by the tests below.
VALID_SITE = """\
site: test
numbering:
  country_code: "47"
pbx:
  backend: asterisk
agents:
  kari: {name: Kari Nordmann, extension: "1001"}
queues:
  support:
    strategy: round_robin
    members:
      - {agent: kari}
hours:
  office:
    timezone: Europe/Oslo
    week:
      mon-fri:
        open: ["08:00-16:00"]
entries:
  "+4721000000": {ivr: main}
ivrs:
  main:
    start: office_hours
    elements:
      office_hours:
        type: hours
        hours: office
        branches: {open: support_queue, closed: hangup}
      support_queue: {type: queue, queue: support}
"""

TOUCHES = "which would break or inject into the generated configuration"
UNSAFE = f"contains {{}}, {TOUCHES}"

# name of tests/broken/NAME.yaml -> expected str(problem) lines, without the leading
# "FILE:" (added by the test, so the lines stay readable).
BROKEN_CASES: dict[str, list[str]] = {
    "yaml_syntax": [
        # the line the closing '}' is missing from, not the next token's
        "8: YAML syntax error: while parsing a flow mapping expected ',' or '}', but got '<scalar>'",
    ],
    "tab_indent": [
        "9: YAML syntax error: while scanning for the next token found character '\\t' that cannot start any token",
    ],
    "bad_indent": [
        "10: YAML syntax error: mapping values are not allowed here",
    ],
    "wrong_types": [
        "8 agents.kari.tags: must be a list, not 'sales'",
        "11 queues.support.strategy: must be one of: 'round_robin', 'ring_all', 'ring_all_priority', "
        "'escalating', 'fewest_calls', 'random', 'linear', 'least_talk_time', 'round_robin_memory' "
        "or 'weighted_random', not 'roundrobin'",
        # a mapping where a number belongs
        "12 queues.support.ring_time: must be a whole number, not {'seconds': '15'}",
        "13 queues.support.display_name: must be a single value, not a mapping",
        "14 queues.support.join_empty: must be true or false, not 'maybe'",
        "22 hours.office.week.mon-fri.open[0]: '8-16' is not a time range such as 08:00-16:00",
        "24 hours.office.exceptions[0].date: '2026-13-01' is not a date like 2026-12-24",
        "31 ivrs.main.elements.hello: type must be one of: 'hours', 'menu', 'advanced_menu', 'vip', "
        "'block', 'queue', 'callback', 'voicemail', 'transfer', 'goto_ivr', 'play', 'hangup', not 'playback'",
        "32 ivrs.main.elements.bye: needs a 'type' (hours, menu, advanced_menu, vip, block, queue, "
        "callback, voicemail, transfer, goto_ivr, play, hangup)",
    ],
    "unknown_keys": [
        "7 pbx.fallbak: unknown key (did you mean 'fallback'?)",
        "13 queues.support.ring_tme: unknown key (did you mean 'ring_time'?)",
        "22 ivrs.main.elements.support_queue.prioity: unknown key (did you mean 'priority'?)",
    ],
    "duplicate_keys": [
        "9 agents.kari: duplicate key (first defined on line 8)",
        "15 queues: duplicate key (first defined on line 10)",
    ],
    "missing_keys": [
        # No line of its own: the top of the file (line 1 is a comment).
        "2 numbering: required key is missing",
        "6 agents.kari.extension: required key is missing",
        "8 queues.support.strategy: required key is missing",
        "17 ivrs.main.elements.hello.prompt: required key is missing",
    ],
    "unknown_refs": [
        "7 pbx.fallback: unknown queue 'suport' (known: support)",
        "14 queues.support.members[0].agent: unknown agent 'karl' (known: kari)",
        "16 queues.support.overflow: unknown queue 'sales' (known: support)",
        "25 entries[\"+4721000001\"].ivr: unknown IVR 'mian' (known: main)",
        "32 ivrs.main.elements.office_hours.hours: unknown hours 'ofice' (known: office)",
        "33 ivrs.main.elements.office_hours.branches.closed: unknown element 'goodbye' "
        "(elements of this IVR: office_hours, support_queue)",
        "34 ivrs.main.elements.support_queue.queue: unknown queue 'suport' (known: support)",
    ],
    "unknown_lists": [
        "22 ivrs.main.elements.screen.list: unknown caller list 'blocked' (known: vip)",
        "23 ivrs.main.elements.vip_check.list: unknown caller list 'vips' (known: vip)",
        "27 ivrs.main.elements.postcode.routing_list: unknown routing list 'postcodes' (no routing_lists are defined)",
        "31 ivrs.main.elements.english.ivr: unknown IVR 'englsh' (known: main)",
    ],
    "ivr_cycle": [
        # at the element whose step closes the loop
        "18 ivrs.second.elements.back: loop that never waits for the caller: "
        "first.jump -> second.hello -> second.back -> first.jump",
    ],
    "hostile_strings": [
        "8 agents.kari.name: " + UNSAFE.format("';'"),
        "9 agents.ola.extension: " + UNSAFE.format("';'"),
        '10 agents["ing<rid"]: ' + UNSAFE.format("'<'"),
        "13 queues.sales.display_name: " + UNSAFE.format("a newline"),
        "16 queues.support.display_name: " + UNSAFE.format("'$'"),
        '19 entries["+47210)"]: ' + UNSAFE.format("')'"),
        "24 ivrs.main.elements.hello.prompt: " + UNSAFE.format("','"),
        "27 ivrs.main.elements.menu.prompt: " + UNSAFE.format("'('"),
        '28 ivrs.main.elements.menu.options["1"]: ' + UNSAFE.format("']'"),
        "31 ivrs.main.elements.transfer.number: " + UNSAFE.format("','"),
    ],
    "routing_overlap_inline": [
        "8 queues.support.members: warning: queue has no members; only dynamically logged-in agents can answer",
        '13 routing_lists.postcodes.entries["0150"]: value \'0150\' overlaps \'0001-0299\' '
        '(routing_lists.postcodes.entries["0001-0299"])',
        '14 routing_lists.postcodes.entries["0200-0400"]: unknown queue \'sales\'',
        '14 routing_lists.postcodes.entries["0200-0400"]: value \'0200-0400\' overlaps \'0001-0299\' '
        '(routing_lists.postcodes.entries["0001-0299"])',
        # "150" has three digits: it does not overlap "0150" or "0001-0299".
    ],
    "hours_overlap": [
        # at the range that starts inside another, not at `week:`
        "13 hours.office.week.mon-fri.lunch[0]: mon, tue, wed, thu, fri: open 08:00-16:00 overlaps lunch 11:30-12:00",
        "18 hours.office.exceptions[1]: dates overlap exception [0] (2026-12-24..2026-12-26)",
        "19 hours.office.exceptions[2].ranges.open[1]: open 09:00-12:00 overlaps open 11:00-13:00",
    ],
    "unknown_timezone": [
        "9 hours.office.timezone: unknown timezone 'Europe/Olso' (use an IANA name such as Europe/Oslo)",
    ],
    "strategy_asterisk": [
        "11 queues.support.strategy: strategy 'least_talk_time' is not available on asterisk: "
        "app_queue has no least-talk-time strategy",
    ],
    "strategy_freeswitch": [
        "11 queues.support.strategy: strategy 'weighted_random' is not available on freeswitch: "
        "mod_callcenter has no weighted random strategy",
        "12 queues.support.waiting: 'music_then_ringing' is not available on freeswitch "
        "(mod_callcenter plays one sound)",
    ],
    "negative_priority": [
        "12 queues.support.caller_priority: must be 0 or more",
        "14 queues.support.members[0].priority: must be 0 or more",
    ],
    "escalating_without_step": [
        "10 queues.support: strategy 'escalating' needs 'escalation_step' (seconds between priority groups)",
        "14 queues.sales: 'escalation_step' applies only to strategy 'escalating'",
    ],
}

# Files that load (warnings only): name -> expected str(warning) lines without "FILE:".
WARNING_CASES: dict[str, list[str]] = {
    "unreachable_element": [
        "21 ivrs.main.elements.forgotten: warning: unreachable: no step of IVR 'main' leads here from its start",
    ],
    "literal_secret": [
        "10 pbx.asterisk.ami.secret: warning: a literal secret in the site file; prefer {env: NAME} or {file: PATH}",
        "12 pbx.freeswitch.esl.password: warning: a literal secret in the site file; prefer {env: NAME} or {file: PATH}",
    ],
}


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(SiteInvalid) as info:
        load_site(path)
    return info.value.problems


def lines_of(path: Path) -> list[str]:
    return [str(p) for p in problems_of(path)]


def write_site(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def valid_site_with(tmp_path: Path, old: str, new: str) -> Path:
    assert old in VALID_SITE, old
    return write_site(tmp_path, VALID_SITE.replace(old, new, 1))


# --- the corpus -------------------------------------------------------------------------


def test_corpus_is_complete():
    """Every file under tests/broken/ is checked by exactly one table."""
    on_disk = {p.stem for p in BROKEN.glob("*.yaml")}
    in_tables = set(BROKEN_CASES) | set(WARNING_CASES) | {"routing_overlap_csv"}
    assert on_disk == in_tables
    assert not set(BROKEN_CASES) & set(WARNING_CASES)


@pytest.mark.parametrize("name", sorted(BROKEN_CASES))
def test_broken_file(name: str):
    path = BROKEN / f"{name}.yaml"
    assert lines_of(path) == [f"{path}:{line}" for line in BROKEN_CASES[name]]


@pytest.mark.parametrize("name", sorted(WARNING_CASES))
def test_warning_only_file_loads(name: str):
    path = BROKEN / f"{name}.yaml"
    loaded = load_site(path)
    assert isinstance(loaded, LoadedSite)
    assert [str(w) for w in loaded.warnings] == [f"{path}:{line}" for line in WARNING_CASES[name]]
    assert all(w.severity == "warning" for w in loaded.warnings)


def test_warnings_ride_along_with_errors_and_keep_their_severity():
    path = BROKEN / "routing_overlap_inline.yaml"
    severities = [(p.line, p.severity) for p in problems_of(path)]
    assert severities == [(8, "warning"), (13, "error"), (14, "error"), (14, "error")]


def test_site_invalid_message_is_every_problem_line():
    path = BROKEN / "negative_priority.yaml"
    with pytest.raises(SiteInvalid) as info:
        load_site(path)
    assert str(info.value) == "\n".join(f"{path}:{line}" for line in BROKEN_CASES["negative_priority"])


def test_problem_fields_for_a_reference_error():
    path = BROKEN / "unknown_refs.yaml"
    first = problems_of(path)[0]
    assert first == Problem(str(path), 7, "pbx.fallback", "unknown queue 'suport' (known: support)", "error")


ROUTES_CSV = """\
value,destination
0001-0299,queue:support
12a4,queue:support
0150,queue:support
0300-0200,queue:support
"""

CUSTOMERS_CSV = """\
value,destination
1000,queue:support
1001
1002,queue:support,extra
"""


def test_routing_lists_from_csv_report_csv_file_and_line(tmp_path: Path):
    path = tmp_path / "routing_overlap_csv.yaml"
    shutil.copy(BROKEN / path.name, path)
    (tmp_path / "postcodes.csv").write_text(ROUTES_CSV, encoding="utf-8")
    (tmp_path / "customers.csv").write_text(CUSTOMERS_CSV, encoding="utf-8")
    assert lines_of(path) == [
        f"{path}:8 queues.support.members: warning: queue has no members; only dynamically logged-in agents can answer",
        # bad rows first, then the overlaps among the rows that parsed
        f"{path}:11 routing_lists.postcodes.file: postcodes.csv:3: value '12a4' is not digits",
        f"{path}:11 routing_lists.postcodes.file: postcodes.csv:5: range '0300-0200' runs backwards",
        f"{path}:11 routing_lists.postcodes.file: postcodes.csv:4: value '0150' overlaps '0001-0299' (postcodes.csv:2)",
        # an inline value overlapping a CSV row names the CSV file and line
        f"{path}:13 routing_lists.postcodes.entries[\"0100\"]: value '0100' overlaps '0001-0299' (postcodes.csv:2)",
        f"{path}:15 routing_lists.customers.file: customers.csv:3: needs two columns: value,destination",
        f"{path}:15 routing_lists.customers.file: customers.csv:4: has 3 columns; expected two: value,destination",
        f"{path}:17 routing_lists.missing.file: nowhere.csv: not found (looked at {tmp_path.resolve() / 'nowhere.csv'})",
    ]


def test_routing_list_csv_with_unknown_queue(tmp_path: Path):
    path = tmp_path / "routing_overlap_csv.yaml"
    text = (BROKEN / path.name).read_text().replace("  missing:\n    file: nowhere.csv\n", "")
    path.write_text(text)
    (tmp_path / "postcodes.csv").write_text("value,destination\n0200-0299,queue:sales\n0300,hangup\n")
    (tmp_path / "customers.csv").write_text("1000,ivr:main\n")
    assert [str(p) for p in problems_of(path) if p.severity == "error"] == [
        f"{path}:11 routing_lists.postcodes.file: postcodes.csv:2: unknown queue 'sales'",
        f"{path}:15 routing_lists.customers.file: customers.csv:1: unknown IVR 'main'",
    ]


# --- files that cannot be read at all ---------------------------------------------------


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nope.yaml"
    assert lines_of(path) == [f"{path}: cannot read: No such file or directory"]


def test_not_utf8(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"site: test\ndescription: Troms\xf8\n")
    assert lines_of(path) == [f"{path}: not UTF-8 text (byte 29)"]


def test_top_level_list(tmp_path: Path):
    path = write_site(tmp_path, "- site\n- pbx\n")
    assert lines_of(path) == [f"{path}:1: the site file must be a mapping of keys (site, pbx, queues, ...)"]


def test_empty_file_names_every_required_key(tmp_path: Path):
    path = write_site(tmp_path, "")
    assert lines_of(path) == [
        f"{path} numbering: required key is missing",
        f"{path} pbx: required key is missing",
        f"{path} site: required key is missing",
    ]


# --- valid sites ------------------------------------------------------------------------


def test_example_site_has_no_errors_and_no_warnings():
    loaded = load_site(EXAMPLE)
    assert loaded.warnings == []
    assert loaded.site.site == "oslo"
    assert set(loaded.hours) == {"office"}
    assert set(loaded.route_lists) == {"postcodes"}
    assert loaded.route_lists["postcodes"].lookup("0150") == "queue:sales_east"
    assert loaded.caller_lists["vip"] == frozenset({"+4722334455", "+4791234567", "+4798765432"})


def test_minimal_valid_site(tmp_path: Path):
    loaded = load_site(write_site(tmp_path, VALID_SITE))
    assert loaded.warnings == []
    assert loaded.site.queues["support"].members[0].agent == "kari"


def test_norway_problem_and_leading_zeros_stay_text(tmp_path: Path):
    """YAML 1.1 would read `no` as false, 0123 as octal 83 and 08:00 as sexagesimal."""
    path = valid_site_with(
        tmp_path,
        'kari: {name: Kari Nordmann, extension: "1001"}',
        "kari: {name: Kari Nordmann, extension: 0123, tags: [no, en, yes, off]}",
    )
    text = path.read_text().replace('open: ["08:00-16:00"]', "open: [08:00-16:00]")
    text = text.replace("    strategy: round_robin\n", "    strategy: round_robin\n    join_empty: no\n")
    text = text.replace('  country_code: "47"', "  country_code: 47")
    path.write_text(text)
    loaded = load_site(path)
    kari = loaded.site.agents["kari"]
    assert kari.tags == ["no", "en", "yes", "off"]
    assert kari.extension == "0123"
    assert loaded.site.numbering.country_code == "47"
    assert loaded.site.queues["support"].join_empty is False
    assert loaded.site.hours["office"].week["mon-fri"]["open"] == ["08:00-16:00"]
    assert loaded.warnings == []


def test_ivr_loop_through_a_menu_is_the_callers_choice(tmp_path: Path):
    """Same two IVRs as tests/broken/ivr_cycle.yaml, but the second one waits for a key."""
    text = (BROKEN / "ivr_cycle.yaml").read_text().replace(
        "      hello: {type: play, prompt: hello, next: back}",
        '      hello: {type: menu, prompt: hello, options: {"1": back}, invalid: back, no_input: hangup}',
    )
    loaded = load_site(write_site(tmp_path, text))
    assert loaded.warnings == []


def test_hostile_caller_list_number(tmp_path: Path):
    path = write_site(tmp_path, VALID_SITE + 'lists:\n  vip:\n    numbers: ["+47 22;33 44 55", "12a4", "123"]\n')
    assert lines_of(path) == [
        f"{path}:32 lists.vip.numbers[0]: '+47 22;33 44 55' is not a phone number "
        "(only digits, spaces, '-', '.', '()' and a leading '+')",
        f"{path}:32 lists.vip.numbers[1]: '12a4' is not a phone number "
        "(only digits, spaces, '-', '.', '()' and a leading '+')",
        f"{path}:32 lists.vip.numbers[2]: '123' has 5 digits as +47123; E.164 numbers have 7 to 15",
    ]


# --- gaps in validation (bugs) ----------------------------------------------------------


@pytest.mark.parametrize("template", ["PJSIP/{exten}", "PJSIP/{extension.__class__}", "PJSIP/{}"])
def test_device_template_with_unknown_placeholder_is_rejected(tmp_path: Path, template: str):
    path = valid_site_with(tmp_path, "  backend: asterisk\n", f"  backend: asterisk\n  asterisk:\n    device_template: {template}\n")
    assert [p.path for p in problems_of(path)] == ["pbx.asterisk.device_template"]


@pytest.mark.parametrize("name", ["h", "o", "s", "t", "default", "fax"])
def test_reserved_extension_name_for_an_element(tmp_path: Path, name: str):
    """An element becomes `exten => NAME` in its IVR's context: 'h' would run on hangup."""
    path = valid_site_with(
        tmp_path,
        "branches: {open: support_queue, closed: hangup}\n      support_queue: {type: queue",
        f"branches: {{open: {name}, closed: hangup}}\n      {name}: {{type: queue",
    )
    assert lines_of(path) == [
        f"{path}:29 ivrs.main.elements.{name}: '{name}' is reserved (a special dialplan extension); "
        "choose another element name"
    ]


def test_reserved_extension_name_for_a_queue(tmp_path: Path):
    path = valid_site_with(tmp_path, "queues:\n  support:", "queues:\n  h: {strategy: round_robin, members: [{agent: kari}]}\n  support:")
    assert lines_of(path) == [
        f"{path}:9 queues.h: 'h' is reserved (a special dialplan extension); choose another queue name"
    ]


def test_callback_asking_for_a_number_needs_a_prompt(tmp_path):
    text = VALID_SITE.replace(
        "      support_queue: {type: queue, queue: support}\n",
        "      support_queue: {type: queue, queue: support}\n"
        "      cb: {type: callback, queue: support, ask_number: true}\n",
    )
    path = write_site(tmp_path, text)
    line = text.splitlines().index("      cb: {type: callback, queue: support, ask_number: true}") + 1
    assert [str(p) for p in problems_of(path)] == [
        f"{path}:{line} ivrs.main.elements.cb: ask_number needs a prompt that asks the caller to type the number"
    ]


def test_escalation_step_shorter_than_a_ringing_round_is_warned(tmp_path: Path):
    path = valid_site_with(
        tmp_path, "    strategy: round_robin\n", "    strategy: escalating\n    escalation_step: 10\n    ring_time: 8\n"
    )
    loaded = load_site(path)
    assert [str(w) for w in loaded.warnings] == [
        f"{path}:11 queues.support.escalation_step: warning: escalation_step 10 s is shorter than ring_time + retry "
        "(8 + 5 = 13 s): the next priority group can only ring in the next round"
    ]


def test_escalation_step_of_a_whole_round_is_not_warned(tmp_path: Path):
    path = valid_site_with(
        tmp_path, "    strategy: round_robin\n", "    strategy: escalating\n    escalation_step: 13\n    ring_time: 8\n"
    )
    assert load_site(path).warnings == []


def test_hours_overlap_between_two_day_specs_is_reported_at_the_later_range(tmp_path: Path):
    path = valid_site_with(
        tmp_path,
        '        open: ["08:00-16:00"]\n',
        '        open: ["08:00-16:00"]\n      mon:\n        lunch:\n          - "07:00-07:30"\n          - "11:30-12:00"\n',
    )
    assert lines_of(path) == [
        f"{path}:22 hours.office.week.mon.lunch[1]: mon: open 08:00-16:00 overlaps lunch 11:30-12:00",
    ]
