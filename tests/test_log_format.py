"""The services' log format: key=value for people, one JSON object per line for log
shippers; chosen by --log-format, PBXCTL_LOG_FORMAT or service.log_format."""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from typer.testing import CliRunner

from pbxctl.cli import app
from pbxctl.service.logs import UnknownLogFormat, choose_log_format, configure_logging

from helpers.site_files import copy_example


@pytest.mark.parametrize("option, env, site, expected", [
    (None, None, "text", "text"),
    (None, None, "json", "json"),
    (None, "json", "text", "json"),
    ("text", "json", "json", "text"),
    ("json", None, "text", "json"),
    (None, "", "json", "json"),  # an empty variable is no choice
])
def test_option_beats_environment_beats_site(option, env, site, expected):
    environ = {} if env is None else {"PBXCTL_LOG_FORMAT": env}
    assert choose_log_format(option, site, environ) == expected


def test_unknown_format_names_where_it_came_from():
    with pytest.raises(UnknownLogFormat, match=r"^PBXCTL_LOG_FORMAT: 'xml' is not a log format \(one of: text, json\)$"):
        choose_log_format(None, "text", {"PBXCTL_LOG_FORMAT": "xml"})


def test_site_log_format_is_validated(tmp_path):
    site = copy_example(tmp_path)
    site.write_text(site.read_text() + "\nservice: {log_format: yaml}\n")
    result = CliRunner().invoke(app, ["validate", "-s", str(site)])
    assert result.exit_code == 1
    assert "service.log_format" in result.output and "yaml" in result.output


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def test_json_lines_for_our_events_and_the_libraries(restore_logging, capsys):
    configure_logging("json")
    structlog.get_logger("pbxctl.fastagi").info("decision", call_id="1766480400.17", next="queue:support")
    logging.getLogger("panoramisk.manager").warning("Connection lost %s", "127.0.0.1:5038")
    lines = capsys.readouterr().err.splitlines()
    first, second = (json.loads(line) for line in lines)
    assert {k: v for k, v in first.items() if k != "timestamp"} == {
        "event": "decision", "level": "info", "call_id": "1766480400.17", "next": "queue:support",
    }
    assert {k: v for k, v in second.items() if k != "timestamp"} == {
        "event": "Connection lost 127.0.0.1:5038", "level": "warning",
    }
    assert first["timestamp"].endswith("Z")


def test_text_lines_stay_key_value(restore_logging, capsys):
    configure_logging("text")
    structlog.get_logger("pbxctl.fastagi").info("decision", call_id="1")
    line = capsys.readouterr().err.strip()
    assert line.startswith("timestamp=") and " level='info' event='decision' call_id='1'" in line
