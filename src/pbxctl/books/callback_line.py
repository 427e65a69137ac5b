"""pbxctl's PBXCTLCBRESULT line: how a callback call ended, written by the generated
dialplan's hangup handler ([pbxctl-callback-done]) into queue_log with the customer's
call as callid, and sent the same moment as an AMI UserEvent (PbxctlCallbackResult,
`Data:` the same text) for the live list. Parsing only; what the result does to the
entry is `domain.callbacks.apply_result`.

Data fields (`|`-separated, as queue_log splits them):
ENTRY|DIALSTATUS|DIALEDTIME|ANSWEREDTIME|ACCEPT_KEY|ACCEPTED|CALLBACK_UNIQUEID
(Asterisk's DIALSTATUS, DIALEDTIME and ANSWEREDTIME of the Dial to the customer; the
accept key asked for, "" for `*47`; ACCEPTED "1" when the customer pressed it; the
uniqueid of the agent's callback call). The line's time is when that call ended.
"""

from __future__ import annotations

import datetime as dt

from pbxctl.domain.callbacks import CallbackResult

EVENT = "PBXCTLCBRESULT"

FIELDS = ("entry", "dial_status", "dialed", "answered", "accept_key", "accepted", "call")


def _seconds(text: str) -> float:
    try:
        return max(0.0, float(text or 0))
    except ValueError:
        return 0.0


def parse_result(data: str | list[str] | tuple[str, ...], at: int, agent: str | None,
                 customer_call: str | None) -> CallbackResult | None:
    """The result these data fields tell (`customer_call`: the line's callid); None when
    they name no entry or no call (a line damaged or from something else)."""
    parts = data.split("|") if isinstance(data, str) else list(data)
    parts += [""] * (len(FIELDS) - len(parts))
    entry, status, dialed, answered, key, accepted, call = parts[:len(FIELDS)]
    if not entry.strip().isdigit() or not call.strip():
        return None
    return CallbackResult(
        entry_id=int(entry), call_id=call.strip(), ended_at=dt.datetime.fromtimestamp(at, dt.timezone.utc),
        dial_status=status.strip(), dialed_seconds=_seconds(dialed), answered_seconds=_seconds(answered),
        accept_key=key.strip(), accepted=accepted.strip() == "1", agent=(agent or None) if agent != "NONE" else None,
        customer_call=customer_call or None,
    )


def describe_result(data: str, at: int) -> tuple[str | None, str]:
    """(the callback call's uniqueid, the result in words) for the call log."""
    told = parse_result(data, at, None, None)
    if told is None:
        return None, data
    how = told.outcome or "given back (the customer was never dialled)"
    times = f", rang {told.dialed_seconds - told.answered_seconds:.0f} s" if told.dialed_seconds else ""
    if told.answered_seconds:
        times += f", answered {told.answered_seconds:.0f} s"
    return told.call_id, f"callback {told.entry_id}: {how} ({told.dial_status or 'not dialled'}{times})"
