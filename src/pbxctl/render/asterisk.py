"""Asterisk include files from a validated site: extensions, queues and queue rules.

Python decides what goes where (strategy mapping, penalties, Goto targets); the templates
under dialplan/asterisk/ lay it out.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbxctl.asterisk.member_actions import agent_interface, penalty_for
from pbxctl.asterisk import wire
from pbxctl.asterisk.wire import CONTEXTS, DYNAMIC_FEATURES, ivr_context, rule_name
from pbxctl.render.asterisk_targets import destination_target, step_target
from pbxctl.render.safe_output import check_asterisk_file, checked
from pbxctl.render.templates import header_lines, render
from pbxctl.site import model as m
from pbxctl.site.values import is_destination
from pbxctl.site.load import LoadedSite
from pbxctl.site.supervision_model import BARGE_MODES
from pbxctl.site.values import is_ipv6

EXTENSIONS_FILE = "extensions_pbxctl.conf"
QUEUES_FILE = "queues_pbxctl.conf"
QUEUERULES_FILE = "queuerules_pbxctl.conf"
FEATURES_FILE = "features_pbxctl.conf"

# app_queue strategy per site strategy. Priority groups become penalties (see penalty_for).
ENGINE_STRATEGY = {
    m.Strategy.round_robin: "leastrecent",
    m.Strategy.ring_all: "ringall",
    m.Strategy.ring_all_priority: "ringall",
    m.Strategy.escalating: "ringall",
    m.Strategy.fewest_calls: "fewestcalls",
    m.Strategy.random: "random",
    m.Strategy.linear: "linear",
    m.Strategy.round_robin_memory: "rrmemory",
    m.Strategy.weighted_random: "wrandom",
}

# What a caller who pressed the keep-place key hears unless the queue names its own prompt:
# "press 1 (your own number), or enter the number to call, then pound".
KEEP_PLACE_PROMPT = "vm-press&digits/1&vm-enter-num-to-call&vm-then-pound"

# Callers may not join / must leave when every member is in one of these states.
EMPTY_CONDITIONS = "paused,invalid,unavailable"


def queue_options(queue: m.Queue) -> str:
    # t: the agent may transfer the caller (transfers with and without return).
    options = "t"
    if queue.waiting == "ringing":
        options += "r"
    elif queue.waiting == "music_then_ringing":
        options += "R"
    return options


@dataclass(frozen=True)
class AgiAddress:
    """HOST:PORT of agi://HOST:PORT/script (an IPv6 address goes in brackets, which
    Asterisk's address parser reads as [ADDRESS]:PORT), and how long the dialplan lets an
    AGI step hold the call."""

    host: str
    port: int
    # TIMEOUT(absolute) around the decide step and around the desk-phone code steps.
    hold_s: str
    code_hold_s: str


def agi_address(fastagi: m.FastAgiSettings) -> AgiAddress:
    host = f"[{fastagi.host}]" if is_ipv6(fastagi.host) else fastagi.host
    return AgiAddress(
        host,
        fastagi.port,
        hold_s=wire.agi_hold_s(fastagi.timeout_ms / 1000),
        code_hold_s=wire.agi_hold_s(wire.CODE_SCRIPT_TIMEOUT_S),
    )


@dataclass(frozen=True)
class EscalationStep:
    after: int
    max_penalty: int
    raise_to: int


def escalation_steps(queue: m.Queue) -> list[EscalationStep]:
    """Priority 0 first; after each step one more group joins, all ringing together."""
    top = max((mem.priority for mem in queue.members), default=0)
    step = queue.escalation_step or 0
    return [EscalationStep(step * k, k, k) for k in range(1, top + 1)]


def _queue_view(loaded: LoadedSite, name: str, queue: m.Queue) -> dict:
    site = loaded.site
    members = []
    for mem in queue.members:
        agent = site.agents[mem.agent]
        if agent.login != "static":
            continue
        iface = agent_interface(site, agent)
        members.append(
            {
                "interface": iface,
                "penalty": penalty_for(queue, mem),
                "name": agent.name,
                "state_interface": iface,
                "options": "" if agent.wrapup is None else f",no,{agent.wrapup}",
            }
        )
    fallback_dest = "hangup"
    overflow = queue.overflow or fallback_dest
    announce = queue.announce
    keep = site.callbacks.queues.get(name)
    keep_key = keep.keep_place_key if keep is not None else None
    # The keep-place offer is one more periodic announcement (app_queue plays them in turn).
    periodic = [p for p in (announce.prompt, keep.keep_place_offer if keep_key else None) if p]
    return {
        "name": name,
        "display_name": queue.display_name,
        "strategy": queue.strategy.value,
        "engine_strategy": ENGINE_STRATEGY[queue.strategy],
        "ring_time": queue.ring_time,
        "retry": queue.retry,
        "wrapup": queue.wrapup,
        "service_level": queue.service_level,
        "music_class": queue.music_class,
        "joinempty": "yes" if queue.join_empty else EMPTY_CONDITIONS,
        "leavewhenempty": EMPTY_CONDITIONS if queue.exit_when_empty else "no",
        "announce_position": announce.position,
        "announce_holdtime": announce.hold_time,
        "announce_frequency": announce.interval if (announce.position or announce.hold_time) else 0,
        "periodic_announce": ",".join(periodic) if announce.interval and periodic else None,
        "announce_interval": announce.interval,
        "rule": rule_name(name) if queue.strategy is m.Strategy.escalating else None,
        "escalating": queue.strategy is m.Strategy.escalating,
        "members": members,
        "max_wait": queue.max_wait,
        "options": queue_options(queue),
        "caller_priority": queue.caller_priority,
        "number_prefix": queue.number_prefix,
        "number_suffix": queue.number_suffix,
        "overflow": destination_target(site, overflow),
        "when_empty": destination_target(site, queue.when_empty or overflow),
        # The same texts for the books (PBXCTLEXIT): validated destinations, never `|` or `,`.
        "overflow_text": overflow,
        "when_empty_text": queue.when_empty or overflow,
        "keep_key": keep_key,
        "keep_context": wire.keep_key_context(name) if keep_key else None,
        "keep_prompt": (keep.keep_place_prompt or KEEP_PLACE_PROMPT) if keep_key else None,
    }


def render_queues_conf(loaded: LoadedSite) -> str:
    queues = [_queue_view(loaded, name, q) for name, q in loaded.site.queues.items()]
    return render("asterisk/queues_pbxctl.conf.j2", header=header_lines(loaded), queues=queues)


def render_queuerules_conf(loaded: LoadedSite) -> str:
    rules = [
        {"name": rule_name(name), "steps": escalation_steps(q)}
        for name, q in loaded.site.queues.items()
        if q.strategy is m.Strategy.escalating
    ]
    return render("asterisk/queuerules_pbxctl.conf.j2", header=header_lines(loaded), rules=rules)


def _element_view(site: m.Site, ivr_name: str, el_id: str, el) -> dict:
    view: dict = {"id": el_id, "type": el.type, "ivr": ivr_name}
    go = lambda step: step_target(site, ivr_name, step)  # noqa: E731
    if isinstance(el, (m.MenuElement, m.AdvancedMenuElement)):
        view.update(
            prompt=el.prompt,
            timeout=el.timeout,
            invalid_prompt=el.invalid_prompt,
            max_digits=1 if isinstance(el, m.MenuElement) else el.max_digits,
            # A one-key menu may offer '#': no terminator key then.
            read_options="" if isinstance(el, m.AdvancedMenuElement) else "t()" if "#" in el.options else "",
        )
    elif isinstance(el, m.PlayElement):
        view.update(prompt=el.prompt, next=go(el.next))
    elif isinstance(el, m.QueueElement):
        view.update(
            queue=el.queue,
            priority="" if el.priority is None else el.priority,
            next=go(el.next) if el.next else f"{CONTEXTS.queue_exit},{el.queue},1",
            # Where the books say the caller went: `next` when it leaves the IVR, else back
            # into this IVR; without `next` the queue's own overflow/when_empty (queue-run).
            exit_to="" if not el.next else el.next if is_destination(el.next) else f"ivr:{ivr_name}",
        )
    elif isinstance(el, m.CallbackElement):
        view.update(prompt=el.prompt, ask_number=el.ask_number, confirm_prompt=el.confirm_prompt, queue=el.queue)
    elif isinstance(el, m.VoicemailElement):
        view.update(mailbox=el.mailbox, vm_options={"unavailable": ",u", "busy": ",b", "none": ",s"}[el.greeting])
    elif isinstance(el, m.TransferElement):
        view.update(target=destination_target(site, f"transfer:{el.number}"))
    elif isinstance(el, m.GotoIvrElement):
        view.update(target=destination_target(site, f"ivr:{el.ivr}"))
    elif isinstance(el, m.HangupElement):
        view.update(prompt=el.prompt)
    return view


def render_extensions_conf(loaded: LoadedSite) -> str:
    site = loaded.site
    ast = site.pbx.asterisk
    entries = [
        {
            "number": number,
            "name": entry.name or f"entry {number}",
            "ivr": entry.ivr,
            "target": f"{ivr_context(entry.ivr)},{site.ivrs[entry.ivr].start},1",
            "fallback": destination_target(site, entry.fallback or site.pbx.fallback),
        }
        for number, entry in site.entries.items()
    ]
    ivrs = [
        {
            "name": name,
            "description": ivr.description,
            "elements": [_element_view(site, name, el_id, el) for el_id, el in ivr.elements.items()],
        }
        for name, ivr in site.ivrs.items()
    ]
    queues = [_queue_view(loaded, name, q) for name, q in site.queues.items()]
    return render(
        "asterisk/extensions_pbxctl.conf.j2",
        header=header_lines(loaded),
        entries=entries,
        default_fallback=destination_target(site, site.pbx.fallback),
        agi=agi_address(ast.fastagi),
        ivrs=ivrs,
        queues=queues,
        voicemail_context=ast.voicemail_context,
        outbound_context=ast.outbound_context,
        internal_context=ast.internal_context,
        codes=site.feature_codes,
        barge_codes=[(mode, site.supervision.codes.for_mode(mode)) for mode in BARGE_MODES],
        keys=site.supervision.keys,
        in_call=site.desk_phone.in_call,
        transfers=site.desk_phone.transfers,
        conference=site.desk_phone.conference,
        dynamic_features="#".join(DYNAMIC_FEATURES),
        # keep my place: which agent an interface that answered a placeholder is
        keep_place_agents=[(name, agent_interface(site, agent)) for name, agent in site.agents.items()],
        **wire_names(),
    )


def wire_names() -> dict:
    """The names of asterisk/wire.py the templates lay out (contexts, user events, AGI
    scripts, dynamic features)."""
    return {
        "ctx": wire.CONTEXTS,
        "ivr_context": wire.ivr_context,
        "ev": wire.EVENTS,
        "script": wire.SCRIPTS,
        "feature": wire.FEATURES,
        "room": wire.ROOM_PREFIXES,
        "queue_log_conference": wire.QUEUE_LOG_CONFERENCE,
        "queue_log_transfer": wire.QUEUE_LOG_TRANSFER,
        "queue_log_help": wire.QUEUE_LOG_HELP,
        "queue_log_end": wire.QUEUE_LOG_END,
        "xfer": wire.XFER_STEPS,
        "queue_log_callback": wire.QUEUE_LOG_CALLBACK,
        "queue_log_callback_result": wire.QUEUE_LOG_CALLBACK_RESULT,
    }


def render_features_conf(loaded: LoadedSite) -> str:
    """The in-call codes that run pbxctl dialplan ([applicationmap] entries; the agent's leg
    enables them through DYNAMIC_FEATURES)."""
    return render("asterisk/features_pbxctl.conf.j2", header=header_lines(loaded),
                  in_call=loaded.site.desk_phone.in_call, **wire_names())


def generate_asterisk(loaded: LoadedSite) -> dict[str, str]:
    """Every file rendered and checked before the caller writes any of them."""
    return checked(
        loaded,
        {
            EXTENSIONS_FILE: render_extensions_conf,
            QUEUES_FILE: render_queues_conf,
            QUEUERULES_FILE: render_queuerules_conf,
            FEATURES_FILE: render_features_conf,
        },
        check_asterisk_file,
    )
