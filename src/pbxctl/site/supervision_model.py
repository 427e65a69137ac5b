"""Supervisors, barge-in, help requests and the codes agents press during a call.

Imported by model.py after Model, the value types and the secret types it builds on.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from pbxctl.site.model import AgentDevices, FeatureCode, Model, Secret
from pbxctl.site.values import Extension, Ident, Text

BargeMode = Literal["listen", "whisper", "both"]
BARGE_MODES: tuple[str, ...] = ("listen", "whisper", "both")

# DTMF pressed during a bridged call: Asterisk matches them digit by digit, so '*' and '#'
# lead most codes (a bare digit would be eaten from the agent's conversation).
InCallCode = Annotated[str, Field(pattern=r"^[*#][0-9*#]{1,5}$")]
Key = Annotated[str, Field(pattern=r"^[0-9]$")]


class Supervisor(Model):
    name: Text
    extension: Extension
    # Dialled for `pbxctl barge --from`; default: the site's device template.
    device: AgentDevices = AgentDevices()
    # Asked after a barge code from the desk phone (digits; keep it in {env: ...} or {file: ...}).
    pin: Secret | None = None


class PerMode(Model):
    """One setting per barge mode (listen, whisper, both)."""

    def for_mode(self, mode: str) -> str:
        """The setting of `mode`; KeyError for a mode that is none of the three."""
        return {"listen": self.listen, "whisper": self.whisper, "both": self.both}[mode]  # type: ignore[attr-defined]


class BargeCodes(PerMode):
    """Dialled by a supervisor followed by the agent's extension: *222 1001."""

    listen: FeatureCode = "*222"
    whisper: FeatureCode = "*223"
    both: FeatureCode = "*224"


class SwitchKeys(Model):
    """Pressed by the supervisor during a barge session to change mode."""

    listen: Key = "4"
    whisper: Key = "5"
    both: Key = "6"

    @model_validator(mode="after")
    def _distinct(self) -> "SwitchKeys":
        keys = [self.listen, self.whisper, self.both]
        if len(set(keys)) != 3:
            raise ValueError(f"the three keys must differ (got {', '.join(keys)})")
        return self


# "tone": one short beep (an MF tone, 700+900 Hz, 300 ms) in the agent's ear; "double": two.
# Asterisk can play a tone to one leg of a bridged call (AMI PlayMF) but not a sound file
# without ARI, so recorded prompts are not offered.
Notice = Literal["none", "tone", "double"]


class AgentNotice(PerMode):
    """What the agent hears (the caller never does) when a supervisor joins in or switches
    to each mode."""

    listen: Notice = "none"
    whisper: Notice = "tone"
    both: Notice = "tone"


class HelpRequest(Model):
    # Supervisors rung straight into whisper mode when an agent asks for help (first to answer).
    ring: list[Ident] = []
    ring_time: Annotated[int, Field(ge=5, le=300)] = 30


class Supervision(Model):
    codes: BargeCodes = BargeCodes()
    keys: SwitchKeys = SwitchKeys()
    notify_agent: AgentNotice = AgentNotice()
    # How long `pbxctl barge` rings the supervisor's phone.
    ring_time: Annotated[int, Field(ge=5, le=300)] = 30
    help: HelpRequest = HelpRequest()


class InCallCodes(Model):
    """DTMF an agent presses during a queue call (features applied to the agent's leg only)."""

    help: InCallCode = "*9"
    blind_transfer: InCallCode = "##"
    attended_transfer: InCallCode = "*2"
    # During an attended transfer: make it a three-way call instead of handing over.
    three_way: InCallCode = "*3"
    # Then the target; if the target does not answer in return_after s the caller comes back.
    transfer_with_return: InCallCode = "*4"


class Transfers(Model):
    return_after: Annotated[int, Field(ge=5, le=300)] = 20
    # How long the returning call rings the agent before the caller goes back to the queue.
    ring_back: Annotated[int, Field(ge=5, le=300)] = 20


class Conference(Model):
    """Three-way calls set up from a desk phone's second line: flash, *71 + number."""

    code: FeatureCode = "*71"
    ring_time: Annotated[int, Field(ge=5, le=300)] = 30
    # True: when the caller leaves, the agent and the third party are hung up too.
    ends_with_caller: bool = False


class DeskPhone(Model):
    in_call: InCallCodes = InCallCodes()
    transfers: Transfers = Transfers()
    conference: Conference = Conference()


__all__ = [
    "BARGE_MODES",
    "AgentNotice",
    "BargeMode",
    "DeskPhone",
    "Supervision",
    "Supervisor",
]
