"""Runs pbxctl's EslLink (gevent) in a process of its own against a port, writing what it
sees as JSON lines: `python tests/esl_link_probe.py PORT PASSWORD OUT.jsonl`."""

from __future__ import annotations

import json
import sys


def main(port: int, password: str, out_path: str) -> None:
    from pbxctl.freeswitch.esl_link import EslEndpoint, EslLink

    out = open(out_path, "a", buffering=1)

    def write(**record) -> None:
        out.write(json.dumps(record) + "\n")

    def resync(link: EslLink) -> None:
        lists = link.lists()
        write(resync=[q["name"] for q in lists["queue"]], agents=len(lists["agent"]), tiers=len(lists["tier"]),
              reconnects=link.state.reconnects)

    def on_event(event) -> None:
        write(event=event.name, action=event.get("CC-Action"))

    link = EslLink(EslEndpoint("127.0.0.1", port, password), on_event, resync,
                   keepalive_s=0.3, keepalive_timeout_s=0.3, backoff_s=0.1, max_backoff_s=0.4, command_timeout_s=1.0)
    import gevent

    def report_state():
        last = None
        while True:
            now = (link.state.connected, link.state.reason)
            if now != last:
                write(connected=now[0], reason=now[1], reconnects=link.state.reconnects)
                last = now
            gevent.sleep(0.05)

    gevent.spawn(report_state)
    link.run()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
