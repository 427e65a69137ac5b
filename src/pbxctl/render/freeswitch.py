"""The FreeSWITCH generator: mod_callcenter queues/agents/tiers and the pbxctl dialplan context.

Python turns the site model into plain view data (dataclasses, lists in YAML order); the
templates under dialplan/freeswitch/ only lay it out, so an engineer can read them to see
what will run. Same YAML in, byte-identical files out: nothing here reads the clock, the
environment or the file system, and nothing the YAML orders is re-sorted.

Mod_callcenter facts this relies on (checked against mod_callcenter.c, FreeSWITCH 1.10):
- agents are taken in tier `level` order first for every strategy; the first agent that is
  idle (status Available, state Waiting, past wrap-up and delay times) is offered the call,
  except with ring-all, which offers every such agent;
- with tier-rules-apply, a member starts at tier 0 and may move to a higher level only when
  the previous level had no logged-in agent (tier-rule-no-agent-no-wait) or after waiting
  tier-rule-wait-second (times the level with tier-rule-wait-multiply-level); agents_callback
  checks `level > tier` with tier starting at 0, so agents of level 0 are never held back.
  That is why pbxctl writes level = priority (0 first), not priority + 1: with priority + 1
  priority p opened after (p+1) steps, and priority 0 only through no-agent-no-wait;
- "logged in" for the tier rules and for max-wait-time-with-no-agent means status
  Available, Available (On Demand) or On Break.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as xml_escape

from markupsafe import Markup

from pbxctl.site import model as m
from pbxctl.site.load import LoadedSite
from pbxctl.site.values import Destination, parse_destination
from pbxctl.render.safe_output import check_xml_file, checked, comment_text
from pbxctl.render.templates import header_lines, render
from pbxctl.freeswitch import wire

CONTEXT = "pbxctl"
# Include files in directories of their own, which no stock glob (autoload_configs/*.xml,
# dialplan/*.xml, dialplan/default/*.xml) reads: each is loaded exactly once, by the one
# X-PRE-PROCESS include line `pbxctl apply` adds to the operator's file named below.
QUEUES_PATH = "autoload_configs/pbxctl/callcenter-queues.xml"
AGENTS_PATH = "autoload_configs/pbxctl/callcenter-agents.xml"
TIERS_PATH = "autoload_configs/pbxctl/callcenter-tiers.xml"
DIALPLAN_PATH = "dialplan/pbxctl/pbxctl.xml"
# The operator's file that includes each, and the closing tag the include line goes before.
# FreeSWITCH resolves a relative include against the including file's directory (the stock
# dialplan/default.xml includes "default/*.xml" that way).
CALLCENTER_CONF = "autoload_configs/callcenter.conf.xml"
DIALPLAN_CONF = "dialplan/default.xml"
INCLUDES = {
    QUEUES_PATH: (CALLCENTER_CONF, "</queues>"),
    AGENTS_PATH: (CALLCENTER_CONF, "</agents>"),
    TIERS_PATH: (CALLCENTER_CONF, "</tiers>"),
    DIALPLAN_PATH: (DIALPLAN_CONF, "</include>"),
}

# A waiting caller's cc_base_score per point of caller_priority. mod_callcenter serves the
# highest score first, and the score is (seconds waited + base score): an hour per point
# puts a higher priority ahead of anyone who has not waited an hour longer, which is how
# app_queue's strict priorities behave in practice.
PRIORITY_SCORE_SECONDS = 3600

# "Never" for tier-rule-wait-second (mod_callcenter's maximum is 86400).
TIER_WAIT_FOREVER = 86400

# exit_when_empty / join_empty: seconds a queue must have had no logged-in agent before its
# callers are sent on (max-wait-time-with-no-agent); 0 would switch the check off.
NO_AGENT_SECONDS = 5
# mod_callcenter's own default for max-wait-time-with-no-agent-time-reached.
NO_AGENT_JOIN_GRACE_DEFAULT = 5

# North-American ringback (440+480 Hz, 2 s on, 4 s off), FreeSWITCH's stock ring tone.
RINGING_SOUND = "tone_stream://%(2000,4000,440,480)"

# Agents never go On Break by themselves for unanswered offers (0 disables the counter);
# app_queue does not autopause either, so both backends behave alike.
MAX_NO_ANSWER = 0

# Asterisk's 'retry' of a queue: the agent is not offered again for this long after a
# no-answer, reject or busy. An agent in several queues takes the longest.
DEFAULT_RETRY: int = m.Queue.model_fields["retry"].default


# --- destinations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One dialplan <action application=... data=...>."""

    app: str
    data: str = ""


def destination_action(dest: Destination | str, fs: m.FreeswitchSettings) -> Action:
    """Where a call goes when it leaves pbxctl's control: the one mapping for the backend."""
    if isinstance(dest, str):
        dest = parse_destination(dest)
    if dest.kind == "queue":
        return Action("transfer", f"{queue_extension(dest.target)} XML {CONTEXT}")
    if dest.kind == "ivr":
        return Action("transfer", f"{ivr_extension(dest.target)} XML {CONTEXT}")
    if dest.kind == "voicemail":
        return Action("voicemail", f"{fs.voicemail_profile} {fs.voicemail_domain} {dest.target}")
    if dest.kind in ("transfer", "extension"):
        return Action("transfer", f"{dest.target} XML {fs.dialplan_context}")
    if dest.kind == "hangup":
        return Action("hangup")
    raise ValueError(f"no FreeSWITCH mapping for destination {dest}")


queue_extension = wire.queue_extension
ivr_extension = wire.ivr_extension


def callcenter_queue_name(queue_id: str, fs: m.FreeswitchSettings) -> str:
    return wire.callcenter_queue(queue_id, fs.queue_domain)


_REGEX_SPECIALS = re.compile(r"([\\^$.|?*+()\[\]{}])")


def regex_literal(value: str) -> str:
    """`value` as a PCRE literal. Unlike re.escape, leaves '-' alone, so the expressions stay
    readable (pbxctl-queue-support, not pbxctl\\-queue\\-support)."""
    return _REGEX_SPECIALS.sub(r"\\\1", value)


def exact(value: str) -> str:
    """A destination_number expression matching exactly `value`."""
    return f"^{regex_literal(value)}$"


def attr_text(text: str) -> Markup:
    """Free text for a double-quoted attribute, escaped by hand so an apostrophe stays an
    apostrophe (autoescape would write &#39;, legal but unreadable)."""
    return Markup(xml_escape(text, {'"': "&quot;"}))


def comment(text: str) -> Markup:
    """Text safe inside <!-- -->: no '--', no trailing '-'. Marked safe so autoescaping
    does not turn quotes into entities, which comments would show verbatim."""
    text = comment_text(" ".join(text.split()))
    while "--" in text:
        text = text.replace("--", "- -")
    if text.endswith("-"):
        text += " "
    return Markup(text)


# --- callcenter.conf.xml ---------------------------------------------------------------------


@dataclass(frozen=True)
class TierRules:
    apply: bool
    wait_second: int
    multiply_level: bool
    no_agent_no_wait: bool


# Levels strictly in order, the first idle agent wins: level is mod_callcenter's first sort
# key for every strategy, so no tier rule is needed (with rules, a level whose agents are
# logged in but busy or On Break would hold back the next level).
BY_LEVEL = TierRules(apply=False, wait_second=0, multiply_level=False, no_agent_no_wait=True)


class NotOnFreeswitch(ValueError):
    """A site feature mod_callcenter cannot do (validation says so first)."""


@dataclass(frozen=True)
class StrategyMap:
    strategy: str  # mod_callcenter's name
    note: str
    rules: TierRules | None = None  # None: computed (escalating)


STRATEGIES: dict[m.Strategy, StrategyMap] = {
    m.Strategy.round_robin: StrategyMap(
        "longest-idle-agent", "the longest-idle agent of the lowest priority group with someone idle", BY_LEVEL
    ),
    m.Strategy.ring_all: StrategyMap("ring-all", "every idle agent of every priority group at once", BY_LEVEL),
    m.Strategy.ring_all_priority: StrategyMap(
        "ring-all",
        "every idle agent of the lowest priority group that has a logged-in agent"
        " (busy or On Break agents still hold their group)",
        TierRules(apply=True, wait_second=TIER_WAIT_FOREVER, multiply_level=False, no_agent_no_wait=True),
    ),
    m.Strategy.escalating: StrategyMap("ring-all", "every idle agent of the open priority groups at once"),
    m.Strategy.fewest_calls: StrategyMap(
        "agent-with-fewest-calls",
        "the idle agent with the fewest answered calls, lowest priority group first",
        BY_LEVEL,
    ),
    m.Strategy.random: StrategyMap("random", "a random idle agent, lowest priority group first", BY_LEVEL),
    m.Strategy.linear: StrategyMap("top-down", "agents in the order listed, lowest priority group first", BY_LEVEL),
    m.Strategy.least_talk_time: StrategyMap(
        "agent-with-least-talk-time", "the idle agent with the least talk time, lowest priority group first", BY_LEVEL
    ),
    m.Strategy.round_robin_memory: StrategyMap(
        "round-robin", "round robin, continuing after the agent who was offered the last call", BY_LEVEL
    ),
}


@dataclass(frozen=True)
class QueueConf:
    id: str
    name: str  # NAME@DOMAIN
    title: Markup
    strategy: str
    strategy_note: Markup
    moh_sound: str
    max_wait_time: int
    max_wait_time_with_no_agent: int
    max_wait_time_with_no_agent_time_reached: int
    tier_rules: TierRules
    announce_sound: str | None
    announce_frequency: int
    notes: list[Markup] = field(default_factory=list)


@dataclass(frozen=True)
class AgentConf:
    name: str
    title: Markup
    contact: str
    status: str
    max_no_answer: int
    wrap_up_time: int
    reject_delay_time: int
    busy_delay_time: int
    no_answer_delay_time: int


@dataclass(frozen=True)
class TierConf:
    agent: str
    queue: str
    level: int
    position: int


@dataclass(frozen=True)
class CallcenterView:
    header: list[Markup]
    queues: list[QueueConf]
    agents: list[AgentConf]
    tiers: list[TierConf]


def strategy_for(queue_id: str, queue: m.Queue) -> tuple[StrategyMap, TierRules]:
    mapping = STRATEGIES.get(queue.strategy)
    if mapping is None:
        raise NotOnFreeswitch(
            f"queue {queue_id!r}: strategy {queue.strategy.value!r} is not available on freeswitch"
            " (mod_callcenter has no weighted random strategy)"
        )
    if queue.strategy is m.Strategy.escalating:
        # mod_callcenter opens level L once the caller has waited L x tier-rule-wait-second
        # (multiply-level); level 0 (priority 0) is never held back. So priority p opens
        # after p steps, as the site model says. no-agent-no-wait is false: with true, a
        # group with nobody logged in would let the next one ring at once, while the site
        # model (and queue_strategy) open groups by time only.
        if queue.escalation_step is None:  # the model requires it
            raise NotOnFreeswitch(f"queue {queue_id!r}: escalating needs escalation_step")
        return mapping, TierRules(
            apply=True, wait_second=queue.escalation_step, multiply_level=True, no_agent_no_wait=False
        )
    if mapping.rules is None:
        raise NotOnFreeswitch(f"queue {queue_id!r}: no tier rules for strategy {queue.strategy.value!r}")
    return mapping, mapping.rules


def moh_sound(queue: m.Queue) -> tuple[str, list[str]]:
    music = "local_stream://moh" if queue.music_class == "default" else f"local_stream://{queue.music_class}"
    if queue.waiting == "ringing":
        return RINGING_SOUND, []
    if queue.waiting == "music_then_ringing":
        # Validation rejects this for backend freeswitch; it is only reached when a site
        # validated for another backend is rendered for FreeSWITCH (e.g. a preview).
        return music, ["waiting 'music_then_ringing' is not available in mod_callcenter: callers hear music only"]
    return music, []


def no_agent_times(queue: m.Queue) -> tuple[int, int]:
    """(max-wait-time-with-no-agent, max-wait-time-with-no-agent-time-reached)."""
    if queue.join_empty and not queue.exit_when_empty:
        return 0, NO_AGENT_JOIN_GRACE_DEFAULT
    return NO_AGENT_SECONDS, 0 if not queue.join_empty else NO_AGENT_JOIN_GRACE_DEFAULT


def queue_conf(queue_id: str, queue: m.Queue, fs: m.FreeswitchSettings) -> QueueConf:
    mapping, rules = strategy_for(queue_id, queue)
    sound, notes = moh_sound(queue)
    no_agent, join_grace = no_agent_times(queue)
    announce = queue.announce
    announce_sound = announce.prompt if announce.prompt and announce.interval else None
    if announce.position or announce.hold_time:
        # validation warns about this too (site/freeswitch_checks.py)
        notes.append("announce position/hold_time: mod_callcenter cannot say either; only the periodic prompt plays")
    if not queue.join_empty and not queue.exit_when_empty:
        notes.append(
            "join_empty: false also sends waiting callers on when the last agent logs out"
            " (mod_callcenter has one no-agent rule)"
        )
    if announce.prompt and not announce.interval:
        notes.append("announce.prompt without an interval is not played")
    note = mapping.note
    if queue.strategy is m.Strategy.escalating:
        step = queue.escalation_step
        note = (
            f"{note}; priority 0 at once, priority p from p x {step} s of waiting (level = priority)"
        )
    title = queue.display_name or queue_id
    return QueueConf(
        id=queue_id,
        name=callcenter_queue_name(queue_id, fs),
        title=comment(f"{title} ({queue.strategy.value})"),
        strategy=mapping.strategy,
        strategy_note=comment(note),
        moh_sound=sound,
        max_wait_time=queue.max_wait or 0,
        max_wait_time_with_no_agent=no_agent,
        max_wait_time_with_no_agent_time_reached=join_grace,
        tier_rules=rules,
        announce_sound=announce_sound,
        announce_frequency=announce.interval if announce_sound else 0,
        notes=[comment(n) for n in notes],
    )


def agent_queues(site: m.Site, agent_id: str) -> dict[str, m.Queue]:
    return {qid: q for qid, q in site.queues.items() if any(mem.agent == agent_id for mem in q.members)}


def agent_wrapup(site: m.Site, agent_id: str) -> int:
    """mod_callcenter keeps one wrap-up per agent, whatever the queue: the agent's own, else
    the longest of its queues' (validation warns when its queues differ)."""
    agent = site.agents[agent_id]
    if agent.wrapup is not None:
        return agent.wrapup
    return max((q.wrapup for q in agent_queues(site, agent_id).values()), default=0)


def agent_retry(site: m.Site, agent_id: str) -> int:
    """The reject/busy/no-answer delay, also per agent: the longest retry of its queues."""
    return max((q.retry for q in agent_queues(site, agent_id).values()), default=DEFAULT_RETRY)


def tier_level(queue: m.Queue, member: m.Member) -> int:
    """A member's tier level: its priority (0 first; see the module docstring for why not
    priority + 1). ring_all rings everyone, as penalty_for does on Asterisk."""
    return 0 if queue.strategy is m.Strategy.ring_all else member.priority


def agent_conf(agent_id: str, agent: m.Agent, site: m.Site) -> AgentConf:
    fs = site.pbx.freeswitch
    wrapup = agent_wrapup(site, agent_id)
    retry = agent_retry(site, agent_id)
    contact = agent.device.freeswitch or fs.contact_template.replace("{extension}", agent.extension)
    return AgentConf(
        name=agent_id,
        title=comment(f"{agent.name}, extension {agent.extension}, {agent.login}"),
        contact=contact,
        status="Logged Out" if agent.login == "dynamic" else "Available",
        max_no_answer=MAX_NO_ANSWER,
        wrap_up_time=wrapup,
        reject_delay_time=retry,
        busy_delay_time=retry,
        no_answer_delay_time=retry,
    )


def callcenter_view(loaded: LoadedSite) -> CallcenterView:
    site = loaded.site
    fs = site.pbx.freeswitch
    tiers = [
        TierConf(agent=member.agent, queue=callcenter_queue_name(qid, fs), level=tier_level(queue, member), position=i)
        for qid, queue in site.queues.items()
        for i, member in enumerate(queue.members, start=1)
    ]
    return CallcenterView(
        header=[comment(line) for line in header_lines(loaded)],
        queues=[queue_conf(qid, q, fs) for qid, q in site.queues.items()],
        agents=[agent_conf(aid, a, site) for aid, a in site.agents.items()],
        tiers=tiers,
    )


# The three include files of the operator's callcenter.conf.xml.
def render_callcenter_queues(loaded: LoadedSite) -> str:
    return render("freeswitch/callcenter-queues.xml.j2", view=callcenter_view(loaded))


def render_callcenter_agents(loaded: LoadedSite) -> str:
    return render("freeswitch/callcenter-agents.xml.j2", view=callcenter_view(loaded))


def render_callcenter_tiers(loaded: LoadedSite) -> str:
    return render("freeswitch/callcenter-tiers.xml.j2", view=callcenter_view(loaded))


# --- dialplan/pbxctl.xml -----------------------------------------------------------------------


@dataclass(frozen=True)
class SocketExtension:
    """An entry number or an IVR: hand the call to pbxctl's outbound-socket service; when the
    socket app returns (service down, or it let go without transferring) take the fallback."""

    name: str
    expression: str
    title: Markup
    sets: list[tuple[str, str]]
    fallback: Action
    # sched_transfer argument: the fallback extension after `watchdog` seconds of silence
    watchdog: str = ""
    fallback_name: str = ""
    fallback_expression: str = ""


def socket_extension(
    site: m.Site, name: str, expression: str, title: Markup, sets: list[tuple[str, str]], fallback: str
) -> SocketExtension:
    out = site.pbx.freeswitch.outbound
    fb_name = wire.fallback_extension(name)
    return SocketExtension(
        name=name,
        expression=expression,
        title=title,
        sets=sets + [(wire.FALLBACK_EXTENSION, fb_name)],
        fallback=destination_action(fallback, site.pbx.freeswitch),
        watchdog=wire.watchdog(out.watchdog, fb_name),
        fallback_name=fb_name,
        fallback_expression=exact(fb_name),
    )


@dataclass(frozen=True)
class QueueExit:
    name: str
    expression: str
    when_empty: Action
    overflow: Action


@dataclass(frozen=True)
class QueueExtension:
    name: str
    expression: str
    title: Markup
    sets: list[tuple[str, str]]
    callcenter: str
    unsets: list[str]
    after: Action
    exit: QueueExit | None = None


@dataclass(frozen=True)
class AgentCodeExtension:
    """A desk-phone code: the same socket as the IVR, pbxctl_agent_code naming the action."""

    name: str
    expression: str
    title: Markup
    sets: list[tuple[str, str]]
    watchdog: str


def agent_code_extensions(site: m.Site) -> list[AgentCodeExtension]:
    out = site.pbx.freeswitch.outbound
    codes = (("login_toggle", site.feature_codes.agent_login, "log in to / out of every queue"),
             ("pause_toggle", site.feature_codes.agent_pause, "pause / unpause in every queue"))
    return [
        AgentCodeExtension(
            name=wire.agent_code_extension(action),
            expression=exact(code),
            title=comment(f"agent code {code}: {what} (the caller's extension names the agent)"),
            sets=[(wire.AGENT_CODE, action), (wire.FALLBACK_EXTENSION, wire.AGENT_CODE_FAILED)],
            watchdog=wire.watchdog(out.watchdog, wire.AGENT_CODE_FAILED),
        )
        for action, code, what in codes
    ]


@dataclass(frozen=True)
class DialplanView:
    header: list[Markup]
    reach: list[Markup]
    context: str
    socket: str
    entries: list[SocketExtension]
    ivrs: list[SocketExtension]
    queues: list[QueueExtension]
    agent_codes: list[AgentCodeExtension]
    agent_code_failed: str
    agent_code_failed_expression: str
    agent_code_failed_prompt: str


def entry_extensions(site: m.Site) -> list[SocketExtension]:
    fs = site.pbx.freeswitch
    seen: dict[str, str] = {}
    out = []
    for number, entry in site.entries.items():
        digits = number.removeprefix("+")
        if digits in seen:
            raise ValueError(
                f"entries {seen[digits]!r} and {number!r} are the same number to FreeSWITCH (^\\+?{digits}$)"
            )
        seen[digits] = number
        fallback = entry.fallback or site.pbx.fallback
        out.append(
            socket_extension(
                site,
                name=wire.entry_extension(number),
                # The leading + is optional and literal: trunks send both forms.
                expression=rf"^\+?{regex_literal(digits)}$",
                title=comment(f"entry {number}: {entry.name or 'no name'} -> IVR {entry.ivr}"),
                sets=[(wire.ENTRY, number), (wire.IVR, entry.ivr), (wire.FALLBACK, fallback)],
                fallback=fallback,
            )
        )
    return out


def ivr_extensions(site: m.Site) -> list[SocketExtension]:
    fs = site.pbx.freeswitch
    # Every IVR runs in the same service: if the socket failed for one IVR it fails for all,
    # so an IVR fallback here would only loop. Those fall back to hangup.
    fallback = site.pbx.fallback
    if parse_destination(fallback).kind == "ivr":
        fallback = "hangup"
    return [
        socket_extension(
            site,
            name=ivr_extension(ivr_id),
            expression=exact(ivr_extension(ivr_id)),
            title=comment(f"IVR {ivr_id}: {ivr.description or 'no description'}"),
            sets=[(wire.IVR, ivr_id), (wire.FALLBACK, fallback)],
            fallback=fallback,
        )
        for ivr_id, ivr in site.ivrs.items()
    ]


def queue_extensions(site: m.Site) -> list[QueueExtension]:
    fs = site.pbx.freeswitch
    out = []
    for qid, queue in site.queues.items():
        sets: list[tuple[str, str]] = [("hangup_after_bridge", "true")]
        unsets: list[str] = []
        if queue.caller_priority:
            sets.append(("cc_base_score", str(queue.caller_priority * PRIORITY_SCORE_SECONDS)))
        if queue.display_name:
            sets.append(("effective_caller_id_name", attr_text(queue.display_name)))
            unsets.append("effective_caller_id_name")
        if queue.number_prefix or queue.number_suffix:
            number = f"{queue.number_prefix}${{caller_id_number}}{queue.number_suffix}"
            sets.append(("effective_caller_id_number", number))
            unsets.append("effective_caller_id_number")
        # mod_callcenter has no ring time of its own; the agent originate takes the member's
        # variables named in cc_export_vars, and originate_timeout bounds each offer.
        sets += [("originate_timeout", str(queue.ring_time)), ("cc_export_vars", "originate_timeout")]
        unsets += ["originate_timeout", "cc_export_vars"]

        overflow = destination_action(queue.overflow or "hangup", fs)
        exit_ = None
        no_agent, _ = no_agent_times(queue)
        if (
            queue.when_empty is not None
            and no_agent
            and parse_destination(queue.when_empty) != parse_destination(queue.overflow or "hangup")
        ):
            exit_name = f"{queue_extension(qid)}-exit"
            exit_ = QueueExit(exit_name, exact(exit_name), destination_action(queue.when_empty, fs), overflow)
            after = Action("transfer", f"{exit_name} XML {CONTEXT}")
        else:
            after = overflow
        out.append(
            QueueExtension(
                name=queue_extension(qid),
                expression=exact(queue_extension(qid)),
                title=comment(f"queue {qid}: {queue.display_name or qid}"),
                sets=sets,
                callcenter=callcenter_queue_name(qid, fs),
                unsets=unsets,
                after=after,
                exit=exit_,
            )
        )
    return out


def reach_lines(site: m.Site) -> list[str]:
    """How calls get here: nothing routes into context pbxctl by itself. The operator's
    public context (where the SIP profile puts trunk calls) must transfer the entry numbers,
    just as it would to `default`."""
    digits = "|".join(regex_literal(n.removeprefix("+")) for n in site.entries) or "NUMBERS"
    return [
        f"Calls reach context {CONTEXT} from yours: in the public context (dialplan/public.xml, or the",
        "context your trunk's SIP profile names) add, before the extensions that would take them:",
        f'<extension name="to-pbxctl"><condition field="destination_number" expression="^\\+?({digits})$">',
        f'<action application="transfer" data="$0 XML {CONTEXT}"/></condition></extension>',
        "Desk phones reach the queues and IVRs by transferring to pbxctl-queue-NAME / pbxctl-ivr-NAME XML pbxctl,",
        f"and the agent codes ({site.feature_codes.agent_login}, {site.feature_codes.agent_pause}) by transferring them "
        f"as dialled to XML {CONTEXT}.",
    ]


def dialplan_view(loaded: LoadedSite) -> DialplanView:
    site = loaded.site
    out = site.pbx.freeswitch.outbound
    return DialplanView(
        header=[comment(line) for line in header_lines(loaded)],
        reach=[comment(line) for line in reach_lines(site)],
        context=CONTEXT,
        socket=f"{out.host}:{out.port} async full",
        entries=entry_extensions(site),
        ivrs=ivr_extensions(site),
        queues=queue_extensions(site),
        agent_codes=agent_code_extensions(site),
        agent_code_failed=wire.AGENT_CODE_FAILED,
        agent_code_failed_expression=exact(wire.AGENT_CODE_FAILED),
        agent_code_failed_prompt=wire.AGENT_CODE_PROMPTS["failed"],
    )


def render_freeswitch_dialplan(loaded: LoadedSite) -> str:
    return render("freeswitch/pbxctl-dialplan.xml.j2", view=dialplan_view(loaded))


def generate_freeswitch(loaded: LoadedSite) -> dict[str, str]:
    """Relative output path (under the FreeSWITCH conf dir) -> file text, every file
    rendered and checked before the caller writes any of them."""
    renderers = {
        QUEUES_PATH: render_callcenter_queues,
        AGENTS_PATH: render_callcenter_agents,
        TIERS_PATH: render_callcenter_tiers,
        DIALPLAN_PATH: render_freeswitch_dialplan,
    }
    return checked(loaded, renderers, check_xml_file)
