"""The IVR decision service for Asterisk: FastAGI on panoramisk.

The generated dialplan calls `AGI(agi://HOST:PORT/decide,IVR,ELEMENT,INPUT,ATTEMPT,AT,PRES)`
(AT: PBXCTL_AT of test calls, PRES: CALLERID(pres));
this service answers by setting PBXCTL_NEXT (a Goto target), and for callbacks
PBXCTL_RECORDED. Every failure path sets nothing, so the dialplan takes the entry's
fallback: the service may be down, slow or wrong, never the cause of a dropped call.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from typing import Awaitable, Callable

import structlog
from prometheus_client import Counter, Histogram

from pbxctl.asterisk import wire
from pbxctl.asterisk.panoramisk_glue import agi_request
from pbxctl.ivr.clock import Clock, SystemClock, as_if
from pbxctl.ivr.decide import RETRY, CallContext, NotADecision, decide
from pbxctl.render.asterisk_targets import step_target
from pbxctl.site.load import LoadedSite

log = structlog.get_logger("pbxctl.fastagi")

DECISIONS = Counter(
    "pbxctl_ivr_decisions_total", "IVR decisions answered, by IVR, element and outcome", ["ivr", "element", "outcome"]
)
FAILURES = Counter("pbxctl_ivr_decision_failures_total", "AGI requests answered with no decision (caller falls back)", ["reason"])
LATENCY = Histogram(
    "pbxctl_ivr_decision_seconds",
    "Time from AGI request headers to the last answer sent",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
CALLBACKS = Counter("pbxctl_callback_requests_total", "Callback requests recorded from the IVR", ["queue"])

HEADER_LIMIT = 16 * 1024




CallbackRecorder = Callable[..., None]


def _ack_at_once(writer: asyncio.StreamWriter) -> None:
    """res_agi writes the environment a line at a time on a socket with Nagle on: each
    next line waits for the ACK of the last one, so an ACK this side delays (delayed ACK,
    40-200 ms) holds the whole environment back."""
    sock = writer.get_extra_info("socket")
    if sock is not None and hasattr(socket, "TCP_QUICKACK"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


async def read_agi_headers(reader: asyncio.StreamReader, timeout: float) -> OrderedDict[str, str]:
    """The AGI environment block. Raises ConnectionError when the peer leaves or sends
    nothing usable (panoramisk's own reader spins forever on an early close)."""
    # One time box for the whole block: a wait_for per line cost most of the CPU.
    return await asyncio.wait_for(_read_headers(reader), timeout)


async def _read_headers(reader: asyncio.StreamReader) -> OrderedDict[str, str]:
    headers: OrderedDict[str, str] = OrderedDict()
    size = 0
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("AGI peer closed before sending its environment")
        size += len(line)
        if size > HEADER_LIMIT:
            raise ConnectionError("AGI environment too large")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            return headers
        key, sep, value = text.partition(": ")
        if sep:
            headers[key] = value


# (AGI request, its environment, the call's uniqueid); the request offers send_command.
ScriptHandler = Callable[[object, dict, str], Awaitable[None]]


class IvrAgiService:
    def __init__(
        self,
        site: Callable[[], LoadedSite],
        clock: Clock | None = None,
        record_callback: CallbackRecorder | None = None,
        timeout_s: float = 1.0,
        scripts: dict[str, tuple[ScriptHandler, float]] | None = None,
    ):
        self._site = site
        # Other AGI scripts served beside `decide` (e.g. agents' feature codes), each
        # with its own time box.
        self._scripts = dict(scripts or {})
        self.clock = clock or SystemClock()
        self._record_callback = record_callback
        self.timeout_s = timeout_s

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One AGI session, always closed at the end."""
        started = time.perf_counter()
        call_id = "?"
        _ack_at_once(writer)
        try:
            headers = await read_agi_headers(reader, self.timeout_s)
            call_id = headers.get("agi_uniqueid", "?")
            request = agi_request(headers, reader, writer)
            script = self._scripts.get(headers.get("agi_network_script", ""))
            if script is not None:
                handler, timeout_s = script
                await asyncio.wait_for(handler(request, headers, call_id), timeout_s)
                return
            await asyncio.wait_for(self._answer(request, headers, call_id), self.timeout_s)
            LATENCY.observe(time.perf_counter() - started)
        except asyncio.TimeoutError:
            FAILURES.labels("timeout").inc()
            log.warning("decision_timed_out", call_id=call_id, timeout_s=self.timeout_s, caller_takes="fallback")
        except (ConnectionError, OSError) as exc:
            FAILURES.labels("connection").inc()
            log.info("agi_session_ended_early", call_id=call_id, error=str(exc))
        except Exception:  # one call's trouble must not take the service down
            FAILURES.labels("error").inc()
            log.exception("decision_failed", call_id=call_id, caller_takes="fallback")
        finally:
            writer.close()

    async def _answer(self, request, headers: dict[str, str], call_id: str) -> None:
        script = headers.get("agi_network_script", "")
        if script != wire.SCRIPTS.decide:
            FAILURES.labels("unknown_script").inc()
            log.warning("unknown_agi_script", call_id=call_id, script=script)
            return
        args = [headers.get(f"agi_arg_{i}", "") for i in range(1, 5)]
        ivr, element, digits, attempt_text = args
        try:
            attempt = int(attempt_text or 0)
        except ValueError:
            attempt = 0
        loaded = self._site()
        caller = headers.get("agi_callerid", "")
        call = CallContext(
            caller=caller,
            now=as_if(headers.get("agi_arg_5", "")) or self.clock.now(),
            entry=None,
            presentation=headers.get("agi_arg_6", ""),
        )
        try:
            decision = decide(loaded, ivr, element, digits, attempt, call)
        except NotADecision as exc:
            FAILURES.labels("not_a_decision").inc()
            log.warning("no_decision", call_id=call_id, ivr=ivr, element=element, error=str(exc))
            return
        target = RETRY if decision.next == RETRY else step_target(loaded.site, ivr, decision.next)
        test_call = bool(headers.get("agi_arg_5", "").strip())
        if decision.callback_number and test_call:
            log.info("test_call_callback_not_recorded", call_id=call_id, number=decision.callback_number)
            await wire.set_variable(request, wire.RECORDED, "1")
        elif decision.callback_number and self._record_callback is not None:
            el = loaded.site.ivrs[ivr].elements[element]
            await asyncio.to_thread(
                self._record_callback,
                queue=el.queue,
                number=decision.callback_number,
                ivr=ivr,
                element=element,
                call_id=call_id,
                requested_at=call.now,
            )
            CALLBACKS.labels(el.queue).inc()
            await wire.set_variable(request, wire.RECORDED, "1")
        await wire.set_variable(request, wire.NEXT, target)
        DECISIONS.labels(ivr, element, decision.next).inc()
        log.info(
            "decision",
            call_id=call_id,
            ivr=ivr,
            element=element,
            input=digits,
            attempt=attempt,
            caller=caller,
            presentation=call.presentation,
            next=decision.next,
            why=decision.reason,
        )


async def serve_fastagi(service: IvrAgiService, host: str, port: int) -> asyncio.base_events.Server:
    return await asyncio.start_server(service.handle, host, port)

