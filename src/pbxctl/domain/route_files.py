"""Routing-list files: two columns, value and destination. The rows come from
`site/data_files.py` (the one reader of data files); writing is here."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable

from pbxctl.domain.route_list import RouteListError, RouteRow

HEADER = ("value", "destination")


def _is_header(cells: list[str]) -> bool:
    return bool(cells) and cells[0].strip().lower() == "value"


def route_rows(cells_by_line: Iterable[tuple[int, list[str]]], name: str) -> list[RouteRow]:
    """(line, cells) of a routing-list file -> rows placed as `name:line`; a first row whose
    first cell is `value` is a header. Raise RouteListError naming every bad row."""
    rows: list[RouteRow] = []
    problems: list[tuple[str, str]] = []
    first = True
    for line, cells in cells_by_line:
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if first and _is_header(cells):
            first = False
            continue
        first = False
        where = f"{name}:{line}"
        if len(cells) < 2 or not cells[1]:
            problems.append((where, "needs two columns: value,destination"))
            continue
        if any(cells[2:]):
            problems.append((where, f"has {len(cells)} columns; expected two: value,destination"))
            continue
        rows.append(RouteRow(cells[0], cells[1], where))
    if problems:
        raise RouteListError(problems)
    return rows


def write_route_file(path: Path, rows: Iterable[tuple[str, str]]) -> int:
    suffix = path.suffix.lower()
    items = list(rows)
    tmp = path.with_name(path.name + ".tmp")
    if suffix == ".csv":
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(HEADER)
            writer.writerows(items)
    elif suffix == ".xlsx":
        import openpyxl

        book = openpyxl.Workbook(write_only=True)
        sheet = book.create_sheet("routes")
        sheet.append(list(HEADER))
        for value, dest in items:
            sheet.append([value, dest])
        book.save(tmp)
    else:
        raise ValueError(f"unknown file type {suffix!r}: use .csv or .xlsx")
    tmp.replace(path)
    return len(items)
