"""Checks that ask the running Asterisk (over a short AMI session) or its FastAGI peer."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from pbxctl.apply.asterisk_apply import verify_loaded
from pbxctl.apply.files import ApplyError
from pbxctl.asterisk.ami_client import AmiClient, AmiError
from pbxctl.doctor.ami_privileges import check_privileges, user_privileges
from pbxctl.doctor.report import Check, fail, ok, warn
from pbxctl.doctor.site_refs import mailboxes, prompts
from pbxctl.doctor.sounds import find_prompt, pbx_root, prompt_paths, resolve_in_root
from pbxctl.render.asterisk import EXTENSIONS_FILE, generate_asterisk
from pbxctl.site.load import LoadedSite
from pbxctl.site.values import is_loopback

TESTED_MAJOR = 22
SHOWN_MISSING = 5  # of what Asterisk lacks; the rest is counted


async def check_fastagi(loaded: LoadedSite, timeout: float = 3.0) -> list[Check]:
    ast = loaded.site.pbx.asterisk
    host, port = ast.fastagi.host, ast.fastagi.port
    checks = []
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        writer.close()
        checks.append(ok("fastagi", f"pbxctl's FastAGI port {host}:{port} accepts connections"))
    except (OSError, asyncio.TimeoutError) as exc:
        why = {asyncio.TimeoutError: "no answer", ConnectionRefusedError: "connection refused"}.get(type(exc), str(exc))
        checks.append(fail("fastagi", f"nothing listens on {host}:{port} ({why}): is `pbxctl serve asterisk` running?"))
    if is_loopback(host) and not is_loopback(ast.ami.host):
        checks.append(warn("fastagi", f"the dialplan connects to {host}, but Asterisk is at {ast.ami.host}: "
                                      "it would reach its own loopback, not this machine"))
    return checks


def _settings(text: str) -> dict[str, str]:
    """`core show settings` as label -> value."""
    found = {}
    for line in text.splitlines():
        label, sep, value = line.partition(":")
        if sep and value.strip():
            found[label.strip()] = value.strip()
    return found


async def check_version(ami: AmiClient) -> Check:
    reply = (await ami.action({"Action": "CoreSettings"}))[0]
    version = reply.get("AsteriskVersion", "")
    major = re.match(r"(\d+)\.", version)
    if not major:
        return fail("asterisk version", f"CoreSettings gave no version ({reply.get('Message', reply.get('Response'))})")
    if int(major.group(1)) != TESTED_MAJOR:
        return warn("asterisk version", f"Asterisk {version}: pbxctl is tested on Asterisk {TESTED_MAJOR}")
    return ok("asterisk version", f"Asterisk {version}")


async def check_ami_privileges(ami: AmiClient) -> list[Check]:
    listed = (await ami.action({"Action": "ListCommands"}))[0]
    actions = {key for key in listed if key not in ("Response", "ActionID")}
    try:
        privileges = user_privileges(await ami.command(f"manager show user {ami.username}"))
    except AmiError:
        privileges = None
    return check_privileges(ami.username, actions, privileges)


async def check_voicemail(loaded: LoadedSite, ami: AmiClient) -> list[Check]:
    named = mailboxes(loaded.site)
    if not named:
        return []
    context = loaded.site.pbx.asterisk.voicemail_context
    reply = await ami.action({"Action": "VoicemailUsersList"})
    if reply[0].get("Response") != "Success":
        return [fail("voicemail", f"VoicemailUsersList refused ({reply[0].get('Message', '')}): is app_voicemail loaded?")]
    have = {(e.get("VMContext"), e.get("VoiceMailbox")) for e in reply[1:] if e.get("Event") == "VoicemailUserEntry"}
    checks = []
    for box, places in sorted(named.items()):
        if (context, box) in have:
            checks.append(ok(f"voicemail {box}", f"mailbox {box}@{context} exists"))
        else:
            checks.append(fail(f"voicemail {box}", f"no mailbox {box}@{context} in voicemail.conf (named by {', '.join(places)})"))
    return checks


async def check_prompts(loaded: LoadedSite, ami: AmiClient, config_dir: Path) -> list[Check]:
    named = prompts(loaded.site)
    if not named:
        return []
    settings = _settings(await ami.command("core show settings"))
    data_dir = settings.get("Data directory", "/usr/share/asterisk")
    language = settings.get("Default language", "en")
    root = pbx_root(config_dir, settings.get("Configuration directory", "/etc/asterisk"))
    sounds = resolve_in_root(root, f"{data_dir}/sounds")
    if not sounds.is_dir():
        return [warn("prompts", f"Asterisk's sounds directory {data_dir}/sounds is not on this machine ({sounds}): "
                                f"{len(named)} prompts not checked")]
    checks = []
    for name, places in named.items():
        found = find_prompt(root, prompt_paths(name, data_dir, language))
        if found is None:
            checks.append(fail(f"prompt {name}", f"no sound file {name}.* under {sounds} (named by {', '.join(places)})"))
        else:
            checks.append(ok(f"prompt {name}", str(found)))
    return checks


async def check_loaded(loaded: LoadedSite, ami: AmiClient) -> Check:
    try:
        verified = await verify_loaded(loaded, ami, generate_asterisk(loaded)[EXTENSIONS_FILE])
    except ApplyError as exc:
        head, *missing = str(exc).split("\n  ")
        more = f"; and {len(missing) - SHOWN_MISSING} more" if len(missing) > SHOWN_MISSING else ""
        return fail("loaded in asterisk", f"{head.rstrip(':')}: {'; '.join(missing[:SHOWN_MISSING])}{more}")
    return ok("loaded in asterisk", ", ".join(verified))
