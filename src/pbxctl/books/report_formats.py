"""A report document (the JSON the report functions return) as CSV, XLSX, JSON or a
terminal table. One list of columns per report, shared by all of them."""

from __future__ import annotations

import csv
import io
import json

from pbxctl.books.call_log import flatten
from pbxctl.books.callback_tally import COLUMNS as CALLBACK_COLUMNS

COLUMNS = {
    "queues": [
        "interval", "queue", "offered", "answered", "answered_in_sl", "abandoned", "short_abandoned", "timed_out",
        "exit_empty", "exit_key", "refused", "lost", "overflowed", "overflow_to", "overflow_in", "transferred",
        "transferred_to", "transfer_in", "callers", "callbacks_requested", "service_level_pct", "asterisk_sl_pct", "asterisk_sl2_pct", "avg_wait",
        "avg_wait_answered", "longest_wait", "avg_talk", "avg_wrapup", "entry_paths", "exit_paths",
        *CALLBACK_COLUMNS,
    ],
    "agents": [
        "agent", "login_time", "pause_time", "pause_by_reason", "rung", "answered", "not_answered",
        "avg_ring_before_answer", "handled", "talk_time", "avg_talk", "avg_wrapup", "avg_handling", "transfers",
        "conferences", "help_requests",
    ],
    "calls": [
        "call_id", "depth", "kind", "at", "caller_number", "caller_name", "entry_number", "ivr_path", "queue",
        "agent", "outcome", "wait", "ring", "answered", "talk", "wrapup", "exit_to", "target", "detail",
    ],
}
# What the terminal table shows (the files carry every column).
TABLE_COLUMNS = {
    "queues": [
        "interval", "queue", "offered", "answered", "answered_in_sl", "abandoned", "short_abandoned", "timed_out",
        "exit_empty", "overflowed", "callbacks_requested", "service_level_pct", "asterisk_sl_pct",
        "asterisk_sl2_pct", "avg_wait", "longest_wait", "avg_talk", "avg_wrapup",
    ],
    "agents": COLUMNS["agents"],
    "calls": ["call_id", "kind", "at", "caller_number", "queue", "agent", "outcome", "wait", "ring", "talk",
              "exit_to", "target"],
}


def _cell(value) -> object:
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    if value is None:
        return ""
    return value


def table_rows(doc: dict) -> list[dict]:
    if doc["report"] == "calls":
        return flatten(doc)
    if doc["report"] == "queues":
        return [*doc["rows"], *([] if doc["window"]["interval"] == "total" else doc["totals"])]
    return doc["rows"]


def to_json(doc: dict) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def to_csv(doc: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = COLUMNS[doc["report"]]
    writer.writerow(columns)
    for row in table_rows(doc):
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def to_xlsx(doc: dict) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = doc["report"]
    columns = COLUMNS[doc["report"]]
    sheet.append(columns)
    for row in table_rows(doc):
        sheet.append([_cell(row.get(c)) for c in columns])
    sheet.freeze_panes = "A2"
    about = book.create_sheet("about")
    for key, value in doc["window"].items():
        about.append([key, _cell(value) if not isinstance(value, list) else ", ".join(value)])
    for key, value in doc.get("definitions", {}).items():
        about.append([key, value])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_table(doc: dict, console) -> None:
    """Print with rich: the report's main columns, indented trees for the call log."""
    from rich.table import Table

    w = doc["window"]
    title = f"{doc['report']} {w['from']} .. {w['to']} ({w['timezone']}, by {w['interval']})"
    table = Table(title=title, header_style="bold")
    columns = TABLE_COLUMNS[doc["report"]]
    for c in columns:
        table.add_column(c.replace("_", " "), justify="left" if c in ("interval", "queue", "agent", "kind", "call_id",
                                                                         "caller_number", "exit_to", "target", "at",
                                                                         "outcome") else "right")
    for row in table_rows(doc):
        cells = []
        for c in columns:
            value = _cell(row.get(c))
            if c == "kind" and doc["report"] == "calls":
                value = "  " * row["depth"] + str(value)
            cells.append(str(value))
        table.add_row(*cells, style="bold" if row.get("queue") == "(all queues)" or row.get("depth") == 0 else None)
    console.print(table)
    if doc["report"] == "queues":
        for key in ("service_level", "asterisk_sl", "asterisk_sl2"):
            console.print(f"[dim]{key}: {doc['definitions'][key]}[/dim]")
