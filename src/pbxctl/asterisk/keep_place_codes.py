"""The AGI script `keep_place`, called by [pbxctl-keep-place] when a waiting caller pressed
the queue's keep-place key and typed 1 (their own number) or another number, and by its
hangup handler [pbxctl-keep-place-gone] when the caller hung up before that was settled.

`record QUEUE INPUT POSITION JOINED CALLER`: the number checked by the outbound policy;
allowed, the caller goes on the callback list held by a placeholder (PBXCTL_RESULT ok);
refused, PBXCTL_RESULT refused (the caller is asked again). `hung_up QUEUE - POSITION
JOINED CALLER`: the caller's own number, when the policy allows it, goes on the list as an
ordinary request (open; nothing holds a place for it). No answer at all (the service down,
frozen, failing): the dialplan puts the caller back into the queue at QUEUEPOSITION.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import structlog
from sqlalchemy.engine import Engine

from pbxctl.asterisk import wire
from pbxctl.books.site_view import node_name
from pbxctl.domain.callbacks import CallbackError
from pbxctl.domain.keep_place import chosen_number
from pbxctl.domain.outbound_numbers import OutboundDecision, check_outbound
from pbxctl.service import callback_desk as desk
from pbxctl.site.load import LoadedSite
from pbxctl.storage.keep_places import record_keep_place, record_left_unconfirmed

log = structlog.get_logger("pbxctl.keep_place")


def _number(text: str, default: float) -> float:
    try:
        return float(text)
    except ValueError:
        return default


def number_check(loaded: LoadedSite, queue: str, number: str) -> OutboundDecision:
    outbound = loaded.site.callbacks.outbound_for(queue)
    return check_outbound(number, outbound.policy(loaded.site.numbering))


def keep_place_handler(site: Callable[[], LoadedSite], engine: Engine):
    async def handle(request, headers: dict, call_id: str) -> None:
        action, queue, typed, position_text, joined_text, caller = (headers.get(f"agi_arg_{i}", "") for i in range(1, 7))
        loaded = site()
        settings = loaded.site.callbacks.queues.get(queue)
        if settings is None or settings.keep_place_key is None or action not in ("record", "hung_up"):
            log.warning("keep_place_refused", call_id=call_id, queue=queue, action=action, why="no keep_place_key there")
            await wire.set_variable(request, wire.RESULT, "failed")
            return
        now = desk.now_utc()
        joined = _number(joined_text, now.timestamp())
        position = max(1, int(_number(position_text, 1)))
        number = caller if action == "hung_up" else chosen_number(typed, caller)
        verdict = number_check(loaded, queue, number)
        if not verdict.allowed:
            log.info("keep_place_number_refused", call_id=call_id, queue=queue, action=action, typed=typed,
                     refused=verdict.refused, why=verdict.why)
            if action == "record":
                await wire.set_variable(request, wire.RESULT, "refused")
            return
        node = node_name(loaded.site)
        try:
            if action == "record":
                entry = await asyncio.to_thread(record_keep_place, engine, node, queue, verdict.number, joined,
                                                position, call_id, now)
            else:
                entry = await asyncio.to_thread(record_left_unconfirmed, engine, node, queue, verdict.number, joined,
                                                call_id, now)
        except CallbackError as exc:
            log.warning("keep_place_not_recorded", call_id=call_id, queue=queue, why=str(exc))
            if action == "record":
                await wire.set_variable(request, wire.RESULT, "failed")
            return
        log.info("keep_place_recorded" if action == "record" else "keep_place_hung_up_listed", call_id=call_id,
                 queue=queue, number=verdict.number, entry=entry.id, position=position, status=entry.status.value)
        if action == "record":
            await wire.set_variable(request, wire.RESULT, "ok")

    return handle
