"""Checks on this machine's files: include lines, generated files, time zone data, the
database. No PBX connection needed."""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import zoneinfo
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from pbxctl.apply.asterisk_apply import OPERATOR_FILES
from pbxctl.apply.files import ApplyError, plan_asterisk_include, read_text
from pbxctl.doctor.report import Check, fail, ok, warn
from pbxctl.render.asterisk import generate_asterisk
from pbxctl.render.templates import is_pbxctl_file
from pbxctl.site.load import LoadedSite
from pbxctl.storage.db import database_url

HEADER_HASH = re.compile(r"\(sha256 ([0-9a-f]{16})\)")
PROBE_TABLE = "pbxctl_doctor_probe"


def check_includes(config_dir: Path) -> list[Check]:
    checks = []
    for generated, operator in OPERATOR_FILES.items():
        name = f"include {operator}"
        path = config_dir / operator
        try:
            change = plan_asterisk_include(path, generated)
        except ApplyError as exc:
            checks.append(fail(name, str(exc)))
            continue
        if change.old is None:
            checks.append(fail(name, f"{path} does not exist"))
        elif change.changed:
            checks.append(fail(name, f'{path} has no `#include "{generated}"`: `pbxctl apply` adds it'))
        else:
            checks.append(ok(name, f'{path} includes "{generated}"'))
    return checks


def check_generated(loaded: LoadedSite, config_dir: Path) -> list[Check]:
    """Each generated file on disk against what the YAML generates now."""
    now = loaded.sha256[:16]
    checks = []
    for file_name, text in generate_asterisk(loaded).items():
        name = f"generated {file_name}"
        path = config_dir / file_name
        try:
            on_disk = read_text(path)
        except ApplyError as exc:
            checks.append(fail(name, str(exc)))
            continue
        if on_disk is None:
            checks.append(fail(name, f"{path} is missing: run `pbxctl apply`"))
        elif not is_pbxctl_file(on_disk):
            checks.append(fail(name, f"{path} was not written by pbxctl (no pbxctl header)"))
        elif on_disk == text:
            checks.append(ok(name, f"current (from {loaded.path.name}, sha256 {now})"))
        else:
            found = HEADER_HASH.search("\n".join(on_disk.splitlines()[:3]))
            written = found.group(1) if found else "unknown"
            if written != now:
                checks.append(fail(name, f"stale: written from sha256 {written}, {loaded.path.name} is now sha256 {now}: run `pbxctl apply`"))
            else:
                checks.append(fail(name, "differs from what the YAML generates (edited by hand, or another pbxctl version): run `pbxctl apply`"))
    return checks


def tzdata_version() -> str:
    for directory in zoneinfo.TZPATH:
        try:
            first = (Path(directory) / "tzdata.zi").read_text().splitlines()[0]
        except (OSError, IndexError):
            continue
        if first.startswith("# version "):
            return f"{first.removeprefix('# version ')} ({directory})"
    try:
        import tzdata  # the PyPI package zoneinfo falls back to

        return f"{tzdata.IANA_VERSION} (Python package tzdata)"
    except ImportError:
        return "version unknown"


def check_hours(loaded: LoadedSite, now: dt.datetime | None = None) -> list[Check]:
    now = now or dt.datetime.now(dt.timezone.utc)
    version = tzdata_version()
    checks = []
    for name, hours in loaded.site.hours.items():
        try:
            local = now.astimezone(zoneinfo.ZoneInfo(hours.timezone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            checks.append(fail(f"hours {name}", f"no time zone data for {hours.timezone!r} on this machine: {exc}"))
            continue
        checks.append(ok(f"hours {name}", f"{hours.timezone}: now {local:%Y-%m-%d %H:%M} (UTC{local:%z}); tzdata {version}"))
    return checks


def check_database(loaded: LoadedSite) -> Check:
    """Writable = a table can be created (then rolled back), which is what the service does."""
    url = database_url(loaded.site.site, loaded.site.storage.url)
    shown = make_url(url).render_as_string(hide_password=True)
    if url.startswith("sqlite:///"):
        return _check_sqlite(Path(url.removeprefix("sqlite:///")), shown)
    try:
        engine = create_engine(url, pool_pre_ping=True)
        with engine.connect() as conn:
            trans = conn.begin()
            conn.exec_driver_sql(f"CREATE TABLE {PROBE_TABLE} (id integer)")
            trans.rollback()
        engine.dispose()
    except SQLAlchemyError as exc:
        return fail("database", f"{shown}: not writable: {str(exc.orig if hasattr(exc, 'orig') else exc).strip().splitlines()[0]}")
    return ok("database", f"{shown}: writable")


def _check_sqlite(path: Path, shown: str) -> Check:
    if not path.exists():
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and os.access(parent, os.W_OK | os.X_OK):
            return ok("database", f"{shown}: does not exist yet; the service creates it ({parent} is writable)")
        return fail("database", f"{shown}: does not exist and {parent} is not writable")
    try:
        conn = sqlite3.connect(path, timeout=2, isolation_level=None)
        try:
            # An explicit transaction: sqlite3 would otherwise commit the DDL at once.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"CREATE TABLE {PROBE_TABLE} (id integer)")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return fail("database", f"{shown}: not writable: {exc}")
    return ok("database", f"{shown}: writable")
