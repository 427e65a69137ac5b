"""SLA rules per queue: when a queue has been in trouble long enough to wake someone.

Pure: no I/O and no clock reads. The controller feeds `QueueSample`s (time-stamped by
the controller) to a `SlaWatch`, which answers with the `AlertEvent`s to deliver.

Conditions (one per rule, on one queue):

- `longest_wait_over`: the longest-waiting caller has waited more than `threshold` s;
- `waiting_over`: more than `threshold` callers are waiting;
- `logged_in_under`: fewer than `threshold` members are logged in;
- `none_logged_in`: no member is logged in (no threshold).

Semantics of `SlaWatch.observe`:

- Samples are points. The condition is taken to hold from the first breaking sample
  (the episode's `since`) through every later breaking sample, as long as no sample in
  between clears it and no two consecutive samples are more than `max_gap` apart.
- A gap longer than `max_gap` means we do not know what happened in between: a pending
  (not yet fired) episode restarts at the sample after the gap. An alert that has already
  fired stays active across a gap; it recovers only when a sample shows it cleared (we
  neither re-fire nor send a recovery for something we did not see).
- A rule counts only inside its active period (`active(at)`, evaluated at each sample's
  time; None means always). A sample outside it ends the episode: the hold timer resets,
  and an alert that fired recovers ("outside the rule's hours").
- The alert fires at the first breaking sample at which the condition has held for
  `hold` seconds (`hold` 0: at the first breaking sample). It fires once per episode:
  no reminders while the same episode goes on.
- A recovery is emitted when the episode of a fired alert ends (a clearing sample, or a
  sample outside the active period). An episode that never fired ends silently.
- Cool-down: after a fire at F the rule does not fire again before F + `cooldown`, even
  if it recovers and breaks again in between. An episode that has held for `hold` during
  the cool-down is not forgotten: if it is still breaking at the first sample at or after
  F + `cooldown`, it fires then (with its original `since`), because a problem that is
  still there must not stay silent just because it started too soon after the last one.
  If it clears before the cool-down ends, nothing is sent for it (neither alert nor
  recovery).
- Samples older than or as old as the last one seen for a rule are ignored (a late
  sample must not rewind the timers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal, get_args

from pbxctl.domain.opening_hours import OpeningHours

Kind = Literal["longest_wait_over", "waiting_over", "logged_in_under", "none_logged_in"]
KINDS: tuple[str, ...] = get_args(Kind)
EventKind = Literal["alert", "recovery"]

# Longer than this between two samples and a pending episode starts over (see above).
DEFAULT_MAX_GAP = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class QueueSample:
    """What the controller saw of one queue at one moment."""

    queue: str
    at: dt.datetime
    longest_wait: int  # seconds the longest-waiting caller has waited (0: nobody waits)
    waiting: int
    logged_in: int

    def __post_init__(self) -> None:
        # Naive times would make durations depend on the host's zone and DST.
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"sample time {self.at} must be timezone-aware")


@dataclass(frozen=True)
class SlaRule:
    name: str
    queue: str
    kind: Kind
    threshold: int | None
    hold: int = 0  # seconds the condition must hold before the alert fires
    cooldown: int = 0  # seconds after a fire before this rule may fire again
    # Whether the rule counts at a moment; None: always. See `active_during`.
    active: Callable[[dt.datetime], bool] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown SLA rule kind {self.kind!r} (one of {', '.join(KINDS)})")
        if (self.kind == "none_logged_in") != (self.threshold is None):
            raise ValueError(f"rule {self.name!r}: {self.kind} {'takes no' if self.threshold is not None else 'needs a'} threshold")
        if self.threshold is not None and self.threshold < (1 if self.kind == "logged_in_under" else 0):
            raise ValueError(f"rule {self.name!r}: threshold {self.threshold} can never be broken")
        if self.hold < 0 or self.cooldown < 0:
            raise ValueError(f"rule {self.name!r}: hold and cooldown must be 0 or more seconds")

    def value_of(self, sample: QueueSample) -> int:
        if self.kind == "longest_wait_over":
            return sample.longest_wait
        if self.kind == "waiting_over":
            return sample.waiting
        return sample.logged_in

    def breaks(self, sample: QueueSample) -> bool:
        value = self.value_of(sample)
        if self.threshold is None:  # none_logged_in, the one kind without (__post_init__)
            return value == 0
        if self.kind == "logged_in_under":
            return value < self.threshold
        return value > self.threshold


@dataclass(frozen=True)
class AlertEvent:
    kind: EventKind
    rule: str
    queue: str
    value: int  # the rule's measure at `at`
    threshold: int | None
    since: dt.datetime  # when the episode began (first breaking sample)
    at: dt.datetime  # the sample that fired or ended it
    message: str  # one line for the person on call


def active_during(hours: OpeningHours, categories: Iterable[str]) -> Callable[[dt.datetime], bool]:
    """An `active` predicate: true while `hours` says one of `categories` (e.g. open)."""
    wanted = frozenset(categories)

    def active(at: dt.datetime) -> bool:
        return hours.decide(at).category in wanted

    return active


@dataclass
class _RuleState:
    since: dt.datetime | None = None  # start of the current breaking episode
    firing: bool = False  # an alert went out for the current episode
    last_fire: dt.datetime | None = None
    last_at: dt.datetime | None = None


class SlaWatch:
    """The state of every rule; feed it samples in time order (per queue)."""

    def __init__(self, rules: Iterable[SlaRule], max_gap: dt.timedelta = DEFAULT_MAX_GAP):
        self.rules = list(rules)
        self.max_gap = max_gap
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            # State is kept by name; two rules sharing one would share timers.
            raise ValueError(f"duplicate SLA rule names: {', '.join(duplicates)}")
        self._state = {r.name: _RuleState() for r in self.rules}
        self._by_queue: dict[str, list[SlaRule]] = {}
        for rule in self.rules:
            self._by_queue.setdefault(rule.queue, []).append(rule)

    def observe(self, sample: QueueSample) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        for rule in self._by_queue.get(sample.queue, []):
            event = self._step(rule, self._state[rule.name], sample)
            if event is not None:
                events.append(event)
        return events

    def firing(self) -> list[tuple[str, str]]:
        """(queue, rule) of every alert currently active, for pbxctl_sla_alert_active."""
        return [(r.queue, r.name) for r in self.rules if self._state[r.name].firing]

    def _step(self, rule: SlaRule, st: _RuleState, sample: QueueSample) -> AlertEvent | None:
        at = sample.at
        if st.last_at is not None and at <= st.last_at:
            return None
        gap = st.last_at is not None and at - st.last_at > self.max_gap
        st.last_at = at

        active = rule.active is None or rule.active(at)
        if not active or not rule.breaks(sample):
            event = None
            if st.firing:
                since = st.since or at  # a firing episode always has its start; never lose the recovery
                event = _event("recovery", rule, sample, since, _recovery_message(rule, sample, since, active))
            st.since, st.firing = None, False
            return event

        if st.since is None or (gap and not st.firing):
            st.since = at
        if st.firing or at - st.since < dt.timedelta(seconds=rule.hold):
            return None
        if st.last_fire is not None and at - st.last_fire < dt.timedelta(seconds=rule.cooldown):
            return None  # held long enough, but cooling down: retried at the next sample
        st.firing, st.last_fire = True, at
        return _event("alert", rule, sample, st.since, _alert_message(rule, sample, st.since))


def _event(kind: EventKind, rule: SlaRule, sample: QueueSample, since: dt.datetime, message: str) -> AlertEvent:
    return AlertEvent(kind, rule.name, rule.queue, rule.value_of(sample), rule.threshold, since, sample.at, message)


# --- messages: one line, readable on a phone's lock screen -------------------------------


def format_duration(delta: dt.timedelta) -> str:
    """45 s, 1 min 30 s, 5 min, 2 h 10 min (whole units; seconds dropped past 10 min)."""
    s = max(0, int(delta.total_seconds()))
    if s < 60:
        return f"{s} s"
    if s < 600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    if s < 3600:
        return f"{s // 60} min"
    h, m = divmod(s // 60, 60)
    return f"{h} h" + (f" {m} min" if m else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _measure(rule: SlaRule, value: int) -> str:
    if rule.kind == "longest_wait_over":
        return f"longest wait {value} s"
    if rule.kind == "waiting_over":
        return f"{_plural(value, 'caller')} waiting"
    if value == 0:
        return "no agent logged in"
    return f"{_plural(value, 'agent')} logged in"


def _alert_message(rule: SlaRule, sample: QueueSample, since: dt.datetime) -> str:
    held = format_duration(sample.at - since)
    value = rule.value_of(sample)
    if rule.kind == "none_logged_in":
        return f"{rule.queue}: no agent logged in for {held}"
    if rule.kind == "longest_wait_over":
        return f"{rule.queue}: {_measure(rule, value)} > {rule.threshold} s for {held}"
    op = "<" if rule.kind == "logged_in_under" else ">"
    return f"{rule.queue}: {_measure(rule, value)} {op} {rule.threshold} for {held}"


def _recovery_message(rule: SlaRule, sample: QueueSample, since: dt.datetime, active: bool) -> str:
    lasted = format_duration(sample.at - since)
    now = _measure(rule, rule.value_of(sample))
    if not active:
        return f"{rule.queue}: alert ended after {lasted}, outside the rule's hours (now {now})"
    return f"{rule.queue}: recovered after {lasted} (now {now})"
