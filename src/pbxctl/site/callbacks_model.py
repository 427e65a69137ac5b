"""The `callbacks:` section of a site file: which queue calls land on the callback list,
how callbacks are dialled, and which numbers may be dialled at all.

    callbacks:
      outbound:                     # who pays: only these numbers are ever dialled
        context: from-internal      # default pbx.asterisk.outbound_context
        allowed: ["+47[49]XXXXXXX", "+47[2-7]XXXXXXX"]   # E.164 patterns (X, Z, N, [..], ., !)
        denied: ["+4782XXXXXX"]     # premium rate; wins over allowed
        allow_international: false  # numbers outside numbering.country_code
        emergency: ["1412"]         # more emergency numbers (the well-known ones always apply)
      queues:
        support:
          mode: manual              # manual (agents take entries) | automatic (pbxctl rings a free agent first)
          min_wait: 10              # an abandoned call counts after this wait (seconds, or 1m)
          exclude_anonymous: true   # abandoned calls without a number stay off the list
          keep_place_key: "5"       # the key a waiting caller presses to be called back in turn
          keep_place_offer: custom/press-5-to-keep-your-place   # played as the queue's periodic announcement
          keep_place_prompt: custom/press-1-or-type-a-number    # default: vm-press 1, vm-enter-num-to-call, vm-then-pound
          accept_key: "1"           # the customer presses it to take an automatic callback
          accept_prompt: custom/press-1-for-your-callback   # default: vm-press + the key
          ring_time: 30             # seconds the customer's phone rings
          retry_interval: 10m
          attempts: 3
          hours: office             # automatic callbacks only while it says one of `during`
          during: [open]
          outbound: {...}           # this queue's own policy instead of the one above

IVR `callback` requests are listed for every queue; abandoned calls only for the queues
named here. Cross-checks (known queues and hours, a policy that allows something) are in
pbxctl.site.callbacks_checks.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from pbxctl.domain.callbacks import QueueRules
from pbxctl.domain.opening_hours import OpeningHours
from pbxctl.domain.outbound_numbers import EMERGENCY_NUMBERS, OutboundPolicy, compile_pattern
from pbxctl.domain.phone_numbers import NumberingPlan
from pbxctl.site.alerts_model import Duration
from pbxctl.site.model import DigitKey, Model, Numbering
from pbxctl.site.values import ContextName, Ident, Prompt


def _check_pattern(text: str) -> str:
    compile_pattern(text)
    return text


NumberPattern = Annotated[str, Field(max_length=40), AfterValidator(_check_pattern)]
ShortNumber = Annotated[str, Field(pattern=r"^[0-9]{2,8}$")]


class OutboundSettings(Model):
    context: ContextName | None = None
    allowed: list[NumberPattern] = []
    denied: list[NumberPattern] = []
    allow_international: bool = False
    emergency: list[ShortNumber] = []

    def policy(self, numbering: Numbering) -> OutboundPolicy:
        plan = NumberingPlan(numbering.country_code, numbering.international_prefix, numbering.national_prefix)
        return OutboundPolicy(plan, tuple(self.allowed), tuple(self.denied), self.allow_international,
                              EMERGENCY_NUMBERS | frozenset(self.emergency))


class QueueCallbacks(Model):
    mode: Literal["manual", "automatic"] = "manual"
    min_wait: Duration = 0
    exclude_anonymous: bool = True
    keep_place_key: DigitKey | None = None
    keep_place_offer: Prompt | None = None  # the offer, in the queue's periodic announcement
    keep_place_prompt: Prompt | None = None  # asks: 1 for the own number, or another and #
    accept_key: DigitKey = "1"
    accept_prompt: Prompt | None = None  # default: "press" and the key
    ring_time: Annotated[int, Field(ge=5, le=120)] = 30  # seconds the customer's phone rings
    retry_interval: Annotated[Duration, Field(ge=30)] = 600
    attempts: Annotated[int, Field(ge=1, le=20)] = 3
    hours: Ident | None = None
    during: list[Ident] = []
    outbound: OutboundSettings | None = None

    @model_validator(mode="after")
    def _hours(self) -> "QueueCallbacks":
        if self.during and self.hours is None:
            raise ValueError("'during' needs 'hours' (the hours set its categories come from)")
        if (self.keep_place_offer or self.keep_place_prompt) and self.keep_place_key is None:
            raise ValueError("'keep_place_offer' and 'keep_place_prompt' need 'keep_place_key' (the key the offer names)")
        return self

    def rules(self, hours: dict[str, OpeningHours]) -> QueueRules:
        """The domain's rules; `hours` are the site's compiled hours (LoadedSite.hours)."""
        return QueueRules(
            min_wait=self.min_wait, exclude_anonymous=self.exclude_anonymous, automatic=self.mode == "automatic",
            retry_interval=self.retry_interval, attempts=self.attempts,
            hours=hours.get(self.hours) if self.hours else None, during=frozenset(self.during or ["open"]),
        )


class Callbacks(Model):
    outbound: OutboundSettings = OutboundSettings()
    queues: dict[Ident, QueueCallbacks] = {}

    def outbound_for(self, queue: str) -> OutboundSettings:
        own = self.queues.get(queue)
        return own.outbound if own is not None and own.outbound is not None else self.outbound


# The rules of a queue the section does not name (IVR requests still make entries there).
DEFAULT_QUEUE = QueueCallbacks()
