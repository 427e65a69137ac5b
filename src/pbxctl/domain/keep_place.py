"""Keep my place: a waiting caller presses the queue's key, confirms a number and hangs up;
a placeholder holds the caller's place in the same queue until an agent reaches it, and
that agent then calls the customer back (agent first, with the accept key).

The rules here are pure: which number the caller chose, where the placeholder goes in
the queue, and which entries a placeholder holds. The Asterisk side
(asterisk/keep_place_codes.py, asterisk/placeholders.py) carries them out.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from pbxctl.domain.callbacks import CallbackEntry, CallbackError, Status

# What the caller presses to be called back at the number they are calling from.
OWN_NUMBER_KEY = "1"


def chosen_number(typed: str, caller: str) -> str:
    """The number the caller asked to be called back at: their own for OWN_NUMBER_KEY,
    else what they typed (checked by the outbound policy afterwards)."""
    typed = (typed or "").strip()
    return caller.strip() if typed == OWN_NUMBER_KEY else typed


def placeholder_position(original_joined: float, waiting_joined: Iterable[float]) -> int:
    """Queue()'s `position` for a placeholder: 1 + the callers waiting now who joined
    before the original caller. Those who were ahead and are still waiting stay ahead;
    those served or gone meanwhile no longer count, so a placeholder whose callers
    ahead were all served is first; callers who joined later are behind it. Another
    placeholder waiting counts with its own original caller's join time."""
    return 1 + sum(1 for joined in waiting_joined if joined < original_joined)


def holds_place(entry: CallbackEntry) -> bool:
    """An entry whose placeholder waits in the queue: in progress, no agent yet (every
    other way an entry is in progress names its agent). No call holds it either: a lost
    placeholder is made again, never an orphaned take to give back."""
    return entry.status is Status.in_progress and entry.agent is None


def hold(entry: CallbackEntry) -> CallbackEntry:
    """The caller left the queue to keep their place: the entry is held by a placeholder,
    neither offered to `*47` nor to the automatic dialler. An entry an agent is calling
    back right now stays as it is (the customer is already being called)."""
    if entry.status is Status.in_progress and entry.agent is not None:
        return entry
    if not entry.number:
        raise CallbackError("a caller without a number cannot keep a place")
    return replace(entry, status=Status.in_progress, agent=None, take_call=None)
