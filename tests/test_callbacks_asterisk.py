"""The callback list from what the sandbox Asterisk really logs (issue 13, item 1).

tests/sites/queues.yaml, with callbacks for q_wrapup (min_wait 2 s), is applied to the
sandbox. Callers abandon and call again; the sandbox's own queue_log lines of those calls
are read into a fresh database by `pbxctl books import`, and `pbxctl callbacks list` must
show what the callers did: one entry per number, counted up, closed once the number calls
in again and is answered. After each test no channel of ours is left (CoreShowChannels).

Run with the sandbox lock held: flock /tmp/pbxctl-sandbox.use .venv/bin/pytest -q THIS_FILE
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from helpers.controller_harness import PBXCTL
from helpers.queue_calls import DB_FAMILY, Lab, TimedRecorder, install_test_dialplan
from helpers.sandbox import applied_test_site
from helpers.site_files import point_at_sandbox

pytestmark = pytest.mark.asterisk

SITE = Path(__file__).parent / "sites" / "queues.yaml"
CALLBACKS = """
callbacks:
  outbound:
    allowed: ["+4755XXXXXXX"]
  queues:
    q_wrapup: {min_wait: 2}
"""


@pytest.fixture(scope="module")
def callback_site(sandbox, tmp_path_factory):
    directory = tmp_path_factory.mktemp("callback_site")
    site_file = directory / "queues.yaml"
    db = directory / "callbacks.db"
    site_file.write_text(point_at_sandbox(SITE.read_text(), sandbox) + CALLBACKS
                         + f"\nstorage: {{url: 'sqlite:///{db}', node: sandbox}}\n")
    with applied_test_site(sandbox, site_file, install_test_dialplan, DB_FAMILY) as loaded:
        yield site_file, loaded.site


def uniqueid_of(lab: Lab, call) -> str:
    return next(e["Uniqueid"] for e in lab.rec.events if e.get("Channel") == call.channel and e.get("Uniqueid"))


def book(sandbox, site_file: Path, ids: set[str], tmp_path: Path) -> None:
    """The sandbox's queue_log lines of these calls into the site's books."""
    queue_log = sandbox["root"] / "var/log/asterisk/queue_log"
    lines = [line for line in queue_log.read_bytes().splitlines(keepends=True)
             if len(line.split(b"|")) > 2 and line.split(b"|")[1].decode() in ids]
    recorded = tmp_path / f"queue_log.{len(ids)}"
    recorded.write_bytes(b"".join(lines))
    done = subprocess.run([str(PBXCTL), "books", "import", str(recorded), "--site", str(site_file)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "0 rejected" in done.stdout, done.stderr + done.stdout


def callbacks(site_file: Path, *args: str) -> list[dict]:
    done = subprocess.run([str(PBXCTL), "callbacks", "list", "--format", "json", "-s", str(site_file), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["callbacks"]


async def abandon(lab: Lab, number: str, wait: float):
    call = await lab.call("q_wrapup", number=number)
    await lab.joined(call)
    await asyncio.sleep(wait)
    await lab.hang_up(call)
    return call


def test_abandoned_calls_make_one_entry_per_number_and_an_answered_call_closes_it(callback_site, ami_secret, sandbox, tmp_path):
    site_file, site = callback_site

    async def scenario():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            await lab.reset("q_wrapup")
            try:
                first = await abandon(lab, "551230001", 2.5)
                again = await abandon(lab, "551230001", 2.5)
                short = await abandon(lab, "551230002", 0.2)
                assert await lab.settle() == []
                return [uniqueid_of(lab, c) for c in (first, again, short)]
            finally:
                await lab.hang_up_leftovers()

    async def calls_in_and_is_answered():
        async with TimedRecorder(ami_secret) as rec:
            lab = Lab(rec, site)
            await lab.rings()
            await lab.answers("a1", talk=1)
            try:
                call = await lab.call("q_wrapup", number="551230001")
                assert await lab.answered_by(call) == "a1"
                assert await lab.settle() == []
                return uniqueid_of(lab, call)
            finally:
                await lab.hang_up_leftovers()
                await lab.rings()

    ids = asyncio.run(scenario())
    book(sandbox, site_file, set(ids), tmp_path)
    (entry,) = callbacks(site_file)
    assert (entry["queue"], entry["number"], entry["times_called"], entry["status"]) == ("q_wrapup", "+4755123000" + "1", 2, "open")
    assert entry["call_ids"] == ids[:2] and entry["source"] == "abandoned"

    answered = asyncio.run(calls_in_and_is_answered())
    book(sandbox, site_file, {*ids, answered}, tmp_path)
    assert callbacks(site_file) == []
    (closed,) = callbacks(site_file, "--status", "closed")
    assert closed["closed_by"] == "pbxctl" and answered in closed["close_reason"]
    assert closed["call_ids"] == [*ids[:2], answered]
