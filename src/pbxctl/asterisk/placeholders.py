"""Keep-my-place placeholders on Asterisk: every few seconds, each entry a placeholder
holds (storage.keep_places.held_places) must have one in Asterisk. A missing one (never
made yet, lost with an Asterisk restart, hung up) is originated at the place recomputed
from the queue as it is now (domain.keep_place.placeholder_position over the join times
of the callers waiting: PBXCTL_JOINED, which [pbxctl-queue-run] sets and a placeholder
carries for its original caller). One that exists is recognised by its channel name,
Local/ENTRY@pbxctl-keep-place-hold-…, so a restarted service never makes a second.

Once a placeholder exists nothing here is needed: the dialplan connects the agent who
answers it with the customer and its hangup handler records the attempt.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Callable

import structlog
from sqlalchemy.engine import Engine

from pbxctl.asterisk import wire
from pbxctl.asterisk.ami_link import AmiLink
from pbxctl.asterisk.callback_codes import callback_variables
from pbxctl.domain.keep_place import placeholder_position
from pbxctl.service.runtime import LinkDown
from pbxctl.site.callbacks_model import DEFAULT_QUEUE
from pbxctl.site.load import LoadedSite
from pbxctl.storage.keep_places import Place, held_places

log = structlog.get_logger("pbxctl.placeholders")

TICK_SECONDS = 2.0
# An originated placeholder shows in CoreShowChannels within milliseconds; until this many
# seconds have passed it is not originated again (nor one that left the queue by itself).
GRACE_S = 10.0
_HOLD_PREFIX = f"@{wire.CONTEXTS.keep_place_hold}-"


def placeholder_entries(channels: list[dict]) -> set[int]:
    """The entries whose placeholder channels are up (CoreShowChannel events)."""
    out = set()
    for event in channels:
        name = event.get("Channel", "")
        if event.get("Event") != "CoreShowChannel" or not name.startswith("Local/") or _HOLD_PREFIX not in name:
            continue
        exten = name[len("Local/"):].split("@", 1)[0]
        if exten.isdigit():
            out.add(int(exten))
    return out


def _joined(value: str | None, wait_s: str | None, now: float) -> float:
    try:
        return float(value or "")
    except ValueError:  # a caller that did not come through [pbxctl-queue-run]: QueueStatus's wait
        return now - float(wait_s or 0)


class PlaceholderKeeper:
    def __init__(self, site: Callable[[], LoadedSite], engine: Engine, link: AmiLink,
                 clock: Callable[[], float] = time.time):
        self._site = site
        self.engine = engine
        self.link = link
        self.clock = clock
        self._made: dict[int, float] = {}  # entry -> monotonic time it was last originated

    async def run(self, interval: float = TICK_SECONDS) -> None:
        while True:
            try:
                await self.tick()
            except LinkDown:
                pass  # Asterisk cannot be told now; the entries wait on the list
            except Exception:  # one bad tick must not stop the placeholders for good
                log.exception("placeholder_tick_failed")
            await asyncio.sleep(interval)

    async def tick(self) -> list[int]:
        """Originates the missing placeholders; the entries it made them for."""
        if not self.link.up:
            return []
        places = await asyncio.to_thread(held_places, self.engine)
        if not places:
            return []
        present = placeholder_entries(await self.link.action({"Action": "CoreShowChannels"}, as_list=True))
        made = []
        for place in places:
            recent = time.monotonic() - self._made.get(place.entry.id, -GRACE_S) < GRACE_S
            if place.entry.id in present or recent:
                continue
            await self._originate(place)
            made.append(place.entry.id)
        return made

    async def waiting_joined(self, queue: str) -> list[float]:
        """When each caller waiting in `queue` now joined it (epoch s)."""
        now = self.clock()
        status = await self.link.action({"Action": "QueueStatus", "Queue": queue}, as_list=True)
        out = []
        for event in status:
            if event.get("Event") != "QueueEntry" or event.get("Queue") != queue:
                continue
            reply = await self.link.action({"Action": "Getvar", "Channel": event.get("Channel", ""),
                                            "Variable": wire.KEEP_JOINED})
            value = reply.get("Value") if reply.get("Response") == "Success" else None
            out.append(_joined(value, event.get("Wait"), now))
        return out

    async def _originate(self, place: Place) -> None:
        loaded = self._site()
        entry = place.entry
        position = placeholder_position(place.joined, await self.waiting_joined(place.queue))
        key = loaded.site.callbacks.queues.get(entry.queue, DEFAULT_QUEUE).accept_key
        call = f"pbxctl-keep-{entry.id}-{uuid.uuid4().hex[:12]}"  # the ;1 half, which dials the customer
        variables = {
            **callback_variables(loaded, entry, call, accept_key=key),
            wire.KEEP_QUEUE: place.queue,
            wire.KEEP_REJOIN_AT: str(position),
            wire.KEEP_JOINED: f"{place.joined:.3f}",
        }
        self._made[entry.id] = time.monotonic()
        log.info("placeholder_originated", entry=entry.id, queue=place.queue, number=entry.number, position=position,
                 position_when_left=place.position)
        reply = await self.link.action({
            "Action": "Originate",
            "Channel": f"Local/{entry.id}@{wire.CONTEXTS.keep_place_hold}/n",
            "ChannelId": call,
            "Context": wire.CONTEXTS.keep_place_wait,
            "Exten": "s",
            "Priority": "1",
            "Timeout": "10000",
            # No number: the books must not take the placeholder's answered stint for the
            # customer calling in again (that would close the entry).
            "CallerID": f'"Callback {variables[wire.CALLBACK_DIGITS]}" <>',
            "Variable": [f"{name}={value}" for name, value in variables.items()],
            "Async": "true",
        })
        if reply.get("Response") != "Success":
            log.warning("placeholder_not_originated", entry=entry.id, reply=reply.get("Message"))
