"""The AMI user the README gives (its `read =` and `write =` lines, read from the README
itself) does the work on the sandbox Asterisk: `apply` reloads and verifies, `serve
asterisk` logs in and resyncs and finds nothing missing, agents log in, pause and log out,
`ivr test --call` places and follows a call. And with a class missing, `apply`, `serve`
and the agent commands say which."""

from __future__ import annotations

import shutil

import pytest

from helpers.controller_harness import Service, controller_site, pbxctl
from helpers.sandbox import ami_user, readme_ami_user

pytestmark = pytest.mark.asterisk


def site_for(example_site, tmp_path, user: str):
    if tmp_path != example_site.parent:
        shutil.copy(example_site.parent / "postcodes.csv", tmp_path)
    site = controller_site(example_site, tmp_path, 5038)
    site.write_text(site.read_text().replace("username: pbxctl", f"username: {user}"))
    return site


def changed(site) -> None:
    """A change that makes `apply` write, reload and verify."""
    text = site.read_text()
    site.write_text(text.replace("ring_time: 15", "ring_time: 16") if "ring_time: 15" in text
                    else text.replace("ring_time: 16", "ring_time: 15"))


def ok(*args: str):
    done = pbxctl(*args, timeout=90)
    assert done.returncode == 0, f"pbxctl {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def test_the_readmes_minimal_ami_user_does_the_work(example_site, sandbox, ami_secret, tmp_path):
    read, write = readme_ami_user()
    with ami_user(sandbox, ami_secret, "pbxctl-minimal", read, write) as user:
        site = site_for(example_site, tmp_path, user)
        changed(site)
        assert "verified:" in ok("apply", "-s", str(site))
        svc = Service(site)
        try:
            svc.start()
            for action in ("login", "pause", "unpause", "logout"):
                ok("agent", action, "lars", "-s", str(site))
            called = ok("ivr", "test", "200", "-s", str(site), "--from", "+4722445566", "--at", "2026-12-23 10:00",
                        "--digits", "2", "--call")
            assert "queue:support" in called, called
            status = svc.status()
            assert status["ami"]["up"] and status["ami"]["resyncs"] >= 1
        finally:
            svc.stop()
        log = svc.log_path.read_text()
        assert "ami_login" in log
        assert "ami_privilege_missing" not in log and "ami_permission_denied" not in log, log[-3000:]


def test_a_missing_privilege_is_named(example_site, sandbox, ami_secret, tmp_path):
    """The README's user without `agent` (read and write), then without `command`."""
    read, write = readme_ami_user()
    no_agent = (",".join(c for c in read.split(",") if c != "agent"), ",".join(c for c in write.split(",") if c != "agent"))
    with ami_user(sandbox, ami_secret, "pbxctl-no-agent", *no_agent) as user:
        (tmp_path / "a").mkdir()
        site = site_for(example_site, tmp_path / "a", user)
        svc = Service(site)
        try:
            svc.start()
            refused = pbxctl("agent", "login", "lars", "-s", str(site))
        finally:
            svc.stop()
        assert refused.returncode == 1
        assert "AMI user 'pbxctl-no-agent' lacks write privilege 'agent': Asterisk refused QueueAdd (agent login)" \
            in refused.stderr, refused.stderr
        log = svc.log_path.read_text()
        assert "lacks write privilege 'agent': it may not run QueueAdd (agent login)" in log, log[-3000:]
        assert "lacks read privilege 'agent': no queue and member events" in log
    no_command = ",".join(c for c in write.split(",") if c != "command")
    with ami_user(sandbox, ami_secret, "pbxctl-no-command", read, no_command) as user:
        (tmp_path / "b").mkdir()
        site = site_for(example_site, tmp_path / "b", user)
        changed(site)
        done = pbxctl("apply", "-s", str(site), timeout=90)
    assert done.returncode == 1
    assert "AMI user 'pbxctl-no-command' lacks write privilege 'command': Asterisk refused Command " \
           "(apply's reloads and checks)" in done.stderr, done.stdout + done.stderr
    assert "the previous files are restored" in done.stderr
