"""`pbxctl routes import|export`: routing lists to and from CSV/Excel files."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pbxctl.cli.common import SITE, fail, load_site_or_fail
from pbxctl.domain.route_files import read_route_file, write_route_file
from pbxctl.domain.route_list import RouteListError, RouteRow
from pbxctl.site.checks import build_route_list

app = typer.Typer(name="routes", help="Routing lists (advanced menus): import and export CSV/Excel.", no_args_is_help=True)


def _list_of(site: Path | None, name: str):
    loaded = load_site_or_fail(site)
    if name not in loaded.site.routing_lists:
        fail(f"no routing list {name!r} in {loaded.path} (lists: {', '.join(loaded.site.routing_lists) or 'none'})")
    return loaded, loaded.site.routing_lists[name]


@app.command("import")
def import_routes(
    name: str = typer.Argument(..., help="The routing list."),
    file: Path = typer.Argument(..., help="A .csv (value,destination) or .xlsx file."),
    site: Optional[Path] = SITE,
) -> None:
    """Replace the list's file-held values with FILE, after checking every row.
    Running services pick the new values up for new calls within seconds."""
    loaded, lst = _list_of(site, name)
    if not lst.file:
        fail(f"routing list {name!r} keeps its values inline in {loaded.path.name}; add `file: {name}.csv` to it to import")
    try:
        rows = read_route_file(file)
    except RouteListError as exc:
        fail("\n".join(f"{where}: {message}" for where, message in exc.problems) + "\nnothing imported")
    inline = [RouteRow(v, d, f"{loaded.path.name} routing_lists.{name}.entries[{v}]") for v, d in lst.entries.items()]
    _, problems = build_route_list(loaded.site, inline + rows)
    if problems:
        fail("\n".join(f"{where}: {message}" for _, where, message in problems) + "\nnothing imported")
    target = (loaded.base_dir / lst.file).resolve()
    try:
        count = write_route_file(target, [(r.value.strip(), r.destination.strip()) for r in rows])
    except (OSError, ValueError) as exc:
        fail(f"cannot write {target}: {getattr(exc, 'strerror', None) or exc}; the previous file is unchanged")
    typer.echo(f"imported {count} values into routing list {name} ({target}); running services use them for new calls within seconds")


@app.command("export")
def export_routes(
    name: str = typer.Argument(..., help="The routing list."),
    file: Path = typer.Argument(..., help="Where to write: .csv or .xlsx."),
    site: Optional[Path] = SITE,
) -> None:
    """Write every value of the list (inline and from its file) to FILE."""
    loaded, lst = _list_of(site, name)
    rows = [(v.strip(), d) for v, d in lst.entries.items()]
    if lst.file:
        rows += [(r.value.strip(), r.destination.strip()) for r in read_route_file((loaded.base_dir / lst.file).resolve())]
    try:
        count = write_route_file(file, rows)
    except (OSError, ValueError) as exc:
        fail(f"cannot write {file}: {getattr(exc, 'strerror', None) or exc}")
    typer.echo(f"exported {count} values of routing list {name} to {file}")
