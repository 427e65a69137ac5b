"""`pbxctl routes import|export`: routing lists to and from CSV/Excel files."""

from __future__ import annotations

from pathlib import Path

import typer

from pbxctl.domain.route_files import read_route_file, write_route_file
from pbxctl.domain.route_list import RouteListError, RouteRow
from pbxctl.site.checks import build_route_list

routes_app = typer.Typer(help="Routing lists (advanced menus): import and export CSV/Excel.", no_args_is_help=True)


def _list_of(site_file: Path, name: str):
    from pbxctl.cli import _fail, _load

    loaded = _load(site_file)
    if name not in loaded.site.routing_lists:
        _fail(f"no routing list {name!r} in {site_file} (lists: {', '.join(loaded.site.routing_lists) or 'none'})")
    return loaded, loaded.site.routing_lists[name]


@routes_app.command("import")
def import_routes(
    name: str = typer.Argument(..., help="The routing list."),
    file: Path = typer.Argument(..., help="A .csv (value,destination) or .xlsx file."),
    site_file: Path = typer.Option(..., "--site", "-s", envvar="PBXCTL_SITE", help="The site YAML file."),
) -> None:
    """Replace the list's file-held values with FILE, after checking every row.
    Running services pick the new values up for new calls within seconds."""
    from pbxctl.cli import _fail

    loaded, lst = _list_of(site_file, name)
    if not lst.file:
        _fail(f"routing list {name!r} keeps its values inline in {site_file.name}; add `file: {name}.csv` to it to import")
    try:
        rows = read_route_file(file)
    except RouteListError as exc:
        _fail("\n".join(f"{where}: {message}" for where, message in exc.problems) + "\nnothing imported")
    inline = [RouteRow(v, d, f"{site_file.name} routing_lists.{name}.entries[{v}]") for v, d in lst.entries.items()]
    _, problems = build_route_list(loaded.site, inline + rows)
    if problems:
        _fail("\n".join(f"{where}: {message}" for _, where, message in problems) + "\nnothing imported")
    target = (loaded.base_dir / lst.file).resolve()
    try:
        count = write_route_file(target, [(r.value.strip(), r.destination.strip()) for r in rows])
    except (OSError, ValueError) as exc:
        _fail(f"cannot write {target}: {getattr(exc, 'strerror', None) or exc}; the previous file is unchanged")
    typer.echo(f"imported {count} values into routing list {name} ({target}); running services use them for new calls within seconds")


@routes_app.command("export")
def export_routes(
    name: str = typer.Argument(..., help="The routing list."),
    file: Path = typer.Argument(..., help="Where to write: .csv or .xlsx."),
    site_file: Path = typer.Option(..., "--site", "-s", envvar="PBXCTL_SITE", help="The site YAML file."),
) -> None:
    """Write every value of the list (inline and from its file) to FILE."""
    from pbxctl.cli import _fail

    loaded, lst = _list_of(site_file, name)
    rows = [(v.strip(), d) for v, d in lst.entries.items()]
    if lst.file:
        rows += [(r.value.strip(), r.destination.strip()) for r in read_route_file((loaded.base_dir / lst.file).resolve())]
    try:
        count = write_route_file(file, rows)
    except (OSError, ValueError) as exc:
        _fail(f"cannot write {file}: {getattr(exc, 'strerror', None) or exc}")
    typer.echo(f"exported {count} values of routing list {name} to {file}")
