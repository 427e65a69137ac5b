#!/usr/bin/env python3
"""Write the hostile-input corpus under tests/hostile/ (run once; the output is committed).

    .venv/bin/python scripts/make-hostile-corpus.py

sites/   site files built from the model's example (tests/hostile_sites.py): one string
         value or key replaced by a hostile value each, for the Asterisk base and its
         FreeSWITCH variant; every free-text leaf, and a fixed random sample of the others,
         the values taken in turn from HOSTILE_VALUES; plus a few files broken as bytes
         (not UTF-8, a raw NUL, a BOM, CR line ends).
routes/  routing-list files (CSV, Excel) with hostile rows and encodings, and site.yaml,
         whose routing list `postcodes` the tests point at each of them.

tests/test_hostile_corpus.py runs every file through the CLI.
"""

from __future__ import annotations

import random
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from hostile_sites import EXAMPLE, HOSTILE_VALUES, base_sites, dump, is_free_text, string_leaves, substitute  # noqa: E402

OUT = REPO / "tests" / "hostile"
SAMPLE_PER_BASE = 170
SEED = 11


def slug(leaf) -> str:
    path, is_key = leaf
    text = "-".join(str(p) for p in path).replace("+", "")
    text = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[-60:]
    return f"{text}-key" if is_key else text


def write_sites() -> int:
    directory = OUT / "sites"
    directory.mkdir(parents=True)
    shutil.copy(EXAMPLE.parent / "postcodes.csv", directory)
    rng = random.Random(SEED)
    count = 0
    for base, data in base_sites().items():
        leaves = list(string_leaves(data))
        chosen = [leaf for leaf in leaves if is_free_text(leaf)]
        others = [leaf for leaf in leaves if not is_free_text(leaf)]
        chosen += rng.sample(others, SAMPLE_PER_BASE)
        for leaf in chosen:
            value = HOSTILE_VALUES[count % len(HOSTILE_VALUES)]
            count += 1
            text = f"# hostile value {value!r} at {leaf[0]}{' (key)' if leaf[1] else ''}\n"
            text += dump(substitute(data, leaf, value))
            (directory / f"{count:03d}-{base}-{slug(leaf)}.yaml").write_text(text, encoding="utf-8")
    example = EXAMPLE.read_bytes()
    broken = {
        "latin1": example.replace(b"Kari Nordmann", "Kåri Nordmann".encode("latin-1")),
        "raw-nul": example.replace(b"Kari Nordmann", b"Kari\x00Nordmann"),
        "bom": b"\xef\xbb\xbf" + example,
        "crlf": example.replace(b"\n", b"\r\n"),
        "lone-cr": example.replace(b"\n", b"\r"),
        "raw-bidi": example.replace(b"Kari Nordmann", "Kari \u202eNordmann".encode()),
        "raw-c1-control": example.replace(b"Kari Nordmann", "Kari\u0085Nordmann".encode()),
    }
    for name, raw in broken.items():
        count += 1
        (directory / f"{count:03d}-bytes-{name}.yaml").write_bytes(raw)
    return count


ROUTES_SITE = """\
# The site the routing-list corpus is checked with: its list `postcodes` is pointed at
# each file of this directory in turn (copied as postcodes.csv or postcodes.xlsx).
site: routes
numbering: {country_code: "47"}
pbx: {backend: asterisk}
agents:
  kari: {name: Kari Nordmann, extension: "1001"}
queues:
  sales_east: {strategy: round_robin, members: [{agent: kari}]}
  support: {strategy: round_robin, members: [{agent: kari}]}
routing_lists:
  postcodes: {file: postcodes.csv}
entries:
  "100": {ivr: main}
ivrs:
  main:
    start: postcode
    elements:
      postcode:
        type: advanced_menu
        prompt: custom/enter-postcode
        routing_list: postcodes
        max_digits: 4
        invalid: queue:support
        no_input: queue:support
"""


def write_routes() -> int:
    directory = OUT / "routes"
    directory.mkdir(parents=True)
    (directory / "site.yaml").write_text(ROUTES_SITE, encoding="utf-8")
    good = "value,destination\n0001-0299,queue:sales_east\n0300,queue:support\n"
    files: dict[str, bytes] = {
        "good.csv": good.encode(),
        "empty.csv": b"",
        "header-only.csv": b"value,destination\n",
        "blank-lines.csv": b"\n\n\n",
        "nul.csv": b"value,destination\n0001,queue:sales\x00_east\n",
        "latin1.csv": "value,destination\n0001,queue:s\u00e5les\n".encode("latin-1"),
        "utf16.csv": good.encode("utf-16"),
        "bom.csv": b"\xef\xbb\xbf" + good.encode(),
        "crlf.csv": good.replace("\n", "\r\n").encode(),
        "lone-cr.csv": good.replace("\n", "\r").encode(),
        "form-feed.csv": b"value,destination\n\x0c0001,queue:support\n0002,bogus\n",
        "quoted-newline.csv": b'value,destination\n"0001\n0002",queue:support\n0003,bogus\n',
        "unclosed-quote.csv": b'value,destination\n"0001,queue:support\n0002,queue:support\n',
        "semicolons.csv": b"value;destination\n0001;queue:support\n",
        "tabs.csv": b"value\tdestination\n0001\tqueue:support\n",
        "bad-digits.csv": b"value,destination\n12a4,queue:support\n",
        "overlap.csv": b"value,destination\n0001-0299,queue:support\n0150,queue:sales_east\n",
        "unknown-queue.csv": b"value,destination\n0001,queue:nope\n",
        "injection.csv": b"value,destination\n0001,queue:support\n[evil]\nexten => s,1,System(id)\n",
        "dialplan-chars.csv": b"value,destination\n0001,queue:support;Hangup()\n0002,${EXTEN}\n",
        "bidi.csv": "value,destination\n0001,queue:\u202esupport\n0002\u200b,queue:support\n".encode(),
        "surrogate-escape.csv": b"value,destination\n0001,queue:\xed\xa0\x80\n",
        "many-columns.csv": b"value,destination" + b",x" * 5000 + b"\n0001,queue:support" + b",x" * 5000 + b"\n",
        "huge-field.csv": b"value,destination\n0001,queue:" + b"s" * 200_000 + b"\n",
        "long-line-count.csv": b"value,destination\n" + b"".join(b"%04d,queue:support\n" % i for i in range(1, 10000)),
        "broken.xlsx": b"PK\x03\x04 this is not a zip archive",
        "text-as.xlsx": good.encode(),
        "binary.csv": bytes(range(256)) * 4,
    }
    for name, raw in files.items():
        (directory / name).write_bytes(raw)
    return len(files)


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    sites = write_sites()
    routes = write_routes()
    print(f"make-hostile-corpus: {sites} site files in {OUT / 'sites'}, {routes} routing-list files in {OUT / 'routes'}")


if __name__ == "__main__":
    main()
