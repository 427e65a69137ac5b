"""The double's mod_callcenter and XML registry, for `pbxctl apply` tests: state that
`callcenter_config` commands change and list, and a `reloadxml` that reads the operator's
files in a config directory (X-PRE-PROCESS includes spliced, relative to the including
file's directory) the way FreeSWITCH's preprocessor does.

Replies are the recorded ones (tests/fixtures/esl/freeswitch-1.10.12-cc-tier-changes.txt,
-cc-agent-status-changes.txt, -reload.txt): `+OK\\n`, the `-ERR ...!` texts, list tables
with the recorded columns ending in `+OK`, `+OK [Success]` / `+OK [[error near line N]: ...]`.
Taken from mod_callcenter.c rather than a recording: `queue load/reload` adds the queue's
tiers from the XML; `agent add` starts an agent Logged Out; `agent del` and `tier del` of
something absent answer +OK.
"""

from __future__ import annotations

import glob
import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pbxctl.freeswitch.esl_protocol import Event, FrameReader, event_of

QUEUE_COLUMNS = (
    "name|strategy|moh_sound|time_base_score|tier_rules_apply|tier_rule_wait_second|tier_rule_wait_multiply_level|"
    "tier_rule_no_agent_no_wait|discard_abandoned_after|abandoned_resume_allowed|max_wait_time|"
    "max_wait_time_with_no_agent|max_wait_time_with_no_agent_time_reached|record_template|calls_answered|"
    "calls_abandoned|ring_progressively_delay|skip_agents_with_external_calls|agent_no_answer_status"
).split("|")
AGENT_COLUMNS = (
    "name|instance_id|uuid|type|contact|status|state|max_no_answer|wrap_up_time|reject_delay_time|busy_delay_time|"
    "no_answer_delay_time|last_bridge_start|last_bridge_end|last_offered_call|last_status_change|no_answer_count|"
    "calls_answered|talk_time|ready_time|external_calls_count"
).split("|")
TIER_COLUMNS = ["queue", "agent", "state", "level", "position"]
MEMBER_COLUMNS = (
    "queue|instance_id|uuid|session_uuid|cid_number|cid_name|system_epoch|joined_epoch|rejoined_epoch|bridge_epoch|"
    "abandoned_epoch|base_score|skill_score|serving_agent|serving_system|state|score"
).split("|")
CHANNEL_COLUMNS = (
    "uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,application,application_data,"
    "dialplan,context,read_codec,read_rate,read_bit_rate,write_codec,write_rate,write_bit_rate,secure,hostname,"
    "presence_id,presence_data,accountcode,callstate,callee_name,callee_num,callee_direction,call_uuid,"
    "sent_callee_name,sent_callee_num,initial_cid_name,initial_cid_num,initial_ip_addr,initial_dest,"
    "initial_dialplan,initial_context"
).split(",")
# mod_callcenter's queue defaults (queue_set_config), as `queue list` shows them.
QUEUE_DEFAULTS = {
    "strategy": "longest-idle-agent", "moh_sound": "", "time_base_score": "queue", "tier_rules_apply": "false",
    "tier_rule_wait_second": "0", "tier_rule_wait_multiply_level": "false", "tier_rule_no_agent_no_wait": "true",
    "discard_abandoned_after": "60", "abandoned_resume_allowed": "false", "max_wait_time": "0",
    "max_wait_time_with_no_agent": "0", "max_wait_time_with_no_agent_time_reached": "5", "record_template": "",
    "calls_answered": "0", "calls_abandoned": "0", "ring_progressively_delay": "0",
    "skip_agents_with_external_calls": "true", "agent_no_answer_status": "On Break",
}  # fmt: skip
STATUSES = ("Logged Out", "Available", "Available (On Demand)", "On Break")
STATES = ("Idle", "Waiting", "Receiving", "In a queue call")
TIER_STATES = ("Unknown", "No Answer", "Ready", "Offering", "Active Inbound", "Standby")
AGENT_KEYS = ("contact", "max_no_answer", "wrap_up_time", "reject_delay_time", "busy_delay_time",
              "no_answer_delay_time", "ready_time")  # fmt: skip
ROOTS = ("autoload_configs/callcenter.conf.xml", "dialplan/default.xml")
INCLUDE = re.compile(r'<X-PRE-PROCESS\s+cmd="include"\s+data="([^"]+)"\s*/>')


def preprocess(path: Path, depth: int = 0) -> str:
    """The file with every include replaced by the included files' <include> children."""
    text = path.read_text(encoding="utf-8")

    def splice(match: re.Match) -> str:
        out = []
        for name in sorted(glob.glob(str(path.parent / match.group(1)))):
            inner = preprocess(Path(name), depth + 1)
            body = re.sub(r"^.*?<include>", "", inner, count=1, flags=re.S)
            out.append(body.rsplit("</include>", 1)[0])
        return "".join(out)

    if depth > 20:
        raise RecursionError(path)
    return INCLUDE.sub(splice, text)


@dataclass
class Callcenter:
    conf_dir: Path
    loaded: bool = True  # mod_callcenter loaded
    queues: dict[str, dict[str, str]] = field(default_factory=dict)
    agents: dict[str, dict[str, str]] = field(default_factory=dict)
    tiers: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    xml: ET.Element | None = None  # the callcenter configuration from the last good reloadxml
    commands: list[str] = field(default_factory=list)
    fail_on: str | None = None  # the next command with this prefix answers -ERR Unknown Error! (once)
    # Callers mod_callcenter holds (`queue list members`: MEMBER_COLUMNS rows) and the
    # channels `show channels` lists (CHANNEL_COLUMNS rows): set by the scenario.
    members: list[dict[str, str]] = field(default_factory=list)
    channels: list[dict[str, str]] = field(default_factory=list)
    # Called with the events a command causes (`agent set status` -> agent-status-change).
    emit: Callable[[Event], None] | None = None

    # --- api --------------------------------------------------------------------------------

    def api(self, cmd: str) -> str:
        self.commands.append(cmd)
        if cmd == "reloadxml":
            return self.reloadxml()
        if cmd == "status":
            return "UP 0 years, 0 days\n+OK\n"
        if cmd == "show channels":
            return show_channels(self.channels)
        if not cmd.startswith("callcenter_config") or not self.loaded:
            return f"-ERR {cmd.split(' ')[0]} Command not found!\n"
        if self.fail_on and cmd.removeprefix("callcenter_config ").startswith(self.fail_on):
            self.fail_on = None
            return "-ERR Unknown Error!\n"
        args = shlex.split(cmd)[1:]
        handler = {"queue": self._queue, "agent": self._agent, "tier": self._tier}.get(args[0] if args else "")
        return handler(args[1:]) if handler else "-ERR no reply\n"

    def reloadxml(self) -> str:
        texts = []
        for rel in ROOTS:
            path = self.conf_dir / rel
            if path.exists():
                texts.append((rel, preprocess(path)))
        offset = 0
        for rel, text in texts:
            try:
                root = ET.fromstring(text)
            except ET.ParseError as exc:
                line = offset + exc.position[0]
                return f"+OK [[error near line {line}]: {str(exc).split(':')[0]}]\n"
            if rel.startswith("autoload_configs/callcenter"):
                self.xml = root
            offset += text.count("\n") + 1
        return "+OK [Success]\n"

    # --- queue ------------------------------------------------------------------------------

    def _queue(self, args: list[str]) -> str:
        verb, rest = (args[0], args[1:]) if args else ("", [])
        if verb == "list" and not rest:
            return table(QUEUE_COLUMNS, [{"name": n, **q} for n, q in self.queues.items()])
        if verb == "list" and len(rest) == 2 and rest[0] == "members":
            return table(MEMBER_COLUMNS, [m for m in self.members if m.get("queue") == rest[1]])
        if verb == "list":
            return "-ERR Invalid!\n"
        if verb in ("load", "reload") and rest:
            name = rest[0]
            xml = self._xml_queue(name)
            if xml is None:
                return "-ERR Invalid Queue not found!\n"
            if verb == "load" and name in self.queues:
                return "+OK\n"
            params = {p.get("name", "").replace("-", "_"): p.get("value", "") for p in xml.iter("param")}
            self.queues[name] = {k: params.get(k, v) for k, v in QUEUE_DEFAULTS.items()}
            self._load_xml_agents()
            self._load_xml_tiers(name)
            return "+OK\n"
        if verb == "unload" and rest:
            self.queues.pop(rest[0], None)
            return "+OK\n"
        return "-ERR no reply\n"

    def _xml_queue(self, name: str) -> ET.Element | None:
        if self.xml is None:
            return None
        return next((q for q in self.xml.iter("queue") if q.get("name") == name), None)

    def _load_xml_agents(self) -> None:
        """Recorded: a queue load or reload reloads every agent from the XML."""
        assert self.xml is not None
        for a in self.xml.iter("agent"):
            name = a.get("name", "")
            row = self.agents.setdefault(name, new_agent(name, a.get("type", "callback")))
            row["contact"] = a.get("contact", "")
            row["status"] = a.get("status", "Logged Out")
            for key in AGENT_KEYS[1:6]:
                if a.get(key.replace("_", "-")) is not None:
                    row[key] = a.get(key.replace("_", "-"), "0")

    def _load_xml_tiers(self, queue: str) -> None:
        assert self.xml is not None
        for t in self.xml.iter("tier"):
            if t.get("queue") == queue and t.get("agent") in self.agents:
                row = self.tiers.setdefault((queue, t.get("agent", "")), {"state": "Ready"})
                row["level"], row["position"] = t.get("level", "1"), t.get("position", "1")

    # --- agent ------------------------------------------------------------------------------

    def _agent(self, args: list[str]) -> str:
        verb, rest = (args[0], args[1:]) if args else ("", [])
        if verb == "list":
            rows = [a for n, a in self.agents.items() if not rest or n == rest[0]]
            if rest and not rows:
                return "+OK\n"  # recorded: `agent list NAME` of a deleted agent, no header
            return table(AGENT_COLUMNS, rows)
        if verb == "add" and len(rest) == 2:
            name, kind = rest
            if name in self.agents:
                return "-ERR Agent already exist!\n"
            if kind not in ("callback", "uuid-standby"):
                return "-ERR Agent type invalid!\n"
            self.agents[name] = new_agent(name, kind)
            return "+OK\n"
        if verb == "del" and len(rest) == 1:
            self.agents.pop(rest[0], None)
            for key in [k for k in self.tiers if k[1] == rest[0]]:
                del self.tiers[key]
            return "+OK\n"
        if verb == "set" and len(rest) == 3:
            key, name, value = rest
            if key == "status" and value not in STATUSES:
                return "-ERR Invalid Agent Status!\n"
            if key == "state" and value not in STATES:
                return "-ERR Invalid Agent State!\n"
            if name not in self.agents:
                return "-ERR Agent not found!\n"
            if key not in AGENT_KEYS + ("status", "state"):
                return "-ERR Unknown Error!\n"
            self.agents[name][key] = value
            if key == "status" and self.emit is not None:
                self.emit(agent_status_change(name, value))
            return "+OK\n"
        return "-ERR no reply\n"

    # --- tier -------------------------------------------------------------------------------

    def _tier(self, args: list[str]) -> str:
        verb, rest = (args[0], args[1:]) if args else ("", [])
        if verb == "list":
            return table(TIER_COLUMNS, [{"queue": q, "agent": a, **t} for (q, a), t in self.tiers.items()])
        if verb == "add" and len(rest) == 4:
            queue, agent, level, position = rest
            if queue not in self.queues:
                return "-ERR Queue not found!\n"
            if agent not in self.agents:
                return "-ERR Agent not found!\n"
            if (queue, agent) in self.tiers:
                return "-ERR Tier already exist!\n"
            self.tiers[(queue, agent)] = {"state": "Ready", "level": level, "position": position}
            return "+OK\n"
        if verb == "set" and len(rest) == 4 and rest[0] in ("level", "position", "state"):
            key, queue, agent, value = rest
            if key == "state" and value not in TIER_STATES:
                return "-ERR Invalid Tier State!\n"
            if (queue, agent) not in self.tiers:
                return "-ERR Unknown Error!\n"
            self.tiers[(queue, agent)][key] = value
            return "+OK\n"
        if verb == "del" and len(rest) == 2:
            self.tiers.pop((rest[0], rest[1]), None)
            return "+OK\n"
        return "-ERR no reply\n"

    def statuses(self) -> dict[str, str]:
        return {n: a["status"] for n, a in self.agents.items()}


def show_channels(rows: list[dict[str, str]]) -> str:
    """The recorded `show channels` format: CSV header, rows, a blank line, `N total.`."""
    lines = [",".join(CHANNEL_COLUMNS)] + [",".join(r.get(c, "") for c in CHANNEL_COLUMNS) for r in rows]
    return "\n".join(lines) + f"\n\n{len(rows)} total.\n"


def agent_status_change(agent: str, status: str) -> Event:
    """The event `agent set status` causes, as recorded (-cc-agent-status-changes), for this agent."""
    recorded = next(e for e in _recorded_status_events() if e.get("CC-Action") == "agent-status-change")
    values = {"CC-Agent": agent, "CC-Agent-Status": status}
    return Event([(k, values.get(k, v)) for k, v in recorded.headers], recorded.body)


def _recorded_status_events() -> list[Event]:
    from .transcript import FIXTURES

    frames = FrameReader().feed((FIXTURES / "freeswitch-1.10.12-cc-agent-status-changes.bin").read_bytes())
    return [event_of(f) for f in frames if f.content_type.startswith("text/event-")]


def new_agent(name: str, kind: str) -> dict[str, str]:
    row = {c: "0" for c in AGENT_COLUMNS}
    row.update(name=name, instance_id="single_box", uuid="", type=kind, contact="", status="Logged Out", state="Waiting")
    return row


def table(columns: list[str], rows: list[dict[str, str]]) -> str:
    """The recorded list format: a header row, pipe-separated rows, then `+OK`."""
    lines = ["|".join(columns)] + ["|".join(str(r.get(c, "")) for c in columns) for r in rows]
    return "\n".join(lines) + "\n+OK\n"
