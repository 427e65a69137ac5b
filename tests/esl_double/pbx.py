"""The scenario layer: a FreeSWITCH that runs the generated pbxctl dialplan for a call.

`place_call()` walks the generated XML like FreeSWITCH's dialplan would (set, answer,
sched_transfer, socket, sched_cancel, transfer, callcenter, voicemail, hangup); at `socket`
it connects to pbxctl's outbound service and plays FreeSWITCH's side through the strict
Outbound engine, with events made from the recorded ones; the caller's keys arrive as one
DTMF event per digit, then `#`, as recorded. It returns where the call ended, in the same
words as the Asterisk tests (`queue:support`, `voicemail:100`, `transfer:N`, `hangup`).

Plain threads and blocking sockets: no gevent, no asyncio in the test process.
"""

from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .engine import Outbound
from .recorded import CallValues

CONTEXT = "pbxctl"


@dataclass
class Extension:
    name: str
    expression: str
    actions: list[tuple[str, str]]


def load_dialplan(xml_text: str) -> list[Extension]:
    root = ET.fromstring(xml_text)
    out = []
    for ext in root.iter("extension"):
        cond = ext.find("condition")
        acts = [(a.get("application"), a.get("data") or "") for a in cond.findall("action")]
        out.append(Extension(ext.get("name"), cond.get("expression"), acts))
    return out


@dataclass
class CallResult:
    outcome: str
    trace: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    fell_back_by: str = ""  # "", "socket returned", "watchdog"
    # seconds from the caller's last key (play_and_get_digits done) to the service's next command
    decision_latencies: list[float] = field(default_factory=list)


class Call:
    def __init__(self, dialplan: list[Extension], destination: str, caller: str, digits: list[str],
                 variables: dict[str, str] | None = None, service: tuple[str, int] = ("127.0.0.1", 8084),
                 digit_gap_s: float = 0.0, at: str | None = None):
        self.dialplan = dialplan
        self.values = CallValues(caller, destination)
        self.vars: dict[str, str] = dict(variables or {})
        if at:
            self.vars["pbxctl_at"] = at  # `ivr test --call`'s "as if" time
        self.digits = list(digits)
        self.service = service
        self.watchdog: tuple[float, str] | None = None
        self.result = CallResult("")
        self.digit_gap_s = digit_gap_s

    # --- the dialplan ------------------------------------------------------------------------

    def run(self) -> CallResult:
        started = time.monotonic()
        target = self.values.destination
        while True:
            ext = next((e for e in self.dialplan if re.fullmatch(e.expression, target)), None)
            if ext is None:
                self.result.outcome = f"(no extension {target!r})"
                break
            self.result.trace.append(ext.name)
            nxt = self.run_extension(ext)
            if nxt is None:
                break
            target = nxt
        self.result.seconds = time.monotonic() - started
        return self.result

    def run_extension(self, ext: Extension) -> str | None:
        for app, data in ext.actions:
            if app == "set":
                key, _, value = data.partition("=")
                self.vars[key] = value
            elif app == "unset":
                self.vars.pop(data, None)
            elif app in ("answer", "log"):
                pass
            elif app == "playback":  # what the caller hears before the dialplan goes on
                self.result.trace.append(f"playback {data}")
            elif app == "sched_transfer":
                self.sched_transfer(data)
            elif app == "sched_cancel":
                self.watchdog = None
            elif app == "socket":
                moved = self.socket(data)
                if moved:
                    return moved
                if self.result.outcome:
                    return None
                self.result.fell_back_by = self.result.fell_back_by or "socket returned"
            else:
                return self.leave(app, data)
        return None

    def leave(self, app: str, data: str) -> str | None:
        """The call leaves the pbxctl context (or moves within it: the extension returned)."""
        if app == "transfer":
            ext, _, context = data.partition(" XML ")
            if context == CONTEXT:
                return ext
            self.result.outcome = f"transfer:{ext}"
        elif app == "callcenter":
            self.result.outcome = f"queue:{data.split('@')[0]}"
        elif app == "voicemail":
            self.result.outcome = f"voicemail:{data.split()[-1]}"
        elif app == "hangup":
            self.result.outcome = "hangup"
        else:
            self.result.violations.append(f"dialplan app the double does not run: {app} {data}")
            self.result.outcome = f"(unknown app {app})"
        return None

    def sched_transfer(self, data: str) -> None:
        when, ext, *_ = data.split()
        self.watchdog = (time.monotonic() + float(when.lstrip("+")), ext)

    # --- the socket app ----------------------------------------------------------------------

    def socket(self, data: str) -> str | None:
        host, _, port = data.split()[0].partition(":")
        try:
            sock = socket.create_connection((host, int(port)), timeout=1)
        except OSError:
            return None  # nothing listening: the socket app returns at once (recorded)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.engine = Outbound(self.values.channel_data(self.vars), self.api, self.execute)
        self.sock = sock
        self.moved: str | None = None
        self.hung_up = False
        self._keys_done_at: float | None = None
        try:
            return self._session()
        finally:
            self.result.violations += self.engine.violations
            sock.close()

    def _session(self) -> str | None:
        while True:
            if self.watchdog and time.monotonic() >= self.watchdog[0]:
                self.result.fell_back_by = "watchdog"
                ext, self.watchdog = self.watchdog[1], None
                return ext
            # wake for the watchdog's deadline, not on a poll: the benchmark runs hundreds of calls
            left = self.watchdog[0] - time.monotonic() if self.watchdog else 1.0
            self.sock.settimeout(max(0.001, min(1.0, left)))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                data = b""
            if not data:
                return self.moved  # the service closed: the socket app returns
            if self._keys_done_at is not None:
                self.result.decision_latencies.append(time.perf_counter() - self._keys_done_at)
                self._keys_done_at = None
            try:
                self.sock.sendall(self.engine.receive(data))
            except OSError:
                return self.moved
            self.engine.run_pending()
            if self.hung_up:
                self.sock.sendall(self.engine.hangup_notice(f"loopback/{self.values.destination}-b"))
                self._drain()
                return None

    def _drain(self) -> None:
        self.sock.settimeout(2)
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass

    def api(self, cmd: str) -> str:
        self.result.violations.append(f"api over the socket not modelled: {cmd}")
        return "-ERR no reply\n"

    def emit(self, name: str, app: str = "", data: str = "", **extra: str) -> None:
        try:
            self.sock.sendall(self.engine.emit(self.values.event(name, self.vars, app, data, **extra)))
        except OSError:
            pass  # the service already let go (it closes once the transfer completed)

    def execute(self, app: str, arg: str, lock: bool) -> None:
        self.result.trace.append(f"{app} {arg}".strip())
        self.emit("CHANNEL_EXECUTE", app, arg)
        if app == "set":
            key, _, value = arg.partition("=")
            self.vars[key] = value
        elif app == "unset":
            self.vars.pop(arg, None)
        elif app == "sched_cancel":
            self.watchdog = None
        elif app == "sched_transfer":
            self.sched_transfer(arg)
        elif app == "play_and_get_digits":
            self.collect(arg)  # emits its own EXECUTE_COMPLETE, after the keys
            return
        elif app == "transfer":
            self.emit("CHANNEL_EXECUTE_COMPLETE", app, arg, Application_Response="_none_")
            ext, _, context = arg.partition(" XML ")
            if context == CONTEXT:
                self.moved = ext
            else:
                self.result.outcome = f"transfer:{ext}"
            self.emit("CHANNEL_UNPARK")
            self.emit("CHANNEL_EXECUTE_COMPLETE", "socket", "")
            return
        elif app in ("voicemail", "hangup"):
            self.leave(app, arg)
            self.emit("CHANNEL_EXECUTE_COMPLETE", app, arg)
            self.emit("CHANNEL_HANGUP")
            self.hung_up = True
            return
        elif app not in ("answer", "playback"):
            self.result.violations.append(f"sendmsg execute of an app the double does not run: {app}")
        self.emit("CHANNEL_EXECUTE_COMPLETE", app, arg, Application_Response="FILE PLAYED" if app == "playback" else "_none_")

    def collect(self, arg: str) -> None:
        parts = arg.split()
        high, terminators, var = int(parts[1]), parts[4], parts[7]
        typed = self.digits.pop(0) if self.digits else ""
        keys = typed + ("#" if typed and len(typed) < high and "#" in terminators else "")
        for key in keys:
            time.sleep(self.digit_gap_s)
            self.emit("DTMF", DTMF_Digit=key)
        if typed:
            self.vars[var] = typed
        self.emit("CHANNEL_EXECUTE_COMPLETE", "play_and_get_digits", arg)
        self._keys_done_at = time.perf_counter()


def place_call(dialplan: list[Extension], destination: str, caller: str, digits: list[str], **kw) -> CallResult:
    return Call(dialplan, destination, caller, digits, **kw).run()
