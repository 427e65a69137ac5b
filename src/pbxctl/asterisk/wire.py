"""Every name pbxctl puts on the Asterisk wire, in one place: dialplan contexts, channel
variables, user events, AGI scripts and dynamic features; and the few rules for reading
and writing them (one `set_variable`, one channel -> member rule, one duration parser).

The service, the controller, the renderer (its templates get these names passed in) and
the tests all take the names from here, so a renamed context cannot leave one side behind.
Pure: no I/O, no panoramisk.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

from pbxctl.books.callback_line import EVENT as QUEUE_LOG_CALLBACK_RESULT
from pbxctl.books.calls import CALL_END as QUEUE_LOG_END


class Contexts(SimpleNamespace):
    """The dialplan contexts of extensions_pbxctl.conf (attribute = role, value = name)."""


CONTEXTS = Contexts(
    entries="pbxctl-entries",
    fallback="pbxctl-fallback",
    decide="pbxctl-decide",
    queue="pbxctl-queue",
    queue_run="pbxctl-queue-run",
    queue_exit="pbxctl-queue-exit",
    features="pbxctl-features",
    agent_code="pbxctl-agent-code",
    supervise_code="pbxctl-supervise-code",
    barge="pbxctl-barge",
    barge_keys="pbxctl-barge-keys",
    help_ring="pbxctl-help-ring",
    agent_leg="pbxctl-agent-leg",
    help="pbxctl-help",
    xfer_return_code="pbxctl-xfer-return-code",
    xfer_return="pbxctl-xfer-return",
    xfer_answered="pbxctl-xfer-answered",
    conference_dial="pbxctl-conference-dial",
    conference_room="pbxctl-conference-room",
    callback_code="pbxctl-callback-code",
    callback_done="pbxctl-callback-done",
    callback_auto="pbxctl-callback-auto",
    callback_accept="pbxctl-callback-accept",
    keep_place="pbxctl-keep-place",
    keep_place_gone="pbxctl-keep-place-gone",
    keep_place_hold="pbxctl-keep-place-hold",
    keep_place_wait="pbxctl-keep-place-wait",
    keep_place_reached="pbxctl-keep-place-reached",
    voicemail="pbxctl-voicemail",
    transfer="pbxctl-transfer",
    extension="pbxctl-extension",
    hangup="pbxctl-hangup",
    call_end="pbxctl-call-end",
)
IVR_CONTEXT_PREFIX = "pbxctl-ivr-"
RULE_PREFIX = "pbxctl-"


def ivr_context(ivr: str) -> str:
    return f"{IVR_CONTEXT_PREFIX}{ivr}"


# A queue with a keep-place key names this context + the queue in queues.conf (`context`):
# its only extension is the key, so the caller leaves the queue with that key alone.
KEEP_KEY_CONTEXT_PREFIX = "pbxctl-keep-key-"


def keep_key_context(queue: str) -> str:
    return f"{KEEP_KEY_CONTEXT_PREFIX}{queue}"


def rule_name(queue: str) -> str:
    """The queuerules.conf rule of an escalating queue."""
    return f"{RULE_PREFIX}{queue}"


# Extensions of [pbxctl-conference-room] are a prefix + the room: caller, agent, third
# party. Two characters each: the dialplan strips them with ${EXTEN:2}.
ROOM_PREFIXES = SimpleNamespace(caller="c-", agent="a-", third="t-")

# PBXCTL_BARGE_SUPERVISOR of a help request's ring: whoever answers is known only from
# the answering device (the service names them from the help ring's DialEnd).
HELP_SESSION = "help"

# UserEvent names the generated dialplan emits (AMI: Event: UserEvent, UserEvent: NAME).
EVENTS = SimpleNamespace(
    queue_exit="PbxctlQueueExit",
    barge="PbxctlBarge",
    barge_end="PbxctlBargeEnd",
    help="PbxctlHelp",
    transfer="PbxctlTransfer",
    transfer_return="PbxctlTransferReturn",
    conference="PbxctlConference",
    callback_result="PbxctlCallbackResult",
    keep_place_left="PbxctlKeepPlaceLeft",
)
# queue_log events the dialplan adds (the books read them): a three-way call (Asterisk
# writes none), the entry number a call came in on, the caller as they dialled in (before
# display_name/prefix), QUEUESTATUS after Queue() (app_queue logs nothing for a caller
# it refused), the steps of a transfer with return (app_queue sees a redirected caller
# only when it finally hangs up), and an agent's help request.
QUEUE_LOG_CONFERENCE = "PBXCTLCONF"
QUEUE_LOG_ENTRY = "PBXCTLENTRY"
QUEUE_LOG_CALLER = "PBXCTLCALLER"
QUEUE_LOG_EXIT = "PBXCTLEXIT"
QUEUE_LOG_TRANSFER = "PBXCTLXFER"
QUEUE_LOG_HELP = "PBXCTLHELP"
# QUEUE_LOG_END (books.calls.CALL_END), written by a hangup handler pushed at the entry:
# the call is over. Without it the books could not tell a caller who hung up in a menu
# from one still listening to it.
# PBXCTLXFER's first data field: the caller left for TARGET (with_return), TARGET answered
# (answered), TARGET did not and the caller goes back (returned|TARGET|DIALSTATUS), the
# agent answered the ring back (back).
XFER_STEPS = SimpleNamespace(with_return="with_return", answered="answered", returned="returned", back="back")
QUEUE_LOG_CALLBACK = "PBXCTLCALLBACK"  # an IVR callback request (data: the number), counted by the queue report
# QUEUE_LOG_CALLBACK_RESULT (books.callback_line.EVENT): how a callback call ended, on the
# customer's call; the books read it, so its name and fields live there.

# AGI scripts the dialplan calls: agi://HOST:PORT/<script>.
SCRIPTS = SimpleNamespace(
    decide="decide",
    agent="agent",
    supervise="supervise",
    conference="conference",
    conference_merge="conference_merge",
    callback="callback",
    keep_place="keep_place",
)

# Time box of the desk-phone code scripts (they wait for AMI round trips).
CODE_SCRIPT_TIMEOUT_S = 5.0
# Asterisk's AGI() has no timeout: a service that accepted the connection and froze (SIGSTOP,
# a blocked event loop) would hold the call in silence for good, and even an AMI Hangup
# would not release it. The dialplan bounds every AGI step with TIMEOUT(absolute) = the
# service's own time box + this grace (AGIEXITONHANGUP makes AGI() give up at once).
AGI_HOLD_GRACE_S = 1.0


def agi_hold_s(time_box_s: float) -> str:
    """The TIMEOUT(absolute) value (seconds, to the millisecond) around an AGI step whose
    service answers within `time_box_s`."""
    return f"{time_box_s + AGI_HOLD_GRACE_S:.3f}"


# [applicationmap] entries of features_pbxctl.conf, enabled on the agent's leg.
FEATURES = SimpleNamespace(help="pbxctl_help", xfer_return="pbxctl_xfer_return")
DYNAMIC_FEATURES = (FEATURES.help, FEATURES.xfer_return)

# Channel variables pbxctl sets or reads. Its own start with PBXCTL_; the others are
# Asterisk's, listed so that every name the dialplan relies on is written down once.
NEXT = "PBXCTL_NEXT"                # the Goto target a decision answers
RECORDED = "PBXCTL_RECORDED"        # "1" when a callback request was recorded
AT = "PBXCTL_AT"                    # `ivr test --call`: decide as if at this time
ENTRY = "PBXCTL_ENTRY"
CALLER = "PBXCTL_CALLER"
TRY = "PBXCTL_TRY"
INPUT = "PBXCTL_INPUT"
QUEUE = "PBXCTL_QUEUE"
QUEUE_CALLER = "PBXCTL_QUEUE_CALLER"
CALLER_NUM = "PBXCTL_CALLER_NUM"    # the caller as they dialled in, kept for the books
CALLER_NAME = "PBXCTL_CALLER_NAME"
CALLER_KEPT = "PBXCTL_CALLER_KEPT"
EXIT_TO = "PBXCTL_EXIT_TO"          # the destination text a caller leaves a queue to (PBXCTLEXIT)
RESULT = "PBXCTL_RESULT"            # the answer of the agent/supervise/conference scripts
PIN = "PBXCTL_PIN"
BARGE_MODE = "PBXCTL_BARGE_MODE"
BARGE_OPTIONS = "PBXCTL_BARGE_OPTIONS"
BARGE_TARGET = "PBXCTL_BARGE_TARGET"
BARGE_AGENT = "PBXCTL_BARGE_AGENT"
BARGE_SUPERVISOR = "PBXCTL_BARGE_SUPERVISOR"
HELP_DEVICES = "PBXCTL_HELP_DEVICES"
HELP_RING = "PBXCTL_HELP_RING"
HELP_CALLID = "PBXCTL_HELP_CALLID"  # the caller's uniqueid, for the help request's queue_log line
XFER_TO = "PBXCTL_XFER_TO"
XFER_BACK = "PBXCTL_XFER_BACK"
# Inherited by the channels a transfer with return dials, so that [pbxctl-xfer-answered]
# (Dial's U() on the answering channel) logs for the caller's call.
XFER_CALLID = "PBXCTL_XFER_CALLID"
XFER_QUEUE = "PBXCTL_XFER_QUEUE"
XFER_MEMBER = "PBXCTL_XFER_MEMBER"
ROOM = "PBXCTL_ROOM"
CONF_QUEUE = "PBXCTL_CONF_QUEUE"
CONF_CALLID = "PBXCTL_CONF_CALLID"
CONF_AGENT = "PBXCTL_CONF_AGENT"
CONF_THIRD = "PBXCTL_CONF_THIRD"
TIMEOUT_WAS = "PBXCTL_TIMEOUT_WAS"  # the channel's own TIMEOUT(absolute), put back after an AGI hold
CALLBACK_ID = "PBXCTL_CALLBACK_ID"          # the entry an agent's `*47` call works on
CALLBACK_DIAL = "PBXCTL_CALLBACK_DIAL"      # the customer's number as dialled (E.164)
CALLBACK_DIGITS = "PBXCTL_CALLBACK_DIGITS"  # what SayDigits tells the agent (national digits)
CALLBACK_CONTEXT = "PBXCTL_CALLBACK_CONTEXT"  # the outbound context the customer is dialled through
CALLBACK_RING = "PBXCTL_CALLBACK_RING"      # seconds the customer's phone rings
CALLBACK_KEY = "PBXCTL_CALLBACK_KEY"        # automatic callbacks: the key the customer presses to accept
CALLBACK_PROMPT = "PBXCTL_CALLBACK_PROMPT"  # ... and what the customer hears first
CALLBACK_QUEUE = "PBXCTL_CALLBACK_QUEUE"    # the entry's queue (its result's queue_log line)
CALLBACK_CALLID = "PBXCTL_CALLBACK_CALLID"  # the customer's call in the books the result joins
CALLBACK_AGENT = "PBXCTL_CALLBACK_AGENT"    # the agent (site key) who calls back
CALLBACK_RESULT = "PBXCTL_CALLBACK_RESULT"  # the hangup handler's result text (queue_log and UserEvent)
ACCEPT = "PBXCTL_ACCEPT"                    # the key the customer pressed
ACCEPTED = "PBXCTL_ACCEPTED"                # SHARED() "1" on the agent's channel once the customer accepted
# Keep my place. JOINED: when the caller joined the queue (epoch s, to the millisecond),
# set before Queue() and, on a placeholder, the original caller's; POSITION: QUEUEPOSITION
# when the key was pressed; REJOIN_AT: Queue()'s position argument when the caller goes
# back into the queue (the service was down); PEER: on a placeholder's ;2 half (inherited
# by the agent's channel), its ;1 half, which the agent's leg sends to [keep_place_reached];
# MEMBER: there, the interface of the agent who answered (the ;2 half's MEMBERINTERFACE),
# which names the agent of the attempt; DONE: "1" once the exit context handled the caller
# (its hangup handler then reports nothing).
KEEP_JOINED = "PBXCTL_JOINED"
KEEP_POSITION = "PBXCTL_KEEP_POSITION"
KEEP_REJOIN_AT = "PBXCTL_REJOIN_AT"
KEEP_PEER = "PBXCTL_KEEP_PEER"
KEEP_MEMBER = "PBXCTL_KEEP_MEMBER"
KEEP_DONE = "PBXCTL_KEEP_DONE"
KEEP_QUEUE = "PBXCTL_KEEP_QUEUE"    # a placeholder's queue
KEEP_PROMPT = "PBXCTL_KEEP_PROMPT"  # what the caller who pressed the key is asked
PBXCTL_VARIABLES = frozenset(
    value for name, value in dict(globals()).items() if name.isupper() and isinstance(value, str)
    and value.startswith("PBXCTL_")
)
ASTERISK_VARIABLES = frozenset({
    "AGISTATUS", "QUEUESTATUS", "QUEUE_PRIO", "QUEUE_MAX_PENALTY", "QUEUE_RAISE_PENALTY",
    "DYNAMIC_FEATURES", "TRANSFER_CONTEXT", "MEMBERINTERFACE", "BRIDGEPEER", "SPY_EXIT_CONTEXT",
    "DIALSTATUS", "UNIQUEID", "AGIEXITONHANGUP", "MEMBERNAME", "ANSWEREDTIME", "DIALEDTIME", "GOSUB_RESULT", "CHANNEL",
    "QUEUEPOSITION",
})


class UnsafeValue(ValueError):
    """A value that cannot travel in one AGI command line."""


def agi_quote(value: str) -> str:
    """res_agi splits a command line on spaces and honours double quotes and backslash
    escapes: quote the value, escape what would end or bend the quoting."""
    if "\n" in value or "\r" in value:
        raise UnsafeValue(f"AGI value contains a line break: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def set_variable_command(name: str, value: str) -> str:
    return f"SET VARIABLE {name} {agi_quote(value)}"


class AgiCommandFailed(ConnectionError):
    """Asterisk did not answer an AGI command with 200 (the channel hung up, or it refused)."""


async def set_variable(request, name: str, value: str) -> None:
    """SET VARIABLE over an AGI session (`request.send_command`, panoramisk's Request)."""
    reply = await request.send_command(set_variable_command(name, value))
    if reply.get("status_code") != 200:
        raise AgiCommandFailed(f"SET VARIABLE {name} answered {reply}")


_UNIQUE_SUFFIX = re.compile(r"-[0-9a-f]{8}$")


def member_key(text: str) -> str:
    """The device a channel name or a queue-member interface stands for, so the two
    compare: 'PJSIP/1001-0000002a' and 'PJSIP/1001' give 'PJSIP/1001';
    'Local/9101@agents-0000001f;1', 'Local/9101@agents/n' and 'Local/9101@agents' give
    'Local/9101@agents'."""
    tech, _, rest = text.partition("/")
    if tech.lower() == "local":
        rest, half, _ = rest.partition(";")  # a Local channel's ;1 / ;2
        rest = rest.split("/", 1)[0]  # an interface's /n options
        if half:
            rest = _UNIQUE_SUFFIX.sub("", rest)
        return f"{tech}/{rest}"
    return f"{tech}/{_UNIQUE_SUFFIX.sub('', rest)}"


def channel_extension(channel: str) -> str:
    """The extension a channel name carries: 'PJSIP/1100-0000001a' is 1100's phone,
    'Local/8101@pbxctl-sv-phones-00000003;2' 8101's ('' when there is no device part)."""
    if "/" not in channel:
        return ""
    device = member_key(channel).split("/", 1)[1]
    return device.split("@", 1)[0]


def hms_seconds(value: str | None) -> int:
    """A duration as AMI reports it (CoreShowChannel's Duration, HH:MM:SS); parts that
    are not numbers count 0."""
    seconds = 0
    for part in (value or "").split(":"):
        part = part.strip()
        seconds = seconds * 60 + (int(part) if part.isdigit() else 0)
    return seconds
