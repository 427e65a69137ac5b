"""The quarter-hour sums the queue report reads (books/quarter_sums.py): the report from
them is the report from the stints and legs (the hand-made day, a generated log ingested
in many small batches, random windows, filters and timezones), they add only what was
really written (the same lines twice, a lowered wrap-up cut, an entry number arriving with
a later piece of the call), the report falls back to the stints when it asks for other
thresholds or a window off the quarter hours, and migration 0007 fills them from the books
an older pbxctl wrote. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random

from sqlalchemy import create_engine, text

from books_day import NODE, site_thresholds, write_books
from books_db import books_url  # noqa: F401 - fixture
from books_sums import assert_sums_agree, generated, stored
from pbxctl.books.assembler import Assembler, WrapupTable
from pbxctl.books.ingest import Ingestor, import_file
from pbxctl.books.quarter_sums import Thresholds
from pbxctl.books.queue_report import queue_report
from pbxctl.books.report_source import tally_quarters, tally_scan
from pbxctl.books.report_window import make_window
from pbxctl.books.store import BatchWriter
from pbxctl.storage.db import new_engine
from pbxctl.storage.migrate import upgrade

DAY_SL = {"support": 20, "sales": 30}  # tests/sites/books.yaml
ZONES = ("Europe/Oslo", "UTC", "America/St_Johns", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe",
         "America/New_York")


def both_paths(engine, window, queues, sl, short, node=None) -> tuple[dict | None, dict]:
    """The report document from the quarter-hour sums (None when they cannot answer) and from the stints."""
    quarters = tally_quarters(engine, window, queues, sl, short, node)
    scan = tally_scan(engine, window, queues, sl, short, node)
    doc = lambda tallies: queue_report(tallies, window, queues, sl, short, 80.0)  # noqa: E731
    return (None if quarters is None else doc(quarters)), doc(scan)


def random_window(rnd: random.Random, first: str, last: str):
    days = rnd.choice((None, "mon-fri", "sat,sun", "tue", "mon,wed-fri"))
    tod = None
    if rnd.random() < 0.5:
        lo = rnd.randrange(0, 23 * 4) * 15
        hi = rnd.randrange(lo // 15 + 1, 24 * 4 + 1) * 15
        tod = f"{lo // 60:02d}:{lo % 60:02d}-{hi // 60:02d}:{hi % 60:02d}"
    return make_window(first, last, rnd.choice(ZONES), rnd.choice(("hour", "day", "week", "month", "total")), days,
                       tod)


def test_the_report_from_the_sums_is_the_report_from_the_stints(books_url):
    engine = write_books(books_url)
    assert_sums_agree(engine, site_thresholds())
    queues = ["support", "sales"]
    window = make_window("2026-11-10", None, "Europe/Oslo", "day")
    quarters, scan = both_paths(engine, window, queues, DAY_SL, 5)
    assert quarters == scan and scan["totals"][0]["offered"] == 6
    rnd = random.Random(12)
    used = 0
    for _ in range(25):
        window = random_window(rnd, "2026-11-09", "2026-11-11")
        queues = rnd.choice((["support", "sales"], ["sales"], ["support"]))
        quarters, scan = both_paths(engine, window, queues, DAY_SL, 5, rnd.choice((None, NODE, "elsewhere")))
        assert quarters is None or quarters == scan, window
        used += quarters is not None
    assert used >= 20  # whole quarter-hour filters in every timezone in use: the sums answered


def test_other_thresholds_or_a_window_off_the_quarter_hours_read_the_stints(books_url):
    engine = write_books(books_url)
    window = make_window("2026-11-10", None, "Europe/Oslo", "day")
    for sl, short in (({"support": 25, "sales": 30}, 5), (DAY_SL, 0)):
        quarters, scan = both_paths(engine, window, ["support", "sales"], sl, short)
        assert quarters is None and scan["totals"][0]["offered"] == 6
    for off in (make_window("2026-11-10 09:05", "2026-11-10 12:00", "Europe/Oslo", "hour"),
                make_window("2026-11-10", None, "Europe/Oslo", "day", time_of_day="09:05-09:25"),
                make_window("1920-01-01", None, "Europe/Amsterdam", "day")):  # +00:19:32, local mean time
        assert tally_quarters(engine, off, ["support"], DAY_SL, 5) is None


def test_a_log_ingested_in_small_batches_twice_sums_as_the_stints_do(books_url, tmp_path):
    log = generated(tmp_path, 1200, seed=3)
    engine = new_engine(books_url)
    thresholds = Thresholds({"support": 20, "sales": 30, "billing": 15, "tech": 60}, 5)

    def ingest(batch_lines: int) -> None:
        assembler = Assembler(wrapup_of=WrapupTable(default=15))  # cut at the agent's next call, often a batch later
        import_file(log, Ingestor(BatchWriter(engine, "n1", thresholds=thresholds), assembler, batch_lines=batch_lines))

    ingest(400)
    once = stored(engine)
    assert_sums_agree(engine, thresholds)
    ingest(1000)  # the same lines again, cut into other batches
    assert stored(engine) == once
    rnd = random.Random(5)
    queues = ["support", "sales", "billing", "tech"]
    for _ in range(6):
        quarters, scan = both_paths(engine, random_window(rnd, "2026-11-30", "2026-12-02"), queues,
                                    dict(thresholds.service_levels), 5)
        assert quarters is None or quarters == scan
    window = make_window("2026-12-01", None, "Europe/Oslo", "hour")
    quarters, scan = both_paths(engine, window, queues, dict(thresholds.service_levels), 5)
    assert quarters == scan and sum(r["offered"] for r in scan["totals"][:4]) > 1000


def test_an_upgrade_fills_the_sums_from_the_books_there(books_url, tmp_path):
    """Books as 0006 stored them (written by this writer, sums dropped), upgraded: 0007
    sums them with the default thresholds, as an ingestor without a site would."""
    made = write_books(books_url, thresholds=Thresholds())
    before = stored(made)
    made.dispose()
    old = create_engine(books_url)
    with old.begin() as conn:
        conn.execute(text("DROP TABLE books_queue_quarters"))
        conn.execute(text("DROP TABLE books_leg_quarters"))
        conn.execute(text("DROP TABLE callback_places"))  # 0008's, also newer than 0006
        conn.execute(text("UPDATE alembic_version SET version_num = '0006'"))
    old.dispose()
    engine = new_engine(books_url)
    assert stored(engine) == before
    assert_sums_agree(engine, Thresholds())
    window = make_window("2026-11-10", None, "Europe/Oslo", "day")
    defaults = {"support": 20, "sales": 20}
    quarters, scan = both_paths(engine, window, ["support", "sales"], defaults, 5)
    assert quarters == scan
    assert both_paths(engine, window, ["support", "sales"], DAY_SL, 5)[0] is None  # the site's sales SL: stints


def test_the_models_are_what_the_migration_makes(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import MetaData

    from pbxctl.books.tables import BooksLegQuarter, BooksQueueQuarter

    engine = new_engine(f"sqlite:///{tmp_path / 'books.db'}")
    wanted = MetaData()
    for table in (BooksQueueQuarter, BooksLegQuarter):
        table.__table__.to_metadata(wanted)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), wanted)
    mine = [d for d in diff if "quarters" in json.dumps(repr(d))]
    assert mine == []
