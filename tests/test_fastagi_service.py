"""IvrAgiService over a real socket, driven by a small AGI client that speaks the protocol
as Asterisk does (environment block, then one reply line per command).

No Asterisk here: tests/test_ivr_asterisk.py runs real calls. The sessions in
tests/fixtures/agi/ were recorded from the sandbox Asterisk and are replayed byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY

from pbxctl.ivr.clock import FixedClock
from pbxctl.asterisk.fastagi_service import IvrAgiService
from pbxctl.site import holder as holder_module
from pbxctl.site.holder import SiteHolder

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "conf" / "example.yaml"
FIXTURES = REPO / "tests" / "fixtures" / "agi"
OSLO = ZoneInfo("Europe/Oslo")
AT = dt.datetime(2026, 12, 23, 10, 0, tzinfo=OSLO)  # Wednesday, open
CALLER = "+4722445566"
OK = "200 result=1"


def next_is(target: str) -> str:
    return f'SET VARIABLE PBXCTL_NEXT "{target}"'


RECORDED = 'SET VARIABLE PBXCTL_RECORDED "1"'


def collecting_recorder(calls: list, delay: float = 0.0, fail: bool = False):
    """The callback recorder seam: a plain function collecting its keyword arguments."""

    def record(**kwargs) -> None:
        if delay:
            time.sleep(delay)
        if fail:
            raise RuntimeError("database is down")
        calls.append(kwargs)

    return record


@pytest.fixture(scope="module")
def holder() -> SiteHolder:
    return SiteHolder(SITE)


def make_service(site=None, at=AT, calls=None, timeout_s=1.0, **recorder) -> IvrAgiService:
    site = site or SiteHolder(SITE).get
    return IvrAgiService(
        site, clock=FixedClock(at), record_callback=collecting_recorder([] if calls is None else calls, **recorder),
        timeout_s=timeout_s,
    )


# --- the service on an ephemeral port, and an Asterisk-shaped AGI client ----------------------


class Sessions:
    """Wraps service.handle to see how long each session lasted and whether anything escaped."""

    def __init__(self, service: IvrAgiService):
        self.service = service
        self.durations: list[float] = []
        self.escaped: list[BaseException] = []
        self.tasks: set[asyncio.Task] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.tasks.add(asyncio.current_task())
        started = time.perf_counter()
        try:
            await self.service.handle(reader, writer)
        except BaseException as exc:  # the service promises nothing escapes
            self.escaped.append(exc)
            raise
        finally:
            self.durations.append(time.perf_counter() - started)

    async def settle(self, timeout: float = 5.0) -> None:
        pending = [t for t in self.tasks if not t.done()]
        if pending:
            await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), timeout)


@contextlib.asynccontextmanager
async def serving(service: IvrAgiService):
    sessions = Sessions(service)
    server = await asyncio.start_server(sessions.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port, sessions
        await sessions.settle()
    finally:
        server.close()
        await server.wait_closed()


def environment(
    ivr: str = "main", element: str = "screen", digits: str = "", attempt: str = "0", *,
    caller: str = CALLER, script: str = "decide", uniqueid: str = "1766480400.17", args: list[str] | None = None,
    at: str | None = None,
) -> bytes:
    """What Asterisk 22 sends for AGI(agi://127.0.0.1:4573/decide,IVR,ELEMENT,INPUT,ATTEMPT),
    in its order (compare tests/fixtures/agi/*.json). `at`: a 5th argument, ${PBXCTL_AT},
    which the generated dialplan also passes ('' on real calls)."""
    fields = [
        ("agi_network", "yes"), ("agi_network_script", script), ("agi_request", f"agi://127.0.0.1:4573/{script}"),
        ("agi_channel", "PJSIP/trunk-0000002a"), ("agi_language", "en"), ("agi_type", "PJSIP"),
        ("agi_uniqueid", uniqueid), ("agi_version", "22.10.1"), ("agi_callerid", caller),
        ("agi_calleridname", "unknown"), ("agi_callingpres", "0"), ("agi_callingani2", "0"),
        ("agi_callington", "0"), ("agi_callingtns", "0"), ("agi_dnid", "4721000000"), ("agi_rdnis", "unknown"),
        ("agi_context", "pbxctl-decide"), ("agi_extension", "s"), ("agi_priority", "3"),
        ("agi_enhanced", "0.0"), ("agi_accountcode", ""), ("agi_threadid", "139667243644608"),
    ]
    if args is None:
        args = [ivr, element, digits, attempt] + ([] if at is None else [at])
    for i, value in enumerate(args, start=1):
        fields.append((f"agi_arg_{i}", value))
    return "".join(f"{k}: {v}\n" for k, v in fields).encode() + b"\n"


class AgiClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> "AgiClient":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, timeout: float = 3.0) -> str | None:
        """The next command line from the service; None when it closed the session."""
        try:
            line = await asyncio.wait_for(self.reader.readline(), timeout)
        except ConnectionResetError:
            return None
        return line.decode().rstrip("\n") if line else None

    async def reply(self, text: str) -> None:
        try:
            await self.send(text.encode() + b"\n")
        except ConnectionError:
            pass

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


async def agi_session(port: int, env: bytes, reply=lambda command: OK) -> list[str]:
    """One AGI session as Asterisk runs it: every command the service sent, in order,
    answered with reply(command) (None: hang up without answering)."""
    client = await AgiClient.connect(port)
    commands: list[str] = []
    try:
        await client.send(env)
        while (command := await client.command()) is not None:
            commands.append(command)
            answer = reply(command)
            if answer is None:
                break
            await client.reply(answer)
    finally:
        await client.close()
    return commands


async def ask(port: int, *args: str, **kw) -> list[str]:
    return await agi_session(port, environment(*args, **kw))


def run(coro, timeout: float = 30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def failures(reason: str) -> float:
    return REGISTRY.get_sample_value("pbxctl_ivr_decision_failures_total", {"reason": reason}) or 0.0


# --- answers -------------------------------------------------------------------------------

EXAMPLE_ANSWERS = [
    # (ivr, element, input, attempt, caller) -> Goto target
    (("main", "screen", "", "0", CALLER), "pbxctl-ivr-main,vip_check,1"),
    (("main", "screen", "", "0", "+4781549300"), "pbxctl-hangup,s,1"),
    (("main", "screen", "", "0", "unknown"), "pbxctl-ivr-main,vip_check,1"),
    (("main", "vip_check", "", "0", "98765432"), "pbxctl-ivr-main,vip_queue,1"),
    (("main", "vip_check", "", "0", CALLER), "pbxctl-ivr-main,office_hours,1"),
    (("main", "office_hours", "", "0", CALLER), "pbxctl-ivr-main,welcome,1"),
    (("main", "main_menu", "1", "0", CALLER), "pbxctl-ivr-main,postcode,1"),
    (("main", "main_menu", "2", "2", CALLER), "pbxctl-ivr-main,support_queue,1"),
    (("main", "main_menu", "9", "0", CALLER), "pbxctl-ivr-main,to_english,1"),
    (("main", "main_menu", "7", "0", CALLER), "retry"),
    (("main", "main_menu", "", "1", CALLER), "retry"),
    (("main", "main_menu", "7", "2", CALLER), "pbxctl-ivr-main,support_queue,1"),
    (("main", "postcode", "0150", "0", CALLER), "pbxctl-queue,sales_east,1"),
    (("main", "postcode", "5003", "0", CALLER), "pbxctl-queue,sales_west,1"),
    (("main", "postcode", "9400", "0", CALLER), "pbxctl-queue,support,1"),
    (("main", "postcode", "0000", "0", CALLER), "retry"),
    (("main", "postcode", "0000", "2", CALLER), "pbxctl-queue,sales_east,1"),
    (("main", "postcode", "", "2", CALLER), "pbxctl-queue,sales_east,1"),
    (("english", "menu", "1", "0", CALLER), "pbxctl-queue,support,1"),
    (("english", "menu", "2", "0", CALLER), "pbxctl-queue,sales_east,1"),
    (("english", "menu", "0", "0", CALLER), "pbxctl-ivr-english,back,1"),
    (("english", "menu", "5", "0", CALLER), "retry"),
]


@pytest.mark.parametrize("at", [None, ""], ids=["4_args", "5_args"])
@pytest.mark.parametrize("args, target", EXAMPLE_ANSWERS, ids=[f"{a[0]}.{a[1]}[{a[2]}|{a[3]}|{a[4]}]" for a, _ in EXAMPLE_ANSWERS])
def test_goto_targets_for_the_example(holder, args, target, at):
    ivr, element, digits, attempt, caller = args
    service = make_service(holder.get)

    async def scenario():
        async with serving(service) as (port, sessions):
            commands = await ask(port, ivr, element, digits, attempt, caller=caller, at=at)
        assert sessions.escaped == []
        return commands

    assert run(scenario()) == [next_is(target)]


@pytest.mark.parametrize("presentation, screen, vip", [
    ("prohib", "pbxctl-ivr-main,vip_check,1", "pbxctl-ivr-main,office_hours,1"),
    ("unavailable", "pbxctl-ivr-main,vip_check,1", "pbxctl-ivr-main,office_hours,1"),
    ("allowed_not_screened", "pbxctl-hangup,s,1", "pbxctl-ivr-main,vip_queue,1"),
    ("", "pbxctl-hangup,s,1", "pbxctl-ivr-main,vip_queue,1"),
])
def test_sixth_argument_is_the_callers_presentation(holder, presentation, screen, vip):
    """AGI(...,${PBXCTL_AT},${CALLERID(pres)}): a withheld number is anonymous (allowed by the
    example's block element, normal at its VIP element) though the digits are delivered."""
    service = make_service(holder.get)

    async def scenario():
        async with serving(service) as (port, _):
            blocked = await ask(port, caller="+4781549300", args=["main", "screen", "", "0", "", presentation])
            listed = await ask(port, caller="98765432", args=["main", "vip_check", "", "0", "", presentation])
            return blocked, listed

    assert run(scenario()) == ([next_is(screen)], [next_is(vip)])


def test_destination_kinds_become_dialplan_targets(tmp_path):
    site = tmp_path / "kinds.yaml"
    site.write_text(
        """
site: kinds
numbering: {country_code: "47"}
pbx: {backend: asterisk}
agents: {a: {name: A, extension: "1001"}}
queues: {q: {strategy: ring_all, members: [{agent: a}]}}
entries: {"+4721000001": {ivr: one}}
ivrs:
  one:
    start: pick
    elements:
      pick:
        type: menu
        prompt: p
        options: {"1": "queue:q", "2": "ivr:two", "3": "voicemail:100", "4": "transfer:+4722334455",
                  "5": "extension:1001", "6": hangup, "7": bye}
        invalid: hangup
        no_input: hangup
      bye: {type: hangup}
  two:
    start: greet
    elements:
      greet: {type: play, prompt: hello, next: "queue:q"}
"""
    )
    service = make_service(SiteHolder(site).get)
    expected = {
        "1": "pbxctl-queue,q,1", "2": "pbxctl-ivr-two,greet,1", "3": "pbxctl-voicemail,100,1",
        "4": "pbxctl-transfer,+4722334455,1", "5": "pbxctl-extension,1001,1", "6": "pbxctl-hangup,s,1",
        "7": "pbxctl-ivr-one,bye,1",
    }

    async def scenario():
        async with serving(service) as (port, _):
            return {key: await ask(port, "one", "pick", key) for key in expected}

    assert run(scenario()) == {key: [next_is(target)] for key, target in expected.items()}


@pytest.mark.parametrize(
    "at, target",
    [
        (dt.datetime(2026, 12, 23, 11, 45, tzinfo=OSLO), "pbxctl-ivr-main,lunch_message,1"),
        (dt.datetime(2026, 12, 23, 19, 0, tzinfo=OSLO), "pbxctl-ivr-main,closed_message,1"),
        (dt.datetime(2026, 12, 24, 12, 5, tzinfo=dt.timezone.utc), "pbxctl-ivr-main,closed_message,1"),  # 13:05 in Oslo
        (dt.datetime(2026, 12, 24, 8, 0, tzinfo=dt.timezone.utc), "pbxctl-ivr-main,welcome,1"),
    ],
)
def test_hours_follow_the_service_clock(holder, at, target):
    service = make_service(holder.get, at=at)

    async def scenario():
        async with serving(service) as (port, _):
            return await ask(port, "main", "office_hours")

    assert run(scenario()) == [next_is(target)]


def test_clock_change_applies_to_the_next_call(holder):
    service = make_service(holder.get)

    async def scenario():
        async with serving(service) as (port, _):
            first = await ask(port, "main", "office_hours")
            service.clock.at = dt.datetime(2026, 12, 23, 19, 0, tzinfo=OSLO)
            second = await ask(port, "main", "office_hours")
        return first, second

    assert run(scenario()) == ([next_is("pbxctl-ivr-main,welcome,1")], [next_is("pbxctl-ivr-main,closed_message,1")])


@pytest.mark.parametrize(
    "at, target",
    [
        ("", "pbxctl-ivr-main,welcome,1"),  # a real call: the service clock (10:00)
        ("2026-12-23T19:00:00", "pbxctl-ivr-main,closed_message,1"),  # naive: Oslo local time
        ("2026-12-23 11:45", "pbxctl-ivr-main,lunch_message,1"),
        ("2026-12-24T13:05:00", "pbxctl-ivr-main,closed_message,1"),
        ("2026-12-23T18:00:00+00:00", "pbxctl-ivr-main,closed_message,1"),  # 19:00 in Oslo
        ("2026-12-23T09:00:00+00:00", "pbxctl-ivr-main,welcome,1"),
        ("tomorrow", "pbxctl-ivr-main,welcome,1"),  # unreadable: ignored, the clock decides
        ("  ", "pbxctl-ivr-main,welcome,1"),
    ],
)
def test_pbxctl_at_argument_decides_as_if_then(holder, at, target):
    service = make_service(holder.get)

    async def scenario():
        async with serving(service) as (port, _):
            return await ask(port, "main", "office_hours", at=at)

    assert run(scenario()) == [next_is(target)]


# --- callbacks -----------------------------------------------------------------------------


def test_callback_sets_recorded_before_next_and_calls_the_recorder(holder):
    calls: list[dict] = []
    service = make_service(holder.get, calls=calls)

    async def scenario():
        async with serving(service) as (port, _):
            return await ask(port, "main", "offer_callback", uniqueid="1766480400.42")

    assert run(scenario()) == [RECORDED, next_is("pbxctl-hangup,s,1")]
    assert calls == [{
        "queue": "support", "number": "+4722445566", "ivr": "main", "element": "offer_callback",
        "call_id": "1766480400.42", "requested_at": AT,
    }]


@pytest.mark.parametrize("caller", ["unknown", "", "anonymous", "123"])
def test_callback_without_a_usable_number_records_nothing(holder, caller):
    calls: list[dict] = []
    service = make_service(holder.get, calls=calls)

    async def scenario():
        async with serving(service) as (port, _):
            return await ask(port, "main", "offer_callback", caller=caller)

    assert run(scenario()) == [next_is("pbxctl-hangup,s,1")]
    assert calls == []


def test_callback_recorder_failure_gives_no_decision(holder):
    service = make_service(holder.get, fail=True)
    before = failures("error")

    async def scenario():
        async with serving(service) as (port, sessions):
            commands = await ask(port, "main", "offer_callback")
        return commands, sessions

    commands, sessions = run(scenario())
    assert commands == []  # the dialplan takes the entry's fallback
    assert sessions.escaped == []
    assert failures("error") == before + 1


def test_slow_recorder_past_the_timeout_sets_nothing(holder):
    """timeout_s 0.3, recorder 1.0 s: no PBXCTL_RECORDED/NEXT, the session closes at the
    timeout (the caller takes the fallback), nothing escapes."""
    calls: list[dict] = []
    service = make_service(holder.get, calls=calls, timeout_s=0.3, delay=1.0)
    before = failures("timeout")

    command, closed_after, sessions = run(send_and_time(service, environment("main", "offer_callback")))
    assert command is None
    assert 0.25 <= closed_after < 0.9
    assert sessions.escaped == []
    assert failures("timeout") == before + 1
    # Observed, not endorsed: the recorder thread cannot be cancelled and still writes the
    # request after the caller was sent to the fallback (see the report in the PR).
    assert [c["number"] for c in calls] == ["+4722445566"]


# --- requests that get no decision -------------------------------------------------------------


@pytest.mark.parametrize(
    "env, reason",
    [
        (environment("main", "screen", script="other"), "unknown_script"),
        (environment("main", "screen", script=""), "unknown_script"),
        (environment("main", "screen").replace(b"agi_network_script: decide\n", b""), "unknown_script"),
        (environment("nope", "screen"), "not_a_decision"),
        (environment("main", "nope"), "not_a_decision"),
        (environment("main", "welcome"), "not_a_decision"),  # a play element
        (environment("main", "support_queue"), "not_a_decision"),
        (environment(args=[]), "not_a_decision"),  # no arguments at all
        (environment(args=["main"]), "not_a_decision"),
        (environment("main;Hangup()", "screen"), "not_a_decision"),
        (environment("main", "screen,1"), "not_a_decision"),
        (environment("../../etc", "passwd"), "not_a_decision"),
        (environment("MAIN", "SCREEN"), "not_a_decision"),
    ],
    ids=["script_other", "script_empty", "script_missing", "unknown_ivr", "unknown_element", "play_element",
         "queue_element", "no_args", "one_arg", "injection", "comma", "path", "upper_case"],
)
def test_no_decision_sets_nothing_and_closes(holder, env, reason):
    service = make_service(holder.get)
    before = failures(reason)

    commands, sessions = run(session_of(service, env))
    assert commands == []
    assert sessions.escaped == []
    assert failures(reason) == before + 1


@pytest.mark.parametrize(
    "env, target",
    [
        (environment("main", "main_menu", "", "x"), "retry"),  # unreadable attempt counts as 0
        (environment("main", "main_menu", "", ""), "retry"),
        (environment("main", "main_menu", "7", "99"), "pbxctl-ivr-main,support_queue,1"),
        (environment("main", "main_menu", "1a", "0"), "retry"),
        (environment("main", "main_menu", "\u00e6\u00f8\u00e5", "0"), "retry"),
        (environment("main", "postcode", "0150#", "0"), "pbxctl-queue,sales_east,1"),
        (environment("main", "postcode", "01500150", "0"), "retry"),
        (environment("main", "screen", caller="x" * 200), "pbxctl-ivr-main,vip_check,1"),
        (environment("main", "main_menu", "2", "0", args=["main", "main_menu", "2", "0", "extra", "args"]),
         "pbxctl-ivr-main,support_queue,1"),
        (environment("main", "screen").replace(b"\n", b"\r\n"), "pbxctl-ivr-main,vip_check,1"),  # CRLF
        (b"garbage without a colon\n" + environment("main", "screen"), "pbxctl-ivr-main,vip_check,1"),
        (b"agi_arg_1 main\n" + environment("main", "screen"), "pbxctl-ivr-main,vip_check,1"),
    ],
    ids=["attempt_x", "attempt_empty", "attempt_99", "digits_1a", "digits_utf8", "postcode_hash", "postcode_long",
         "long_caller", "extra_args", "crlf", "garbage_line", "no_separator"],
)
def test_garbage_input_still_gets_a_sane_answer(holder, env, target):
    service = make_service(holder.get)

    async def scenario():
        async with serving(service) as (port, _):
            return await agi_session(port, env)

    assert run(scenario()) == [next_is(target)]


def test_oversized_environment_is_refused(holder):
    service = make_service(holder.get)
    env = b"".join(f"agi_padding_{i}: {'x' * 100}\n".encode() for i in range(200)) + environment("main", "screen")

    commands, sessions = run(session_of(service, env))
    assert commands == []
    assert sessions.escaped == []


# --- peers that misbehave or leave ---------------------------------------------------------------


@pytest.mark.parametrize(
    "partial",
    [b"", b"agi_network: yes\n", environment("main", "screen")[:-1], environment("main", "screen")[:100]],
    ids=["nothing", "one_line", "no_blank_line", "mid_line"],
)
@pytest.mark.parametrize("how", ["close", "half_close"])
def test_peer_leaving_before_the_blank_line_does_not_spin(holder, partial, how):
    service = make_service(holder.get, timeout_s=5.0)  # the timeout must not be what ends it
    before = failures("connection")

    async def scenario():
        async with serving(service) as (port, sessions):
            client = await AgiClient.connect(port)
            await client.send(partial)
            if how == "close":
                await client.close()
            else:
                client.writer.write_eof()
                assert await client.command(timeout=2.0) is None
                await client.close()
            await sessions.settle(timeout=2.0)
        return sessions

    sessions = run(scenario())
    assert len(sessions.durations) == 1 and sessions.durations[0] < 2.0
    assert sessions.escaped == []
    assert failures("connection") == before + 1


@pytest.mark.parametrize("sent", [b"", b"agi_network: yes\nagi_network_script: decide\n"], ids=["silent", "stalls"])
def test_silent_peer_is_dropped_after_the_timeout(holder, sent):
    service = make_service(holder.get, timeout_s=0.3)
    before = failures("timeout")

    command, closed_after, sessions = run(send_and_time(service, sent))
    assert command is None
    assert 0.25 <= closed_after < 2.0
    assert sessions.escaped == []
    assert failures("timeout") == before + 1


async def session_of(service, env):
    """One AGI session: (commands the service sent, the sessions record)."""
    async with serving(service) as (port, sessions):
        commands = await agi_session(port, env)
    return commands, sessions


async def send_and_time(service, sent):
    """Send `sent`, wait for a command or the close; (command or None, seconds, sessions)."""
    async with serving(service) as (port, sessions):
        client = await AgiClient.connect(port)
        started = time.perf_counter()
        await client.send(sent)
        command = await client.command(timeout=3.0)
        closed_after = time.perf_counter() - started
        await client.close()
    return command, closed_after, sessions


DEAD = "511 Command Not Permitted on a dead channel or intercept routine"


@pytest.mark.parametrize("answer", ["HANGUP", DEAD, "200 result=-1", "510 Invalid or unknown command", "", None],
                         ids=["hangup", "dead_channel", "result_-1", "510", "empty_line", "eof"])
def test_asterisk_refusing_set_variable_ends_the_session(holder, answer):
    service = make_service(holder.get)

    async def scenario():
        async with serving(service) as (port, sessions):
            commands = await agi_session(port, environment("main", "main_menu", "2"), reply=lambda c: answer)
        return commands, sessions

    commands, sessions = run(scenario())
    assert commands == [next_is("pbxctl-ivr-main,support_queue,1")]
    assert sessions.escaped == []
    assert sessions.durations[0] < 2.0


@pytest.mark.parametrize("answer", ["HANGUP", DEAD])
def test_hangup_during_callback_stops_before_next(holder, answer):
    calls: list[dict] = []
    service = make_service(holder.get, calls=calls)

    async def scenario():
        async with serving(service) as (port, sessions):
            commands = await agi_session(port, environment("main", "offer_callback"), reply=lambda c: answer)
        return commands, sessions

    commands, sessions = run(scenario())
    assert commands == [RECORDED]  # PBXCTL_NEXT never sent
    assert len(calls) == 1  # the request was recorded before Asterisk said the caller left
    assert sessions.escaped == []


def test_trying_lines_before_the_answer_are_skipped(holder):
    service = make_service(holder.get)

    async def scenario():
        async with serving(service) as (port, _):
            client = await AgiClient.connect(port)
            await client.send(environment("main", "main_menu", "2"))
            command = await client.command()
            await client.send(b"100 result=0 Trying...\n200 result=1\n")
            after = await client.command()
            await client.close()
        return command, after

    assert run(scenario()) == (next_is("pbxctl-ivr-main,support_queue,1"), None)


def test_fifty_concurrent_sessions_all_get_answers(holder):
    service = make_service(holder.get, timeout_s=5.0)
    cases = [EXAMPLE_ANSWERS[i % len(EXAMPLE_ANSWERS)] for i in range(50)]

    async def scenario():
        async with serving(service) as (port, sessions):
            results = await asyncio.gather(*(
                agi_session(port, environment(a[0], a[1], a[2], a[3], caller=a[4], uniqueid=f"1766480400.{i}"))
                for i, (a, _) in enumerate(cases)
            ))
        return results, sessions

    results, sessions = run(scenario())
    assert results == [[next_is(target)] for _, target in cases]
    assert len(sessions.durations) == 50
    assert sessions.escaped == []


def test_fifty_concurrent_callbacks_are_each_recorded_once(holder):
    calls: list[dict] = []
    service = make_service(holder.get, calls=calls, timeout_s=5.0)

    async def scenario():
        async with serving(service) as (port, _):
            return await asyncio.gather(*(
                ask(port, "main", "offer_callback", caller=f"+47220000{i:02d}", uniqueid=f"cb.{i}") for i in range(50)
            ))

    results = run(scenario())
    assert all(r == [RECORDED, next_is("pbxctl-hangup,s,1")] for r in results)
    assert sorted(c["call_id"] for c in calls) == sorted(f"cb.{i}" for i in range(50))
    assert {c["number"] for c in calls} == {f"+47220000{i:02d}" for i in range(50)}


# --- recorded Asterisk traffic -------------------------------------------------------------------

RECORDINGS = sorted(FIXTURES.glob("*.json"))


def test_recordings_are_present():
    assert {p.stem for p in RECORDINGS} >= {"vip_check", "offer_callback", "postcode", "office_hours_empty_at", "office_hours_as_if",
                                         "hangup_before_answer"}


@pytest.mark.parametrize("recording", RECORDINGS, ids=[p.stem for p in RECORDINGS])
def test_replay_recorded_session(recording):
    doc = json.loads(recording.read_text())
    calls: list[dict] = []
    service = make_service(SiteHolder(REPO / doc["site"]).get, at=dt.datetime.fromisoformat(doc["clock"]), calls=calls)
    exchange = [(step["from"], step["data"].encode("ascii")) for step in doc["exchange"]]

    async def scenario():
        async with serving(service) as (port, sessions):
            client = await AgiClient.connect(port)
            for who, data in exchange:
                if who == "asterisk":
                    await client.send(data)
                else:
                    got = await asyncio.wait_for(client.reader.readexactly(len(data)), 3)
                    assert got == data
            rest = await asyncio.wait_for(client.reader.read(), 3)
            await client.close()
        return rest, sessions

    rest, sessions = run(scenario())
    assert rest == b""  # nothing more, and the service closed the session
    assert sessions.escaped == []
    env = exchange[0][1].decode()
    uniqueid = next(line.split(": ", 1)[1] for line in env.splitlines() if line.startswith("agi_uniqueid: "))
    if any(who == "service" and b"PBXCTL_RECORDED" in data for who, data in exchange):
        assert [(c["call_id"], c["number"]) for c in calls] == [(uniqueid, "+4722445566")]
    else:
        assert calls == []


def test_local_client_speaks_like_the_recorded_asterisk():
    recorded = json.loads((FIXTURES / "vip_check.json").read_text())["exchange"][0]["data"]
    ours = environment("main", "vip_check", caller="98765432").decode()

    def keys(text):
        return [line.split(":", 1)[0] for line in text.split("\n\n")[0].splitlines()]

    assert keys(ours) == keys(recorded)
    assert recorded.endswith("agi_arg_1: main\nagi_arg_2: vip_check\nagi_arg_3: \nagi_arg_4: 0\n\n")
    assert ours.endswith("agi_arg_1: main\nagi_arg_2: vip_check\nagi_arg_3: \nagi_arg_4: 0\n\n")


# --- site reload -----------------------------------------------------------------------------------


def copy_example(tmp_path: Path) -> tuple[Path, Path]:
    for name in ("example.yaml", "postcodes.csv"):
        shutil.copy(REPO / "conf" / name, tmp_path / name)
    return tmp_path / "example.yaml", tmp_path / "postcodes.csv"


def rewrite(path: Path, text: str) -> None:
    """Write and move the mtime on by a second: two writes within one kernel clock tick
    with equal sizes would otherwise look unchanged (a test artefact, not what we test)."""
    before = path.stat().st_mtime_ns if path.exists() else time.time_ns()
    path.write_text(text)
    stamp = max(before + 1_000_000_000, path.stat().st_mtime_ns)
    os.utime(path, ns=(stamp, stamp))


def test_holder_picks_up_a_rewritten_routing_list_and_keeps_the_old_site_when_broken(tmp_path):
    site, csv = copy_example(tmp_path)
    original = csv.read_text()
    holder = SiteHolder(site)
    service = make_service(holder.get)

    async def postcode(port, value):
        return await ask(port, "main", "postcode", value)

    async def scenario():
        async with serving(service) as (port, _):
            assert await postcode(port, "0150") == [next_is("pbxctl-queue,sales_east,1")]
            assert await holder.reload_if_changed() is False  # nothing changed yet

            first = holder.get()
            rewrite(csv, original.replace("0001-1299,queue:sales_east", "0001-1299,queue:support"))
            assert await holder.reload_if_changed() is True
            assert holder.get() is not first
            assert await postcode(port, "0150") == [next_is("pbxctl-queue,support,1")]
            assert await postcode(port, "5003") == [next_is("pbxctl-queue,sales_west,1")]
            good = holder.get()

            broken_versions = [
                original.replace("0001-1299,queue:sales_east", "0001-1299,queue:nowhere"),  # unknown queue
                original + "0150,queue:sales_west\n",  # a value listed twice
                original + "01x0,queue:sales_west\n",  # not digits
                original.replace("0001-1299,queue:sales_east", "0001-1299"),  # one column
                "",  # emptied: an empty list is valid...
            ]
            for broken in broken_versions[:-1]:
                rewrite(csv, broken)
                assert await holder.reload_if_changed() is False
                assert holder.get() is good
                assert await postcode(port, "0150") == [next_is("pbxctl-queue,support,1")]

            csv.unlink()  # gone: keep serving the old list
            assert await holder.reload_if_changed() is False
            assert holder.get() is good
            assert await postcode(port, "0150") == [next_is("pbxctl-queue,support,1")]

            rewrite(csv, original)
            assert await holder.reload_if_changed() is True
            assert await postcode(port, "0150") == [next_is("pbxctl-queue,sales_east,1")]

            # ...and takes effect: every postcode is then 'not in the list'
            rewrite(csv, broken_versions[-1])
            assert await holder.reload_if_changed() is True
            assert await postcode(port, "0150") == [next_is("retry")]

    run(scenario())


def test_holder_keeps_the_old_site_when_the_yaml_breaks(tmp_path):
    site, _ = copy_example(tmp_path)
    holder = SiteHolder(site)
    good = holder.get()
    text = site.read_text()

    async def scenario():
        rewrite(site, text.replace("list: vip,", "list: nope,"))
        assert await holder.reload_if_changed() is False
        assert holder.get() is good
        rewrite(site, text + "\nthis is: [not yaml\n")
        assert await holder.reload_if_changed() is False
        assert holder.get() is good
        rewrite(site, text.replace('"9": to_english', '"9": support_queue'))
        assert await holder.reload_if_changed() is True
        loaded = holder.get()
        assert loaded.site.ivrs["main"].elements["main_menu"].options["9"] == "support_queue"

    run(scenario())


def test_holder_does_not_lose_a_change_made_while_it_loads(tmp_path, monkeypatch):
    """Regression: reload_if_changed used to re-stat the files after load_site() had read
    them, so a rewrite landing in between counted as loaded and was never picked up."""
    site, csv = copy_example(tmp_path)
    original = csv.read_text()
    holder = SiteHolder(site)
    real_load = holder_module.load_site

    def load_then_import_finishes(path, *args):
        loaded = real_load(path, *args)
        # `pbxctl routes import` (or an editor) finishes its write just after the read
        rewrite(csv, original.replace("0001-1299,queue:sales_east", "0001-1299,queue:support"))
        return loaded

    async def scenario():
        rewrite(csv, original.replace("0001-1299,queue:sales_east", "0001-1299,queue:sales_west"))
        monkeypatch.setattr(holder_module, "load_site", load_then_import_finishes)
        assert await holder.reload_if_changed() is True  # loaded the sales_west version
        monkeypatch.setattr(holder_module, "load_site", real_load)
        await holder.reload_if_changed()  # the next check must see the later write
        return holder.get().route_lists["postcodes"].lookup("0150")

    assert run(scenario()) == "queue:support"
