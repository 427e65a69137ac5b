"""Queue calls for the inbound double: a mod_callcenter call whose events are a recorded
call's, in the recorded order, with this call's queue, agents, caller and fresh uuids.

`QueueCall.recorded(kind)` takes the events of one recorded call (answered, abandoned,
timed out, no agent, agent not answering) from the first CHANNEL_CREATE to the caller's
`member-queue-end`; `events()` gives them with the new values. Feed them to an
`Inbound` engine's `emit()` and a subscribed client sees what FreeSWITCH would send.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from dataclasses import dataclass

from pbxctl.freeswitch.esl_protocol import Event, FrameReader, event_of

from .transcript import FIXTURES

RECORDINGS = {
    "answered": ("freeswitch-1.10.12-cc-answered-ringall.bin", "q_ringall@esltest"),
    "abandoned": ("freeswitch-1.10.12-cc-abandon.bin", "q_ringall@esltest"),
    "timed_out": ("freeswitch-1.10.12-cc-timeout.bin", "q_timeout@esltest"),
    "no_agent": ("freeswitch-1.10.12-cc-no-agent-timeout.bin", "q_noagent@esltest"),
    "agent_no_answer": ("freeswitch-1.10.12-cc-agent-noanswer.bin", "q_lia@esltest"),
}
RECORDED_CALLER = "5550101"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def recorded_events(kind: str) -> list[Event]:
    name, _ = RECORDINGS[kind]
    frames = FrameReader().feed((FIXTURES / name).read_bytes())
    events = [event_of(f) for f in frames if f.content_type.startswith("text/event-")]
    start = next(i for i, e in enumerate(events) if e.name == "CHANNEL_CREATE")
    end = next(i for i, e in enumerate(events) if e.get("CC-Action") == "member-queue-end")
    # the agent-state-change back to Waiting right after the end belongs to the call too
    while end + 1 < len(events) and events[end + 1].get("CC-Action") == "agent-state-change":
        end += 1
    return events[start : end + 1]


@dataclass
class QueueCall:
    kind: str
    queue: str  # NAME@DOMAIN as mod_callcenter names it
    caller: str
    agents: dict[str, str]  # recorded agent name -> this call's

    def events(self) -> list[Event]:
        _, recorded_queue = RECORDINGS[self.kind]
        fresh: dict[str, str] = {}

        def value(text: str) -> str:
            text = UUID.sub(lambda m: fresh.setdefault(m.group(0), str(uuidlib.uuid4())), text)
            text = text.replace(recorded_queue, self.queue)
            for old, new in self.agents.items():
                text = text.replace(old, new)
            return self.caller if text == RECORDED_CALLER else text

        return [Event([(k, value(v)) for k, v in e.headers], e.body) for e in recorded_events(self.kind)]


def actions(events: list[Event]) -> list[str]:
    """The mod_callcenter story of a call: CC-Action of each callcenter::info event."""
    return [e["CC-Action"] for e in events if e.subclass == "callcenter::info"]
