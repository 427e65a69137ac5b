"""The agents' callback code (`*47` by default), served as the AGI script `callback` that
[pbxctl-callback-code] and its hangup handler [pbxctl-callback-done] call.

`take`: the next open callback of the calling agent's queues becomes the agent's; the
answer is PBXCTL_RESULT (ok, none, not_an_agent, refused, failed) and, for ok, the entry,
the number to dial, the digits to say, the outbound context and the ring time. `result ID
DIALSTATUS ANSWEREDTIME KEY ACCEPTED` (also from automatic callbacks, which ask the
customer for KEY): how the dialling ended, recorded as the entry's attempt (or, when the
customer was never dialled, the entry given back). No answer at all (service
down) plays the failure prompt: nothing was taken.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import structlog
from sqlalchemy.engine import Engine

from pbxctl.asterisk import wire
from pbxctl.asterisk.member_actions import agent_by_caller
from pbxctl.domain.callbacks import CallbackEntry, CallbackError, dial_outcome
from pbxctl.service import callback_desk as desk
from pbxctl.site.callbacks_model import DEFAULT_QUEUE
from pbxctl.site.load import LoadedSite

log = structlog.get_logger("pbxctl.callback_codes")


def _seconds(text: str) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


def callback_variables(loaded: LoadedSite, entry: CallbackEntry, accept_key: str = "") -> dict[str, str]:
    """What [pbxctl-callback-code] / [pbxctl-callback-auto] need to call the customer."""
    out = {
        wire.CALLBACK_ID: str(entry.id),
        wire.CALLBACK_DIAL: entry.number,
        wire.CALLBACK_DIGITS: desk.spoken_digits(loaded, entry.number),
        wire.CALLBACK_CONTEXT: desk.outbound_context(loaded, entry.queue),
        wire.CALLBACK_RING: str(desk.ring_time(loaded, entry.queue)),
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
            entry = await asyncio.to_thread(desk.take_entry, loaded, engine, None, agent)
        except CallbackError as exc:
            result = "none" if isinstance(exc, desk.NothingToTake) else "refused"
            log.info("callback_code_refused", call_id=call_id, agent=agent, why=str(exc), result=result)
            await wire.set_variable(request, wire.RESULT, result)
            return
        log.info("callback_taken", call_id=call_id, agent=agent, entry=entry.id, queue=entry.queue, number=entry.number)
        for name, value in callback_variables(loaded, entry).items():
            await wire.set_variable(request, name, value)
        await wire.set_variable(request, wire.RESULT, "ok")

    async def result(request, headers: dict, call_id: str) -> None:
        entry_text, status, answered, key, accepted = (headers.get(f"agi_arg_{i}", "") for i in (2, 3, 4, 5, 6))
        if not entry_text.isdigit():
            log.warning("callback_result_without_entry", call_id=call_id, entry=entry_text)
            return
        # An automatic callback asked the customer for the accept key; `*47` asks nothing.
        outcome = dial_outcome(status, _seconds(answered), accepted == "1" if key else None)
        loaded = site()
        agent = agent_by_caller(loaded.site, headers.get("agi_callerid", ""), headers.get("agi_channel", ""))
        try:
            if outcome is None:
                await asyncio.to_thread(desk.release_entry, engine, int(entry_text))
            else:
                await asyncio.to_thread(desk.attempt_entry, loaded, engine, int(entry_text), outcome, agent, call_id)
        except CallbackError as exc:
            log.warning("callback_result_not_recorded", call_id=call_id, entry=entry_text, why=str(exc))
            return
        log.info("callback_attempt", call_id=call_id, entry=int(entry_text), agent=agent, dial_status=status or None,
                 result=outcome or "given_back")

    async def handle(request, headers: dict, call_id: str) -> None:
        action = headers.get("agi_arg_1", "")
        if action == "take":
            await take(request, headers, call_id)
        elif action == "result":
            await result(request, headers, call_id)
        else:
            log.warning("unknown_callback_code_action", call_id=call_id, action=action)
            await wire.set_variable(request, wire.RESULT, "failed")

    return handle
