"""The AMI link after Asterisk goes away twice within a minute (issue 15, item 6): the
second reconnect must not wait the backoff the first outage built up.

Asterisk "restarts" through the AMI proxy of the controller tests: every connection cut,
then refused for a few seconds (Asterisk starting), then accepted again; later cut once
more. `pbxctl serve asterisk` runs as the operator runs it.
"""

from __future__ import annotations

import time

import pytest

from helpers.controller_harness import AmiProxy, Service, controller_site

pytestmark = pytest.mark.asterisk


def test_a_second_restart_within_a_minute_reconnects_at_once(example_site, tmp_path):
    proxy = AmiProxy().start()
    svc = Service(controller_site(example_site, tmp_path, proxy.port))
    try:
        svc.start()
        # First restart: refused for 6 s, so the backoff grows (1, 2, 4 s).
        proxy.refuse()
        proxy.cut()
        time.sleep(6)
        proxy.restore()
        svc.wait(lambda doc: doc["ami"]["up"], 20, "the AMI link up after the first restart")
        time.sleep(2)
        # Second restart, seconds later: back within the first step of the backoff (1 s
        # +-20 %, plus login and resync), not after the 8 s the first outage had reached.
        cut_at = time.monotonic()
        proxy.cut()
        svc.wait(lambda doc: not doc["ami"]["up"], 5, "the AMI link seen down")
        svc.wait(lambda doc: doc["ami"]["up"], 20, "the AMI link up after the second restart")
        assert time.monotonic() - cut_at < 3.5, svc.tail()
    finally:
        svc.stop()
        proxy.stop()
