"""The one reader of data files (routing lists, caller lists; CSV and Excel): rows placed at
the physical line where they start, limits, encodings, files that are not regular files,
names no file system can hold."""

from __future__ import annotations

import io
import os
import socket
import threading
import zipfile
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from pbxctl.cli import app
from pbxctl.domain.route_list import RouteList, RouteListError, RouteRow
from pbxctl.site.data_files import (
    MAX_FIELD_CHARS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    DataFileError,
    data_file_path,
    read_route_file,
    read_rows,
)

from helpers.site_files import copy_example

runner = CliRunner()


def csv_rows(tmp_path: Path, text: str, name: str = "r.csv") -> list[tuple[str, str, str]]:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return [(r.value, r.destination, r.where) for r in read_route_file(path)]


def problems_of(call, *args) -> list[tuple[str, str]]:
    with pytest.raises(DataFileError) as info:
        call(*args)
    return info.value.problems


def csv_errors(tmp_path: Path, text: str, name: str = "r.csv") -> list[tuple[str, str]]:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return problems_of(read_route_file, path)


# --- CSV rows and where they start -------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        # no header: line 1 is data
        ("5003,queue:a\n5004,queue:b\n", [("5003", "queue:a", "r.csv:1"), ("5004", "queue:b", "r.csv:2")]),
        # header in any case and spacing
        ("Value , Destination\n5003,queue:a\n", [("5003", "queue:a", "r.csv:2")]),
        # header after blank lines; blank lines keep their line numbers
        ("\n\nvalue,destination\n\n5003,queue:a\n", [("5003", "queue:a", "r.csv:5")]),
        # UTF-8 BOM as Excel writes it
        ("\ufeffvalue,destination\n5003,queue:a\n", [("5003", "queue:a", "r.csv:2")]),
        # quoted cells and padding
        ('"value","destination"\n" 0150 ","queue:a"\n', [("0150", "queue:a", "r.csv:2")]),
        # an empty trailing cell is not a third column
        ("value,destination\n5003,queue:a,\n", [("5003", "queue:a", "r.csv:2")]),
        # semicolons (Excel in Norwegian locale) and tabs
        ("value;destination\n0150;queue:a\n0001-0099;queue:b\n", [("0150", "queue:a", "r.csv:2"), ("0001-0099", "queue:b", "r.csv:3")]),
        ("value\tdestination\n0150\tqueue:a\n0200\tqueue:b\n", [("0150", "queue:a", "r.csv:2"), ("0200", "queue:b", "r.csv:3")]),
        ("1000;queue:a\n1001;queue:b\n", [("1000", "queue:a", "r.csv:1"), ("1001", "queue:b", "r.csv:2")]),
        # Windows and old-Mac line ends count one line each
        ("value,destination\r\n5003,queue:a\r\n5004,queue:b\r5005,queue:c\r", [("5003", "queue:a", "r.csv:2"), ("5004", "queue:b", "r.csv:3"), ("5005", "queue:c", "r.csv:4")]),
        # a form feed (page break) and U+2028 are text, not line ends
        ("value,destination\n\f\n5003,queue:a\f\n5004\u2028,queue:b\n5005,queue:c\n", [("5003", "queue:a", "r.csv:3"), ("5004", "queue:b", "r.csv:4"), ("5005", "queue:c", "r.csv:5")]),
        # a quoted newline continues the row: the next row starts two lines on
        ('value,destination\n5003,"queue:a\n"\n5004,queue:b\n', [("5003", "queue:a", "r.csv:2"), ("5004", "queue:b", "r.csv:4")]),
    ],
    ids=["no-header", "header-case", "blank-lines", "bom", "quoted", "trailing-empty", "semicolon", "tab",
         "semicolon-no-header", "crlf-and-lone-cr", "form-feed-u2028", "quoted-newline"],
)
def test_csv_reading(tmp_path: Path, text: str, expected):
    assert csv_rows(tmp_path, text) == expected


def test_a_bad_row_after_odd_line_ends_is_named_at_its_own_line(tmp_path: Path):
    text = 'value,destination\r\n5003,"queue:a\r\n"\r5004,queue:b\f\n\f\n12a4,queue:c\n'
    path = tmp_path / "routes.csv"
    path.write_bytes(text.encode())
    with pytest.raises(RouteListError) as info:
        RouteList.build(read_route_file(path))
    assert info.value.problems == [("routes.csv:6", "value '12a4' is not digits")]


def test_header_only_on_the_first_row(tmp_path: Path):
    """A second 'value,destination' line is data, and fails as a value."""
    got = csv_rows(tmp_path, "value,destination\n5003,queue:a\nvalue,destination\n")
    assert got == [("5003", "queue:a", "r.csv:2"), ("value", "destination", "r.csv:3")]
    with pytest.raises(RouteListError) as info:
        RouteList.build(read_route_file(tmp_path / "r.csv"))
    assert info.value.problems == [("r.csv:3", "value 'value' is not digits")]


def test_csv_wrong_column_counts(tmp_path: Path):
    text = "value,destination\n5003,queue:a\n5004\n5005,\n5006,queue:b,extra\n5007,queue:c\n"
    assert csv_errors(tmp_path, text) == [
        ("r.csv:3", "needs two columns: value,destination"),
        ("r.csv:4", "needs two columns: value,destination"),
        ("r.csv:5", "has 3 columns; expected two: value,destination"),
    ]


def test_semicolon_csv_wrong_column_counts(tmp_path: Path):
    text = "value;destination\n1000;queue:a\n1001\n1002;queue:a;extra\n1003;queue:b\n"
    assert csv_errors(tmp_path, text) == [
        ("r.csv:3", "needs two columns: value,destination"),
        ("r.csv:4", "has 3 columns; expected two: value,destination"),
    ]


def test_empty_and_header_only_files_have_no_rows(tmp_path: Path):
    assert csv_rows(tmp_path, "") == []
    assert csv_rows(tmp_path, "value,destination\r\n\r\n") == []


# --- encodings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, where",
    [
        (b"value,destination\n5003,queue:\xe9\n", "r.csv:2"),
        (b"value,destination\r\n5003,queue:a\r5004,\"queue\n\xe9\"\n", "r.csv:4"),
        (b"\xef\xbb\xbfvalue,destination\n\n\n5003,queue:\xe9\n", "r.csv:4"),
    ],
    ids=["lf", "cr-and-quoted-newline", "after-bom"],
)
def test_not_utf8_is_named_with_line_and_byte(tmp_path: Path, data: bytes, where: str):
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    assert problems_of(read_route_file, path) == [(where, "not UTF-8 (byte 0xe9)")]


def test_latin1_export_names_the_first_bad_byte(tmp_path: Path):
    path = tmp_path / "customers.csv"
    path.write_bytes("number,name\n22334455,Kari\n98765432,Bjørn\n".encode("latin-1"))
    assert problems_of(read_rows, path) == [("customers.csv:3", "not UTF-8 (byte 0xf8)")]


# --- limits -------------------------------------------------------------------------------


def test_a_long_field_is_refused_at_its_row(tmp_path: Path):
    long = "q" * (MAX_FIELD_CHARS + 1)
    errors = csv_errors(tmp_path, f"value,destination\n5003,queue:a\n5004,queue:{long[6:]}\n")
    assert errors == [("r.csv:3", f"a field of {MAX_FIELD_CHARS + 1} characters; at most {MAX_FIELD_CHARS}")]


def test_a_field_beyond_the_csv_parser_limit_is_refused_where_it_starts(tmp_path: Path):
    # An unbalanced quote swallows the rest of the file into one field.
    text = 'value,destination\n5003,queue:a\n5004,"queue:b\n' + ("x" * 100 + "\n") * 2000
    errors = csv_errors(tmp_path, text)
    assert len(errors) == 1 and errors[0][0] == "r.csv:3"
    assert errors[0][1].startswith("a field longer than ")


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path):
    path = tmp_path / "big.csv"
    with path.open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    assert problems_of(read_rows, path) == [("big.csv", "is 20.0 MB; a data file may have at most 20.0 MB")]


def test_too_many_rows(tmp_path: Path):
    path = tmp_path / "many.csv"
    path.write_bytes(b"1,hangup\n" * (MAX_ROWS + 1))
    assert problems_of(read_rows, path) == [("many.csv", f"has more than {MAX_ROWS} rows")]


# --- what is not a readable regular file ---------------------------------------------------


def test_missing_file_and_missing_directory(tmp_path: Path):
    assert problems_of(read_rows, tmp_path / "nope.csv") == [("nope.csv", f"not found (looked at {tmp_path / 'nope.csv'})")]
    (tmp_path / "plain").write_text("x")
    inside_a_file = tmp_path / "plain" / "r.csv"
    assert problems_of(read_rows, inside_a_file) == [("r.csv", f"not found (looked at {inside_a_file})")]


def test_directory(tmp_path: Path):
    (tmp_path / "routes.csv").mkdir()
    assert problems_of(read_rows, tmp_path / "routes.csv") == [("routes.csv", "is a directory, not a file")]


def test_fifo_is_refused_without_hanging(tmp_path: Path):
    fifo = tmp_path / "routes.csv"
    os.mkfifo(fifo)
    outcome: list = []
    reader = threading.Thread(target=lambda: outcome.append(problems_of(read_rows, fifo)), daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the reader, or the test run hangs with it
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO blocked")
    assert outcome == [[("routes.csv", "is a FIFO (named pipe), not a regular file")]]


def test_socket_and_device(tmp_path: Path):
    path = tmp_path / "s.csv"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        assert problems_of(read_rows, path) == [("s.csv", "is a socket, not a regular file")]
    finally:
        server.close()
    assert problems_of(read_rows, Path("/dev/null"), "null.csv") == [("null.csv", "is a character device, not a regular file")]


def test_symlink_loop(tmp_path: Path):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    assert problems_of(read_rows, loop) == [("loop.csv", "cannot read (Too many levels of symbolic links)")]


# --- names from the site file -------------------------------------------------------------


def test_names_no_file_system_can_hold(tmp_path: Path):
    assert problems_of(data_file_path, tmp_path, "a\0b.csv") == [("", "file name 'a\\x00b.csv' contains a NUL byte")]
    long = "x" * 300 + ".csv"
    assert problems_of(data_file_path, tmp_path, long) == [
        ("", f"file name {long[:57] + '...'!r} is too long (304 bytes; at most 255 between slashes and 4095 in all)")
    ]
    deep = "/".join(["d" * 200] * 21)
    assert "is too long (4220 bytes" in problems_of(data_file_path, tmp_path, deep)[0][1]
    assert problems_of(data_file_path, tmp_path, "bad\udc80\ud800.csv")[0][1].endswith("cannot be encoded for the file system")
    assert data_file_path(tmp_path, "sub/../r.csv") == tmp_path.resolve() / "r.csv"


# --- Excel --------------------------------------------------------------------------------


def xlsx(tmp_path: Path, *lines: list) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for line in lines:
        sheet.append(line)
    path = tmp_path / "routes.xlsx"
    book.save(path)
    return path


def test_xlsx_numeric_cell_is_an_error(tmp_path: Path):
    path = xlsx(tmp_path, ["value", "destination"], ["0150", "queue:a"], [150, "queue:b"], ["0200", "queue:c"], [2.5, "queue:d"])
    assert problems_of(read_route_file, path) == [
        ("routes.xlsx:3", "value 150 is a number cell; format the column as text so leading zeros survive"),
        ("routes.xlsx:5", "value 2.5 is a number cell; format the column as text so leading zeros survive"),
    ]


def test_xlsx_wrong_column_counts_and_blank_rows(tmp_path: Path):
    path = xlsx(
        tmp_path,
        ["value", "destination"],
        ["0150", "queue:a"],
        ["0160"],
        [None, None],
        ["0170", "queue:b", "extra"],
        ["0180", "queue:c", None],
    )
    assert problems_of(read_route_file, path) == [
        ("routes.xlsx:3", "needs two columns: value,destination"),
        ("routes.xlsx:5", "has 3 columns; expected two: value,destination"),
    ]


def test_xlsx_without_header(tmp_path: Path):
    path = xlsx(tmp_path, ["0150", "queue:a"], ["0160", "queue:b"])
    assert read_route_file(path) == [RouteRow("0150", "queue:a", "routes.xlsx:1"), RouteRow("0160", "queue:b", "routes.xlsx:2")]


def test_xlsx_long_cell(tmp_path: Path):
    path = xlsx(tmp_path, ["0150", "queue:a"], ["0160", "q" * (MAX_FIELD_CHARS + 5)])
    assert problems_of(read_route_file, path) == [
        ("routes.xlsx:2", f"a field of {MAX_FIELD_CHARS + 5} characters; at most {MAX_FIELD_CHARS}")
    ]


def test_damaged_xlsx(tmp_path: Path):
    path = tmp_path / "routes.xlsx"
    path.write_bytes(b"value,destination\n5003,queue:a\n")
    not_a_zip = "is not an Excel workbook (an .xlsx file is a zip archive; this one is not)"
    assert problems_of(read_route_file, path) == [("routes.xlsx", not_a_zip)]
    good = xlsx(tmp_path, ["0150", "queue:a"]).read_bytes()
    path.write_bytes(good[: len(good) // 2])  # a download cut short
    assert problems_of(read_route_file, path) == [("routes.xlsx", not_a_zip)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "a zip, but no workbook in it")
    path.write_bytes(buffer.getvalue())
    [(where, message)] = problems_of(read_route_file, path)
    assert where == "routes.xlsx" and message.startswith("cannot be read as an Excel workbook (KeyError: ")


def test_xlsx_that_unpacks_to_too_much(tmp_path: Path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as entry:
            chunk = b"\0" * (1 << 20)
            for _ in range(201):
                entry.write(chunk)
    assert path.stat().st_size < MAX_FILE_BYTES
    assert problems_of(read_rows, path) == [("bomb.xlsx", "unpacks to 201.0 MB; a workbook may unpack to at most 200.0 MB")]


def test_unknown_route_file_type(tmp_path: Path):
    path = tmp_path / "routes.ods"
    path.write_text("x")
    assert problems_of(read_route_file, path) == [("routes.ods", "unknown file type '.ods': use .csv or .xlsx")]


# --- through the site file: problems at the YAML key that names the file -------------------


def site_with(tmp_path: Path, key_lines: str) -> tuple[Path, int]:
    """The example site with `key_lines` added to lists.blocked; the line of the first."""
    site = copy_example(tmp_path)
    text = site.read_text()
    anchor = '    numbers: ["+4781549300"]\n'
    assert anchor in text
    site.write_text(text.replace(anchor, anchor + key_lines))
    line = text[: text.index(anchor)].count("\n") + 2
    return site, line


def validate(site: Path):
    result = runner.invoke(app, ["validate", "-s", str(site)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


@pytest.mark.parametrize(
    "name, message",
    [
        # The site model's rule for all text (no control characters) names it first.
        ('"bad\\0name.csv"', "control character U+0000 is not allowed"),
        ("x" * 300 + ".csv", "file name '" + "x" * 57 + "...' is too long (304 bytes; at most 255 between slashes and 4095 in all)"),
        ("missing.csv", "missing.csv: not found (looked at {d}/missing.csv)"),
        ("dir.csv", "dir.csv: is a directory, not a file"),
        ("fifo.csv", "fifo.csv: is a FIFO (named pipe), not a regular file"),
        ("latin1.csv", "latin1.csv:3: not UTF-8 (byte 0xf8)"),
    ],
    ids=["nul", "over-long", "missing", "directory", "fifo", "latin-1"],
)
def test_caller_list_file_problems_are_named_at_the_yaml_key(tmp_path: Path, name: str, message: str):
    (tmp_path / "dir.csv").mkdir()
    os.mkfifo(tmp_path / "fifo.csv")
    (tmp_path / "latin1.csv").write_bytes("number\n22334455\n98765432 Bjørn\n".encode("latin-1"))
    site, line = site_with(tmp_path, f"    file: {name}\n")
    result = validate(site)
    assert result.exit_code == 1
    expected = message.format(d=tmp_path.resolve())
    assert result.stderr.splitlines() == [f"{site}:{line} lists.blocked.file: {expected}", f"{site}: 1 error, nothing written"]


def test_routing_list_file_name_with_nul_is_named_at_the_yaml_key(tmp_path: Path):
    site = copy_example(tmp_path)
    text = site.read_text()
    site.write_text(text.replace("    file: postcodes.csv\n", '    file: "post\\0codes.csv"\n'))
    line = text[: text.index("    file: postcodes.csv")].count("\n") + 1
    result = validate(site)
    assert result.exit_code == 1
    assert f"{site}:{line} routing_lists.postcodes.file: control character U+0000 is not allowed" in result.stderr.splitlines()


def test_caller_list_file_rows_and_their_lines(tmp_path: Path):
    """First column, `#` comments and a `number` header skipped, lines counted physically;
    CSV with any separator, and the same from an Excel sheet."""
    (tmp_path / "blocked.csv").write_bytes(
        b"number;note\r\n# nuisance callers\r\n+47 22 33 44 55;spam\r\f\n004791234567\r12a4;typo\n"
    )
    site, line = site_with(tmp_path, "    file: blocked.csv\n")
    result = validate(site)
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{site}:{line} lists.blocked.file: blocked.csv:6: '12a4' is not a phone number")
    (tmp_path / "blocked.csv").write_bytes(b"number;note\r\n# nuisance callers\r\n+47 22 33 44 55;spam\r\f\n004791234567\r")
    from pbxctl.site.load import load_site

    assert load_site(site).caller_lists["blocked"] == frozenset({"+4781549300", "+4722334455", "+4791234567"})
    book = openpyxl.Workbook()
    for cells in (["number"], ["+47 22 33 44 55"], [None], ["004791234567", "note"]):
        book.active.append(cells)
    book.save(tmp_path / "blocked.xlsx")
    site.write_text(site.read_text().replace("file: blocked.csv", "file: blocked.xlsx"))
    assert load_site(site).caller_lists["blocked"] == frozenset({"+4781549300", "+4722334455", "+4791234567"})
