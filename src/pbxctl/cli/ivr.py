"""`pbxctl ivr test`: the path a call takes through the IVR, decided by the service's code,
optionally checked against a real call through the PBX."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Optional

import typer

from pbxctl.cli.common import SITE, fail, load_site_or_fail, parse_at
from pbxctl.site.load import LoadedSite
from pbxctl.site.secrets import SecretUnavailable

app = typer.Typer(name="ivr", help="IVR call flows.", no_args_is_help=True)


@app.command("test")
def ivr_test(
    number: str = typer.Argument(..., help="The entry number dialled."),
    site: Optional[Path] = SITE,
    caller: str = typer.Option("", "--from", help="Caller number ('' for anonymous)."),
    at: Optional[str] = typer.Option(None, "--at", help="Local time of the call, e.g. '2026-12-24 13:05' (default: now)."),
    digits: str = typer.Option("", "--digits", help="What the caller types at each prompt, comma-separated: 1,4321 (empty item = no input)."),
    call: bool = typer.Option(False, "--call", help="Also place a real call through the PBX (AMI), decided as if at --at, and report where it went."),
) -> None:
    """Dry run: the path a call would take through the IVR, with the live service's decisions."""
    from pbxctl.ivr.decide import CallContext
    from pbxctl.ivr.walk import UnknownEntry, walk_call

    loaded = load_site_or_fail(site)
    when = parse_at(at)
    inputs = digits.split(",") if digits else []
    bad = [d for d in inputs if d and not set(d) <= set("0123456789*#")]
    if bad:
        fail(f"--digits: {bad[0]!r} is not DTMF (0-9, * and #)")
    try:
        result = walk_call(loaded, number, CallContext(caller=caller, now=when, entry=number), inputs)
    except UnknownEntry as exc:
        fail(str(exc))
    typer.echo(f"call to {number} from {caller or '(anonymous)'} at {when:%Y-%m-%d %H:%M}{'' if when.tzinfo is None else when.strftime(' %Z')}")
    for i, step in enumerate(result.steps, 1):
        typer.echo(f"{i:>2}. {step.ivr}.{step.element} [{step.kind}] -> {step.outcome}: {step.why}")
    typer.echo(f"destination: {result.destination}")
    if result.unused_digits:
        typer.echo(f"unused input: {','.join(result.unused_digits)}")
    if call:
        _live_call(loaded, number, caller, when, inputs, result.destination.split(" ")[0])


def _live_call(loaded: LoadedSite, number: str, caller: str, when: dt.datetime, inputs: list[str], predicted: str) -> None:
    from pbxctl.asterisk.ami_events import EventRecorder
    from pbxctl.asterisk.live_call import outcome, place_call
    from pbxctl.site.secrets import resolve_secret

    if loaded.site.pbx.backend != "asterisk":
        fail("--call places calls through Asterisk's AMI; this site's backend is freeswitch")
    ami = loaded.site.pbx.asterisk.ami
    try:
        secret = resolve_secret(ami.secret, "pbx.asterisk.ami.secret", loaded.base_dir)
    except SecretUnavailable as exc:
        fail(str(exc))
    at = when.strftime("%Y-%m-%dT%H:%M:%S") if when.tzinfo is None else when.isoformat()

    async def run() -> str:
        async with EventRecorder(secret, ami.host, ami.port, ami.username) as rec:
            channel = await place_call(rec, number, caller, inputs, at=at)
            return await outcome(rec, channel, timeout=60)

    try:
        live = asyncio.run(run())
    except OSError as exc:  # EventTimeout included: the call did not go as far as the dry run
        fail(f"live call: {exc}")
    verdict = "matches the dry run" if live == predicted else f"DIFFERS from the dry run ({predicted})"
    typer.echo(f"live call: {live} ({verdict})")
    if live != predicted:
        raise typer.Exit(1)
