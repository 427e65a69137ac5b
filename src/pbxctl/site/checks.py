"""Cross-checks the typed model cannot express: references, cycles, overlaps, reachability,
what a backend cannot do. Also compiles hours, routing lists and caller lists, since
checking them and building them are the same work."""

from __future__ import annotations

import difflib

from pathlib import Path
from typing import Callable, Iterator, TypeVar

from pbxctl.domain.opening_hours import (
    DatedException,
    OpeningHours,
    RangesOverlap,
    build_day_plan,
    expand_days,
    parse_time_range,
)
from pbxctl.domain.phone_numbers import InvalidNumber, NumberingPlan, normalize_number
from pbxctl.domain.route_list import RouteList, RouteListError, RouteRow
from pbxctl.site import model as m
from pbxctl.site.data_files import DataFileError, data_file_path, read_route_file, read_rows
from pbxctl.site.load import LoadedSite
from pbxctl.site.problems import Problem, format_path
from pbxctl.site.freeswitch_checks import check_freeswitch
from pbxctl.site.reserved_names import ASTERISK_RESERVED_EXTENSIONS
from pbxctl.site.callbacks_checks import check_callbacks
from pbxctl.site.reports_checks import check_reports
from pbxctl.site.supervision_checks import check_supervision
from pbxctl.site.values import Destination, is_destination, parse_destination

P = tuple[str | int, ...]
T = TypeVar("T")

# What each backend's queue engine cannot express.
UNSUPPORTED_STRATEGIES = {
    "asterisk": {m.Strategy.least_talk_time: "app_queue has no least-talk-time strategy"},
    "freeswitch": {m.Strategy.weighted_random: "mod_callcenter has no weighted random strategy"},
}

# Elements that wait for the caller (or for an agent): a loop through one is the caller's choice.
WAITING_ELEMENTS = (m.MenuElement, m.AdvancedMenuElement, m.QueueElement, m.CallbackElement)


class Checker:
    def __init__(self, loaded: LoadedSite, backend: str | None = None):
        self.loaded = loaded
        self.site = loaded.site
        self.backend = backend or self.site.pbx.backend
        self.problems: list[Problem] = []

    # -- reporting
    def error(self, path: P, message: str) -> None:
        self._add(path, message, "error")

    def warn(self, path: P, message: str) -> None:
        self._add(path, message, "warning")

    def _add(self, path: P, message: str, severity: str) -> None:
        src = self.loaded.source
        self.problems.append(Problem(src.file, src.line_of(path), format_path(path), message, severity))  # type: ignore[arg-type]

    # -- shared
    def check_destination(self, path: P, dest: Destination) -> None:
        if dest.kind == "queue" and dest.target not in self.site.queues:
            self.error(path, f"unknown queue {dest.target!r}{self._known('queues')}")
        elif dest.kind == "ivr" and dest.target not in self.site.ivrs:
            self.error(path, f"unknown IVR {dest.target!r}{self._known('ivrs')}")

    def _known(self, section: str) -> str:
        names = sorted(getattr(self.site, section))
        return f" (known: {', '.join(names)})" if names else f" (no {section} are defined)"

    def run(self) -> list[Problem]:
        self.check_pbx()
        self.check_agents()
        self.check_queues()
        self.check_hours()
        self.check_caller_lists()
        self.check_routing_lists()
        self.check_entries()
        self.check_ivrs()
        self.check_loops()
        self.check_alerts()
        check_supervision(self)
        check_freeswitch(self)
        check_reports(self)
        check_callbacks(self)
        return self.problems

    def check_alerts(self) -> None:
        alerts = self.site.alerts
        names: dict[str, int] = {}
        for i, rule in enumerate(alerts.rules):
            base = ("alerts", "rules", i)
            if rule.queue not in self.site.queues:
                self.error((*base, "queue"), f"unknown queue {rule.queue!r}{self._known('queues')}")
            if rule.hours is not None:
                hours = self.loaded.hours.get(rule.hours)
                if rule.hours not in self.site.hours:
                    self.error((*base, "hours"), f"unknown hours {rule.hours!r}{self._known('hours')}")
                elif hours is not None:
                    known = hours.categories()
                    for j, cat in enumerate(rule.during):
                        if cat not in known:
                            self.error((*base, "during", j), f"hours {rule.hours!r} has no category {cat!r} (it has: {', '.join(sorted(known))})")
            for j, target in enumerate(rule.notify):
                if target not in alerts.targets:
                    self.error((*base, "notify", j), f"unknown alert target {target!r}{' (known: ' + ', '.join(sorted(alerts.targets)) + ')' if alerts.targets else ' (no alerts.targets are defined)'}")
            if rule.rule_name in names:
                self.error((*base, "name"), f"rule name {rule.rule_name!r} is also rule {names[rule.rule_name]}'s; give each rule its own name")
            names[rule.rule_name] = i
        for name, target in alerts.targets.items():
            secrets = []
            if target.email is not None:
                secrets.append((("email", "password"), target.email.password))
            if target.webhook is not None:
                secrets.append((("webhook", "url"), target.webhook.url))
                secrets += [(("webhook", "headers", k), v) for k, v in target.webhook.headers.items()]
            for path, value in secrets:
                if isinstance(value, str) and value and path != ("webhook", "url"):
                    self.warn(("alerts", "targets", name, *path), "a literal secret in the site file; prefer {env: NAME} or {file: PATH}")

    # -- sections
    def check_pbx(self) -> None:
        pbx = self.site.pbx
        self.check_destination(("pbx", "fallback"), parse_destination(pbx.fallback))
        for path, value in (
            (("pbx", "asterisk", "ami", "secret"), pbx.asterisk.ami.secret),
            (("pbx", "freeswitch", "esl", "password"), pbx.freeswitch.esl.password),
        ):
            if isinstance(value, str):
                self.warn(path, "a literal secret in the site file; prefer {env: NAME} or {file: PATH}")

    def check_agents(self) -> None:
        seen: dict[str, str] = {}
        for agent_id, agent in self.site.agents.items():
            if agent.extension in seen:
                self.error(
                    ("agents", agent_id, "extension"),
                    f"extension {agent.extension} is also agent {seen[agent.extension]!r}'s",
                )
            seen[agent.extension] = agent_id
            if self.backend == "asterisk" and agent.login == "dynamic" and agent.wrapup is not None:
                # AMI QueueAdd has no wrap-up argument: a logged-in dynamic member gets the queue's.
                self.warn(
                    ("agents", agent_id, "wrapup"),
                    "on Asterisk an agent's own wrap-up applies to static membership only; "
                    "when logged in dynamically the queue's wrapup is used",
                )
        for qname, q in self.site.queues.items():
            for i, mem in enumerate(q.members):
                agent = self.site.agents.get(mem.agent)
                if self.backend == "asterisk" and agent is not None and agent.wrapup == 0 and q.wrapup > 0:
                    # app_queue reads a member's wrap-up 0 as "not set" and uses the queue's.
                    self.warn(
                        ("agents", mem.agent, "wrapup"),
                        f"on Asterisk an agent's wrapup 0 does not override queue {qname!r}'s {q.wrapup} s "
                        "(app_queue reads 0 as unset)",
                    )

    def check_queues(self) -> None:
        unsupported = UNSUPPORTED_STRATEGIES.get(self.backend, {})
        for name, queue in self.site.queues.items():
            base = ("queues", name)
            if name in ASTERISK_RESERVED_EXTENSIONS:
                self.error(base, f"{name!r} is reserved (a special dialplan extension); choose another queue name")
            if queue.strategy is m.Strategy.ring_all and len({mem.priority for mem in queue.members}) > 1:
                self.warn(base + ("strategy",), "ring_all rings every member at once: member priorities are ignored")
            if queue.strategy in unsupported:
                self.error(
                    base + ("strategy",),
                    f"strategy {queue.strategy.value!r} is not available on {self.backend}: {unsupported[queue.strategy]}",
                )
            if queue.escalation_step is not None and queue.escalation_step < queue.ring_time + queue.retry:
                # A ringing round lasts ring_time, then retry passes before the next round;
                # a raised penalty limit only takes effect when a round starts.
                round_s = queue.ring_time + queue.retry
                self.warn(
                    base + ("escalation_step",),
                    f"escalation_step {queue.escalation_step} s is shorter than ring_time + retry "
                    f"({queue.ring_time} + {queue.retry} = {round_s} s): the next priority group can only ring "
                    "in the next round",
                )
            if self.backend == "freeswitch" and queue.waiting == "music_then_ringing":
                self.error(base + ("waiting",), "'music_then_ringing' is not available on freeswitch (mod_callcenter plays one sound)")
            seen: dict[str, int] = {}
            for i, member in enumerate(queue.members):
                if member.agent not in self.site.agents:
                    self.error(base + ("members", i, "agent"), f"unknown agent {member.agent!r}{self._known('agents')}")
                if member.agent in seen:
                    self.error(base + ("members", i, "agent"), f"agent {member.agent!r} is already member [{seen[member.agent]}]")
                seen.setdefault(member.agent, i)
            if not queue.members:
                self.warn(base + ("members",), "queue has no members; only dynamically logged-in agents can answer")
            for key in ("overflow", "when_empty"):
                value = getattr(queue, key)
                if value is not None:
                    self.check_destination(base + (key,), parse_destination(value))
                    if parse_destination(value) == Destination("queue", name):
                        self.error(base + (key,), f"queue {name!r} overflows into itself")
            if queue.overflow is not None and queue.max_wait is None and not queue.exit_when_empty and queue.join_empty:
                self.warn(base + ("overflow",), "overflow is never used: set max_wait, exit_when_empty or join_empty: false")
            if queue.announce.interval and queue.announce.prompt is None and not (
                queue.announce.position or queue.announce.hold_time
            ):
                self.warn(base + ("announce", "interval"), "an interval with nothing to announce (no prompt, position or hold_time)")

    def check_hours(self) -> None:
        for name, hours in self.site.hours.items():
            base = ("hours", name)
            per_day: dict[str, dict[str, list]] = {}
            # where each range was written, to report an overlap at the range that overlaps
            written: dict[tuple[str, str, object], P] = {}
            ok = True
            for spec, cats in hours.week.items():
                try:
                    days = expand_days(spec)
                except ValueError as exc:
                    self.error(base + ("week", spec), str(exc))
                    ok = False
                    continue
                for cat, ranges in cats.items():
                    for i, text in enumerate(ranges):
                        try:
                            rng = parse_time_range(text)
                        except ValueError as exc:
                            self.error(base + ("week", spec, cat, i), str(exc))
                            ok = False
                            continue
                        for day in days:
                            per_day.setdefault(day, {}).setdefault(cat, []).append(rng)
                            written.setdefault((day, cat, rng), base + ("week", spec, cat, i))
            week = {}
            overlaps: dict[tuple[str, P], list[str]] = {}
            for day, ranges in per_day.items():
                try:
                    week[day] = build_day_plan(ranges, hours.default)
                except RangesOverlap as exc:
                    cat, rng = exc.later
                    overlaps.setdefault((str(exc), written[(day, cat, rng)]), []).append(day)
                    ok = False
            for (message, path), days in overlaps.items():
                self.error(path, f"{', '.join(days)}: {message}")
            exceptions: list[DatedException] = []
            for i, exc_model in enumerate(hours.exceptions):
                ranges = {}
                exc_written: dict[tuple[str, object], P] = {}
                for cat, texts in exc_model.ranges.items():
                    for j, text in enumerate(texts):
                        try:
                            rng = parse_time_range(text)
                        except ValueError as exc:
                            self.error(base + ("exceptions", i, "ranges", cat, j), str(exc))
                            ok = False
                            continue
                        ranges.setdefault(cat, []).append(rng)
                        exc_written.setdefault((cat, rng), base + ("exceptions", i, "ranges", cat, j))
                try:
                    plan = build_day_plan(ranges, exc_model.default or hours.default)
                except RangesOverlap as exc:
                    self.error(exc_written[exc.later], str(exc))
                    ok = False
                    continue
                for k, other in enumerate(exceptions):
                    if exc_model.first_day <= other.last and other.first <= exc_model.last_day:
                        self.error(base + ("exceptions", i), f"dates overlap exception [{k}] ({other.first}..{other.last})")
                        ok = False
                exceptions.append(DatedException(exc_model.first_day, exc_model.last_day, plan, exc_model.name or ""))
            if ok:
                self.loaded.hours[name] = OpeningHours(hours.timezone, week, hours.default, exceptions)

    def check_caller_lists(self) -> None:
        plan = NumberingPlan(
            self.site.numbering.country_code,
            self.site.numbering.international_prefix,
            self.site.numbering.national_prefix,
        )
        for name, lst in self.site.lists.items():
            base = ("lists", name)
            numbers: set[str] = set()
            for i, raw in enumerate(lst.numbers):
                try:
                    numbers.add(normalize_number(raw, plan))
                except InvalidNumber as exc:
                    self.error(base + ("numbers", i), str(exc))
            if lst.file:
                for line, cells in self._read_data_file(base + ("file",), lst.file, read_rows):
                    raw = cells[0].strip() if cells else ""
                    if not raw or raw.startswith("#") or raw.lower() in ("number", "numbers"):
                        continue
                    try:
                        numbers.add(normalize_number(raw, plan))
                    except InvalidNumber as exc:
                        self.error(base + ("file",), f"{lst.file}:{line}: {exc}")
            self.loaded.caller_lists[name] = frozenset(numbers)

    def _read_data_file(self, key: P, name: str, read: Callable[[Path, str], list[T]]) -> list[T]:
        """`read` (a reader of `site/data_files.py`) applied to the file a site key names;
        its problems reported at that key, and no rows."""
        try:
            return read(data_file_path(self.loaded.base_dir, name), name)
        except DataFileError as exc:
            for line in exc.lines():
                self.error(key, line)
            return []

    def check_routing_lists(self) -> None:
        for name, lst in self.site.routing_lists.items():
            base = ("routing_lists", name)
            # Entry keys are digits (the model checked them), never plain names: each one's
            # path is the list's path plus ["VALUE"], as format_path writes it.
            prefix = format_path(base + ("entries",))
            rows = [RouteRow(value, dest, f'{prefix}["{value}"]') for value, dest in lst.entries.items()]
            if lst.file:
                rows.extend(self._read_data_file(base + ("file",), lst.file, read_route_file))
            routes, problems = build_route_list(self.site, rows)
            for row, where, message in problems:
                if row is None:
                    self.error(base, f"{where}: {message}")
                else:
                    self.error(self._row_path(base, row), self._row_msg(row, message))
            if routes is not None:
                self.loaded.route_lists[name] = routes

    @staticmethod
    def _row_path(base: P, row: RouteRow) -> P:
        if row.where.startswith("routing_lists"):
            return base + ("entries", row.value)
        return base + ("file",)

    @staticmethod
    def _row_msg(row: RouteRow, message: str) -> str:
        return message if row.where.startswith("routing_lists") else f"{row.where}: {message}"

    def check_entries(self) -> None:
        extensions = {a.extension: aid for aid, a in self.site.agents.items()}
        without_plus: dict[str, str] = {}
        for number, entry in self.site.entries.items():
            base = ("entries", number)
            digits = number.removeprefix("+")
            if self.backend == "freeswitch" and digits in without_plus:
                # The FreeSWITCH entry expression takes the '+' as optional: both would match.
                self.error(base, f"same number as entry {without_plus[digits]!r} for freeswitch (the leading '+' is optional there)")
            without_plus.setdefault(digits, number)
            if entry.ivr not in self.site.ivrs:
                self.error(base + ("ivr",), f"unknown IVR {entry.ivr!r}{self._known('ivrs')}")
            if entry.fallback is not None:
                self.check_destination(base + ("fallback",), parse_destination(entry.fallback))
            if number in extensions:
                self.error(base, f"entry number {number} is also agent {extensions[number]!r}'s extension")
        if self.site.ivrs and not self.site.entries:
            self.warn(("entries",), "no entry numbers: no call can reach the IVRs")

    def check_ivrs(self) -> None:
        reached_ivrs = {e.ivr for e in self.site.entries.values()}
        reached_ivrs.update(
            parse_destination(step).target
            for _, step in self._steps_of_all()
            if is_destination(step) and step.startswith("ivr:")
        )
        for ivr_name, ivr in self.site.ivrs.items():
            base = ("ivrs", ivr_name)
            if ivr.start not in ivr.elements:
                self.error(base + ("start",), f"unknown element {ivr.start!r} (elements: {', '.join(sorted(ivr.elements))})")
            for el_name, el in ivr.elements.items():
                if el_name in ASTERISK_RESERVED_EXTENSIONS:
                    self.error(base + ("elements", el_name), f"{el_name!r} is reserved (a special dialplan extension); choose another element name")
                self.check_element(base + ("elements", el_name), ivr, el)
            # reachability inside the IVR
            seen: set[str] = set()
            todo = [ivr.start] if ivr.start in ivr.elements else []
            while todo:
                cur = todo.pop()
                if cur in seen:
                    continue
                seen.add(cur)
                for _, nxt in element_steps(ivr.elements[cur]):
                    if not is_destination(nxt) and nxt in ivr.elements:
                        todo.append(nxt)
            for el_name in ivr.elements:
                if el_name not in seen:
                    self.warn(base + ("elements", el_name), f"unreachable: no step of IVR {ivr_name!r} leads here from its start")
            if ivr_name not in reached_ivrs:
                self.warn(base, "unreachable: no entry number, goto_ivr or ivr: destination leads to this IVR")

    def _steps_of_all(self) -> Iterator[tuple[P, str]]:
        for ivr in self.site.ivrs.values():
            for el in ivr.elements.values():
                yield from element_steps(el)
        for q in self.site.queues.values():
            for value in (q.overflow, q.when_empty):
                if value:
                    yield (), value
        for e in self.site.entries.values():
            if e.fallback:
                yield (), e.fallback

    def check_element(self, base: P, ivr: m.Ivr, el) -> None:
        for rel, step in element_steps(el):
            if is_destination(step):
                self.check_destination(base + rel, parse_destination(step))
            elif step not in ivr.elements:
                self.error(base + rel, f"unknown element {step!r} (elements of this IVR: {', '.join(sorted(ivr.elements))})")
        if isinstance(el, m.HoursElement):
            if el.hours not in self.site.hours:
                self.error(base + ("hours",), f"unknown hours {el.hours!r}{self._known('hours')}")
            elif el.hours in self.loaded.hours:
                cats = self.loaded.hours[el.hours].categories()
                for cat in el.branches:
                    if cat not in cats:
                        # A misspelt category would silently never match: the call would
                        # take the default branch for ever.
                        close = difflib.get_close_matches(cat, sorted(cats), n=1)
                        hint = f" (did you mean {close[0]!r}?)" if close else ""
                        self.error(base + ("branches", cat), f"hours {el.hours!r} has no category {cat!r}{hint}; it has: {', '.join(sorted(cats))}")
                missing = sorted(cats - set(el.branches))
                if missing and el.default is None:
                    self.error(base + ("branches",), f"no branch for categor{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)} of hours {el.hours!r}, and no default")
        elif isinstance(el, (m.VipElement, m.BlockElement)):
            if el.list not in self.site.lists:
                self.error(base + ("list",), f"unknown caller list {el.list!r}{self._known('lists')}")
        elif isinstance(el, (m.QueueElement, m.CallbackElement)):
            if el.queue not in self.site.queues:
                self.error(base + ("queue",), f"unknown queue {el.queue!r}{self._known('queues')}")
        elif isinstance(el, m.AdvancedMenuElement):
            if el.routing_list not in self.site.routing_lists:
                self.error(base + ("routing_list",), f"unknown routing list {el.routing_list!r}{self._known('routing_lists')}")
        elif isinstance(el, m.MenuElement):
            if not el.options:
                self.error(base + ("options",), "a menu needs at least one option")

    def check_loops(self) -> None:
        """An IVR loop that never waits for the caller runs forever: an error."""
        graph: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for ivr_name, ivr in self.site.ivrs.items():
            for el_name, el in ivr.elements.items():
                node = (ivr_name, el_name)
                graph[node] = []
                if isinstance(el, WAITING_ELEMENTS):
                    continue
                for _, step in element_steps(el):
                    target = self._step_target(ivr_name, step)
                    if target is not None:
                        graph[node].append(target)
        reported: set[frozenset] = set()
        state: dict[tuple[str, str], int] = {}
        stack: list[tuple[str, str]] = []

        def visit(node: tuple[str, str]) -> None:
            state[node] = 1
            stack.append(node)
            for nxt in graph.get(node, []):
                if nxt not in graph:
                    continue
                if state.get(nxt) == 1:
                    cycle = stack[stack.index(nxt) :]
                    key = frozenset(cycle)
                    if key not in reported:
                        reported.add(key)
                        text = " -> ".join(f"{i}.{e}" for i, e in cycle + [nxt])
                        # Reported where the loop closes: the step back to an element already on the way.
                        self.error(("ivrs", node[0], "elements", node[1]), f"loop that never waits for the caller: {text}")
                elif state.get(nxt) is None:
                    visit(nxt)
            stack.pop()
            state[node] = 2

        for node in graph:
            if node not in state:
                visit(node)
        # `visit` refers to itself through its closure: clear it, or the cycle keeps this
        # checker and with it the whole site alive until the cyclic collector runs.
        del visit

    def _step_target(self, ivr_name: str, step: str) -> tuple[str, str] | None:
        if not is_destination(step):
            return (ivr_name, step)
        dest = parse_destination(step)
        if dest.kind == "ivr" and dest.target in self.site.ivrs:
            return (dest.target, self.site.ivrs[dest.target].start)
        return None


def build_route_list(site: m.Site, rows: list[RouteRow]) -> tuple[RouteList | None, list[tuple[RouteRow | None, str, str]]]:
    """Check each row's destination against the site and build the list.
    Problems are (row or None, where, message); the list is None when there are any."""
    problems: list[tuple[RouteRow | None, str, str]] = []
    # A list of 100 000 rows names a few hundred destinations: judge each text once.
    verdicts: dict[str, str | None] = {}
    for row in rows:
        text = row.destination
        if text not in verdicts:
            verdicts[text] = _destination_problem(site, text)
        message = verdicts[text]
        if message is not None:
            problems.append((row, row.where, message))
    try:
        routes = RouteList.build(rows)
    except RouteListError as exc:
        by_where = {row.where: row for row in rows}
        problems.extend((by_where.get(where), where, message) for where, message in exc.problems)
        routes = None
    return (routes if not problems else None), problems


def _destination_problem(site: m.Site, text: str) -> str | None:
    try:
        dest = parse_destination(text)
    except ValueError as exc:
        return str(exc)
    if dest.kind == "queue" and dest.target not in site.queues:
        return f"unknown queue {dest.target!r}"
    if dest.kind == "ivr" and dest.target not in site.ivrs:
        return f"unknown IVR {dest.target!r}"
    return None


def element_steps(el) -> Iterator[tuple[P, str]]:
    """Every (relative key path, step) an element can take next."""
    if isinstance(el, m.HoursElement):
        for cat, step in el.branches.items():
            yield ("branches", cat), step
        if el.default:
            yield ("default",), el.default
    elif isinstance(el, m.MenuElement):
        for key, step in el.options.items():
            yield ("options", key), step
        yield ("invalid",), el.invalid
        yield ("no_input",), el.no_input
    elif isinstance(el, m.AdvancedMenuElement):
        yield ("invalid",), el.invalid
        yield ("no_input",), el.no_input
    elif isinstance(el, m.VipElement):
        yield ("vip",), el.vip
        yield ("normal",), el.normal
    elif isinstance(el, m.BlockElement):
        yield ("next",), el.next
        yield ("blocked",), el.blocked
    elif isinstance(el, (m.QueueElement, m.CallbackElement, m.PlayElement)):
        if el.next:
            yield ("next",), el.next
    elif isinstance(el, m.GotoIvrElement):
        yield ("ivr",), f"ivr:{el.ivr}"


def check_site(loaded: LoadedSite, backend: str | None = None) -> list[Problem]:
    return Checker(loaded, backend).run()
