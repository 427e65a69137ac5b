"""`pbxctl diff` / `pbxctl apply` for FreeSWITCH: write the include files, add one
X-PRE-PROCESS include line to each operator file that needs it, `reloadxml`, bring
mod_callcenter to the generated queues/agents/tiers without disturbing calls or agents'
statuses (apply/callcenter_sync.py says how and why), check what `callcenter_config` lists,
and put everything back if any step fails.

Facts it relies on (tests/fixtures/esl/, FreeSWITCH 1.10.12): `reloadxml` answers
`+OK [Success]` only when the whole configuration parsed; a broken file still answers
`+OK [[error near line N]: ...]`, N counted in the preprocessed configuration (every
include spliced in), not in any one file. Without mod_callcenter, `callcenter_config` is an
unknown command: `-ERR callcenter_config Command not found!`.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from pbxctl.apply.callcenter_sync import (
    CallcenterConfig,
    LiveCallcenter,
    member_commands,
    mismatches,
    parse_config,
    queue_commands,
    status_commands,
)
from pbxctl.apply.files import ApplyError, ApplyResult, FileChange, plan_generated, read_text, restore, write_changes
from pbxctl.freeswitch.callcenter_lists import CallcenterError, parse_table
from pbxctl.freeswitch.esl_client import EslClient, EslError
from pbxctl.render.freeswitch import AGENTS_PATH, CALLCENTER_CONF, INCLUDES, QUEUES_PATH, TIERS_PATH, generate_freeswitch
from pbxctl.site.load import LoadedSite

INCLUDE_NOTE = "Added by pbxctl: its generated file, replaced by `pbxctl apply`."
RELOAD_OK = "+OK [Success]"


def include_data(generated: str, operator: str) -> str:
    """The include's data as FreeSWITCH resolves it: relative to the including file's directory."""
    return os.path.relpath(generated, os.path.dirname(operator))


def check_xml(path: Path, text: str) -> None:
    """An operator file that does not parse: named with its line, before anything is written
    (reloadxml would only give a line of the whole preprocessed configuration)."""
    try:
        ET.fromstring(text)
    except ET.ParseError as exc:
        line, column = exc.position
        reason = str(exc).split(":")[0]
        raise ApplyError(f"{path}:{line}: not well-formed XML ({reason}, column {column + 1}); nothing was changed") from None


def plan_xml_includes(operator_file: Path, includes: list[tuple[str, str]]) -> FileChange:
    """The operator's file with `<X-PRE-PROCESS cmd="include" data=DATA/>` put once before
    each closing tag given (data, '</tag>'), on a line of its own."""
    old = read_text(operator_file)
    if old is None:
        raise ApplyError(
            f"{operator_file} does not exist: pbxctl adds one include line to FreeSWITCH's own file "
            "(the stock one will do) and never writes it in full"
        )
    check_xml(operator_file, old)
    new = old
    for data, closing in includes:
        if re.search(rf'<X-PRE-PROCESS\s+cmd="include"\s+data="{re.escape(data)}"\s*/>', new):
            continue
        at = new.rfind(closing)
        if at < 0:
            raise ApplyError(f"{operator_file} has no {closing} to put pbxctl's include line before")
        line_start = new.rfind("\n", 0, at) + 1
        indent = re.match(r"[ \t]*", new[line_start:at]).group(0)
        inner = indent + "  "
        lines = f'{inner}<!-- {INCLUDE_NOTE} -->\n{inner}<X-PRE-PROCESS cmd="include" data="{data}"/>\n'
        if new[line_start:at].strip():  # the closing tag shares its line: start a new one
            new = new[:at] + "\n" + lines + indent + new[at:]
        else:
            new = new[:line_start] + lines + new[line_start:]
    return FileChange(operator_file, old, new, "include")


def plan_freeswitch(loaded: LoadedSite, config_dir: Path) -> list[FileChange]:
    if not config_dir.is_dir():
        raise ApplyError(f"FreeSWITCH config directory {config_dir} does not exist")
    generated = generate_freeswitch(loaded)
    changes = plan_generated(config_dir, generated)
    by_operator: dict[str, list[tuple[str, str]]] = {}
    for path, (operator, closing) in INCLUDES.items():
        by_operator.setdefault(operator, []).append((include_data(path, operator), closing))
    for operator, includes in by_operator.items():
        changes.append(plan_xml_includes(config_dir / operator, includes))
    _check_no_clash(config_dir / CALLCENTER_CONF, parse_config(*(generated[p] for p in (QUEUES_PATH, AGENTS_PATH, TIERS_PATH))))
    return changes


def _check_no_clash(operator_file: Path, ours: CallcenterConfig) -> None:
    """A queue or agent the operator's own callcenter.conf.xml defines under one of pbxctl's
    names: mod_callcenter would take the first and pbxctl would manage the operator's."""
    text = read_text(operator_file) or ""
    clashes = []
    for number, line in enumerate(text.splitlines(), start=1):
        for tag, names in (("queue", ours.queues), ("agent", ours.agents)):
            for name in re.findall(rf'<{tag}\s[^>]*\bname="([^"]+)"', line):
                if name in names:
                    clashes.append(f"{operator_file}:{number}: {tag} {name!r} is also one of pbxctl's")
    if clashes:
        raise ApplyError("\n".join(clashes) + "\nrename it there or in the site file; nothing was changed")


def _config(changes: list[FileChange], new: bool) -> CallcenterConfig:
    text = {c.path.as_posix(): (c.new if new else c.old) for c in changes if c.what == "generated"}

    def find(rel: str) -> str | None:
        return next((t for p, t in text.items() if p.endswith("/" + rel)), None)

    return parse_config(find(QUEUES_PATH), find(AGENTS_PATH), find(TIERS_PATH))


class CallcenterLink:
    """mod_callcenter over one Event Socket connection: lists in, commands out."""

    def __init__(self, esl: EslClient):
        self.esl = esl
        self.sent: list[str] = []

    def live(self) -> LiveCallcenter:
        rows = {}
        for what in ("queue", "agent", "tier"):
            body = self.esl.api(f"callcenter_config {what} list")
            if body.startswith("-ERR callcenter_config Command not found"):
                raise ApplyError(
                    "mod_callcenter is not loaded in FreeSWITCH (`load mod_callcenter`, and list it in "
                    "autoload_configs/modules.conf.xml); nothing was changed"
                )
            try:
                rows[what] = parse_table(body)
            except CallcenterError as exc:
                raise ApplyError(f"callcenter_config {what} list: {exc}") from None
        return LiveCallcenter.from_rows(rows["queue"], rows["agent"], rows["tier"])

    def run(self, commands: list[str]) -> None:
        for cmd in commands:
            body = self.esl.api(f"callcenter_config {cmd}").strip()
            self.sent.append(cmd)
            if body != "+OK":
                raise ApplyError(f"callcenter_config {cmd}: {body}")

    def reloadxml(self) -> None:
        body = self.esl.api("reloadxml").strip()
        if body != RELOAD_OK:
            raise ApplyError(
                f"FreeSWITCH refused the configuration: reloadxml answered {body!r} (its line number counts the "
                "whole preprocessed configuration, every include spliced in, not one file)"
            )

    def sync(self, target: CallcenterConfig, previous: CallcenterConfig, before: LiveCallcenter) -> None:
        statuses = {name: row.get("status", "") for name, row in before.agents.items()}
        queues = queue_commands(target, previous, before)
        self.run(queues)
        live = self.live() if queues else before
        self.run(member_commands(target, previous, live))
        if queues:  # a queue load/reload reset every agent's status from the XML
            self.run(status_commands(statuses, self.live()))


def needs_sync(target: CallcenterConfig, previous: CallcenterConfig, live: LiveCallcenter) -> bool:
    return bool(queue_commands(target, previous, live) or member_commands(target, previous, live))


def apply_freeswitch(
    loaded: LoadedSite,
    config_dir: Path,
    esl: EslClient | None,
    reload: bool = True,
    changes: list[FileChange] | None = None,
) -> ApplyResult:
    """Write `changes` (planned here unless given), then reloadxml, sync mod_callcenter and
    verify over `esl`; on any failure put back the files and mod_callcenter as they were."""
    changes = plan_freeswitch(loaded, config_dir) if changes is None else changes
    result = ApplyResult(changes)
    target, previous = _config(changes, new=True), _config(changes, new=False)
    link = CallcenterLink(esl) if esl is not None and reload else None
    before = link.live() if link else None  # also: mod_callcenter loaded? before any write
    if not result.changed and (before is None or not needs_sync(target, previous, before)):
        return result
    like = config_dir / "autoload_configs" / "callcenter.conf.xml"
    for change in changes:
        change.path.parent.mkdir(parents=True, exist_ok=True)
    result.backup_dir = write_changes(changes, config_dir / "pbxctl-backup", like)
    if link is None or before is None:
        return result
    try:
        link.reloadxml()
        result.reloaded = True
        link.sync(target, previous, before)
        problems = mismatches(target, previous, link.live())
        if problems:
            raise ApplyError("mod_callcenter does not list what was generated:\n  " + "\n  ".join(problems))
    except (ApplyError, EslError) as exc:
        result.commands = link.sent
        if result.reloaded:
            note = _roll_back(link, changes, like, target, previous, before)
        else:  # a refused reloadxml loads nothing: FreeSWITCH still runs the previous XML
            restore(changes, like)
            note = "the previous files are restored; FreeSWITCH kept its previous configuration"
        raise ApplyError(f"{exc}\n{note}; backup of the replaced files: {result.backup_dir or 'none (all new)'}") from None
    result.commands = link.sent
    result.verified = [
        f"{len(target.queues)} queues, {len(target.agents)} agents, {len(target.tiers)} tiers listed by mod_callcenter"
    ]
    return result


def _roll_back(
    link: CallcenterLink,
    changes: list[FileChange],
    like: Path,
    target: CallcenterConfig,
    previous: CallcenterConfig,
    before: LiveCallcenter,
) -> str:
    """Files back, reloadxml, and mod_callcenter back to the previous files' queues, agents
    and tiers, with the statuses agents had: never half of the new configuration."""
    restore(changes, like)
    note = "the previous files are restored"
    try:
        link.reloadxml()
        link.sync(previous, target, link.live())
        link.run(status_commands({n: r.get("status", "") for n, r in before.agents.items()}, link.live()))
        left = mismatches(previous, target, link.live())
        note += " and reloaded; mod_callcenter is back as it was" if not left else (
            "; mod_callcenter could not be put back fully: " + "; ".join(left)
        )
    except (ApplyError, EslError) as again:
        note += f", but putting FreeSWITCH back failed too ({again})"
    return note
