"""What "read as intended" means for a site file with a hostile value in it, shared by the
property test and the CLI-level corpus test.

A site either validates, and then every generated Asterisk file reads line by line as
pbxctl's shapes (tests/asterisk_lines.py) with exactly the contexts the site defines, and
every FreeSWITCH file is well-formed XML with nothing FreeSWITCH's preprocessor would act
on; or it is refused with `FILE:LINE key.path: message` lines.
"""

from __future__ import annotations

import re
import xml.dom.minidom
from pathlib import Path

from asterisk_lines import contexts, read_asterisk_file, shape

from pbxctl.render.asterisk import EXTENSIONS_FILE, FEATURES_FILE, QUEUERULES_FILE, QUEUES_FILE, rule_name
from pbxctl.render.asterisk_targets import ivr_context
from pbxctl.asterisk import wire
from pbxctl.site import model as m


def check_problem_lines(site_file: str, lines: list[str]) -> None:
    """Every error is one printable line naming the file and a line of it, and at least
    one names a key path (a bad key of the top level is named in the message; a file the
    YAML reader refuses, the line where it stopped)."""
    errors = [line for line in lines if "warning: " not in line]
    assert errors, f"refused without an error line: {lines}"
    where = re.compile(rf"{re.escape(site_file)}:\d+( \S.*)?: \S")
    for line in errors:
        assert line.isprintable(), f"an error line with unprintable characters: {line!r}"
        assert where.match(line), f"not FILE:LINE key.path: message: {line!r}"
    # A file the YAML reader refuses (a lone surrogate escape) has no keys yet: its line.
    assert any(re.match(rf"{re.escape(site_file)}:\d+( \S|: key '|: YAML )", line) for line in errors), errors


def check_file_problem_lines(site_file: str, lines: list[str]) -> None:
    """A file broken as bytes (not UTF-8, a raw NUL) is refused as a whole: one
    printable `FILE[:LINE]: message` line each."""
    assert lines, "refused without an error line"
    for line in lines:
        assert line.isprintable(), f"an error line with unprintable characters: {line!r}"
        assert re.match(rf"{re.escape(site_file)}(:\d+)?:? \S", line), f"not FILE:LINE: message: {line!r}"


def expected_contexts(site: m.Site, base: dict[str, list[str]]) -> dict[str, list[str]]:
    keep_place = {wire.CONTEXTS.keep_place, wire.CONTEXTS.keep_place_gone, wire.CONTEXTS.keep_place_hold,
                  wire.CONTEXTS.keep_place_wait, wire.CONTEXTS.keep_place_reached}
    fixed = [c for c in base[EXTENSIONS_FILE] if not c.startswith((ivr_context(""), wire.KEEP_KEY_CONTEXT_PREFIX))
             and c not in keep_place]
    # keep my place: a context per queue with a key, and the shared ones when there is one
    keys = [wire.keep_key_context(q) for q, c in site.callbacks.queues.items() if c.keep_place_key]
    return {
        EXTENSIONS_FILE: sorted(fixed + [ivr_context(name) for name in site.ivrs] + keys + (sorted(keep_place) if keys else [])),
        QUEUES_FILE: sorted(site.queues),
        QUEUERULES_FILE: sorted(rule_name(n) for n, q in site.queues.items() if q.strategy is m.Strategy.escalating),
        FEATURES_FILE: ["applicationmap"],
    }


def check_asterisk_files(files: dict[str, str], site: m.Site, base: dict[str, str], same_shape: bool) -> None:
    base_lines = {name: read_asterisk_file(name, text) for name, text in base.items()}
    expected = expected_contexts(site, {name: contexts(lines) for name, lines in base_lines.items()})
    assert sorted(files) == sorted(expected)
    for name, text in files.items():
        lines = read_asterisk_file(name, text)
        assert sorted(contexts(lines)) == expected[name], f"{name}: contexts {contexts(lines)}"
        if same_shape:
            assert shape(lines) == shape(base_lines[name]), f"{name}: a shown value changed the file's shape"


def _skeleton(doc: xml.dom.minidom.Document) -> list[tuple]:
    return [(el.tagName, tuple(sorted(el.attributes.keys()))) for el in doc.getElementsByTagName("*")]


def check_freeswitch_files(files: dict[str, str], site: m.Site, base: dict[str, str], same_shape: bool) -> None:
    domain = site.pbx.freeswitch.voicemail_domain
    for name, text in files.items():
        assert text.isprintable() or all(line.isprintable() for line in text.split("\n")), name
        doc = xml.dom.minidom.parseString(text.encode("utf-8"))
        # FreeSWITCH's preprocessor reads the raw text, comments included.
        assert "X-PRE-PROCESS" not in text and "<!--#" not in text, name
        assert set(re.findall(r"\$\$\{[^}]*\}", text)) <= {domain}, name
        if same_shape:
            assert _skeleton(doc) == _skeleton(xml.dom.minidom.parseString(base[name].encode("utf-8"))), name


def read_generated(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): p.read_text(encoding="utf-8") for p in sorted(out.rglob("*")) if p.is_file()}
