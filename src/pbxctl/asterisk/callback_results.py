"""Callback results told live: the hangup handler [pbxctl-callback-done] sends a
UserEvent (PbxctlCallbackResult) with the same text it writes into queue_log
(books/callback_line.py), and the service records it at once. Nothing on the call waits
for this: when the service is down or slow the event is simply missed, and the result is
recorded from queue_log instead (storage/callback_feed.py) — the same attempt either way.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

import structlog
from sqlalchemy.engine import Engine

from pbxctl.asterisk import wire
from pbxctl.books.callback_line import parse_result
from pbxctl.domain.callbacks import CallbackResult
from pbxctl.service import callback_desk as desk
from pbxctl.site.load import LoadedSite

log = structlog.get_logger("pbxctl.callback_results")


def result_of_event(message, now: float) -> CallbackResult | None:
    """The result a PbxctlCallbackResult UserEvent tells; None for any other event."""
    if message.get("Event") != "UserEvent" or message.get("UserEvent") != wire.EVENTS.callback_result:
        return None
    return parse_result(message.get("Data", ""), int(now), message.get("Agent") or None, message.get("CallId") or None)


class CallbackResults:
    """Fed every AMI event by the link (beside the controller)."""

    def __init__(self, site: Callable[[], LoadedSite], engine: Engine, clock: Callable[[], float] = time.time):
        self._site = site
        self.engine = engine
        self.clock = clock
        self._recording: set[asyncio.Task] = set()

    def on_event(self, message) -> None:
        result = result_of_event(message, self.clock())
        if result is None:
            return
        task = asyncio.get_running_loop().create_task(self.record(result))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def record(self, result: CallbackResult) -> None:
        try:
            done = await asyncio.to_thread(desk.record_result, self._site(), self.engine, result)
        except Exception:  # the database may be locked or gone: queue_log has the result too
            log.exception("callback_result_not_recorded", entry=result.entry_id, call_id=result.call_id)
            return
        if done is None:
            log.warning("callback_result_for_unknown_entry", entry=result.entry_id, call_id=result.call_id)
            return
        before, after = done
        log.info("callback_attempt", entry=result.entry_id, call_id=result.call_id, agent=result.agent,
                 dial_status=result.dial_status or None, result=result.outcome or "given_back",
                 status=after.status.value, new=before != after)
