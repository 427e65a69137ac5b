"""`pbxctl diff` / `pbxctl apply` for Asterisk: write the include files, add the include
lines once, reload over AMI, check that Asterisk has what was generated, and put the
previous files back if it has not."""

from __future__ import annotations

import re
from pathlib import Path

from pbxctl.apply.files import (
    ApplyError,
    ApplyResult,
    FileChange,
    plan_asterisk_include,
    plan_generated,
    restore,
    write_changes,
)
from pbxctl.asterisk.ami_client import AmiClient, AmiError
from pbxctl.asterisk.member_actions import agent_interface, penalty_for
from pbxctl.asterisk.wire import DYNAMIC_FEATURES
from pbxctl.render.asterisk import (
    ENGINE_STRATEGY,
    EXTENSIONS_FILE,
    FEATURES_FILE,
    QUEUERULES_FILE,
    QUEUES_FILE,
    generate_asterisk,
)
from pbxctl.site.load import LoadedSite

OPERATOR_FILES = {
    EXTENSIONS_FILE: "extensions.conf",
    QUEUES_FILE: "queues.conf",
    QUEUERULES_FILE: "queuerules.conf",
    FEATURES_FILE: "features.conf",
}
# Features first: the dialplan's agent leg names the dynamic features.
RELOAD_COMMANDS = ("module reload features", "dialplan reload", "queue reload all")


def plan_asterisk(loaded: LoadedSite, config_dir: Path) -> list[FileChange]:
    if not config_dir.is_dir():
        raise ApplyError(f"Asterisk config directory {config_dir} does not exist")
    refuse_taken_queue_names(loaded, config_dir)
    changes = plan_generated(config_dir, generate_asterisk(loaded))
    for generated, operator in OPERATOR_FILES.items():
        changes.append(plan_asterisk_include(config_dir / operator, generated))
    return changes


def operator_queue_sections(config_dir: Path) -> dict[str, str]:
    """Queue name -> FILE:LINE of every queue section in the operator's queues.conf and the
    files it #includes (pbxctl's own queues_pbxctl.conf left out)."""
    found: dict[str, str] = {}
    seen: set[Path] = set()

    def read(path: Path) -> None:
        if path in seen or path.name == QUEUES_FILE or not path.is_file():
            return
        seen.add(path)
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            text = line.split(";", 1)[0].strip()
            include = re.match(r'^#(?:include|tryinclude)\s+"?([^"]+?)"?$', text)
            if include:
                target = Path(include.group(1))
                target = target if target.is_absolute() else config_dir / target
                for each in sorted(target.parent.glob(target.name)):
                    read(each)
                continue
            head = re.match(r"^\[([^\]]+)\]", text)
            if head and head.group(1) != "general":
                found.setdefault(head.group(1), f"{path}:{number}")

    read(config_dir / OPERATOR_FILES[QUEUES_FILE])
    return found


def refuse_taken_queue_names(loaded: LoadedSite, config_dir: Path) -> None:
    """app_queue merges two sections of one name: a site queue the operator already defines
    would load half theirs, half pbxctl's. Say so before anything is written."""
    operator = operator_queue_sections(config_dir)
    taken = [f"queue name {name!r} (queues.{name}) is taken: the operator's own config defines "
             f"[{name}] at {operator[name]}" for name in loaded.site.queues if name in operator]
    if taken:
        raise ApplyError("\n".join(taken) + "\nrename the queue in the site, or remove the operator's "
                         "section; nothing was written")


def _contexts(extensions_text: str) -> dict[str, set[str]]:
    """Context -> extension names, read from the generated file itself."""
    contexts: dict[str, set[str]] = {}
    current = None
    for line in extensions_text.splitlines():
        head = re.match(r"^\[([^\]]+)\]", line)
        if head:
            current = contexts.setdefault(head.group(1), set())
        elif current is not None:
            ext = re.match(r"^exten\s*=>\s*([^,]+),", line)
            if ext:
                current.add(ext.group(1))
    return contexts


async def verify_loaded(loaded: LoadedSite, ami: AmiClient, extensions_text: str) -> list[str]:
    """Ask the running Asterisk for what was generated; raise ApplyError listing what is missing."""
    missing: list[str] = []
    checked: list[str] = []
    contexts = _contexts(extensions_text)
    for context, extensions in contexts.items():
        reply = await ami.action({"Action": "ShowDialPlan", "Context": context})
        if reply[0].get("Response") != "Success":
            missing.append(f"context {context} is not in the dialplan ({reply[0].get('Message', '')})")
            continue
        have = {m.get("Extension") for m in reply[1:] if m.get("Event") == "ListDialplan"}
        for ext in sorted(extensions - have):
            missing.append(f"extension {ext}@{context} is not in the dialplan")
    checked.append(f"{len(contexts)} dialplan contexts")
    site = loaded.site
    for name, queue in site.queues.items():
        reply = await ami.action({"Action": "QueueStatus", "Queue": name})
        params = [m for m in reply if m.get("Event") == "QueueParams" and m.get("Queue") == name]
        if not params:
            missing.append(f"queue {name} is not loaded in app_queue")
            continue
        strategy = params[0].get("Strategy")
        if strategy != ENGINE_STRATEGY[queue.strategy]:
            missing.append(f"queue {name} has strategy {strategy}, expected {ENGINE_STRATEGY[queue.strategy]}")
        members = {
            m.get("Location"): m.get("Penalty")
            for m in reply
            if m.get("Event") == "QueueMember" and m.get("Queue") == name
        }
        for mem in queue.members:
            agent = site.agents[mem.agent]
            if agent.login != "static":
                continue
            iface = agent_interface(site, agent)
            if iface not in members:
                missing.append(f"queue {name} lacks member {iface} ({mem.agent})")
            elif members[iface] != str(penalty_for(queue, mem)):
                missing.append(f"queue {name} member {iface} has penalty {members[iface]}, expected {penalty_for(queue, mem)}")
    checked.append(f"{len(site.queues)} queues")
    features = await ami.command("features show")
    for name in DYNAMIC_FEATURES:
        if name not in features:
            missing.append(f"in-call feature {name} is not loaded (is features_pbxctl.conf included in features.conf?)")
    checked.append("in-call features")
    if missing:
        raise ApplyError("Asterisk did not load the generated configuration:\n  " + "\n  ".join(missing))
    return checked


async def apply_asterisk(
    loaded: LoadedSite,
    config_dir: Path,
    ami: AmiClient | None,
    reload: bool = True,
    changes: list[FileChange] | None = None,
) -> ApplyResult:
    """Write `changes` (planned here unless given), then reload and verify over `ami`."""
    changes = plan_asterisk(loaded, config_dir) if changes is None else changes
    result = ApplyResult(changes)
    if not result.changed:
        return result
    like = config_dir / "extensions.conf"
    result.backup_dir = write_changes(changes, config_dir / "pbxctl-backup", like)
    if not reload:
        return result
    if ami is None:
        raise ApplyError("a reload needs an AMI connection (none was given)")
    extensions_text = next(c.new for c in changes if c.path.name == EXTENSIONS_FILE)
    try:
        for command in RELOAD_COMMANDS:
            await ami.command(command)
        result.reloaded = True
        result.verified = await verify_loaded(loaded, ami, extensions_text)
    except (ApplyError, AmiError) as exc:
        restore(changes, like)
        note = "the previous files are restored"
        try:
            for command in RELOAD_COMMANDS:
                await ami.command(command)
            note += " and reloaded"
        except AmiError as again:
            note += f", but reloading them failed too ({again})"
        raise ApplyError(f"{exc}\n{note}; backup of the replaced files: {result.backup_dir or 'none (all new)'}") from None
    return result
