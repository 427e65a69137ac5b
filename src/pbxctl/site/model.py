"""The site model: one YAML file per site, validated strictly (unknown keys are errors).

This is the typed edge of pbxctl. Generators and services read these models; they never
see raw YAML.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import Enum
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from pbxctl.site.values import (
    Comment,
    ContextName,
    DestinationText,
    DialString,
    DigitAffix,
    EntryNumber,
    Extension,
    Host,
    Ident,
    NextStep,
    Prompt,
    Text,
    parse_destination,
    refuse_invisible_input,
    shown,
    unsafe_character,
)


_CHANNEL_VARIABLES = re.compile(r"\{[A-Za-z0-9_]+=[^{}=,]*(,[A-Za-z0-9_]+=[^{}=,]*)*\}")


def check_template(value: str, channel_variables: bool = False) -> str:
    """A dial-string template may name {extension} and nothing else (FreeSWITCH contacts
    may also start with channel variables such as {call_timeout=20}). Any other brace,
    paired or not, would reach the PBX as text that looks like a template and is not."""
    rest = value
    if channel_variables:
        lead = _CHANNEL_VARIABLES.match(rest)
        if lead:
            rest = rest[lead.end():]
    for group in re.findall(r"\{([^{}]*)\}", rest):
        if group == "extension":
            continue
        if channel_variables and "=" in group:
            raise ValueError(f"channel variables {{{group}}} in {value!r} must come first, as in {{{group}}}user/{{extension}}")
        raise ValueError(f"unknown placeholder {{{group}}} in {value!r}: only {{extension}} is filled in")
    if "{" in rest.replace("{extension}", "") or "}" in rest.replace("{extension}", ""):
        raise ValueError(f"{value!r} has a brace that is not part of {{extension}}: only {{extension}} is filled in")
    return value


def check_global_variable_domain(value: str) -> str:
    """A FreeSWITCH voicemail domain: a domain name, or one global variable $${name} that
    FreeSWITCH fills in when it loads the XML. `${name}` is a channel variable, expanded
    (or not) per call: refused, as is any other use of '$' and braces."""
    if re.fullmatch(r"[A-Za-z0-9_.-]+", value) or re.fullmatch(r"\$\$\{[A-Za-z0-9_]+\}", value):
        return value
    if re.search(r"(?<!\$)\$\{", value):
        raise ValueError(
            f"{value!r}: '${{...}}' is a per-call channel variable; give a domain name, or a global variable as $${{name}}"
        )
    raise ValueError(f"{value!r} is not a domain name or a global variable such as $${{domain}}")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # Every text value of every section, whatever its own type: no control, invisible or
    # bidirectional characters (the field types below add what each value may contain).
    # After, not before, validation: pydantic allows no before-validator on the
    # discriminator `type`; the value types in values.py check their input first anyway.
    @field_validator("*", mode="after")
    @classmethod
    def _visible_text(cls, value: object) -> object:
        return refuse_invisible_input(value)

    @model_validator(mode="before")
    @classmethod
    def _visible_keys(cls, data: object) -> object:
        # Keys are matched against field names before any field validator runs, and
        # pydantic cannot even compare a key with a lone surrogate: name it here.
        if isinstance(data, dict):
            for key in data:
                if isinstance(key, str) and (problem := unsafe_character(key)) is not None:
                    raise ValueError(f"key '{shown(key, keep=chr(39))}': {problem}")
        return data


Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[int, Field(ge=0, le=86400)]
PositiveSeconds = Annotated[int, Field(ge=1, le=86400)]


# --- secrets ----------------------------------------------------------------------------


class SecretRef(Model):
    """A secret kept out of the YAML: `{env: NAME}` or `{file: /path}`."""

    env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "SecretRef":
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' or 'file'")
        return self


Secret = Union[SecretRef, str]


# --- PBX connection ---------------------------------------------------------------------


class AmiSettings(Model):
    host: Host = "127.0.0.1"
    port: Port = 5038
    username: Text = "pbxctl"
    secret: Secret | None = None
    # The controller pings this often; no Pong within keepalive_timeout means a dead link.
    keepalive: Annotated[int, Field(ge=1, le=300)] = 5
    keepalive_timeout: Annotated[int, Field(ge=1, le=60)] = 5


class FastAgiSettings(Model):
    host: Host = "127.0.0.1"
    port: Port = 4573
    # Each IVR decision is time-boxed; past this the service answers with the fallback.
    timeout_ms: Annotated[int, Field(ge=50, le=10000)] = 1000


class AsteriskSettings(Model):
    config_dir: str = "/etc/asterisk"
    ami: AmiSettings = AmiSettings()
    fastagi: FastAgiSettings = FastAgiSettings()
    # How an agent's phone is dialled when the agent gives no device of its own.
    device_template: Annotated[str, Field(pattern=r"^[A-Za-z0-9_/@.:+*#{}-]+$")] = "PJSIP/{extension}"
    # Where transfer:NUMBER goes (the operator's outbound routing) and extension:NNN.
    outbound_context: ContextName = "from-internal"
    internal_context: ContextName = "from-internal"
    voicemail_context: ContextName = "default"
    # The PBX's own logs, read into the books (pbxctl serve asterisk follows them).
    queue_log: str = "/var/log/asterisk/queue_log"
    cdr_file: str = "/var/log/asterisk/cdr-custom/pbxctl.csv"

    @field_validator("device_template")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_template(value)


class EslSettings(Model):
    host: Host = "127.0.0.1"
    port: Port = 8021
    password: Secret | None = None
    # The controller sends `api status` this often; no reply within keepalive_timeout means a dead link.
    keepalive: Annotated[int, Field(ge=1, le=300)] = 5
    keepalive_timeout: Annotated[int, Field(ge=1, le=60)] = 5


class OutboundSocketSettings(Model):
    host: Host = "127.0.0.1"
    port: Port = 8084
    # Time box of each IVR decision and of each reply the service waits for.
    timeout_ms: Annotated[int, Field(ge=50, le=10000)] = 1000
    # FreeSWITCH leaves a call parked in `socket` for good when the service accepts and never
    # answers: a scheduled transfer to the fallback, armed by the dialplan and re-armed by
    # the service before each step, bounds that to this many seconds of silence.
    watchdog: Annotated[int, Field(ge=1, le=60)] = 3
    # A prompt's length is not known beforehand: a step that plays one may take this much
    # longer (plus its input timeout) before the re-armed watchdog takes the call.
    prompt_allowance: Annotated[int, Field(ge=1, le=600)] = 60
    # IVR processes sharing the port (SO_REUSEPORT: the kernel spreads the connections), so
    # decisions use more than one core; each is one gevent process.
    processes: Annotated[int, Field(ge=1, le=32)] = 1

    @field_validator("host")
    @classmethod
    def _not_ipv6(cls, value: str) -> str:
        if ":" in value:
            raise ValueError(
                f"{value!r}: the dialplan's socket application takes HOST:PORT, which an IPv6"
                " address cannot be written into; give an IPv4 address or a host name"
            )
        return value


class FreeswitchSettings(Model):
    config_dir: str = "/etc/freeswitch"
    esl: EslSettings = EslSettings()
    outbound: OutboundSocketSettings = OutboundSocketSettings()
    contact_template: Annotated[str, Field(pattern=r"^[A-Za-z0-9_/@.:+*#{}=\[\]-]+$")] = "user/{extension}"
    queue_domain: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] = "default"
    dialplan_context: ContextName = "default"
    voicemail_profile: ContextName = "default"
    voicemail_domain: Annotated[str, AfterValidator(check_global_variable_domain)] = "$${domain}"
    # mod_cdr_csv's file in pbxctl's template (freeswitch/cdr.py), followed into the books
    cdr_file: str = "/var/log/freeswitch/cdr-csv/Master.csv"

    @field_validator("contact_template")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_template(value, channel_variables=True)


class PbxSettings(Model):
    backend: Literal["asterisk", "freeswitch"]
    asterisk: AsteriskSettings = AsteriskSettings()
    freeswitch: FreeswitchSettings = FreeswitchSettings()
    # Where a call goes when pbxctl's services do not answer and the entry names no fallback.
    fallback: DestinationText = "hangup"


class Numbering(Model):
    """How caller numbers are brought to E.164 (+CCNNN...)."""

    country_code: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,2}$")]
    international_prefix: Annotated[str, Field(pattern=r"^[0-9]{1,4}$")] = "00"
    national_prefix: Annotated[str, Field(pattern=r"^[0-9]{0,2}$")] = ""


# --- agents and queues ------------------------------------------------------------------


class AgentDevices(Model):
    asterisk: DialString | None = None
    freeswitch: DialString | None = None


class Agent(Model):
    name: Text
    extension: Extension
    # static: always a queue member (written into the generated queue config);
    # dynamic: a member only while logged in.
    login: Literal["static", "dynamic"] = "static"
    device: AgentDevices = AgentDevices()
    tags: list[Ident] = []
    wrapup: Seconds | None = None


class Strategy(str, Enum):
    round_robin = "round_robin"
    ring_all = "ring_all"
    ring_all_priority = "ring_all_priority"
    escalating = "escalating"
    fewest_calls = "fewest_calls"
    random = "random"
    linear = "linear"
    least_talk_time = "least_talk_time"
    round_robin_memory = "round_robin_memory"
    weighted_random = "weighted_random"


class Member(Model):
    agent: Ident
    priority: Annotated[int, Field(ge=0, le=99)] = 0


class Announcement(Model):
    prompt: Prompt | None = None
    interval: Seconds = 0
    position: bool = False
    hold_time: bool = False


class Queue(Model):
    display_name: Text | None = None
    strategy: Strategy
    escalation_step: PositiveSeconds | None = None
    members: list[Member] = []
    ring_time: Annotated[int, Field(ge=1, le=600)] = 15
    # At least 1: app_queue reads retry 0 as "unset" and waits its default 5 s.
    retry: Annotated[int, Field(ge=1, le=600)] = 5
    max_wait: PositiveSeconds | None = None
    overflow: DestinationText | None = None
    when_empty: DestinationText | None = None
    join_empty: bool = True
    exit_when_empty: bool = False
    announce: Announcement = Announcement()
    waiting: Literal["music", "ringing", "music_then_ringing"] = "music"
    music_class: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")] = "default"
    wrapup: Seconds = 0
    service_level: PositiveSeconds = 20
    caller_priority: Annotated[int, Field(ge=0, le=999)] = 0
    number_prefix: DigitAffix = ""
    number_suffix: DigitAffix = ""

    @model_validator(mode="after")
    def _escalation_step(self) -> "Queue":
        if self.strategy is Strategy.escalating and self.escalation_step is None:
            raise ValueError("strategy 'escalating' needs 'escalation_step' (seconds between priority groups)")
        if self.strategy is not Strategy.escalating and self.escalation_step is not None:
            raise ValueError("'escalation_step' applies only to strategy 'escalating'")
        return self


# --- opening hours ----------------------------------------------------------------------

TimeRangeText = Annotated[str, Field(pattern=r"^\s*\d{1,2}:\d{2}\s*-\s*\d{1,2}:\d{2}\s*$")]
DaySpec = Annotated[
    str,
    Field(
        pattern=r"^\s*(mon|tue|wed|thu|fri|sat|sun)(\s*-\s*(mon|tue|wed|thu|fri|sat|sun))?"
        r"(\s*,\s*(mon|tue|wed|thu|fri|sat|sun)(\s*-\s*(mon|tue|wed|thu|fri|sat|sun))?)*\s*$"
    ),
]


class HoursException(Model):
    name: Comment | None = None
    date: dt.date | None = None
    from_: dt.date | None = Field(default=None, alias="from")
    to: dt.date | None = None
    ranges: dict[Ident, list[TimeRangeText]] = {}
    # The category for the parts of the day no range covers (default: the hours' default).
    default: Ident | None = None

    @model_validator(mode="after")
    def _dates(self) -> "HoursException":
        if self.date is not None and (self.from_ is not None or self.to is not None):
            raise ValueError("give either 'date' or 'from'/'to', not both")
        if self.date is None and (self.from_ is None or self.to is None):
            raise ValueError("give 'date', or both 'from' and 'to'")
        if self.from_ is not None and self.to is not None and self.to < self.from_:
            raise ValueError(f"'to' ({self.to}) is before 'from' ({self.from_})")
        return self

    @property
    def first_day(self) -> dt.date:
        return self.date or self.from_  # type: ignore[return-value]

    @property
    def last_day(self) -> dt.date:
        return self.date or self.to  # type: ignore[return-value]


class Hours(Model):
    timezone: str
    week: dict[DaySpec, dict[Ident, list[TimeRangeText]]] = {}
    default: Ident = "closed"
    exceptions: list[HoursException] = []

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Europe/Oslo)") from None
        return value


# --- IVR elements -----------------------------------------------------------------------

DigitKey = Annotated[str, Field(pattern=r"^[0-9*#]$")]


class HoursElement(Model):
    type: Literal["hours"]
    hours: Ident
    branches: dict[Ident, NextStep]
    default: NextStep | None = None


class MenuElement(Model):
    type: Literal["menu"]
    prompt: Prompt
    options: dict[DigitKey, NextStep]
    invalid: NextStep
    no_input: NextStep
    retries: Annotated[int, Field(ge=0, le=9)] = 2
    timeout: Annotated[int, Field(ge=1, le=60)] = 5
    invalid_prompt: Prompt | None = None


class AdvancedMenuElement(Model):
    type: Literal["advanced_menu"]
    prompt: Prompt
    routing_list: Ident
    max_digits: Annotated[int, Field(ge=1, le=32)]
    min_digits: Annotated[int, Field(ge=1, le=32)] = 1
    timeout: Annotated[int, Field(ge=1, le=60)] = 5
    invalid: NextStep
    no_input: NextStep
    retries: Annotated[int, Field(ge=0, le=9)] = 2
    invalid_prompt: Prompt | None = None

    @model_validator(mode="after")
    def _digits(self) -> "AdvancedMenuElement":
        if self.min_digits > self.max_digits:
            raise ValueError(f"min_digits ({self.min_digits}) is more than max_digits ({self.max_digits})")
        return self


class VipElement(Model):
    type: Literal["vip"]
    list: Ident
    vip: NextStep
    normal: NextStep
    # Callers who send no number (anonymous/withheld) count as:
    anonymous: Literal["normal", "vip"] = "normal"


class BlockElement(Model):
    type: Literal["block"]
    list: Ident
    next: NextStep
    blocked: NextStep = "hangup"
    anonymous: Literal["allow", "block"] = "allow"


class QueueElement(Model):
    type: Literal["queue"]
    queue: Ident
    priority: Annotated[int, Field(ge=0, le=999)] | None = None
    # Where to go when the queue gives the call back (timeout, empty); default: the queue's overflow.
    next: NextStep | None = None


class CallbackElement(Model):
    type: Literal["callback"]
    queue: Ident
    prompt: Prompt | None = None
    ask_number: bool = False
    confirm_prompt: Prompt | None = None
    next: NextStep = "hangup"

    @model_validator(mode="after")
    def _ask(self) -> "CallbackElement":
        if self.ask_number and self.prompt is None:
            raise ValueError("ask_number needs a prompt that asks the caller to type the number")
        return self


class VoicemailElement(Model):
    type: Literal["voicemail"]
    mailbox: Annotated[str, Field(pattern=r"^[0-9]{1,20}$")]
    greeting: Literal["unavailable", "busy", "none"] = "unavailable"


class TransferElement(Model):
    type: Literal["transfer"]
    number: EntryNumber


class GotoIvrElement(Model):
    type: Literal["goto_ivr"]
    ivr: Ident


class PlayElement(Model):
    type: Literal["play"]
    prompt: Prompt
    next: NextStep


class HangupElement(Model):
    type: Literal["hangup"]
    prompt: Prompt | None = None


Element = Annotated[
    Union[
        HoursElement,
        MenuElement,
        AdvancedMenuElement,
        VipElement,
        BlockElement,
        QueueElement,
        CallbackElement,
        VoicemailElement,
        TransferElement,
        GotoIvrElement,
        PlayElement,
        HangupElement,
    ],
    Field(discriminator="type"),
]


class Ivr(Model):
    description: Comment | None = None
    start: Ident
    elements: dict[Ident, Element]


class Entry(Model):
    ivr: Ident
    name: Text | None = None
    fallback: DestinationText | None = None


_checked_destinations: dict[str, str] = {}


def _route_destination(text: str) -> str:
    """DestinationText's check, once per distinct text: 100 000 rows name a few hundred.
    (A plain dict rather than functools.lru_cache: a C-level cache hit runs no Python
    code, so a reload in a service thread would hold the GIL through the whole list.)"""
    checked = _checked_destinations.get(text)
    if checked is None:
        checked = str(parse_destination(text))
        if len(_checked_destinations) < 4096:
            _checked_destinations[text] = checked
    return checked


RouteDestination = Annotated[str, AfterValidator(_route_destination)]


class RoutingList(Model):
    description: Comment | None = None
    # A CSV (value,destination) or Excel file next to the site YAML.
    file: str | None = None
    entries: dict[Annotated[str, Field(pattern=r"^\s*[0-9]+(\s*-\s*[0-9]+)?\s*$")], RouteDestination] = {}


class CallerList(Model):
    description: Comment | None = None
    numbers: list[Annotated[str, Field(min_length=1, max_length=40)]] = []
    file: str | None = None


class Storage(Model):
    # SQLAlchemy URL; default sqlite:////var/lib/pbxctl/<site>.db. PBXCTL_DATABASE_URL overrides.
    url: str | None = None
    # This PBX node's name in the books (several nodes may share one database); default
    # the host name.
    node: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None


class ServiceSettings(Model):
    """Where pbxctl's service answers HTTP: /metrics for Prometheus and the /api the
    `pbxctl agent|status|queues|agents` commands use. Beyond loopback it requires a bearer
    token (service/api_token.py)."""

    host: Host = "127.0.0.1"
    port: Port = 9464
    # Required on every request when set; the service refuses a host beyond loopback
    # without it (or PBXCTL_API_TOKEN).
    token: Secret | None = None
    # `json` for log shippers; `--log-format` and PBXCTL_LOG_FORMAT override it.
    log_format: Literal["text", "json"] = "text"


FeatureCode = Annotated[str, Field(pattern=r"^\*?[0-9]{1,6}$")]


class FeatureCodes(Model):
    """Codes agents dial from their desk phones ([pbxctl-features] in the dialplan)."""

    agent_login: FeatureCode = "*45"   # log in to / out of every queue (toggle)
    agent_pause: FeatureCode = "*46"   # pause / unpause in every queue (toggle)
    callback_next: FeatureCode = "*47"  # take the next callback of the agent's queues and dial it


# After Model, Port and the secret types: alerts_model builds on them.
from pbxctl.site.alerts_model import Alerts  # noqa: E402
from pbxctl.site.callbacks_model import Callbacks  # noqa: E402
from pbxctl.site.reports_model import Reports  # noqa: E402
from pbxctl.site.supervision_model import DeskPhone, Supervision, Supervisor  # noqa: E402


class Site(Model):
    site: Ident
    description: Comment | None = None
    numbering: Numbering
    pbx: PbxSettings
    storage: Storage = Storage()
    service: ServiceSettings = ServiceSettings()
    feature_codes: FeatureCodes = FeatureCodes()
    alerts: Alerts = Alerts()
    reports: Reports = Reports()
    callbacks: Callbacks = Callbacks()
    agents: dict[Ident, Agent] = {}
    supervisors: dict[Ident, Supervisor] = {}
    supervision: Supervision = Supervision()
    desk_phone: DeskPhone = DeskPhone()
    queues: dict[Ident, Queue] = {}
    hours: dict[Ident, Hours] = {}
    entries: dict[EntryNumber, Entry] = {}
    ivrs: dict[Ident, Ivr] = {}
    routing_lists: dict[Ident, RoutingList] = {}
    lists: dict[Ident, CallerList] = {}
