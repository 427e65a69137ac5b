"""RouteList (digits typed by callers -> destinations) and writing its CSV/XLSX files
(reading them: tests/test_data_files.py)."""

from __future__ import annotations

import random
from pathlib import Path

import openpyxl
import pytest

from pbxctl.domain.route_files import write_route_file
from pbxctl.domain.route_list import RouteList, RouteListError, RouteRow, parse_value
from pbxctl.site.data_files import read_route_file


def rows(*items: tuple[str, str]) -> list[RouteRow]:
    return [RouteRow(value, dest, f"t.csv:{i}") for i, (value, dest) in enumerate(items, start=2)]


def build_errors(*items: tuple[str, str]) -> list[tuple[str, str]]:
    with pytest.raises(RouteListError) as info:
        RouteList.build(rows(*items))
    return info.value.problems


# --- parse_value ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("5003", (4, 5003, 5003)),
        ("0150", (4, 150, 150)),
        ("150", (3, 150, 150)),
        ("0001-0299", (4, 1, 299)),
        (" 0001 - 0299 ", (4, 1, 299)),
        ("0-9", (1, 0, 9)),
    ],
)
def test_parse_value(text, expected):
    assert parse_value(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("12a4", "value '12a4' is not digits"),
        ("", "value '' is not digits"),
        ("0001-02x9", "value '0001-02x9' is not digits or a range like 0001-0299"),
        ("-0299", "value '-0299' is not digits or a range like 0001-0299"),
        ("0001-", "value '0001-' is not digits or a range like 0001-0299"),
        ("001-0299", "range '001-0299': both ends need the same number of digits"),
        ("0299-0001", "range '0299-0001' runs backwards"),
        ("١٢٣", "value '١٢٣' is not digits"),  # Arabic-Indic digits are not DTMF
    ],
)
def test_parse_value_errors(text, message):
    with pytest.raises(ValueError) as info:
        parse_value(text)
    assert str(info.value) == message


# --- lookup -----------------------------------------------------------------------------


def test_exact_values():
    rl = RouteList.build(rows(("5003", "queue:a"), ("5004", "queue:b"), ("12", "ivr:main")))
    assert len(rl) == 3
    assert rl.lookup("5003") == "queue:a"
    assert rl.lookup("5004") == "queue:b"
    assert rl.lookup("12") == "ivr:main"
    assert rl.lookup("5005") is None
    assert rl.lookup("05003") is None
    assert rl.lookup("500") is None
    assert rl.lookup("") is None
    assert rl.lookup("50a3") is None


def test_width_matters_for_exact_values_and_ranges():
    rl = RouteList.build(
        rows(
            ("0150", "queue:four_exact"),
            ("150", "queue:three_exact"),
            ("0100-0149", "queue:four_range"),
            ("100-149", "queue:three_range"),
        )
    )
    assert rl.lookup("0150") == "queue:four_exact"
    assert rl.lookup("150") == "queue:three_exact"
    assert rl.lookup("0120") == "queue:four_range"
    assert rl.lookup("120") == "queue:three_range"
    assert rl.lookup("00120") is None
    assert rl.lookup("20") is None


def test_range_boundaries_are_inclusive_and_adjacent_ranges_do_not_overlap():
    rl = RouteList.build(
        rows(("0001-0099", "queue:low"), ("0100-0199", "queue:mid"), ("0200", "queue:one"), ("0300-0399", "queue:high"))
    )
    expected = {
        "0000": None,
        "0001": "queue:low",
        "0099": "queue:low",
        "0100": "queue:mid",
        "0199": "queue:mid",
        "0200": "queue:one",
        "0201": None,
        "0299": None,
        "0300": "queue:high",
        "0399": "queue:high",
        "0400": None,
        "9999": None,
    }
    assert {digits: rl.lookup(digits) for digits in expected} == expected


def test_full_width_range():
    rl = RouteList.build(rows(("0000-9999", "queue:all")))
    assert rl.lookup("0000") == rl.lookup("9999") == rl.lookup("4711") == "queue:all"
    assert rl.lookup("999") is None


def test_single_value_range_matches_its_value():
    rl = RouteList.build(rows(("0150-0150", "queue:a")))
    assert rl.lookup("0150") == "queue:a"


def test_lookup_only_matches_ascii_digits():
    rl = RouteList.build(rows(("1000-1999", "queue:a")))
    assert rl.lookup("１２３４") is None


# --- build errors -----------------------------------------------------------------------


def test_overlaps_name_both_places():
    assert build_errors(("0001-0299", "queue:a"), ("0150", "queue:b")) == [
        ("t.csv:3", "value '0150' overlaps '0001-0299' (t.csv:2)"),
    ]


def test_overlaps_found_whatever_the_order_of_rows():
    # The later-starting span is reported, pointing at the earlier one.
    assert build_errors(("0150", "queue:b"), ("0001-0299", "queue:a")) == [
        ("t.csv:2", "value '0150' overlaps '0001-0299' (t.csv:3)"),
    ]


def test_every_overlap_is_reported_against_the_span_reaching_furthest():
    assert build_errors(
        ("0001-0299", "queue:a"),
        ("0150", "queue:b"),
        ("0200-0400", "queue:c"),
        ("0350-0360", "queue:d"),
        ("0299-0300", "queue:e"),
        ("5003", "queue:f"),
        ("5003", "queue:g"),
    ) == [
        ("t.csv:3", "value '0150' overlaps '0001-0299' (t.csv:2)"),
        ("t.csv:4", "value '0200-0400' overlaps '0001-0299' (t.csv:2)"),
        ("t.csv:6", "value '0299-0300' overlaps '0200-0400' (t.csv:4)"),
        ("t.csv:5", "value '0350-0360' overlaps '0200-0400' (t.csv:4)"),
        ("t.csv:8", "value '5003' overlaps '5003' (t.csv:7)"),
    ]


def test_different_widths_never_overlap():
    rl = RouteList.build(rows(("0001-0999", "queue:a"), ("001-999", "queue:b"), ("1-9", "queue:c")))
    assert (rl.lookup("0005"), rl.lookup("005"), rl.lookup("5")) == ("queue:a", "queue:b", "queue:c")


def test_bad_values_are_all_reported_and_good_rows_still_checked_for_overlap():
    assert build_errors(
        ("0299-0001", "queue:a"),
        ("12a4", "queue:b"),
        ("01-001", "queue:c"),
        ("0100-0199", "queue:d"),
        ("0150", "queue:e"),
    ) == [
        ("t.csv:2", "range '0299-0001' runs backwards"),
        ("t.csv:3", "value '12a4' is not digits"),
        ("t.csv:4", "range '01-001': both ends need the same number of digits"),
        ("t.csv:6", "value '0150' overlaps '0100-0199' (t.csv:5)"),
    ]


def test_route_list_error_message_lists_every_problem():
    with pytest.raises(RouteListError) as info:
        RouteList.build(rows(("12a4", "queue:a"), ("0299-0001", "queue:b")))
    assert str(info.value) == "t.csv:2: value '12a4' is not digits\nt.csv:3: range '0299-0001' runs backwards"


def test_empty_list():
    rl = RouteList.build([])
    assert len(rl) == 0
    assert rl.lookup("1") is None


# --- 100 000 entries --------------------------------------------------------------------


def test_hundred_thousand_entries_build_and_lookup():
    """70 000 ranges of width 7 (ten numbers each, the last five unrouted) and 30 000 exact
    values of width 6; every lookup is checked against the rule that made the rows."""
    big: list[RouteRow] = []
    for i in range(70_000):
        big.append(RouteRow(f"{i * 10:07d}-{i * 10 + 4:07d}", f"queue:q{i % 13}", f"big.csv:{i + 2}"))
    for j in range(30_000):
        big.append(RouteRow(f"{j * 3:06d}", f"ivr:i{j % 7}", f"big.csv:{70_002 + j}"))
    random.Random(7).shuffle(big)
    rl = RouteList.build(big)
    assert len(rl) == 100_000

    def expected(digits: str) -> str | None:
        n = int(digits)
        if len(digits) == 7:
            return f"queue:q{(n // 10) % 13}" if n % 10 <= 4 and n // 10 < 70_000 else None
        if len(digits) == 6:
            return f"ivr:i{(n // 3) % 7}" if n % 3 == 0 and n // 3 < 30_000 else None
        return None

    rng = random.Random(11)
    probes = [f"{rng.randrange(0, 710_000):07d}" for _ in range(3000)]
    probes += [f"{rng.randrange(0, 100_000):06d}" for _ in range(3000)]
    probes += ["0000000", "0000004", "0000005", "0699990", "0699994", "0699995", "0700000", "9999999"]
    probes += ["000000", "089997", "090000", "999999", "00000", "00000000"]
    assert {p: rl.lookup(p) for p in probes} == {p: expected(p) for p in probes}


# --- files ------------------------------------------------------------------------------

ROUND_TRIP = [("0001-0099", "queue:sales_east"), ("0300", "ivr:main"), ("150", "voicemail:100"), ("0150", "hangup")]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_round_trip_keeps_leading_zeros(tmp_path: Path, suffix: str):
    path = tmp_path / f"routes{suffix}"
    assert write_route_file(path, ROUND_TRIP) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no .tmp left behind
    back = read_route_file(path)
    assert back == [RouteRow(v, d, f"{path.name}:{i}") for i, (v, d) in enumerate(ROUND_TRIP, start=2)]
    rl = RouteList.build(back)
    assert (rl.lookup("0150"), rl.lookup("150"), rl.lookup("0042")) == ("hangup", "voicemail:100", "queue:sales_east")


def test_csv_file_layout(tmp_path: Path):
    path = tmp_path / "routes.csv"
    write_route_file(path, [("0150", "queue:a")])
    assert path.read_bytes() == b"value,destination\r\n0150,queue:a\r\n"


def test_xlsx_cells_are_text(tmp_path: Path):
    path = tmp_path / "routes.xlsx"
    write_route_file(path, [("0150", "queue:a")])
    sheet = openpyxl.load_workbook(path).worksheets[0]
    assert [[c.value for c in r] for r in sheet.iter_rows()] == [["value", "destination"], ["0150", "queue:a"]]
    assert sheet["A2"].data_type == "s"


def test_write_replaces_existing_file(tmp_path: Path):
    path = tmp_path / "routes.csv"
    write_route_file(path, ROUND_TRIP)
    write_route_file(path, [("9", "hangup")])
    assert read_route_file(path) == [RouteRow("9", "hangup", "routes.csv:2")]


def test_write_unknown_type(tmp_path: Path):
    with pytest.raises(ValueError, match=r"^unknown file type '\.txt': use \.csv or \.xlsx$"):
        write_route_file(tmp_path / "routes.txt", ROUND_TRIP)
    assert list(tmp_path.iterdir()) == []
