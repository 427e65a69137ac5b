"""The callback list as CSV, XLSX, JSON or a terminal table (`pbxctl callbacks
list|export`, `GET /api/callbacks?format=`). Input: entry documents
(callback_desk.entry_document)."""

from __future__ import annotations

import csv
import io
import json

from pbxctl.service.callback_desk import COLUMNS

FORMATS = ("table", "csv", "xlsx", "json")
# The terminal shows what fits; the files carry every column.
TABLE_COLUMNS = ["id", "queue", "number", "status", "first_call", "last_call", "times_called", "attempts",
                 "last_result", "agent"]


def _cell(value) -> object:
    return "" if value is None else value


def to_json(docs: list[dict]) -> str:
    return json.dumps({"callbacks": docs}, indent=2, ensure_ascii=False) + "\n"


def to_csv(docs: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for doc in docs:
        writer.writerow([_cell(doc.get(c)) for c in COLUMNS])
    return out.getvalue()


def to_xlsx(docs: list[dict]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "callbacks"
    sheet.append(COLUMNS)
    for doc in docs:
        sheet.append([_cell(doc.get(c)) for c in COLUMNS])
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_table(docs: list[dict], console, title: str) -> None:
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for c in TABLE_COLUMNS:
        table.add_column(c.replace("_", " "), justify="right" if c in ("id", "times_called", "attempts") else "left")
    for doc in docs:
        table.add_row(*(str(_cell(doc.get(c))) for c in TABLE_COLUMNS))
    console.print(table)
