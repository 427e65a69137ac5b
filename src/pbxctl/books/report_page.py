"""The report page: one self-contained HTML file (inline CSS, SVG drawn here, a few lines
of inline JS for hover details), nothing fetched from the network.

Charts: calls per hour stacked by outcome, service level per day against the target, the
wait-time distribution, and the agents' handling time. Every number drawn carries a
`data-*` attribute with the value from the report documents it was drawn from, so a
browser test can read the page back and compare it with the JSON.
"""

from __future__ import annotations

from html import escape

from pbxctl.books.callback_tally import COLUMNS as CALLBACK_COLUMNS
from pbxctl.books.queue_report import ALL_QUEUES

OUTCOME_COLOURS = {
    "answered": "#2e7d32",
    "abandoned": "#c62828",
    "timed_out": "#ef6c00",
    "exit_empty": "#6a1b9a",
    "other": "#757575",
}
W, H, PAD_L, PAD_B, PAD_T = 860, 260, 48, 56, 16


def _all_rows(doc: dict) -> list[dict]:
    return [r for r in doc["rows"] if r["queue"] == ALL_QUEUES]


def _count_top(largest: float) -> int:
    """The y-axis top for counts: a multiple of 4, so the five grid lines fall on whole numbers."""
    return max(4, -(-int(largest) // 4) * 4)


def _axis(max_value: float, unit: str = "") -> str:
    parts = []
    for i in range(5):
        value = max_value * i / 4
        y = H - PAD_B - (H - PAD_B - PAD_T) * i / 4
        parts.append(f'<line x1="{PAD_L}" x2="{W - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{value:.0f}{unit}</text>')
    return "".join(parts)


def _x_labels(labels: list[str], slot: float, every: int) -> str:
    out = []
    for i, label in enumerate(labels):
        if i % every == 0:
            x = PAD_L + slot * (i + 0.5)
            out.append(f'<text x="{x:.1f}" y="{H - PAD_B + 14}" class="tick" text-anchor="end" '
                       f'transform="rotate(-40 {x:.1f} {H - PAD_B + 14})">{escape(label)}</text>')
    return "".join(out)


def _svg(name: str, body: str, title: str) -> str:
    return (f'<figure><figcaption>{escape(title)}</figcaption>'
            f'<svg id="chart-{name}" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
            f'aria-label="{escape(title)}">{body}</svg></figure>')


def calls_per_hour(hourly: dict) -> str:
    rows = _all_rows(hourly)
    stacks = []
    for r in rows:
        other = r["exit_key"] + r["lost"]
        stacks.append((r["interval"], [("answered", r["answered"]), ("abandoned", r["abandoned"]),
                                       ("timed_out", r["timed_out"]), ("exit_empty", r["exit_empty"]),
                                       ("other", other)]))
    top = _count_top(max([sum(v for _, v in parts) for _, parts in stacks] + [1]))
    slot = (W - PAD_L - 8) / max(len(stacks), 1)
    scale = (H - PAD_B - PAD_T) / top
    body = [_axis(top)]
    for i, (label, parts) in enumerate(stacks):
        y = H - PAD_B
        for outcome, value in parts:
            h = value * scale
            y -= h
            body.append(
                f'<rect x="{PAD_L + slot * i + 1:.1f}" y="{y:.1f}" width="{max(slot - 2, 1):.1f}" height="{h:.1f}" '
                f'fill="{OUTCOME_COLOURS[outcome]}" data-chart="hourly" data-bucket="{escape(label)}" '
                f'data-outcome="{outcome}" data-value="{value}"><title>{escape(label)} {outcome}: {value}</title></rect>'
            )
    one_day = len({label[:10] for label, _ in stacks}) == 1
    labels = [label[11:] if one_day else label[5:] for label, _ in stacks]
    body.append(_x_labels(labels, slot, max(1, len(stacks) // 24)))
    legend = "".join(
        f'<span class="key"><i style="background:{c}"></i>{o.replace("_", " ")}</span>'
        for o, c in OUTCOME_COLOURS.items()
    )
    return _svg("hourly", "".join(body), "Calls per hour by outcome") + f'<div class="legend">{legend}</div>'


def service_level_per_day(daily: dict) -> str:
    rows = _all_rows(daily)
    target = daily["service_level_target_pct"]
    slot = (W - PAD_L - 8) / max(len(rows), 1)
    scale = (H - PAD_B - PAD_T) / 100
    body = [_axis(100, "%")]
    for i, r in enumerate(rows):
        sl = r["service_level_pct"]
        if sl is None:
            continue
        h = sl * scale
        colour = "#2e7d32" if sl >= target else "#c62828"
        body.append(
            f'<rect x="{PAD_L + slot * i + 2:.1f}" y="{H - PAD_B - h:.1f}" width="{max(slot - 4, 1):.1f}" '
            f'height="{h:.1f}" fill="{colour}" data-chart="sl" data-bucket="{escape(r["interval"])}" '
            f'data-value="{sl}"><title>{escape(r["interval"])}: {sl}% (target {target}%)</title></rect>'
        )
    y = H - PAD_B - target * scale
    body.append(f'<line x1="{PAD_L}" x2="{W - 8}" y1="{y:.1f}" y2="{y:.1f}" class="target" data-target="{target}"/>')
    body.append(f'<text x="{W - 10}" y="{y - 4:.1f}" class="tick" text-anchor="end">target {target}%</text>')
    body.append(_x_labels([r["interval"] for r in rows], slot, max(1, len(rows) // 31)))
    return _svg("sl", "".join(body), "Service level per day against the target")


def wait_distribution(daily: dict) -> str:
    dist = daily["wait_distribution"]
    bins = dist["bins"]
    top = _count_top(max([a + u for a, u in zip(dist["answered"], dist["unanswered"])] + [1]))
    slot = (W - PAD_L - 8) / len(bins)
    scale = (H - PAD_B - PAD_T) / top
    body = [_axis(top)]
    for i, label in enumerate(bins):
        y = H - PAD_B
        for series, colour in (("answered", "#2e7d32"), ("unanswered", "#c62828")):
            value = dist[series][i]
            h = value * scale
            y -= h
            body.append(
                f'<rect x="{PAD_L + slot * i + 4:.1f}" y="{y:.1f}" width="{slot - 8:.1f}" height="{h:.1f}" '
                f'fill="{colour}" data-chart="wait" data-bucket="{escape(label)}" data-series="{series}" '
                f'data-value="{value}"><title>waited {escape(label)}, {series}: {value}</title></rect>'
            )
    body.append(_x_labels(bins, slot, 1))
    return _svg("wait", "".join(body), "How long callers waited (answered / not answered)")


def handling_time(agents: dict) -> str:
    rows = [r for r in agents["rows"] if r["handled"]]
    top = max([r["avg_handling"] or 0 for r in rows] + [1])
    height = max(PAD_T + 28 * len(rows) + 24, 80)
    left = 140
    scale = (W - left - 60) / top
    body = []
    for i, r in enumerate(rows):
        y = PAD_T + 28 * i
        talk, wrapup = r["avg_talk"] or 0, r["avg_wrapup"] or 0
        body.append(f'<text x="{left - 8}" y="{y + 15}" class="label" text-anchor="end">{escape(r["agent"])}</text>')
        body.append(f'<rect x="{left}" y="{y}" width="{talk * scale:.1f}" height="20" fill="#1565c0" '
                    f'data-chart="handling" data-agent="{escape(r["agent"])}" data-series="talk" data-value="{talk}">'
                    f'<title>{escape(r["agent"])} talk {talk}s</title></rect>')
        body.append(f'<rect x="{left + talk * scale:.1f}" y="{y}" width="{wrapup * scale:.1f}" height="20" '
                    f'fill="#90caf9" data-chart="handling" data-agent="{escape(r["agent"])}" data-series="wrapup" '
                    f'data-value="{wrapup}"><title>{escape(r["agent"])} wrap-up {wrapup}s</title></rect>')
        body.append(f'<text x="{left + (talk + wrapup) * scale + 6:.1f}" y="{y + 15}" class="label" '
                    f'data-agent-total="{escape(r["agent"])}" data-value="{r["avg_handling"]}">{r["avg_handling"]}s</text>')
    return (f'<figure><figcaption>Average handling time per agent (talk + wrap-up, seconds)</figcaption>'
            f'<svg id="chart-handling" viewBox="0 0 {W} {height}" width="{W}" height="{height}" role="img">'
            f'{"".join(body)}</svg></figure>')


SUMMARY = [
    ("offered", "Offered"), ("answered", "Answered"), ("answered_in_sl", "Answered in SL"),
    ("abandoned", "Abandoned"), ("timed_out", "Timed out"), ("service_level_pct", "Service level %"),
    ("asterisk_sl_pct", "Asterisk SL %"), ("asterisk_sl2_pct", "Asterisk SL2 %"), ("avg_wait", "Avg wait s"),
    ("longest_wait", "Longest wait s"), ("avg_talk", "Avg talk s"), ("avg_wrapup", "Avg wrap-up s"),
]
QUEUE_TABLE = ["queue", "offered", "answered", "answered_in_sl", "abandoned", "short_abandoned", "timed_out",
               "exit_empty", "overflowed", "callbacks_requested", "service_level_pct", "asterisk_sl_pct",
               "asterisk_sl2_pct", "avg_wait", "longest_wait", "avg_talk", "avg_wrapup", *CALLBACK_COLUMNS]
AGENT_TABLE = ["agent", "login_time", "pause_time", "rung", "answered", "not_answered", "avg_ring_before_answer",
               "handled", "avg_talk", "avg_wrapup", "avg_handling", "transfers", "conferences", "help_requests"]


def _value(v) -> str:
    return "" if v is None else escape(str(v))


def _table(name: str, rows: list[dict], columns: list[str], key: str) -> str:
    head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f'<td data-table="{name}" data-row="{escape(str(r[key]))}" data-col="{c}">{_value(r.get(c))}</td>'
                         for c in columns) + "</tr>"
        for r in rows
    )
    return f'<table id="table-{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#212121;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} .sub{color:#616161;margin-bottom:16px}
.tiles{display:flex;flex-wrap:wrap;gap:8px;margin-bottom:16px}
.tile{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:8px 12px;min-width:110px}
.tile b{display:block;font-size:20px} .tile span{color:#616161;font-size:12px}
figure{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:0 0 16px;padding:8px}
figcaption{font-weight:600;margin-bottom:4px} .grid{stroke:#eeeeee} .tick{font-size:10px;fill:#616161}
.label{font-size:12px;fill:#212121} .target{stroke:#212121;stroke-dasharray:6 4;stroke-width:1.5}
.legend{margin:-8px 0 16px 8px;font-size:12px} .key{margin-right:12px} .key i{display:inline-block;width:10px;
height:10px;margin-right:4px} table{border-collapse:collapse;background:#fff;margin-bottom:16px;font-size:12px}
th,td{border:1px solid #e0e0e0;padding:3px 6px;text-align:right} th:first-child,td:first-child{text-align:left}
#hover{position:fixed;right:16px;top:16px;background:#212121;color:#fff;padding:4px 8px;border-radius:4px;
font-size:12px;display:none} .defs{font-size:12px;color:#616161;max-width:860px}
"""

SCRIPT = """
(function () {
  var hover = document.getElementById('hover');
  document.querySelectorAll('rect[data-value]').forEach(function (rect) {
    rect.addEventListener('mouseenter', function () {
      hover.textContent = rect.querySelector('title').textContent;
      hover.style.display = 'block';
    });
    rect.addEventListener('mouseleave', function () { hover.style.display = 'none'; });
  });
  document.body.setAttribute('data-ready', 'yes');
})();
"""


def report_page(site: str, hourly: dict, daily: dict, agents: dict, generated_at: str) -> str:
    """The page for one window: `hourly`/`daily` are queue reports by hour and by day over the
    same window and queues, `agents` the agent report."""
    w = daily["window"]
    total = next(r for r in daily["totals"] if r["queue"] == ALL_QUEUES)
    tiles = "".join(
        f'<div class="tile"><b data-metric="{key}">{_value(total[key])}</b><span>{escape(label)}</span></div>'
        for key, label in SUMMARY
    )
    defs = "".join(f"<p><b>{escape(k)}</b>: {escape(v)}</p>" for k, v in daily["definitions"].items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pbxctl report {escape(site)} {escape(w['from'])}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"><style>{STYLE}</style></head>
<body><div id="hover"></div>
<h1>Queues of {escape(site)}</h1>
<div class="sub">{escape(w['from'])} to {escape(w['to'])} ({escape(w['timezone'])}); queues
{escape(", ".join(daily["queues"]))}; short abandon &lt; {daily['short_abandon']} s; generated {escape(generated_at)}</div>
<div class="tiles">{tiles}</div>
{calls_per_hour(hourly)}
{service_level_per_day(daily)}
{wait_distribution(daily)}
{handling_time(agents)}
<h2>Queues</h2>{_table("queues", daily["totals"], QUEUE_TABLE, "queue")}
<h2>Agents</h2>{_table("agents", agents["rows"], AGENT_TABLE, "agent")}
<div class="defs">{defs}<p><b>multi-stint calls</b>: {escape(daily["multi_stint"])}</p></div>
<script>{SCRIPT}</script>
</body></html>
"""
