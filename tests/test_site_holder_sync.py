"""SiteHolder's blocking reload (used by the gevent FreeSWITCH service) behaves like the
asyncio one: picks up a changed file, keeps the previous site when the new one is invalid."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from pbxctl.site.holder import SiteHolder

REPO = Path(__file__).resolve().parents[1]


def site_copy(tmp_path: Path) -> Path:
    shutil.copy(REPO / "conf" / "postcodes.csv", tmp_path / "postcodes.csv")
    site = tmp_path / "example.yaml"
    site.write_text((REPO / "conf" / "example.yaml").read_text())
    return site


def rewrite(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_blocking_and_async_reload_agree(tmp_path):
    site = site_copy(tmp_path)
    now, later = SiteHolder(site), SiteHolder(site)
    assert now.reload_if_changed_now() is False
    rewrite(site, site.read_text().replace("description:", "description: changed -", 1))
    assert now.reload_if_changed_now() is True
    assert asyncio.run(later.reload_if_changed()) is True
    assert now.get().sha256 == later.get().sha256
    before = now.get()
    rewrite(site, "site: [")
    assert now.reload_if_changed_now() is False
    assert now.get() is before
