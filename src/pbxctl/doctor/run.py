"""The whole doctor run: every check, in the order an engineer would go."""

from __future__ import annotations

from pathlib import Path

from pbxctl.asterisk.ami_client import AmiError, client_for
from pbxctl.doctor import local_checks, pbx_checks
from pbxctl.doctor.report import Check, fail, ok, warn
from pbxctl.site.load import LoadedSite
from pbxctl.site.secrets import SecretUnavailable

NEEDS_AMI = "AMI privileges, Asterisk version, loaded configuration, voicemail mailboxes, prompts"


async def run_doctor(loaded: LoadedSite, config_dir: Path) -> list[Check]:
    checks: list[Check] = []
    checks += await _pbx(loaded, config_dir)
    checks += await pbx_checks.check_fastagi(loaded)
    checks += local_checks.check_includes(config_dir)
    checks += local_checks.check_generated(loaded, config_dir)
    checks += local_checks.check_hours(loaded)
    checks.append(local_checks.check_database(loaded))
    return checks


async def _pbx(loaded: LoadedSite, config_dir: Path) -> list[Check]:
    ami = loaded.site.pbx.asterisk.ami
    try:
        client = client_for(loaded.site, loaded.base_dir)
        async with client:
            checks = [ok("ami", f"logged in to {client.where} as {ami.username!r}")]
            checks += await pbx_checks.check_ami_privileges(client)
            # A refused action (Permission denied) fails its own check, not the ones after it.
            for name, run in (
                ("asterisk version", lambda: pbx_checks.check_version(client)),
                ("loaded", lambda: pbx_checks.check_loaded(loaded, client)),
                ("voicemail", lambda: pbx_checks.check_voicemail(loaded, client)),
                ("prompts", lambda: pbx_checks.check_prompts(loaded, client, config_dir)),
            ):
                try:
                    found = await run()
                except AmiError as exc:
                    found = fail(name, str(exc))
                checks += found if isinstance(found, list) else [found]
            return checks
    except (AmiError, SecretUnavailable) as exc:
        return [fail("ami", str(exc)), warn("ami", f"not checked without AMI: {NEEDS_AMI}")]
