"""The callbacks: section validated with the rest of the site: FILE:LINE key.path messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.site_files import copy_example
from pbxctl.domain.outbound_numbers import check_outbound
from pbxctl.site.load import load_site
from pbxctl.site.problems import SiteInvalid


def site_with(tmp_path: Path, section: str) -> Path:
    """The example site with its own callbacks: section replaced by `section`."""
    site = copy_example(tmp_path)
    text = site.read_text()
    site.write_text(text[: text.index("\ncallbacks:")] + "\n" + section)
    return site


def problems(tmp_path: Path, section: str) -> list[str]:
    try:
        loaded = load_site(site_with(tmp_path, section))
    except SiteInvalid as exc:
        return [str(p) for p in exc.problems]
    return [str(w) for w in loaded.warnings]


GOOD = """
callbacks:
  outbound:
    allowed: ["+47[49]XXXXXXX"]
    emergency: ["1412"]
  queues:
    support: {mode: automatic, min_wait: 1m, keep_place_key: "5", retry_interval: 90s, attempts: 2,
              hours: office, during: [open, lunch]}
    sales_east:
      outbound: {allowed: ["+47X."], allow_international: false}
"""


def test_the_example_and_a_full_section_validate(tmp_path):
    loaded = load_site(site_with(tmp_path, GOOD))
    cb = loaded.site.callbacks
    support = cb.queues["support"].rules(loaded.hours)
    assert (support.automatic, support.min_wait, support.retry_interval, support.attempts) == (True, 60, 90, 2)
    assert support.during == {"open", "lunch"} and support.hours is loaded.hours["office"]
    assert cb.queues["support"].keep_place_key == "5" and cb.queues["support"].accept_key == "1"
    policy = cb.outbound_for("support").policy(loaded.site.numbering)
    assert check_outbound("912 34 567", policy).number == "+4791234567"
    assert check_outbound("1412", policy).refused == "emergency"
    assert check_outbound("112", policy).refused == "emergency"
    assert cb.outbound_for("sales_east").allowed == ["+47X."]
    assert cb.outbound_for("sales_west") is cb.outbound


@pytest.mark.parametrize("section, expected", [
    ("callbacks:\n  queues:\n    suport: {}\n",
     "callbacks.queues.suport: unknown queue 'suport' (known: sales_east, sales_west, support)"),
    ("callbacks:\n  outbound: {allowed: ['+47X.']}\n  queues:\n    support: {hours: ofice}\n",
     "callbacks.queues.support.hours: unknown hours 'ofice' (known: office)"),
    ("callbacks:\n  outbound: {allowed: ['+47X.']}\n  queues:\n    support: {hours: office, during: [opne]}\n",
     "callbacks.queues.support.during[0]: hours 'office' has no category 'opne' (it has: closed, lunch, open)"),
    ("callbacks:\n  outbound: {allowed: ['+47X.']}\n  queues:\n    support: {during: [open]}\n",
     "callbacks.queues.support: 'during' needs 'hours'"),
    ("callbacks:\n  queues:\n    support: {}\n",
     "callbacks.queues.support: queue 'support' gets callbacks but no number may be dialled"),
    ("callbacks:\n  outbound: {allowed: ['+47X.']}\n  queues:\n    support: {outbound: {denied: ['+4782X.']}}\n",
     "callbacks.queues.support.outbound.allowed: queue 'support' gets callbacks but no number"),
    ("callbacks:\n  outbound: {allowed: ['+47(9)X']}\n",
     "callbacks.outbound.allowed[0]: '+47(9)X' is not a number pattern"),
    ("callbacks:\n  outbound: {allowed: ['+47X.'], emergency: ['11a']}\n",
     "callbacks.outbound.emergency[0]"),
    ("callbacks:\n  outbound: {allowed: ['+47X.']}\n  queues:\n    support: {retry_interval: 5s}\n",
     "callbacks.queues.support.retry_interval"),
    ("callbacks:\n  outbound: {allowed: ['+47X.']}\n  queues:\n    support: {attempts: 0}\n",
     "callbacks.queues.support.attempts"),
    ("callbacks:\n  outbound: {allowed: ['+47X.']}\n  queues:\n    support: {mode: sometimes}\n",
     "callbacks.queues.support.mode"),
    ("callbacks:\n  outbound: {allowed: ['+47X.']}\n  queues:\n    support: {keep_place_key: '55'}\n",
     "callbacks.queues.support.keep_place_key"),
    ("callbacks:\n  outbound: {allowd: ['+47X.']}\n",
     "callbacks.outbound.allowd"),
])
def test_bad_sections_are_named_with_their_line(tmp_path, section, expected):
    found = problems(tmp_path, section)
    assert any(expected in p for p in found), found
    assert all("example.yaml:" in p for p in found)


def test_ivr_requests_without_a_policy_are_a_warning_not_an_error(tmp_path):
    found = problems(tmp_path, "")
    assert any("ivrs.main.elements.offer_callback.queue: warning: queue 'support' gets callbacks" in p
               and "only listed" in p for p in found), found
