"""Load a site YAML: parse with positions, validate the model, run the cross-checks.

Every problem is collected before anything is raised, so `pbxctl validate` can show them
all in one pass, each as `FILE:LINE key.path: message`.
"""

from __future__ import annotations

import difflib
import gc
import hashlib
import stat
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pbxctl.domain.opening_hours import OpeningHours
from pbxctl.domain.route_list import RouteList
from pbxctl.site import model as m
from pbxctl.site.problems import Problem, SiteInvalid, format_path
from pbxctl.site.yaml_source import MAX_FILE_BYTES, SourceMap, load_yaml_text, too_large


@dataclass
class LoadedSite:
    """A validated site plus what was compiled from it for the services."""

    site: m.Site
    path: Path
    sha256: str
    source: SourceMap
    warnings: list[Problem] = field(default_factory=list)
    hours: dict[str, OpeningHours] = field(default_factory=dict)
    route_lists: dict[str, RouteList] = field(default_factory=dict)
    caller_lists: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return self.path.parent


@contextmanager
def _collector_paused(long_lived: bool):
    """A large site allocates a few million objects that all stay alive; the cyclic
    collector would walk them again and again (three quarters of libyaml's compose time)
    and find nothing to free. `long_lived`: the caller keeps the site (a command until it
    exits, a service until the next reload), so the objects alive now are moved out of the
    collector's generations before it runs again; otherwise its next pass, on whichever
    thread allocates first, walks all of them at once (a few hundred ms with the GIL held)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if long_lived:  # not after a failure: its traceback's cycles must stay collectable
            gc.freeze()
    finally:
        if was_enabled:
            gc.enable()


def read_site_bytes(path: Path) -> bytes:
    """The file's bytes, refusing what is not a regular file (a FIFO would hang) or too big."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SiteInvalid([Problem(str(path), None, "", "not a regular file")])
        if info.st_size > MAX_FILE_BYTES:
            raise SiteInvalid([too_large(str(path))])
        with path.open("rb") as fh:
            return fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise SiteInvalid([Problem(str(path), None, "", f"cannot read: {exc.strerror}")]) from None


def load_site(path: Path | str, long_lived: bool = False) -> LoadedSite:
    """Return the validated site or raise SiteInvalid with every error (and the warnings).
    `long_lived`: the site is kept until the process ends or the site is replaced."""
    with _collector_paused(long_lived):
        return _load_site(Path(path))


def _load_site(path: Path) -> LoadedSite:
    from pbxctl.site.checks import check_site

    raw = read_site_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SiteInvalid([Problem(str(path), None, "", f"not UTF-8 text (byte {exc.start})")]) from None
    loaded = load_yaml_text(text, str(path))
    problems = list(loaded.problems)
    if loaded.data is None:
        raise SiteInvalid(problems)
    if not isinstance(loaded.data, dict):
        problems.append(Problem(str(path), 1, "", "the site file must be a mapping of keys (site, pbx, queues, ...)"))
        raise SiteInvalid(problems)
    try:
        site = m.Site.model_validate(loaded.data)
    except ValidationError as exc:
        problems.extend(translate_errors(exc, loaded.data, loaded.source))
        raise SiteInvalid(_sorted(problems)) from None
    result = LoadedSite(site, path, hashlib.sha256(raw).hexdigest(), loaded.source)
    problems.extend(check_site(result))
    errors = [p for p in problems if p.severity == "error"]
    result.warnings = [p for p in problems if p.severity == "warning"]
    if errors:
        raise SiteInvalid(_sorted(problems))
    return result


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.path))


# --- pydantic errors to engineer-facing messages -----------------------------------------

_PATTERN_HELP = {
    r"^[0-9*#]$": "a single key: 0-9, * or #",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name",
    r"^[1-9][0-9]{0,2}$": "a country code such as 47",
    r"^[0-9]{1,4}$": "digits",
    r"^[0-9]{0,2}$": "up to two digits",
    r"^[0-9]{1,20}$": "digits",
    r"^[A-Za-z0-9_-]+$": "letters, digits, '_' and '-'",
    r"^\s*[0-9]+(\s*-\s*[0-9]+)?\s*$": "digits or a range of digits like 0001-0299",
}


def _field_names() -> set[str]:
    names: set[str] = set()
    for model in _models():
        for name, info in model.model_fields.items():
            names.add(info.alias or name)
    return names


def _models() -> list[type[BaseModel]]:
    from pbxctl.site import alerts_model, supervision_model

    found = {id(o): o for mod in (m, alerts_model, supervision_model) for o in vars(mod).values()
             if isinstance(o, type) and issubclass(o, BaseModel) and o is not m.Model}
    return list(found.values())


def _suggest(key: str, siblings: set[str]) -> str:
    """Closest field name among the models that have all the sibling keys."""
    candidates: set[str] = set()
    for model in _models():
        fields = {info.alias or name for name, info in model.model_fields.items()}
        if siblings <= fields:
            candidates |= fields
    close = difflib.get_close_matches(key, candidates or _FIELDS, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _message(err: dict[str, Any], key: str | int | None, siblings: set[str] = frozenset()) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return f"unknown key{_suggest(str(key), set(siblings) - {key})}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number, not {given!r}"
    if kind == "greater_than_equal":
        return f"must be {ctx['ge']} or more" if ctx["ge"] != 0 else "must be 0 or more"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, not {given!r}"
    if kind == "literal_error":
        return f"must be one of: {ctx.get('expected', '')}, not {given!r}"
    if kind == "enum":
        return f"must be one of: {ctx.get('expected', '')}, not {given!r}"
    if kind == "union_tag_invalid":
        return f"type must be one of: {ctx.get('expected_tags', '')}, not {ctx.get('tag')!r}"
    if kind == "union_tag_not_found":
        return "needs a 'type' (hours, menu, advanced_menu, vip, block, queue, callback, voicemail, transfer, goto_ivr, play, hangup)"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern", "")
        help_ = _PATTERN_HELP.get(pattern)
        if "mon|tue" in pattern:
            help_ = "days such as mon, mon-fri or sat,sun"
        elif r"\d{1,2}:\d{2}" in pattern:
            help_ = "a time range such as 08:00-16:00"
        elif help_ is None:
            help_ = "a valid value"
        return f"{given!r} is not {help_}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping of keys, not {_kind(given)}"
    if kind == "list_type":
        return f"must be a list, not {_kind(given)}"
    if kind == "string_type":
        return f"must be a single value, not {_kind(given)}"
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return f"{given!r} is not a date like 2026-12-24"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    return err["msg"]


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "an empty value"
    return repr(value)


def translate_errors(exc: ValidationError, data: Any, source: SourceMap) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors():
        path, last_key = _resolve_loc(err["loc"], data)
        parent = _get(data, path[:-1])
        siblings = set(parent) if isinstance(parent, dict) else set()
        message = _message(err, last_key, siblings)
        key = (format_path(path), message)
        if key in seen:
            continue
        seen.add(key)
        problems.append(Problem(source.file, source.line_of(path), format_path(path), message))
    return problems


def _resolve_loc(loc: tuple, data: Any) -> tuple[tuple[str | int, ...], str | int | None]:
    """Drop the parts of a pydantic location that are not keys of the data (union tags,
    '[key]' markers), so the path names what the engineer wrote."""
    path: list[str | int] = []
    node = data
    last: str | int | None = None
    tag_skipped: set[int] = set()
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(node, dict) and node.get("type") == part and id(node) not in tag_skipped:
            # pydantic puts the union tag right after the element's own key.
            tag_skipped.add(id(node))
            continue
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
            last = part
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
            last = part
        elif isinstance(node, dict) and isinstance(part, str) and part not in node and _is_field_name(part):
            # A missing key: name it, though it has no line of its own.
            path.append(part)
            last = part
            node = None
    return tuple(path), last


def _get(data: Any, path: tuple) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _is_field_name(part: str) -> bool:
    return part in _FIELDS


_FIELDS = _field_names()
