"""The alerts: section checked against the rest of the site, with file:line messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers.site_files import copy_example

PBXCTL = Path(sys.executable).with_name("pbxctl")

GOOD = """
alerts:
  targets:
    oncall: {email: {to: [oncall@example.com], host: 127.0.0.1, port: 2525}}
    sms: {command: [/usr/local/bin/send-sms, "+4790000000"]}
  rules:
    - {queue: support, when: {longest_wait_over: 2m}, for: 1m, hours: office, during: [open], notify: [oncall, sms]}
    - {queue: support, when: {none_logged_in: true}, notify: [sms]}
"""


def validate(tmp_path: Path, extra: str) -> subprocess.CompletedProcess:
    site = copy_example(tmp_path)
    site.write_text(site.read_text() + extra)
    return subprocess.run([str(PBXCTL), "validate", "-s", str(site)], capture_output=True, text=True)


def test_rules_and_targets_validate(tmp_path):
    done = validate(tmp_path, GOOD)
    assert done.returncode == 0, done.stderr


def test_references_are_checked_and_placed(tmp_path):
    bad = GOOD.replace("queue: support, when: {longest", "queue: suport, when: {longest").replace("[open]", "[opne]")
    bad = bad.replace("notify: [sms]}", "notify: [pager]}")
    bad += "    - {queue: support, when: {none_logged_in: true}, notify: [sms]}\n"
    done = validate(tmp_path, bad)
    assert done.returncode == 1
    err = done.stderr
    assert "alerts.rules[0].queue: unknown queue 'suport' (known: sales_east, sales_west, support)" in err
    assert "alerts.rules[0].during[0]: hours 'office' has no category 'opne' (it has: closed, lunch, open)" in err
    assert "alerts.rules[1].notify[0]: unknown alert target 'pager' (known: oncall, sms)" in err
    assert "alerts.rules[2].name: rule name 'support_none_logged_in' is also rule 1's" in err
    assert err.count("example.yaml:") >= 4  # every problem names its line


def test_structural_errors_name_the_key(tmp_path):
    done = validate(tmp_path, GOOD.replace("for: 1m", "for: 2 weeks"))
    assert done.returncode == 1
    assert "alerts.rules[0].for" in done.stderr and "not a duration" in done.stderr
