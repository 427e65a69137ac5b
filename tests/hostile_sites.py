"""Site files with one hostile string each, built from the model's own example.

The bases are conf/example.yaml for Asterisk and a FreeSWITCH-valid variant of it, each
with the defaults that reach generated files written out (so that they are leaves to
replace too) and a small `alerts:` section. `string_leaves` walks a base: every string
value and every mapping key, in turn, is a place for a hostile value. Shared by the
property test (tests/test_hostile_input.py) and scripts/make-hostile-corpus.py, which
wrote the committed corpus under tests/hostile/.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import yaml

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "conf" / "example.yaml"

Leaf = tuple[tuple[Any, ...], bool]  # (path, is_key)

# Hand-picked: each one has broken or injected into a generated file, or could.
HOSTILE_VALUES: list[str] = [
    "\x00",
    "a\x00b",
    "a\x01b",
    "x\x1b[31mred",
    "\x7f",
    "a\u0085b",
    "\n[evil]\nexten => s,1,System(id)",
    "line\r\nbreak",
    "tab\there",
    "lone\rcr",
    "form\x0cfeed",
    "a;b",
    "a\\;b",
    ";--",
    "a;--b",
    "--;",
    "${EXTEN}",
    "$${domain}",
    "$[1+1]",
    "a,b",
    "a)b(",
    "a]b[",
    "[ctx]",
    "#include /etc/passwd",
    "exten => 1,1,Hangup()",
    "<x>&'\"",
    "]]>",
    "<!--",
    "-->",
    "a--b",
    "-",
    '<X-PRE-PROCESS cmd="set" data="a=b"/>',
    '<!--#include "/etc/passwd"-->',
    "\u200b",
    "zero\u200bwidth",
    "\u202egnp.exe",
    "a\u2028b",
    "a\u2029b",
    "\ufeffbom",
    "a\ud800b",
    "\udfff",
    "\ue000",
    "\uffff",
    "\U0001f600 smile",
    "Bodø Ærlig",
    "  padded  ",
    " ",
    "{extension}",
    "{x}",
    "{{extension}}",
    "user/{extension",
    "::1",
    "127.0.0.1:4573",
    "fe80::1%eth0",
    "../../etc/passwd",
    "x" * 300,
    "é" * 5000,
]


def base_sites() -> dict[str, dict]:
    """name -> site data (strings only, as pbxctl's loader reads scalars)."""
    asterisk = yaml.load(EXAMPLE.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    pbx = asterisk["pbx"]
    pbx["asterisk"].update(internal_context="from-internal", voicemail_context="default")
    asterisk["agents"]["kari"]["device"] = {"asterisk": "PJSIP/1001", "freeswitch": "user/1001"}
    asterisk["alerts"] = {
        "targets": {
            "mail": {"email": {"to": ["oncall@example.com"], "host": "smtp.example.com", "sender": "pbxctl@example.com"}},
            "hook": {"webhook": {"url": "https://example.com/hook", "headers": {"X-Token": {"env": "TOKEN"}}}},
            "sms": {"command": ["/usr/local/bin/send-sms", "+4790000000"]},
        },
        "rules": [
            {"queue": "support", "when": {"longest_wait_over": "2m"}, "hours": "office", "during": ["open"],
             "notify": ["mail", "sms"], "name": "support_slow"},
        ],
    }
    freeswitch = copy.deepcopy(asterisk)
    fpbx = freeswitch["pbx"]
    fpbx["backend"] = "freeswitch"
    fpbx["freeswitch"].update(
        contact_template="user/{extension}",
        queue_domain="default",
        dialplan_context="default",
        voicemail_profile="default",
        voicemail_domain="$${domain}",
    )
    # mod_callcenter plays one sound while waiting, and announces a file path.
    freeswitch["queues"]["sales_east"]["waiting"] = "ringing"
    for queue in freeswitch["queues"].values():
        if "prompt" in queue.get("announce", {}):
            queue["announce"]["prompt"] = "custom/queue-announce.wav"
    return {"asterisk": asterisk, "freeswitch": freeswitch}


def string_leaves(data: Any, path: tuple = ()) -> Iterator[Leaf]:
    """Every string value and every mapping key, depth first in file order."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*path, key), True
            yield from string_leaves(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from string_leaves(value, (*path, i))
    elif isinstance(data, str):
        yield path, False


def substitute(data: Any, leaf: Leaf, value: str) -> Any:
    """A copy of `data` with the string (or key) at `leaf` replaced by `value`; a key
    keeps its place in the mapping."""
    path, is_key = leaf
    out = copy.deepcopy(data)
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if is_key:
        items = list(parent.items())
        parent.clear()
        for k, v in items:
            parent[value if k == last else k] = v
    else:
        parent[last] = value
    return out


def dump(data: Any) -> str:
    """YAML text that reads back as `data` (every scalar a quoted string)."""
    return yaml.dump(data, Dumper=_QuotedDumper, allow_unicode=False, sort_keys=False, width=1 << 30,
                     default_flow_style=None)


class _QuotedDumper(yaml.SafeDumper):
    pass


def _quoted(dumper: yaml.SafeDumper, value: str):
    # Double quotes: every character is written as an escape YAML reads back exactly,
    # lone surrogates and NUL included; no value turns into a null or a number.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')


_QuotedDumper.add_representer(str, _quoted)


def is_free_text(leaf: Leaf) -> bool:
    """Leaves whose value is only shown (names, descriptions): changing them must not
    change the shape of any generated file."""
    path, is_key = leaf
    # An alert rule's name is an identifier, not shown text.
    return not is_key and path[-1] in ("name", "description", "display_name") and path[0] != "alerts"
