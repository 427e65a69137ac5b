#!/usr/bin/env python3
"""Write a large multi-tenant site: 1 000 queues, 5 000 agents, a 100 000-entry routing list.

The shape of a hosting provider's box: 50 tenants, each with 100 agents, 20 queues (every
agent a member of three of its tenant's queues, at priorities 0-2), an office-hours set
with a lunch break and holidays, VIP and blocked caller lists, two entry numbers and a
six-element IVR (block, vip, hours, menu, advanced_menu, queue). The routing list is the
provider's customer-number router shared by all tenants: 90 000 exact 6-digit customer
numbers and 10 000 ranges of 8-digit contract numbers, each to one tenant's queue.

`--routes inline` (default) writes the list into the YAML under `routing_lists.customers.
entries` — the worst case for the loader and what the issue timed ("libyaml composes the
same file"). `--routes csv` writes it as `customers.csv` next to the YAML, as a box whose
list comes from a CRM export through `pbxctl routes import` would have it.

    python scripts/make_large_site.py DIR [--routes inline|csv] [--tenants 50]
"""

from __future__ import annotations

import argparse
from pathlib import Path

AGENTS_PER_TENANT = 100
QUEUES_PER_TENANT = 20
EXACT_ROUTES = 90_000
RANGE_ROUTES = 10_000
STRATEGIES = ["round_robin", "ring_all_priority", "escalating", "fewest_calls", "linear", "round_robin_memory"]
FIRST_NAMES = ["Kari", "Ola", "Ingrid", "Lars", "Mina", "Erik", "Nora", "Jonas", "Sara", "Emil"]
LAST_NAMES = ["Nordmann", "Hansen", "Berg", "Johansen", "Ali", "Solberg", "Dahl", "Lie", "Haugen", "Moen"]


def routes(tenants: int) -> list[tuple[str, str]]:
    """(value, destination) rows; destinations spread over every tenant's queues."""
    queues = tenants * QUEUES_PER_TENANT
    rows = []
    for i in range(EXACT_ROUTES):
        q = i % queues
        rows.append((f"{i * 7 + 100000:06d}", f"queue:t{q // QUEUES_PER_TENANT}_q{q % QUEUES_PER_TENANT}"))
    for i in range(RANGE_ROUTES):
        lo = 10_000_000 + i * 1000
        q = (i * 13) % queues
        rows.append((f"{lo:08d}-{lo + 499:08d}", f"queue:t{q // QUEUES_PER_TENANT}_q{q % QUEUES_PER_TENANT}"))
    return rows


def tenant_yaml(t: int) -> dict[str, list[str]]:
    """The lines of tenant t, by top-level section."""
    out: dict[str, list[str]] = {k: [] for k in ("agents", "queues", "hours", "lists", "entries", "ivrs")}
    for a in range(AGENTS_PER_TENANT):
        n = t * AGENTS_PER_TENANT + a
        name = f"{FIRST_NAMES[n % 10]} {LAST_NAMES[(n // 10) % 10]}"
        extra = ", login: dynamic" if a % 4 == 3 else ""
        extra += ", wrapup: 20" if a % 10 == 5 and a % 4 != 3 else ""
        out["agents"].append(
            f'  t{t}_a{a}: {{name: {name}, extension: "{10000 + n}", tags: [no, en, team{a % 5}]{extra}}}'
        )
    # members[q] = (agent, priority): agent a serves queues a%20, (a+7)%20, (a+13)%20
    members: dict[int, list[tuple[int, int]]] = {q: [] for q in range(QUEUES_PER_TENANT)}
    for a in range(AGENTS_PER_TENANT):
        for prio, offset in enumerate((0, 7, 13)):
            members[(a + offset) % QUEUES_PER_TENANT].append((a, prio))
    for q in range(QUEUES_PER_TENANT):
        strategy = STRATEGIES[q % len(STRATEGIES)]
        lines = [f"  t{t}_q{q}:", f"    display_name: Tenant {t} queue {q}", f"    strategy: {strategy}"]
        if strategy == "escalating":
            lines.append("    escalation_step: 30")
        lines.append("    members:")
        lines += [f"      - {{agent: t{t}_a{a}, priority: {p}}}" for a, p in members[q]]
        lines += [
            f"    ring_time: {12 + q % 4}",
            "    max_wait: 300",
            f"    overflow: voicemail:{t}{q:02d}",
            "    announce: {prompt: queue-periodic-announce, interval: 45, position: true}",
            "    wrapup: 10",
            "    service_level: 20",
            f'    number_prefix: "{q % 10}"',
        ]
        out["queues"] += lines
    out["hours"] += [
        f"  t{t}_office:",
        "    timezone: Europe/Oslo",
        "    week:",
        "      mon-fri:",
        '        open: ["08:00-11:30", "12:00-16:00"]',
        '        lunch: ["11:30-12:00"]',
        "      sat:",
        '        open: ["10:00-14:00"]',
        "    default: closed",
        "    exceptions:",
        '      - {name: Christmas Eve, date: 2026-12-24, ranges: {open: ["09:00-12:00"]}}',
        "      - {name: Christmas, from: 2026-12-25, to: 2026-12-26}",
        "      - {name: New Year's Day, date: 2027-01-01}",
    ]
    out["lists"] += [
        f"  t{t}_vip:",
        "    description: Key accounts",
        f'    numbers: ["+47 22 33 {t % 100:02d} 55", "0047912345{t % 100:02d}", "987654{t % 100:02d}"]',
        f"  t{t}_blocked:",
        f'    numbers: ["+47815493{t % 100:02d}"]',
    ]
    out["entries"] += [
        f'  "+472100{t:04d}": {{ivr: t{t}_main, name: Tenant {t} main number}}',
        f'  "+472200{t:04d}": {{ivr: t{t}_main, name: Tenant {t} second number, fallback: queue:t{t}_q0}}',
    ]
    out["ivrs"] += [
        f"  t{t}_main:",
        f"    description: Tenant {t} main number",
        "    start: screen",
        "    elements:",
        f"      screen: {{type: block, list: t{t}_blocked, next: vip_check}}",
        f"      vip_check: {{type: vip, list: t{t}_vip, vip: vip_queue, normal: office_hours}}",
        f"      vip_queue: {{type: queue, queue: t{t}_q0, priority: 10}}",
        "      office_hours:",
        "        type: hours",
        f"        hours: t{t}_office",
        "        branches: {open: main_menu, lunch: support, closed: support}",
        "      main_menu:",
        "        type: menu",
        "        prompt: custom/main-menu",
        '        options: {"1": lookup, "2": support}',
        "        invalid: support",
        "        no_input: support",
        "      lookup:",
        "        type: advanced_menu",
        "        prompt: custom/enter-customer-number",
        "        routing_list: customers",
        "        min_digits: 6",
        "        max_digits: 8",
        "        invalid: support",
        "        no_input: support",
        f"      support: {{type: queue, queue: t{t}_q1}}",
    ]
    return out


def write_site(directory: Path, tenants: int = 50, routes_in: str = "inline") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    sections: dict[str, list[str]] = {}
    for t in range(tenants):
        for key, lines in tenant_yaml(t).items():
            sections.setdefault(key, []).extend(lines)
    rows = routes(tenants)
    head = [
        "# A large multi-tenant site, generated by scripts/make_large_site.py",
        "site: hosting",
        f"description: {tenants} tenants on one box",
        'numbering: {country_code: "47", international_prefix: "00"}',
        "pbx:",
        "  backend: asterisk",
        "  fallback: hangup",
        "  asterisk:",
        "    fastagi: {host: 127.0.0.1, port: 4573, timeout_ms: 1000}",
    ]
    lines = list(head)
    for key in ("agents", "queues", "hours", "lists", "entries", "ivrs"):
        lines.append(f"{key}:")
        lines += sections[key]
    lines += ["routing_lists:", "  customers:", "    description: customer and contract numbers of every tenant"]
    if routes_in == "csv":
        lines.append("    file: customers.csv")
        csv = ["value,destination", *(f"{v},{d}" for v, d in rows)]
        (directory / "customers.csv").write_text("\n".join(csv) + "\n", encoding="utf-8")
    else:
        lines.append("    entries:")
        lines += [f'      "{v}": {d}' for v, d in rows]
    site = directory / "site.yaml"
    site.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return site


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--routes", choices=("inline", "csv"), default="inline")
    parser.add_argument("--tenants", type=int, default=50)
    args = parser.parse_args()
    path = write_site(args.directory, args.tenants, args.routes)
    print(path)


if __name__ == "__main__":
    main()
