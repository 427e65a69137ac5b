"""The IVR service for FreeSWITCH: the outbound socket the generated dialplan connects to.

The dialplan sets pbxctl_entry / pbxctl_ivr / pbxctl_fallback / pbxctl_fallback_extension,
arms a watchdog (`sched_transfer` to the fallback extension) and runs
`socket HOST:PORT async full`. This service walks the IVR with the same `decide()` as the
Asterisk FastAGI service: it plays prompts and collects keys over the socket, decides, and
sends the call on with one `transfer` (queue, IVR), `voicemail` or `hangup`.

Failing open: before every step it re-arms the watchdog for that step's length; on any
failure (a reply late by more than `timeout_ms`, a decision that errs or is late, a broken
site) it closes the socket, FreeSWITCH's socket app returns, and the dialplan's next action
is the entry's fallback. Down (nothing listening): the socket app returns at once (recorded).
Frozen: the watchdog transfers the call to its fallback extension.
"""

from __future__ import annotations

import time
from typing import Callable

import gevent
import gevent.queue
import structlog
from greenswitch.esl import NotConnectedError, OutboundSessionHasGoneAway
from prometheus_client import Counter, Histogram

from pbxctl.freeswitch import wire
from pbxctl.freeswitch.agent_codes import ServiceApi, carry_out
from pbxctl.freeswitch.esl_protocol import Event, command, sendmsg_execute
from pbxctl.freeswitch.greenswitch_glue import GlueEvent, Session
from pbxctl.ivr.clock import Clock, SystemClock, as_if
from pbxctl.ivr.decide import RETRY, CallContext, NotADecision, decide
from pbxctl.render.freeswitch import PRIORITY_SCORE_SECONDS, destination_action
from pbxctl.site import model as m
from pbxctl.site.load import LoadedSite
from pbxctl.site.values import is_destination, parse_destination

log = structlog.get_logger("pbxctl.freeswitch.ivr")

DECISIONS = Counter("pbxctl_ivr_socket_decisions_total", "IVR decisions over the outbound socket", ["ivr", "element", "outcome"])
FAILURES = Counter("pbxctl_ivr_socket_failures_total", "Outbound sessions let go early (the caller takes the fallback)", ["reason"])
LATENCY = Histogram(
    "pbxctl_ivr_socket_decision_seconds",
    "Time from a decision's input to the command that carries it out",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)

MAX_STEPS = 200
# A desk-phone code's change (the service's /api, then the controller's Event Socket link)
# gets this long before the agent hears the failure prompt.
AGENT_CODE_BUDGET_S = 5.0
INVALID_TONE = "silence_stream://250"

CallbackRecorder = Callable[..., None]


class CallerGone(Exception):
    """The caller hung up or FreeSWITCH closed the socket."""




def runtime_data(data: str) -> str:
    """A dialplan argument sent over the socket: `$${var}` is expanded when the XML is
    loaded, never at run time; `${var}` is looked up at run time, global variables included."""
    return data.replace("$${", "${")


class OutboundIvrService:
    def __init__(
        self,
        site: Callable[[], LoadedSite],
        clock: Clock | None = None,
        record_callback: CallbackRecorder | None = None,
        timeout_s: float = 1.0,
        watchdog_s: int = 3,
        prompt_allowance_s: int = 60,
        api: ServiceApi | None = None,
    ):
        self._site = site
        self.api = api
        self.clock = clock or SystemClock()
        self._record_callback = record_callback
        self.timeout_s = timeout_s
        self.watchdog_s = watchdog_s
        self.prompt_allowance_s = prompt_allowance_s

    def handle(self, session: Session) -> None:
        call = IvrCall(self, session)
        try:
            call.run()
        except CallerGone:
            log.info("caller_gone", call_id=call.uuid)
        except (TimeoutError, gevent.Timeout) as exc:
            FAILURES.labels("timeout").inc()
            log.warning("socket_step_timed_out_caller_takes_fallback", call_id=call.uuid, error=str(exc))
        except (OutboundSessionHasGoneAway, NotConnectedError, OSError) as exc:
            FAILURES.labels("connection").inc()
            log.info("socket_session_ended_early", call_id=call.uuid, error=repr(exc))
        except Exception:  # one call's trouble never takes the service down
            FAILURES.labels("error").inc()
            log.exception("socket_decision_failed_caller_takes_fallback", call_id=call.uuid)
        finally:
            session.close()


class IvrCall:
    """One caller's walk through the IVR over one outbound socket."""

    def __init__(self, service: OutboundIvrService, session: Session):
        self.service = service
        self.session = session
        self.uuid = "?"
        self.vars: Event = Event([])
        self._completed: gevent.queue.Queue = gevent.queue.Queue()
        self._gone = False

    # --- talking to FreeSWITCH -----------------------------------------------------------

    def send(self, data: bytes) -> GlueEvent:
        return self.session.send_bytes(data, self.service.timeout_s)

    def execute(self, app: str, arg: str = "") -> None:
        reply = self.send(sendmsg_execute(app, arg))
        if not (reply.data or "").startswith("+OK"):
            raise ConnectionError(f"{app} refused: {reply.data}")

    def execute_and_wait(self, app: str, arg: str, budget_s: float) -> GlueEvent:
        self.execute(app, arg)
        deadline = time.monotonic() + budget_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{app} did not complete within {budget_s:.0f} s")
            try:
                event = self._completed.get(timeout=left)
            except gevent.queue.Empty:
                continue
            if event is None:
                raise CallerGone()
            if event.headers.get("Application") == app:
                return event

    def _on_complete(self, event: GlueEvent) -> None:
        self._completed.put(event)

    def _on_gone(self, event: GlueEvent) -> None:
        self._gone = True
        self._completed.put(None)

    def arm_watchdog(self, seconds: float) -> None:
        """Cancel the running watchdog and start one for the coming step."""
        self.execute("sched_cancel")
        self.execute("sched_transfer", wire.watchdog(int(seconds + 0.999), self.fallback_extension))

    # --- the walk --------------------------------------------------------------------------

    def run(self) -> None:
        reply = self.send(command("connect"))
        self.vars = reply.event or Event([])
        self.uuid = self.vars.get("Unique-ID", "?")
        self.session.register_handle("CHANNEL_EXECUTE_COMPLETE", self._on_complete)
        self.session.register_handle("CHANNEL_HANGUP", self._on_gone)
        self.session.register_handle("DISCONNECT", self._on_gone)
        self.send(command("myevents"))
        self.send(command("linger"))
        loaded = self.service._site()
        code = self.var(wire.AGENT_CODE)
        if code:
            return self.agent_code(loaded, code)
        ivr = self.var(wire.IVR)
        self.fallback_extension = self.var(wire.FALLBACK_EXTENSION)
        if ivr not in loaded.site.ivrs or not self.fallback_extension:
            raise NotADecision(f"channel names IVR {ivr!r} (fallback extension {self.fallback_extension!r})")
        now = as_if(self.var(wire.AT)) or self.service.clock.now()
        call = CallContext(caller=self.vars.get("Caller-Caller-ID-Number"), now=now, entry=self.var(wire.ENTRY) or None)
        self.walk(loaded, ivr, call)

    def agent_code(self, loaded: LoadedSite, action: str) -> None:
        """A desk-phone code: carry it out, say how it went, hang up. Late or broken: the
        socket closes and the dialplan plays the failure prompt (the watchdog too, frozen)."""
        self.fallback_extension = wire.AGENT_CODE_FAILED
        self.arm_watchdog(self.service.watchdog_s + AGENT_CODE_BUDGET_S)
        caller = self.vars.get("Caller-Caller-ID-Number", "") or ""
        pool = gevent.get_hub().threadpool
        late = TimeoutError(f"agent code {action} not carried out within {AGENT_CODE_BUDGET_S:.0f} s")
        with gevent.Timeout(AGENT_CODE_BUDGET_S, late):
            result = pool.apply(carry_out, (self.service.api, loaded.site, caller, action, self.uuid))
        self.play(wire.AGENT_CODE_PROMPTS[result])
        self.finish(loaded, "hangup")

    def var(self, name: str) -> str:
        return self.vars.get(f"variable_{name}", "") or ""

    def walk(self, loaded: LoadedSite, ivr: str, call: CallContext) -> None:
        site = loaded.site
        element = site.ivrs[ivr].start
        attempt = 0
        for _ in range(MAX_STEPS):
            el = site.ivrs[ivr].elements[element]
            if isinstance(el, (m.HoursElement, m.VipElement, m.BlockElement, m.MenuElement, m.AdvancedMenuElement, m.CallbackElement)):
                digits = self.collect(el) if _asks(el) else ""
                started = time.perf_counter()
                decision = self.decided(loaded, ivr, element, digits, attempt, call)
                LATENCY.observe(time.perf_counter() - started)
                if decision.callback_number:
                    self.record_callback(loaded, ivr, element, el, decision.callback_number, call)
                DECISIONS.labels(ivr, element, decision.next).inc()
                log.info("decision", call_id=self.uuid, ivr=ivr, element=element, input=digits, attempt=attempt,
                         caller=call.caller, next=decision.next, why=decision.reason)
                if decision.next == RETRY:
                    attempt += 1
                    if digits and getattr(el, "invalid_prompt", None):
                        self.play(el.invalid_prompt)
                    continue
                if isinstance(el, m.CallbackElement) and decision.callback_number and el.confirm_prompt:
                    self.play(el.confirm_prompt)
                step = decision.next
            elif isinstance(el, m.PlayElement):
                self.play(el.prompt)
                step = el.next
            elif isinstance(el, m.QueueElement):
                # el.next is not carried yet: the queue extension's own overflow runs after it
                return self.finish(loaded, f"queue:{el.queue}", el.priority)
            elif isinstance(el, m.GotoIvrElement):
                step = f"ivr:{el.ivr}"
            elif isinstance(el, m.VoicemailElement):
                return self.finish(loaded, f"voicemail:{el.mailbox}")
            elif isinstance(el, m.TransferElement):
                return self.finish(loaded, f"transfer:{el.number}")
            else:
                assert isinstance(el, m.HangupElement)
                if el.prompt:
                    self.play(el.prompt)
                return self.finish(loaded, "hangup")
            attempt = 0
            if is_destination(step):
                dest = parse_destination(step)
                if dest.kind == "ivr":
                    ivr, element = dest.target, site.ivrs[dest.target].start
                    continue
                return self.finish(loaded, str(dest))
            element = step
        raise NotADecision(f"stopped after {MAX_STEPS} steps")

    def decided(self, loaded: LoadedSite, ivr: str, element: str, digits: str, attempt: int, call: CallContext):
        with gevent.Timeout(self.service.timeout_s, TimeoutError(f"decision {ivr}.{element} over {self.service.timeout_s} s")):
            return decide(loaded, ivr, element, digits, attempt, call)

    def record_callback(self, loaded, ivr, element, el, number, call) -> None:
        if self.var(wire.AT):
            log.info("test_call_callback_not_recorded", call_id=self.uuid, number=number)
            return
        if self.service._record_callback is None:
            return
        pool = gevent.get_hub().threadpool
        with gevent.Timeout(self.service.timeout_s, TimeoutError("recording the callback took too long")):
            pool.apply(self.service._record_callback, kwds=dict(
                queue=el.queue, number=number, ivr=ivr, element=element, call_id=self.uuid, requested_at=call.now))

    def play(self, prompt: str) -> None:
        budget = self.service.watchdog_s + self.service.prompt_allowance_s
        self.arm_watchdog(budget)
        self.execute_and_wait("playback", prompt, budget)

    def collect(self, el) -> str:
        """The caller's keys for a menu / advanced menu / callback number."""
        if isinstance(el, m.MenuElement):
            low, high, timeout = 1, 1, el.timeout
            # '#' ends input unless it is one of the menu's own keys.
            terminators = "#" if "#" not in el.options else "none"
        else:
            low, high = (el.min_digits, el.max_digits) if isinstance(el, m.AdvancedMenuElement) else (1, 20)
            timeout, terminators = getattr(el, "timeout", 5), "#"
        budget = self.service.watchdog_s + self.service.prompt_allowance_s + timeout
        self.arm_watchdog(budget)
        self.execute("unset", wire.DIGITS)
        arg = f"{low} {high} 1 {timeout * 1000} {terminators} {el.prompt} {INVALID_TONE} {wire.DIGITS} [0-9*#]+ {timeout * 1000}"
        done = self.execute_and_wait("play_and_get_digits", arg, budget)
        return done.headers.get(f"variable_{wire.DIGITS}", "") or ""

    def finish(self, loaded: LoadedSite, destination: str, priority: int | None = None) -> None:
        fs = loaded.site.pbx.freeswitch
        action = destination_action(destination, fs)
        self.execute("sched_cancel")
        if priority is not None:
            self.execute("set", f"cc_base_score={priority * PRIORITY_SCORE_SECONDS}")
        log.info("call_sent_on", call_id=self.uuid, destination=destination)
        if action.app == "transfer":
            # The socket app returns right after the transfer (recorded); close only then,
            # or FreeSWITCH could run the dialplan's fallback before the transfer.
            self.execute_and_wait("transfer", runtime_data(action.data), self.service.watchdog_s + 5)
            return
        self.execute(action.app, runtime_data(action.data))
        # voicemail / hangup run inside the socket app: keep the socket until the hang-up.
        while not self._gone:
            item = self._completed.get()
            if item is None:
                break


def _asks(el) -> bool:
    return isinstance(el, (m.MenuElement, m.AdvancedMenuElement)) or (isinstance(el, m.CallbackElement) and el.ask_number)
