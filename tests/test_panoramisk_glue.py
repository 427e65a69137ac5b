"""What pbxctl relies on in panoramisk's internals (asterisk/panoramisk_glue.py), checked
against the installed version: when an upgrade changes any of it, this fails before the
service does. pyproject.toml pins the version these checks passed with."""

from __future__ import annotations

import asyncio
import gzip
import logging
from importlib.metadata import version
from pathlib import Path

import pytest
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from pbxctl.asterisk.ami_protocol import encode_action
from pbxctl.asterisk.panoramisk_glue import (
    TESTED_VERSION,
    LinkManager,
    agi_request,
    connect_protocol,
    fail_pending,
    replay_ami,
    replay_bytes,
)

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def test_the_installed_panoramisk_is_the_tested_one():
    assert version("panoramisk") == TESTED_VERSION, (
        f"panoramisk {version('panoramisk')} installed, glue tested with {TESTED_VERSION}: "
        "re-check asterisk/panoramisk_glue.py against it, then move TESTED_VERSION and the pin"
    )


def test_the_protocol_hooks_the_glue_overrides_exist():
    for name in ("connection_made", "data_received", "handle_message", "connection_lost", "send", "close"):
        assert callable(getattr(AMIProtocol, name)), name
    protocol = AMIProtocol()
    protocol.connection_made(transport=None)
    # The attributes connect_protocol rewires (as Manager.connection_made does in 1.4).
    for name in ("queue", "responses", "factory", "version", "log"):
        assert hasattr(protocol, name), name


def test_replay_uses_the_framing_and_keeps_every_message():
    data = (
        BANNER
        + encode_action({"Response": "Success", "ActionID": "a1", "Message": "Authentication accepted"})
        + encode_action({"Event": "QueueCallerJoin", "Queue": "support", "Uniqueid": "1.1", "Position": "1"})
        + encode_action({"Event": "VarSet", "Variable": "X", "Value": "1"})
    )
    # Cut mid-message, as a socket read may: the framing joins the halves.
    messages = replay_ami([data[:70], data[70:]])
    assert [m.get("Event") or m.get("Response") for m in messages] == ["Success", "QueueCallerJoin", "VarSet"]
    assert all(isinstance(m, Message) for m in messages)
    assert messages[1]["queue"] == "support"  # case-insensitive keys, as the service gets them


def test_a_recording_replays_to_the_same_messages_whatever_the_reads():
    data = gzip.decompress((FIXTURES / "supervision_help.ami.gz").read_bytes())
    whole = replay_bytes(data, chunk_size=len(data))
    small = replay_bytes(data, chunk_size=512)
    assert len(whole) > 100 and [dict(m) for m in whole] == [dict(m) for m in small]


async def _fake_asterisk(reader, writer, events):
    writer.write(BANNER)
    block = await reader.readuntil(b"\r\n\r\n")
    action_id = next(line.split(": ", 1)[1] for line in block.decode().split("\r\n") if line.startswith("ActionID: "))
    writer.write(encode_action({"Response": "Success", "ActionID": action_id, "Message": "Authentication accepted"}))
    for event in events:
        writer.write(encode_action(event))
    await writer.drain()
    await reader.read()  # until the client closes
    writer.close()


def test_a_link_manager_on_a_connection_the_glue_opened(caplog):
    """Login answered, events dispatched, connection loss noticed, pending actions failed —
    and panoramisk's INFO chatter (the banner's protocol version) not printed."""
    got: list = []

    async def run():
        events = [{"Event": "QueueMemberAdded", "Queue": "support", "Interface": "PJSIP/1001"}]
        server = await asyncio.start_server(lambda r, w: _fake_asterisk(r, w, events), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        lost = asyncio.Event()
        manager = LinkManager(lost, got.append, loop=asyncio.get_running_loop(), host="127.0.0.1", port=port,
                              events="on", ping_delay=0)
        protocol = await connect_protocol(manager, "127.0.0.1", port)
        assert manager.protocol is protocol and protocol.factory is manager
        reply = await asyncio.wait_for(manager.send_action({"Action": "Login", "Username": "u", "Secret": "s"}), 5)
        assert reply.success and reply["Message"] == "Authentication accepted"
        for _ in range(50):
            if got:
                break
            await asyncio.sleep(0.02)
        pending = manager.send_action({"Action": "Ping"})
        fail_pending(manager, ConnectionError("gone"))
        with pytest.raises(ConnectionError, match="gone"):
            await pending
        protocol.connection_lost(None)
        assert lost.is_set()
        manager.close()
        server.close()
        await server.wait_closed()
        return protocol

    with caplog.at_level(logging.DEBUG):
        protocol = asyncio.run(run())
    assert protocol.version == "11.0.0"  # the banner was read ...
    assert not [r for r in caplog.records if "protocol version" in r.getMessage() and r.levelno >= logging.INFO]
    assert [e["Event"] for e in got] == ["QueueMemberAdded"]


def test_a_lost_connection_fails_the_action_in_flight_at_once():
    """An Asterisk that closes the connection before it answers the Login (it was stopping
    or starting: the fault suite's Asterisk restart): the Login fails as the connection
    goes, not after the link's 10 s action timeout."""

    async def closes_on_login(reader, writer):
        writer.write(BANNER)
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    async def run() -> float:
        server = await asyncio.start_server(closes_on_login, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        manager = LinkManager(asyncio.Event(), lambda e: None, loop=asyncio.get_running_loop(), host="127.0.0.1",
                              port=port, events="on", ping_delay=0)
        await connect_protocol(manager, "127.0.0.1", port)
        started = asyncio.get_running_loop().time()
        with pytest.raises(ConnectionError, match="lost"):
            await asyncio.wait_for(manager.send_action({"Action": "Login", "Username": "u", "Secret": "s"}), 5)
        manager.close()
        server.close()
        await server.wait_closed()
        return asyncio.get_running_loop().time() - started

    assert asyncio.run(run()) < 1.0


class _Reader:
    def __init__(self, lines: list[bytes]):
        self.lines = list(lines)

    async def readline(self) -> bytes:
        return self.lines.pop(0) if self.lines else b""


class _Writer:
    def __init__(self):
        self.sent = b""

    def write(self, data: bytes) -> None:
        self.sent += data

    async def drain(self) -> None:
        pass


@pytest.mark.parametrize(
    "answer, expected",
    [
        ([b"200 result=1\n"], {"status_code": 200}),
        ([b"100 result=0 Trying...\n", b"200 result=1\n"], {"status_code": 200}),
        ([b"510 Invalid or unknown command\n"], {"error": "AGIInvalidCommand"}),
        ([b"520-Invalid command syntax.  Proper usage follows:\n", b"Usage: SET VARIABLE\n"], {"error": "AGIUsageError"}),
        ([b"HANGUP\n"], {"error": "AGIResultHangup"}),
    ],
)
def test_an_agi_request_without_an_application(answer, expected):
    """agi_request builds panoramisk's Request with app=None; send_command must answer every
    kind of reply (errors included) without touching the application."""
    writer = _Writer()
    request = agi_request({"agi_network_script": "decide"}, _Reader(answer), writer)
    reply = asyncio.run(request.send_command('SET VARIABLE PBXCTL_NEXT "x"'))
    assert writer.sent == b'SET VARIABLE PBXCTL_NEXT "x"\n'
    assert {k: reply.get(k) for k in expected} == expected
