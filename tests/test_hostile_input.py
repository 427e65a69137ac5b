"""Property: a hostile value in any string of a site file is either refused with
`FILE:LINE key.path: message`, or the site renders to files the PBX reads as intended.

Hypothesis picks a base site (Asterisk, FreeSWITCH), one of its string leaves or keys
(tests/hostile_sites.py walks the model's example) and a value: one of the hand-picked
HOSTILE_VALUES, arbitrary text from every Unicode category (lone surrogates included),
or a hostile value inside ordinary text.
"""

from __future__ import annotations

import shutil
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostile_checks import check_asterisk_files, check_freeswitch_files, check_problem_lines
from hostile_sites import EXAMPLE, HOSTILE_VALUES, base_sites, dump, is_free_text, string_leaves, substitute

from pbxctl.render.asterisk import generate_asterisk
from pbxctl.render.freeswitch import AGENTS_PATH, DIALPLAN_PATH, QUEUES_PATH, TIERS_PATH, generate_freeswitch
from pbxctl.site.load import load_site
from pbxctl.site.problems import SiteInvalid
from pbxctl.site.values import shown

BASES = base_sites()
LEAVES = {name: list(string_leaves(data)) for name, data in BASES.items()}
GENERATE = {"asterisk": generate_asterisk, "freeswitch": generate_freeswitch}
CHECK = {"asterisk": check_asterisk_files, "freeswitch": check_freeswitch_files}

ALL_CATEGORIES = sorted({unicodedata.category(chr(c)) for c in range(0x110000)})
any_char = st.characters(categories=ALL_CATEGORIES)
hostile_text = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.text(any_char, max_size=12),
    st.builds(lambda a, b, c: a + b + c, st.text(max_size=4), st.sampled_from(HOSTILE_VALUES), st.text(max_size=4)),
)


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("hostile")
    shutil.copy(EXAMPLE.parent / "postcodes.csv", directory)
    return directory


def _write(directory: Path, name: str, data) -> Path:
    path = directory / name
    path.write_text(dump(data), encoding="utf-8")
    return path


class BaseFiles(dict):
    """The files each base renders to (a short repr: Hypothesis prints its arguments)."""

    def __repr__(self) -> str:
        return f"BaseFiles({sorted(self)})"


@pytest.fixture(scope="module")
def base_files(site_dir: Path) -> BaseFiles:
    out = BaseFiles()
    for name, data in BASES.items():
        out[name] = GENERATE[name](load_site(_write(site_dir, f"base-{name}.yaml", data)))
    return out


def check_one(site_dir: Path, base_files, base: str, leaf, value: str) -> str:
    path = _write(site_dir, "site.yaml", substitute(BASES[base], leaf, value))
    try:
        loaded = load_site(path)
    except SiteInvalid as exc:
        check_problem_lines(shown(str(path)), [str(p) for p in exc.problems])
        return "refused"
    files = GENERATE[base](loaded)
    # A blank name is no name: the line that would show it is left out.
    CHECK[base](files, loaded.site, base_files[base], is_free_text(leaf) and bool(value.strip()))
    return "valid"


def test_the_bases_validate_and_walk_every_section(base_files):
    for name, data in BASES.items():
        sections = {path[0] for (path, _) in LEAVES[name]}
        assert sections >= {"site", "pbx", "agents", "queues", "hours", "lists", "routing_lists", "entries", "ivrs", "alerts"}
        assert len(LEAVES[name]) > 400
        assert set(base_files[name]) == {"asterisk": {"extensions_pbxctl.conf", "queues_pbxctl.conf",
                                                      "queuerules_pbxctl.conf", "features_pbxctl.conf"},
                                         "freeswitch": {QUEUES_PATH, AGENTS_PATH, TIERS_PATH, DIALPLAN_PATH}}[name]


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_hostile_string_anywhere_is_refused_or_rendered_as_intended(site_dir, base_files, data):
    base = data.draw(st.sampled_from(sorted(BASES)), label="base")
    leaf = data.draw(st.sampled_from(LEAVES[base]), label="leaf")
    value = data.draw(hostile_text, label="value")
    check_one(site_dir, base_files, base, leaf, value)


@pytest.mark.parametrize("base", sorted(BASES))
def test_every_free_text_leaf_shows_any_visible_text_without_changing_a_file(site_dir, base_files, base):
    """Names and descriptions take visible text the PBX syntax would otherwise read
    (';', quotes, '<', '$${...}', '--'): shown, the files keep their shape."""
    texts = ["Bodø Ærlig \U0001f600", "it's <b>&amp;</b>", "a--b-", "desc;-- $${domain} <!--#x-->"]
    results = []
    for leaf in (leaf for leaf in LEAVES[base] if is_free_text(leaf)):
        for text in texts:
            results.append((leaf, text, check_one(site_dir, base_files, base, leaf, text)))
    # Descriptions and exception names take any visible text; the first value passes everywhere.
    assert all(r == "valid" for leaf, text, r in results if text == texts[0]), results


@pytest.mark.parametrize("value", ["\x00", "a\x01b", "\u202eevil", "\u200b", "a\u2028b", "\ufeffx"])
def test_invisible_characters_are_named_with_their_key(site_dir, base_files, value):
    leaf = (("agents", "kari", "name"), False)
    path = _write(site_dir, "site.yaml", substitute(BASES["asterisk"], leaf, value))
    with pytest.raises(SiteInvalid) as exc:
        load_site(path)
    [problem] = [p for p in exc.value.problems if p.severity == "error"]
    code = next(ch for ch in value if ch not in "abevilx")
    assert problem.path == "agents.kari.name"
    assert problem.message.endswith(f"U+{ord(code):04X} is not allowed")
