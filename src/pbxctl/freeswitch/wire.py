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
