"""`pbxctl doctor`'s checks that need no PBX: include lines, generated files, time zone
data, the database, prompt lookup under a chroot, what the YAML names, and the AMI
privilege verdicts from Asterisk's replies. The real-Asterisk side: test_doctor_asterisk.py."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from pathlib import Path

import pytest

from pbxctl.apply.asterisk_apply import plan_asterisk
from pbxctl.apply.files import write_changes
from pbxctl.doctor.ami_privileges import ACTIONS, check_privileges, user_privileges
from pbxctl.doctor.local_checks import check_database, check_generated, check_hours, check_includes
from pbxctl.doctor.report import exit_status, summary
from pbxctl.doctor.site_refs import mailboxes, prompts
from pbxctl.doctor.sounds import find_prompt, pbx_root, prompt_paths, resolve_in_root
from pbxctl.site.load import load_site

from helpers.site_files import copy_example

ALL_ACTIONS = {need.action for need in ACTIONS} | {"Ping", "QueueStatus", "ListCommands"}
FULL = "system,call,log,verbose,command,agent,user,config,dtmf,reporting,cdr,dialplan,originate,agi"


def manager_show_user(read: str, write: str) -> str:
    # The layout of Asterisk 22's `manager show user pbxctl` (sandbox).
    return (
        "\n          username: pbxctl\n            secret: <Set>\n               ACL: yes\n"
        f"         read perm: {read}\n        write perm: {write}\n   displayconnects: yes\n"
    )


# --- AMI privileges ------------------------------------------------------------------------


def test_every_privilege_present():
    checks = check_privileges("pbxctl", ALL_ACTIONS, user_privileges(manager_show_user(FULL, FULL)))
    assert [c.line() for c in checks] == [
        f"OK   ami write privilege: 'pbxctl' may run every action pbxctl sends ({len(ACTIONS)} checked)",
        "OK   ami read privilege: 'pbxctl' receives agent, call, user events",
    ]


def test_missing_write_class_names_the_class_and_the_actions():
    write = "system,call,command,reporting,config"  # no agent, no originate
    listed = ALL_ACTIONS - {"QueueAdd", "QueueRemove", "QueuePause", "QueueLog", "Originate"}
    checks = check_privileges("pbxctl", listed, user_privileges(manager_show_user(FULL, write)))
    assert [c.line() for c in checks if c.status == "FAIL"] == [
        "FAIL ami write privilege: AMI user 'pbxctl' lacks write privilege 'agent': it may not run QueueAdd (agent "
        "login), QueueRemove (agent logout), QueuePause (agent pause), QueueLog (the conference line in queue_log)",
        "FAIL ami write privilege: AMI user 'pbxctl' lacks write privilege 'originate': it may not run Originate "
        "(barge, help requests, `ivr test --call`)",
    ]


def test_either_class_is_enough():
    # ShowDialPlan needs config OR reporting: reporting alone is fine.
    write = "system,call,command,reporting,agent,originate"
    checks = check_privileges("pbxctl", ALL_ACTIONS, user_privileges(manager_show_user(FULL, write)))
    assert exit_status(checks) == 0


def test_allowed_but_not_offered_means_the_module_is_not_loaded():
    checks = check_privileges("pbxctl", ALL_ACTIONS - {"VoicemailUsersList"}, user_privileges(manager_show_user(FULL, FULL)))
    assert [c.line() for c in checks if c.status == "FAIL"] == [
        "FAIL ami action: Asterisk offers no VoicemailUsersList action (doctor's mailbox check): is its module loaded?"
    ]


def test_missing_read_classes():
    checks = check_privileges("pbxctl", ALL_ACTIONS, user_privileges(manager_show_user("system,call", FULL)))
    assert [c.line() for c in checks if c.status != "OK"] == [
        "FAIL ami read privilege: AMI user 'pbxctl' lacks read privilege 'agent': no queue and member events",
        "FAIL ami read privilege: AMI user 'pbxctl' lacks read privilege 'user': no pbxctl's UserEvents (queue "
        "outcomes, help, barge)",
        "WARN ami read privilege: 'pbxctl' lacks read privilege 'dialplan': `ivr test --call` follows the call's "
        "dialplan steps",
    ]


def test_all_covers_every_class():
    checks = check_privileges("pbxctl", ALL_ACTIONS, user_privileges(manager_show_user("all", "all")))
    assert exit_status(checks) == 0 and [c.status for c in checks] == ["OK", "OK"]


def test_unreadable_user_classes_judged_by_the_listing_alone():
    checks = check_privileges("pbxctl", ALL_ACTIONS - {"Originate"}, None)
    assert [c.status for c in checks] == ["FAIL", "WARN"]
    assert "lacks write privilege 'originate'" in checks[0].detail


# --- what the YAML names -------------------------------------------------------------------


def test_prompts_and_mailboxes_of_the_example():
    site = load_site(Path(__file__).parents[1] / "conf" / "example.yaml").site
    found = prompts(site)
    assert found["custom/lunch"] == ["ivrs.main.elements.lunch_message.prompt"]
    assert found["custom/invalid-option"] == ["ivrs.main.elements.main_menu.invalid_prompt"]
    assert found["custom/callback-confirmed"] == ["ivrs.main.elements.offer_callback.confirm_prompt"]
    assert found["queue-periodic-announce"] == ["queues.sales_west.announce.prompt", "queues.support.announce.prompt"]
    assert len(found) == 9
    assert mailboxes(site) == {
        "100": ["queues.support.overflow", "ivrs.main.elements.voicemail.mailbox"],
        "200": ["queues.sales_west.overflow", "queues.sales_west.when_empty"],
    }


# --- prompts under a chroot ----------------------------------------------------------------


@pytest.fixture
def chroot(tmp_path) -> Path:
    """Debian's sounds layout: en -> an absolute symlink, custom -> a relative one."""
    root = tmp_path / "root"
    (root / "etc/asterisk").mkdir(parents=True)
    (root / "usr/share/asterisk/sounds/en_US_f_Allison").mkdir(parents=True)
    (root / "usr/share/asterisk/sounds/en_US_f_Allison/beep.gsm").write_bytes(b"x")
    (root / "etc/alternatives").mkdir()
    os.symlink("/usr/share/asterisk/sounds/en_US_f_Allison", root / "etc/alternatives/asterisk-prompt-en")
    os.symlink("/etc/alternatives/asterisk-prompt-en", root / "usr/share/asterisk/sounds/en")
    (root / "usr/local/share/asterisk/sounds").mkdir(parents=True)
    (root / "usr/local/share/asterisk/sounds/welcome.wav").write_bytes(b"x")
    os.symlink("../../../local/share/asterisk/sounds", root / "usr/share/asterisk/sounds/custom")
    return root


def test_root_from_the_config_dirs(chroot):
    assert pbx_root(chroot / "etc/asterisk", "/etc/asterisk") == chroot
    assert pbx_root(Path("/etc/asterisk"), "/etc/asterisk") == Path("/")
    assert pbx_root(Path("/srv/pbx/conf"), "/etc/asterisk") == Path("/")


def test_absolute_symlinks_stay_inside_the_root(chroot):
    assert resolve_in_root(chroot, "/usr/share/asterisk/sounds/en") == chroot / "usr/share/asterisk/sounds/en_US_f_Allison"
    assert resolve_in_root(chroot, "/usr/share/asterisk/sounds/custom/../../..") == chroot / "usr/local"


@pytest.mark.parametrize("name, found", [
    ("beep", "usr/share/asterisk/sounds/en_US_f_Allison/beep.gsm"),
    ("custom/welcome", "usr/local/share/asterisk/sounds/welcome.wav"),
    ("custom/nothing", None),
    ("bee", None),
])
def test_prompt_lookup(chroot, name, found):
    result = find_prompt(chroot, prompt_paths(name, "/usr/share/asterisk", "en"))
    assert result == (None if found is None else chroot / found)


def test_prompt_paths_follow_asterisks_order():
    assert prompt_paths("x", "/usr/share/asterisk", "nb_NO") == [
        "/usr/share/asterisk/sounds/nb_NO/x", "/usr/share/asterisk/sounds/nb/x",
        "/usr/share/asterisk/sounds/x", "/usr/share/asterisk/sounds/en/x",
    ]
    assert prompt_paths("/var/lib/prompts/x", "/usr/share/asterisk", "en") == ["/var/lib/prompts/x"]


# --- files on this machine -----------------------------------------------------------------


@pytest.fixture
def applied(tmp_path):
    site = copy_example(tmp_path)
    config = tmp_path / "asterisk"
    config.mkdir()
    for name in ("extensions.conf", "queues.conf", "queuerules.conf", "features.conf"):
        (config / name).write_text("[general]\n")
    loaded = load_site(site)
    write_changes(plan_asterisk(loaded, config), config / "pbxctl-backup", None)
    return site, config


def test_applied_files_are_ok(applied):
    site, config = applied
    loaded = load_site(site)
    checks = check_includes(config) + check_generated(loaded, config)
    assert [c.status for c in checks] == ["OK"] * 8


def test_include_line_removed_and_operator_file_missing(applied):
    _, config = applied
    (config / "features.conf").write_text("[general]\n")
    (config / "queues.conf").unlink()
    lines = [c.line() for c in check_includes(config) if c.status == "FAIL"]
    assert lines == [
        f"FAIL include queues.conf: {config / 'queues.conf'} does not exist",
        f'FAIL include features.conf: {config / "features.conf"} has no `#include "features_pbxctl.conf"`: '
        "`pbxctl apply` adds it",
    ]


def test_generated_stale_edited_missing_foreign(applied):
    site, config = applied
    before = load_site(site)
    site.write_text(site.read_text().replace("ring_time: 12", "ring_time: 13"))
    loaded = load_site(site)
    (config / "queuerules_pbxctl.conf").unlink()
    (config / "features_pbxctl.conf").write_text("; mine\n")
    checks = {c.name: c for c in check_generated(loaded, config)}
    stale = checks["generated extensions_pbxctl.conf"]
    assert stale.line() == (
        f"FAIL generated extensions_pbxctl.conf: stale: written from sha256 {before.sha256[:16]}, example.yaml is now "
        f"sha256 {loaded.sha256[:16]}: run `pbxctl apply`"
    )
    assert checks["generated queuerules_pbxctl.conf"].detail.endswith("is missing: run `pbxctl apply`")
    assert checks["generated features_pbxctl.conf"].detail.endswith("was not written by pbxctl (no pbxctl header)")
    # Same YAML, file changed by hand:
    text = (config / "queues_pbxctl.conf").read_text()
    site.write_text(site.read_text().replace("ring_time: 13", "ring_time: 12"))
    (config / "queues_pbxctl.conf").write_text(text + "; edited\n")
    again = {c.name: c for c in check_generated(load_site(site), config)}
    assert again["generated queues_pbxctl.conf"].detail.startswith("differs from what the YAML generates")


def test_hours_show_local_time_and_tzdata(applied):
    site, _ = applied
    checks = check_hours(load_site(site), now=dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.timezone.utc))
    assert len(checks) == 1
    assert checks[0].line().startswith("OK   hours office: Europe/Oslo: now 2026-07-01 12:00 (UTC+0200); tzdata ")


def test_database_writable_and_locked(applied, monkeypatch, tmp_path):
    site, _ = applied
    loaded = load_site(site)
    db = tmp_path / "books.db"
    monkeypatch.setenv("PBXCTL_DATABASE_URL", f"sqlite:///{db}")
    assert check_database(loaded).line() == f"OK   database: sqlite:///{db}: does not exist yet; the service creates it ({tmp_path} is writable)"
    sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.close()
    assert check_database(loaded).line() == f"OK   database: sqlite:///{db}: writable"
    assert sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE name = 'pbxctl_doctor_probe'").fetchall() == []

    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        assert check_database(loaded).line() == f"FAIL database: sqlite:///{db}: not writable: database is locked"
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_summary_and_exit_status():
    from pbxctl.doctor.report import fail, ok, warn

    assert summary([ok("a", "x"), warn("b", "y")]) == "ready: 1 ok, 1 warnings, 0 failures"
    assert exit_status([ok("a", "x"), warn("b", "y")]) == 0
    assert exit_status([ok("a", "x"), fail("b", "y")]) == 1
