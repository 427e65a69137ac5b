"""The agents' callback code (`*47` by default), served as the AGI script `callback` that
[pbxctl-callback-code] calls.

`take`: the next open callback of the calling agent's queues becomes the agent's, held by
this call (its uniqueid); the answer is PBXCTL_RESULT (ok, none, not_an_agent, refused,
failed) and, for ok, the entry, the number to dial, the digits to say, the outbound
context, the ring time, and what the result's queue_log line names (queue, the customer's
call, the agent). No answer at all (service down) plays the failure prompt: nothing was
taken. How the dialling ended is not asked of the service: the hangup handler
[pbxctl-callback-done] writes it (asterisk/callback_results.py, books/callback_line.py).
"""

from __future__ import annotations

import asyncio
from typing import Callable

import structlog
from sqlalchemy.engine import Engine

from pbxctl.asterisk import wire
from pbxctl.asterisk.member_actions import agent_by_caller
from pbxctl.domain.callbacks import CallbackEntry, CallbackError
from pbxctl.service import callback_desk as desk
from pbxctl.site.callbacks_model import DEFAULT_QUEUE
from pbxctl.site.load import LoadedSite

log = structlog.get_logger("pbxctl.callback_codes")


def callback_variables(loaded: LoadedSite, entry: CallbackEntry, call: str, accept_key: str = "") -> dict[str, str]:
    """What [pbxctl-callback-code] / [pbxctl-callback-auto] need to call the customer and
    to record how it went; `call`: the uniqueid of the callback call (the result names the
    customer's first call on the entry, else this one)."""
    out = {
        wire.CALLBACK_ID: str(entry.id),
        wire.CALLBACK_DIAL: entry.number,
        wire.CALLBACK_DIGITS: desk.spoken_digits(loaded, entry.number),
        wire.CALLBACK_CONTEXT: desk.outbound_context(loaded, entry.queue),
        wire.CALLBACK_RING: str(desk.ring_time(loaded, entry.queue)),
        wire.CALLBACK_QUEUE: entry.queue,
        wire.CALLBACK_CALLID: entry.call_ids[0] if entry.call_ids else call,
        wire.CALLBACK_AGENT: entry.agent or "NONE",
    }
    if accept_key:
        prompt = loaded.site.callbacks.queues.get(entry.queue, DEFAULT_QUEUE).accept_prompt
        out[wire.CALLBACK_KEY] = accept_key
        spoken = {"*": "star", "#": "pound"}.get(accept_key, accept_key)
        out[wire.CALLBACK_PROMPT] = prompt or f"vm-press&digits/{spoken}"
    return out


def callback_code_handler(site: Callable[[], LoadedSite], engine: Engine):
    async def take(request, headers: dict, call_id: str) -> None:
        loaded = site()
        caller, channel = headers.get("agi_callerid", ""), headers.get("agi_channel", "")
        agent = agent_by_caller(loaded.site, caller, channel)
        if agent is None:
            log.info("callback_code_from_no_agent", call_id=call_id, caller=caller, channel=channel)
            await wire.set_variable(request, wire.RESULT, "not_an_agent")
            return
        try:
            entry = await asyncio.to_thread(desk.take_entry, loaded, engine, None, agent, call=call_id)
        except CallbackError as exc:
            result = "none" if isinstance(exc, desk.NothingToTake) else "refused"
            log.info("callback_code_refused", call_id=call_id, agent=agent, why=str(exc), result=result)
            await wire.set_variable(request, wire.RESULT, result)
            return
        log.info("callback_taken", call_id=call_id, agent=agent, entry=entry.id, queue=entry.queue, number=entry.number)
        for name, value in callback_variables(loaded, entry, call_id).items():
            await wire.set_variable(request, name, value)
        await wire.set_variable(request, wire.RESULT, "ok")

    async def handle(request, headers: dict, call_id: str) -> None:
        action = headers.get("agi_arg_1", "")
        if action == "take":
            await take(request, headers, call_id)
        else:
            log.warning("unknown_callback_code_action", call_id=call_id, action=action)
            await wire.set_variable(request, wire.RESULT, "failed")

    return handle
