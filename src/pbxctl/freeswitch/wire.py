"""Every name pbxctl and the generated FreeSWITCH dialplan share: channel variables,
the context, extension names. Pure: no I/O, no greenswitch."""

from __future__ import annotations

CONTEXT = "pbxctl"

# Set by the generated dialplan before `socket`, read by the IVR service from the channel data.
ENTRY = "pbxctl_entry"
IVR = "pbxctl_ivr"
FALLBACK = "pbxctl_fallback"
# The extension that runs this call's fallback: what the watchdog transfers to.
FALLBACK_EXTENSION = "pbxctl_fallback_extension"
# A test call's "as if" local time (`ivr test --call`), like PBXCTL_AT on Asterisk.
AT = "pbxctl_at"
# Where play_and_get_digits leaves the caller's keys.
DIGITS = "pbxctl_digits"
# Set by a desk-phone code's extension instead of pbxctl_ivr: the code's action
# (login_toggle / pause_toggle), served by the same outbound socket.
AGENT_CODE = "pbxctl_agent_code"
# The extension the agent hears when a code was not carried out (service down or frozen).
AGENT_CODE_FAILED = "pbxctl-agent-code-failed"

# What the agent hears after a code, by result (as on Asterisk: asterisk/agent_codes.py).
# File names of FreeSWITCH's standard sounds (en/us/callie), tones where it has no word;
# not checked against a live FreeSWITCH's sound directory.
AGENT_CODE_PROMPTS = {
    "logged_in": "ivr/ivr-you_are_now_logged_in.wav",
    "logged_out": "ivr/ivr-you_are_now_logged_out.wav",
    "paused": "tone_stream://%(300,100,440);loops=2",
    "unpaused": "tone_stream://%(500,0,880);loops=1",
    "not_an_agent": "ivr/ivr-that_was_an_invalid_entry.wav",
    "refused": "ivr/ivr-that_was_an_invalid_entry.wav",
    "failed": "ivr/ivr-call_cannot_be_completed_as_dialed.wav",
}


def agent_code_extension(action: str) -> str:
    return f"pbxctl-agent-code-{action.replace('_', '-')}"


def queue_extension(queue_id: str) -> str:
    return f"pbxctl-queue-{queue_id}"


def ivr_extension(ivr_id: str) -> str:
    return f"pbxctl-ivr-{ivr_id}"


def entry_extension(number: str) -> str:
    return f"pbxctl-entry-{number}"


def fallback_extension(extension: str) -> str:
    return f"{extension}-fallback"


def watchdog(seconds: int, extension: str) -> str:
    """sched_transfer's argument. Its task group is the channel's uuid (switch_ivr.c), which
    is what `sched_cancel` with no argument deletes (mod_dptools.c)."""
    return f"+{seconds} {extension} XML {CONTEXT}"


# --- mod_callcenter (1.10.12): what the controller sends and reads ---------------------------

CALLCENTER_EVENT = "callcenter::info"  # the CUSTOM subclass of every mod_callcenter event

# Agent statuses (`callcenter_config agent set status`); quoted when they hold a space.
AVAILABLE = "Available"
AVAILABLE_ON_DEMAND = "Available (On Demand)"
LOGGED_OUT = "Logged Out"
ON_BREAK = "On Break"
# Agent states (`agent-state-change`).
STATE_WAITING = "Waiting"
STATE_RECEIVING = "Receiving"
STATE_IN_CALL = "In a queue call"
STATE_IDLE = "Idle"
# Tier states: a Standby tier is never offered a call (mod_callcenter.c offers Ready and No
# Answer tiers), which is how pbxctl logs an agent out of one of its queues.
TIER_READY = "Ready"
TIER_STANDBY = "Standby"


def callcenter_queue(queue_id: str, domain: str) -> str:
    """A site queue's name in mod_callcenter."""
    return f"{queue_id}@{domain}"


def site_queue(callcenter_name: str, domain: str) -> str | None:
    """The site queue id of a mod_callcenter queue name, or None for another domain's."""
    name, _, dom = callcenter_name.partition("@")
    return name if dom == domain and name else None


def cc_argument(value: str) -> str:
    """mod_callcenter splits its arguments on spaces and honours single quotes (the recorded
    `agent set status agent1001 'On Break'`)."""
    return f"'{value}'" if " " in value else value
