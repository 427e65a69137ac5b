"""At every AMI login of `serve asterisk`: whether the AMI user may do what the service
does, read from Asterisk's own answers (as `pbxctl doctor` reads them), with one warning
per missing privilege. A missing read class loses events silently and a missing write
class fails agent commands later: the log says which, at start, instead."""

from __future__ import annotations

import structlog

from pbxctl.doctor.ami_privileges import check_privileges, user_privileges
from pbxctl.doctor.report import OK

log = structlog.get_logger("pbxctl.ami")


async def log_missing_privileges(link, username: str) -> list[str]:
    """The problems found (also logged as `ami_privilege_missing`); [] when all is well."""
    listed = await link.action_during_ready({"Action": "ListCommands"})
    actions = {key for key in listed if key not in ("Response", "ActionID", "content")}
    shown = await link.action_during_ready({"Action": "Command", "Command": f"manager show user {username}"})
    output = shown.get("Output", "") if shown.get("Response") == "Success" else ""
    text = "\n".join(output) if isinstance(output, list) else str(output)
    problems = [c.detail for c in check_privileges(username, actions, user_privileges(text)) if c.status != OK]
    for problem in problems:
        log.warning("ami_privilege_missing", where=link.where, problem=problem)
    return problems
