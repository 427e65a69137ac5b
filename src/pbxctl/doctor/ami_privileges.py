"""Whether the AMI user may do what pbxctl does, read from Asterisk's own answers:
`ListCommands` lists the actions this user may run (with each action's privilege) and
`manager show user NAME` its read and write classes. Pure: replies in, checks out."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pbxctl.doctor.report import Check, fail, ok, warn


@dataclass(frozen=True)
class Need:
    action: str
    privileges: tuple[str, ...]  # any one of them is enough (Asterisk's own rule)
    for_what: str


# The actions pbxctl sends, with the write class Asterisk 22 requires for each (from its
# ListCommands) — needed here because an action the user may not run is not listed.
ACTIONS = (
    Need("Command", ("command",), "apply's reloads and checks"),
    Need("ShowDialPlan", ("config", "reporting"), "apply's check of the loaded dialplan"),
    Need("CoreShowChannels", ("system", "reporting"), "the controller's resync after each (re)connect"),
    Need("QueueAdd", ("agent",), "agent login"),
    Need("QueueRemove", ("agent",), "agent logout"),
    Need("QueuePause", ("agent",), "agent pause"),
    Need("QueueLog", ("agent",), "the conference line in queue_log"),
    Need("Redirect", ("call",), "transfers with return, barge mode switches, conferences"),
    Need("BlindTransfer", ("call",), "blind transfers"),
    Need("Atxfer", ("call",), "attended transfers"),
    Need("PlayMF", ("call",), "the agent's barge notice"),
    Need("Setvar", ("call",), "transfers with return"),
    Need("Originate", ("originate",), "barge, help requests, `ivr test --call`"),
    Need("PlayDTMF", ("call",), "`ivr test --call` typing the digits"),
    Need("Hangup", ("system", "call"), "`ivr test --call` ending the test call"),
    Need("CoreSettings", ("system", "reporting"), "doctor's version check"),
    Need("VoicemailUsersList", ("call", "reporting"), "doctor's mailbox check"),
)
# Event classes the controller lives on, and one only `ivr test --call` needs.
READ_NEEDED = {
    "call": "channels, hangups, bridges, transfers",
    "agent": "queue and member events",
    "user": "pbxctl's UserEvents (queue outcomes, help, barge)",
}
READ_WANTED = {"dialplan": "`ivr test --call` follows the call's dialplan steps"}


def permission_denied(username: str, action: str) -> str:
    """What to tell the operator when Asterisk answers an action with "Permission denied"."""
    need = next((n for n in ACTIONS if n.action == action), None)
    if need is None:
        return f"AMI user {username!r} may not run {action} (Asterisk: Permission denied)"
    privilege = " or ".join(repr(p) for p in need.privileges)
    return (f"AMI user {username!r} lacks write privilege {privilege}: Asterisk refused {action} "
            f"({need.for_what}); add it to the user's `write =` line in manager.conf and run `manager reload`")


def _classes(text: str) -> set[str]:
    return {c.strip().lower() for c in text.split(",") if c.strip()}


def user_privileges(manager_show_user: str) -> tuple[set[str], set[str]] | None:
    """(read classes, write classes) from `manager show user NAME`; None if not there."""
    read = re.search(r"^\s*read perm:\s*(.*)$", manager_show_user, re.MULTILINE)
    write = re.search(r"^\s*write perm:\s*(.*)$", manager_show_user, re.MULTILINE)
    if not read or not write:
        return None
    return _classes(read.group(1)), _classes(write.group(1))


def check_privileges(username: str, listed_actions: set[str], privileges: tuple[set[str], set[str]] | None) -> list[Check]:
    checks: list[Check] = []
    write = privileges[1] if privileges else None
    missing_priv: dict[str, list[Need]] = {}
    unloaded: list[Need] = []
    for need in ACTIONS:
        if need.action in listed_actions:
            continue
        if write is not None and ("all" in write or write & set(need.privileges)):
            unloaded.append(need)  # allowed, yet not offered: its module is not loaded
        else:
            missing_priv.setdefault(" or ".join(need.privileges), []).append(need)
    for privilege, needs in missing_priv.items():
        checks.append(fail(
            "ami write privilege",
            f"AMI user {username!r} lacks write privilege {privilege!r}: it may not run "
            + ", ".join(f"{n.action} ({n.for_what})" for n in needs),
        ))
    for need in unloaded:
        checks.append(fail("ami action", f"Asterisk offers no {need.action} action ({need.for_what}): is its module loaded?"))
    if not missing_priv and not unloaded:
        checks.append(ok("ami write privilege", f"{username!r} may run every action pbxctl sends ({len(ACTIONS)} checked)"))
    if privileges is None:
        checks.append(warn("ami read privilege", f"could not read {username!r}'s read classes (`manager show user` gave none)"))
        return checks
    read = privileges[0]
    if "all" in read:
        checks.append(ok("ami read privilege", f"{username!r} receives all events"))
        return checks
    lacking = {c: why for c, why in READ_NEEDED.items() if c not in read}
    for cls, why in lacking.items():
        checks.append(fail("ami read privilege", f"AMI user {username!r} lacks read privilege {cls!r}: no {why}"))
    for cls, why in READ_WANTED.items():
        if cls not in read:
            checks.append(warn("ami read privilege", f"{username!r} lacks read privilege {cls!r}: {why}"))
    if not lacking:
        checks.append(ok("ami read privilege", f"{username!r} receives {', '.join(sorted(READ_NEEDED))} events"))
    return checks
