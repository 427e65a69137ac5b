"""Cross-checks for `callbacks:`: the queues and hours it names, and that every queue that
can get callbacks has an outbound policy that allows some number to be dialled."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pbxctl.site.checks import Checker

from pbxctl.site import model as m


def _callback_queues(site: m.Site) -> dict[str, tuple]:
    """Queues that can get callback entries, by the place in the YAML that makes them so."""
    out: dict[str, tuple] = {q: ("callbacks", "queues", q) for q in site.callbacks.queues}
    for ivr_name, ivr in site.ivrs.items():
        for el_name, el in ivr.elements.items():
            if isinstance(el, m.CallbackElement):
                out.setdefault(el.queue, ("ivrs", ivr_name, "elements", el_name, "queue"))
    return out


def check_callbacks(checker: "Checker") -> None:
    site = checker.site
    cb = site.callbacks
    for name, queue in cb.queues.items():
        base = ("callbacks", "queues", name)
        if name not in site.queues:
            checker.error(base, f"unknown queue {name!r}{checker._known('queues')}")
        if queue.hours is not None:
            hours = checker.loaded.hours.get(queue.hours)
            if queue.hours not in site.hours:
                checker.error((*base, "hours"), f"unknown hours {queue.hours!r}{checker._known('hours')}")
            elif hours is not None:
                known = hours.categories()
                during = queue.during or ["open"]
                for j, cat in enumerate(during):
                    if cat not in known:
                        where = (*base, "during", j) if queue.during else (*base, "hours")
                        checker.error(where, f"hours {queue.hours!r} has no category {cat!r} (it has: "
                                             f"{', '.join(sorted(known))}){'' if queue.during else '; say which with during'}")
        if queue.mode == "automatic" and checker.backend == "freeswitch":
            checker.error((*base, "mode"), "automatic callbacks are made on Asterisk only so far")
        if queue.keep_place_key is not None:
            _check_keep_place(checker, base, name, queue)
    for queue, place in _callback_queues(site).items():
        if cb.outbound_for(queue).allowed:
            continue
        own = cb.queues.get(queue)
        message = (f"queue {queue!r} gets callbacks but no number may be dialled for them: list the allowed "
                   "E.164 patterns in callbacks.outbound.allowed (e.g. \"+47[49]XXXXXXX\")")
        if own is None:  # IVR requests only: listed, never dialled until a policy is given
            checker.warn(place, message + "; until then its requests are only listed")
        elif own.outbound is not None:
            checker.error(("callbacks", "queues", queue, "outbound", "allowed"), message)
        else:
            checker.error(("callbacks", "queues", queue), message)


def _check_keep_place(checker: "Checker", base: tuple, name: str, queue) -> None:
    site = checker.site
    if checker.backend == "freeswitch":
        checker.warn((*base, "keep_place_key"), "keep my place is made on Asterisk only so far: on freeswitch the key does nothing")
        return
    own = site.queues.get(name)
    if own is None:
        return
    if queue.keep_place_offer is not None and not own.announce.interval:
        checker.error((*base, "keep_place_offer"), f"the offer is played as queue {name!r}'s periodic announcement: "
                                                   f"set queues.{name}.announce.interval (seconds)")
