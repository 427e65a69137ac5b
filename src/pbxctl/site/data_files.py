"""The one reader of the data files a site names (routing lists, caller lists; CSV or Excel).

Such files are written by people and by other programs (a CRM export, a spreadsheet saved
in the wrong encoding), so every way they go wrong ends in a `FILE:LINE: message`, never
a traceback or a hang:
- the name must be one a file system can hold (no NUL, not over-long), checked before any
  system call sees it;
- only a regular file is read: `os.stat` first, so a FIFO never blocks an open, and the
  open itself is non-blocking in case the file is swapped in between;
- size limits on the file, the unpacked workbook, the number of rows and each field;
- a CSV row is reported at the physical line where it starts: lines end at `\\n`, `\\r\\n`
  or a lone `\\r`; a form feed or U+2028 is text, and a quoted newline continues the row;
- bytes that are not UTF-8 are named with their line.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import zipfile
from pathlib import Path
from typing import NamedTuple

from pbxctl.domain.route_files import route_rows
from pbxctl.domain.route_list import RouteListError, RouteRow

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # an .xlsx is a zip: bound what it inflates to
MAX_ROWS = 500_000
MAX_FIELD_CHARS = 1000
# Linux's NAME_MAX and PATH_MAX: longer names fail in the kernel with ENAMETOOLONG.
MAX_NAME_PART_BYTES = 255
MAX_NAME_BYTES = 4095

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
ROUTE_SUFFIXES = (".csv", *EXCEL_SUFFIXES)

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_FILE_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class Row(NamedTuple):
    line: int  # CSV: the physical line where the row starts; Excel: the sheet's row number
    cells: list[str]


class DataFileError(ValueError):
    """Everything wrong with one data file, as (where, message); where is `FILE` or `FILE:LINE`
    (empty when the name itself is what is wrong)."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{where}: {message}" if where else message for where, message in self.problems]


def _fail(where: str, message: str) -> DataFileError:
    return DataFileError([(where, message)])


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def data_file_path(base_dir: Path, name: str) -> Path:
    """Where a site's `file:` points (relative to the YAML's directory). Names no file system
    can hold are refused here, before `os.stat` would raise on them."""
    shown = name if len(name) <= 60 else name[:57] + "..."
    if "\0" in name:
        raise _fail("", f"file name {shown!r} contains a NUL byte")
    try:
        encoded = os.fsencode(name)
    except UnicodeEncodeError:
        raise _fail("", f"file name {shown!r} cannot be encoded for the file system") from None
    if len(encoded) > MAX_NAME_BYTES or any(len(part) > MAX_NAME_PART_BYTES for part in encoded.split(b"/")):
        raise _fail(
            "",
            f"file name {shown!r} is too long ({len(encoded)} bytes; at most {MAX_NAME_PART_BYTES} "
            f"between slashes and {MAX_NAME_BYTES} in all)",
        )
    path = base_dir / name
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: read_rows names it
        return path.absolute()


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise _fail(name, f"not found (looked at {path.absolute()})") from None
    except OSError as exc:
        raise _fail(name, f"cannot read ({exc.strerror or exc})") from None
    except ValueError as exc:  # a NUL or an unencodable character: data_file_path names which
        raise _fail("", f"file name {name!r} cannot be used ({exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(name, "is a directory, not a file")
    for is_kind, kind in _FILE_KINDS:
        if is_kind(st.st_mode):
            raise _fail(name, f"is {kind}, not a regular file")
    if st.st_size > MAX_FILE_BYTES:
        raise _fail(name, f"is {_mb(st.st_size)}; a data file may have at most {_mb(MAX_FILE_BYTES)}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise _fail(name, f"cannot read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise _fail(name, "is not a regular file")
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _fail(name, f"is larger than the {_mb(MAX_FILE_BYTES)} a data file may have")
    return data


def read_rows(path: Path, name: str | None = None) -> list[Row]:
    """The rows of a CSV/text file or of an Excel workbook's first sheet, cells as text.
    `name` is how messages call the file (default: its last part)."""
    name = path.name if name is None else name
    data = _read_bytes(path, name)
    if path.suffix.lower() in EXCEL_SUFFIXES:
        return _xlsx_rows(data, name)
    return _csv_rows(data, name)


def _line_at(data: bytes, offset: int) -> int:
    return len(_LINE_BREAK.findall(data, 0, offset)) + 1


def _decode(data: bytes, name: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):  # the BOM Excel writes into "CSV UTF-8"
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(f"{name}:{_line_at(data, exc.start)}", f"not UTF-8 (byte 0x{data[exc.start]:02x})") from None


def _delimiter(text: str) -> str:
    """The separator of the first line: ',' or what Excel writes in ',' decimal locales."""
    first = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _check_fields(cells: list[str], where: str) -> None:
    for cell in cells:
        if len(cell) > MAX_FIELD_CHARS:
            raise _fail(where, f"a field of {len(cell)} characters; at most {MAX_FIELD_CHARS}")


def _csv_rows(data: bytes, name: str) -> list[Row]:
    text = _decode(data, name)
    # newline="": lines end only at \n, \r\n and \r (str.splitlines would also split at form
    # feeds and U+2028), and the reader's line_num counts those physical lines.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows: list[Row] = []
    start = 1
    try:
        for cells in reader:
            where = f"{name}:{start}"
            _check_fields(cells, where)
            rows.append(Row(start, cells))
            if len(rows) > MAX_ROWS:
                raise _fail(name, f"has more than {MAX_ROWS} rows")
            start = reader.line_num + 1
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise _fail(f"{name}:{start}", f"a field longer than {csv.field_size_limit()} characters") from None
        raise _fail(f"{name}:{start}", f"not readable as CSV ({exc})") from None
    return rows


def _xlsx_rows(data: bytes, name: str) -> list[Row]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise _fail(name, "is not an Excel workbook (an .xlsx file is a zip archive; this one is not)") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise _fail(name, f"unpacks to {_mb(unpacked)}; a workbook may unpack to at most {_mb(MAX_UNPACKED_BYTES)}")
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds (KeyError, XML errors) for a damaged file
        raise _fail(name, f"cannot be read as an Excel workbook ({type(exc).__name__}: {exc})") from None
    try:
        if not book.worksheets:
            raise _fail(name, "has no sheet")
        return _sheet_rows(book.worksheets[0], name)
    except DataFileError:
        raise
    except Exception as exc:  # damage inside the sheet shows only while its rows are read
        raise _fail(name, f"cannot be read as an Excel workbook ({type(exc).__name__}: {exc})") from None
    finally:
        book.close()


def _sheet_rows(sheet, name: str) -> list[Row]:
    rows: list[Row] = []
    problems: list[tuple[str, str]] = []
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        if number > MAX_ROWS:
            raise _fail(name, f"has more than {MAX_ROWS} rows")
        where = f"{name}:{number}"
        cells: list[str] = []
        for value in values:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                message = f"value {value!r} is a number cell; format the column as text so leading zeros survive"
                problems.append((where, message))
                break
            cells.append("" if value is None else str(value))
        else:
            _check_fields(cells, where)
            rows.append(Row(number, cells))
    if problems:
        raise DataFileError(problems)
    return rows


def read_route_file(path: Path, name: str | None = None) -> list[RouteRow]:
    """A routing list's rows (`value,destination`, header optional), each with its place."""
    name = path.name if name is None else name
    suffix = path.suffix.lower()
    if suffix not in ROUTE_SUFFIXES:
        raise _fail(name, f"unknown file type {suffix!r}: use .csv or .xlsx")
    try:
        return route_rows(read_rows(path, name), name)
    except RouteListError as exc:
        raise DataFileError(exc.problems) from None
