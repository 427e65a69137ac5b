"""Cross-checks for what the generated FreeSWITCH files cannot mean as the YAML says:
refused with the reason, or warned where mod_callcenter applies a documented rule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from pbxctl.site.values import is_destination, parse_destination

if TYPE_CHECKING:
    from pbxctl.site.checks import Checker

# Sound names FreeSWITCH's playback can find carry their file extension: a relative name is
# looked up under the channel's sound_prefix, as given, and nothing appends ".wav".
SOUND_EXTENSIONS = (".wav", ".mp3", ".ogg", ".flac", ".gsm", ".ulaw", ".alaw", ".PCMU", ".PCMA", ".g722", ".sln", ".raw")


def check_freeswitch(checker: "Checker") -> None:
    if checker.backend != "freeswitch":
        return
    site = checker.site
    for qid, queue in site.queues.items():
        base = ("queues", qid, "announce")
        prompt = queue.announce.prompt
        if prompt is not None and not prompt.endswith(SOUND_EXTENSIONS):
            checker.error(
                base + ("prompt",),
                f"{prompt!r} is an Asterisk sound name; mod_callcenter's announce-sound is a FreeSWITCH file "
                "path with its extension, relative to the sound prefix (e.g. custom/queue-announce.wav)",
            )
        for flag in ("position", "hold_time"):
            if getattr(queue.announce, flag):
                checker.warn(
                    base + (flag,),
                    f"mod_callcenter cannot announce the caller's {flag.replace('_', ' ')}: "
                    "on freeswitch only the periodic prompt plays",
                )
    _check_per_agent_settings(checker)
    _check_voicemail(checker)


def _check_per_agent_settings(checker: "Checker") -> None:
    """mod_callcenter keeps wrap-up and the retry delays on the agent, not on the tier: an
    agent in queues that differ gets one value (render/freeswitch.py: the longest)."""
    site = checker.site
    for agent_id, agent in site.agents.items():
        queues = {qid: q for qid, q in site.queues.items() if any(mem.agent == agent_id for mem in q.members)}
        wrapups = {qid: q.wrapup for qid, q in queues.items()}
        if agent.wrapup is None and len(set(wrapups.values())) > 1:
            listed = ", ".join(f"{qid} {s} s" for qid, s in wrapups.items())
            checker.warn(
                ("agents", agent_id),
                f"mod_callcenter keeps one wrap-up per agent: {agent_id} gets the longest, {max(wrapups.values())} s "
                f"({listed}); set agents.{agent_id}.wrapup to choose",
            )
        retries = {qid: q.retry for qid, q in queues.items()}
        if len(set(retries.values())) > 1:
            listed = ", ".join(f"{qid} {s} s" for qid, s in retries.items())
            checker.warn(
                ("agents", agent_id),
                f"mod_callcenter keeps the retry delay per agent: {agent_id} waits the longest, "
                f"{max(retries.values())} s, after a missed offer in any queue ({listed})",
            )


def _check_voicemail(checker: "Checker") -> None:
    """FreeSWITCH's voicemail app needs a directory user per mailbox; pbxctl does not write
    the directory and cannot see it from the site file."""
    fs = checker.site.pbx.freeswitch
    first: dict[str, tuple] = {}
    for path, mailbox in _mailboxes(checker.site.model_dump(mode="json")):
        first.setdefault(mailbox, path)
    if first:
        boxes = ", ".join(sorted(first))
        path = min(first.values(), key=lambda p: tuple(str(x) for x in p))
        checker.warn(
            path,
            f"voicemail on freeswitch needs a directory user for each mailbox ({boxes}) in domain "
            f"{fs.voicemail_domain} with voicemail enabled; pbxctl does not write or check the directory",
        )


def _mailboxes(node, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(node, dict):
        if node.get("type") == "voicemail" and isinstance(node.get("mailbox"), str):
            yield path + ("mailbox",), node["mailbox"]
        for key, value in node.items():
            yield from _mailboxes(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _mailboxes(value, path + (i,))
    elif isinstance(node, str) and node.startswith("voicemail:") and is_destination(node):
        yield path, parse_destination(node).target
