"""Routing lists to and from CSV and Excel files: two columns, value and destination."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable

from pbxctl.domain.route_list import RouteListError, RouteRow

HEADER = ("value", "destination")


def read_route_file(path: Path) -> list[RouteRow]:
    """Rows with 'file:line' positions; raise RouteListError for unreadable rows."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    raise RouteListError([(str(path), f"unknown file type {suffix!r}: use .csv or .xlsx")])


def _is_header(cells: list[str]) -> bool:
    return bool(cells) and cells[0].strip().lower() == "value"


def _rows_from(cells_by_line: Iterable[tuple[int, list[str]]], name: str) -> list[RouteRow]:
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


def _delimiter(text: str) -> str:
    """The separator of the first line: ',' or what Excel writes in ',' decimal locales."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _read_csv(path: Path) -> list[RouteRow]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RouteListError([(str(path), f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    reader = csv.reader(text.splitlines(), delimiter=_delimiter(text))
    return _rows_from(((i, row) for i, row in enumerate(reader, start=1)), path.name)


def _read_xlsx(path: Path) -> list[RouteRow]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise RouteListError([(str(path), f"cannot read as an Excel workbook: {exc}")]) from None
    sheet = book.worksheets[0]
    problems: list[tuple[str, str]] = []
    lines: list[tuple[int, list[str]]] = []
    for i, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells: list[str] = []
        for cell in row:
            if isinstance(cell, (int, float)) and not isinstance(cell, bool):
                problems.append(
                    (f"{path.name}:{i}", f"value {cell!r} is a number cell; format the column as text so leading zeros survive")
                )
                cells = []
                break
            cells.append("" if cell is None else str(cell))
        if cells:
            lines.append((i, cells))
    book.close()
    if problems:
        raise RouteListError(problems)
    return _rows_from(lines, path.name)


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
