"""`pbxctl routes import|export`: routing lists to and from CSV/Excel files."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn, Optional

import typer

from pbxctl.cli.common import SITE, fail, fail_with_places, load_site_or_fail
from pbxctl.domain.route_files import write_route_file
from pbxctl.domain.route_list import RouteRow
from pbxctl.site.checks import build_route_list
from pbxctl.site.data_files import DataFileError, data_file_path, read_route_file

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
    allow_empty: bool = typer.Option(False, "--allow-empty", help="Import even a file without values (empty or header only)."),
) -> None:
    """Replace the list's file-held values with FILE, after checking every row.
    Running services pick the new values up for new calls within seconds."""
    loaded, lst = _list_of(site, name)
    if not lst.file:
        fail(f"routing list {name!r} keeps its values inline in {loaded.path.name}; add `file: {name}.csv` to it to import")
    try:
        rows = read_route_file(file, str(file))
    except DataFileError as exc:
        _refuse(file, exc.lines())
    if not rows and not allow_empty:
        n = len(lst.entries)
        left = f"only its {n} inline value{'s' if n != 1 else ''}" if n else "no values"
        _refuse(file, [f"{file}: no values (the file is empty or has only a header); importing it would leave "
                       f"routing list {name} with {left}: give --allow-empty if that is what you want"])
    inline = [RouteRow(v, d, f"{loaded.path.name} routing_lists.{name}.entries[{v}]") for v, d in lst.entries.items()]
    _, problems = build_route_list(loaded.site, inline + rows)
    if problems:
        _refuse(file, [f"{where}: {message}" for _, where, message in problems])
    target = data_file_path(loaded.base_dir, lst.file)
    try:
        count = write_route_file(target, [(r.value.strip(), r.destination.strip()) for r in rows])
    except (OSError, ValueError) as exc:
        fail(f"cannot write {target}: {getattr(exc, 'strerror', None) or exc}; the previous file is unchanged")
    typer.echo(f"imported {count} values into routing list {name} ({target}); running services use them for new calls within seconds")


def _refuse(file: Path, lines: list[str]) -> NoReturn:
    fail_with_places(lines, f"{file}: {len(lines)} error{'s' if len(lines) != 1 else ''}, nothing imported")


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
        try:
            held = read_route_file(data_file_path(loaded.base_dir, lst.file), lst.file)
        except DataFileError as exc:  # changed since the site was checked a moment ago
            fail_with_places(exc.lines(), f"{lst.file}: nothing exported")
        rows += [(r.value.strip(), r.destination.strip()) for r in held]
    try:
        count = write_route_file(file, rows)
    except (OSError, ValueError) as exc:
        fail(f"cannot write {file}: {getattr(exc, 'strerror', None) or exc}")
    typer.echo(f"exported {count} values of routing list {name} to {file}")
